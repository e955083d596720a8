# amaranth: UnusedElaboratable=no
# (the units here are built only for their parameters and layouts, never simulated)
"""The matrix units' stream driver and scoreboard (:mod:`tritforge.hdl.chunk_stream`) on
their own, without a simulator: chunking and padding, the per-cycle decisions, the
bookkeeping against a Python model of the unit's protocol, the checks and the errors."""

import random

import pytest

from tritforge.hdl.chunk_stream import (Drive, Product, Result, StreamCheckError, StreamDriver,
                                        check_results, product_chunks, product_lengths,
                                        random_product, random_products, stream_chunks,
                                        zero_weight)
from tritforge.hdl.int_matrix_unit import IntMatrixUnit
from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.spec.formats import WeightCode

NEG, ZERO, POS, INVALID = (int(code) for code in WeightCode)
TERNARY = TernaryMatrixUnit(2, 3, max_k=12, pipeline=1)
INT = IntMatrixUnit(2, 3, weight_bits=4, max_k=12, pipeline=1)


class Constant(random.Random):
    """A random source whose ``random()`` is always ``value`` (0: every gap taken, every
    stall taken); anything else it draws is seeded."""

    def __init__(self, value):
        super().__init__(0)
        self.value = value

    def random(self):
        return self.value


class Refusing(random.Random):
    def random(self):
        raise AssertionError("drew a random number")

    getrandbits = random


def pack_result(unit, acc, invalid=False):
    return unit.result_layout().const({"acc": acc, "invalid": invalid}).as_value().value


def run_model(unit, driver):
    """Run ``driver`` against a Python model of the unit's protocol (latency 1): ``i.ready =
    ~o.valid | o.ready``; a ``last`` chunk's result appears in the next cycle."""
    layout = unit.chunk_layout()
    ternary = isinstance(unit, TernaryMatrixUnit)
    valid = ready = False
    payload, acc, invalid, out = 0, [0] * unit.rows, False, None
    while not driver.finished:
        drive = driver.drive()
        valid = valid if drive.valid is None else drive.valid
        ready = ready if drive.ready is None else drive.ready
        payload = payload if drive.payload is None else drive.payload
        advance = out is None or ready
        driver.sample(advance, out is not None, None if out is None else pack_result(unit, *out))
        if not advance:
            continue
        out = None
        if valid:
            chunk = layout.from_bits(payload)
            if chunk.first:
                acc, invalid = [0] * unit.rows, False
            for row in range(unit.rows):
                for a, w in zip(chunk.act, chunk.weights[row]):
                    w = int(w)
                    invalid |= ternary and w == INVALID
                    acc[row] += int(a) * (0 if ternary and w == INVALID else w - ternary)
            if chunk.last:
                out = (acc, invalid)
    return driver


def model_expected(unit, product):
    ternary = isinstance(unit, TernaryMatrixUnit)
    acc = [sum(a * (0 if ternary and w == INVALID else w - ternary) for a, w in zip(product.act, row))
           for row in product.weights]
    return acc, ternary and any(w == INVALID for row in product.weights for w in row)


# --- chunks ----------------------------------------------------------------------------------

def test_chunks_are_padded_with_the_zero_weight():
    product = Product([1, 2, 3, 4], [[POS, NEG, POS, NEG], [ZERO, POS, POS, INVALID]])
    assert product_chunks(TERNARY, product) == [
        {"act": [1, 2, 3], "weights": [[POS, NEG, POS], [ZERO, POS, POS]], "first": True,
         "last": False},
        {"act": [4, 0, 0], "weights": [[NEG, ZERO, ZERO], [INVALID, ZERO, ZERO]], "first": False,
         "last": True},
    ]
    assert zero_weight(TERNARY) == ZERO == 1 and zero_weight(INT) == 0
    assert product_chunks(INT, Product([5, 6, 7, 8], [[1, 2, 3, 4], [-1, -2, -3, -4]]))[1] == {
        "act": [8, 0, 0], "weights": [[4, 0, 0], [-4, 0, 0]], "first": False, "last": True}


@pytest.mark.parametrize("k, flags", [
    (1, [(True, True)]), (3, [(True, True)]), (4, [(True, False), (False, True)]),
    (12, [(True, False), (False, False), (False, False), (False, True)])])
def test_first_and_last_flags(k, flags):
    chunks = product_chunks(TERNARY, Product(list(range(k)), [[POS] * k, [NEG] * k]))
    assert [(chunk["first"], chunk["last"]) for chunk in chunks] == flags
    assert len(chunks) == TERNARY.chunks(k)
    assert [a for chunk in chunks for a in chunk["act"]][:k] == list(range(k))


def test_stream_chunks_concatenates_products():
    products = [Product([1], [[POS], [POS]]), Product([1] * 7, [[NEG] * 7, [ZERO] * 7])]
    chunks = stream_chunks(TERNARY, products)
    assert chunks == product_chunks(TERNARY, products[0]) + product_chunks(TERNARY, products[1])
    assert len(chunks) == 4


def test_product_lengths_start_with_the_edges():
    rng = random.Random(1)
    assert product_lengths(TERNARY, rng, 2) == [1, 3]
    lengths = product_lengths(TERNARY, rng, 20)
    assert lengths[:4] == [1, 3, 9, 12] and len(lengths) == 20
    assert all(1 <= k <= 12 for k in lengths)
    narrow = TernaryMatrixUnit(1, 8, max_k=5)
    assert product_lengths(narrow, rng, 4) == [1, 5, 5, 5]


def test_random_products_stay_in_range():
    rng = random.Random(2)
    products = random_products(TERNARY, rng, 6)
    assert [p.k for p in products[:4]] == [1, 3, 9, 12]
    assert {w for p in products for row in p.weights for w in row} == {NEG, ZERO, POS}
    assert all(-128 <= a <= 127 for p in products for a in p.act)
    flagged = random_product(TERNARY, rng, 12, invalid_share=0.5)
    assert INVALID in {w for row in flagged.weights for w in row}
    ints = random_products(INT, rng, 10)
    assert {w for p in ints for row in p.weights for w in row} <= set(range(-8, 8))
    assert random_products(INT, random.Random(3), 5) == random_products(INT, random.Random(3), 5)


# --- the per-cycle decisions --------------------------------------------------------------

def test_no_gap_no_stall_offers_a_chunk_every_cycle_and_draws_nothing():
    chunks = stream_chunks(TERNARY, [Product([1, 2, 3, 4], [[POS] * 4, [NEG] * 4])])
    packed = [TERNARY.chunk_layout().const(c).as_value().value for c in chunks]
    driver = StreamDriver(TERNARY, chunks, Refusing())
    assert driver.drive() == Drive(True, packed[0], True)
    driver.sample(False, False, None)            # not accepted: everything held
    assert driver.drive() == Drive(None, None, None)
    driver.sample(True, False, None)
    assert driver.drive() == Drive(None, packed[1], None)
    driver.sample(True, False, None)
    assert driver.drive() == Drive(False, None, None)
    assert driver.accepted == [1, 2] and driver.expected_results == 1 and not driver.finished


def test_gaps_idle_with_garbage_and_stalls_drop_ready():
    chunks = stream_chunks(TERNARY, [Product([1], [[POS], [POS]])])
    driver = StreamDriver(TERNARY, chunks, Constant(0.0), gap=0.5, stall=0.5, garbage=True,
                          timeout=5)
    payloads = set()
    for cycle in range(5):
        drive = driver.drive()
        assert drive.valid in (False, None) and drive.ready in (False, None)
        payloads.add(drive.payload)
        driver.sample(True, False, None)
    assert len(payloads) == 5 and None not in payloads   # fresh garbage every idle cycle
    with pytest.raises(StreamCheckError, match=r"^timeout after 5 cycles: 0 of 1 chunks "
                                               r"accepted, 0 of 1 results received$"):
        driver.drive()


def test_without_garbage_the_payload_is_left_alone():
    chunks = stream_chunks(TERNARY, [Product([1], [[POS], [POS]])])
    driver = StreamDriver(TERNARY, chunks, Constant(0.0), gap=0.5)
    assert driver.drive() == Drive(False, None, True)
    driver.sample(True, False, None)


@pytest.mark.parametrize("unit", [TERNARY, INT], ids=["ternary", "int"])
@pytest.mark.parametrize("gap, stall, seed", [(0.0, 0.0, 1), (0.3, 0.3, 2), (0.7, 0.1, 3),
                                               (0.1, 0.7, 4)])
def test_bookkeeping_against_a_model_of_the_unit(unit, gap, stall, seed):
    rng = random.Random(seed)
    products = random_products(unit, rng, 9, invalid_share=0.1 if unit is TERNARY else 0.0)
    chunks = stream_chunks(unit, products)
    driver = run_model(unit, StreamDriver(unit, chunks, rng, gap=gap, stall=stall, garbage=True))
    expected = [model_expected(unit, p) for p in products]
    assert check_results(products, expected, driver.results) == 9
    assert len(driver.accepted) == len(chunks) and driver.accepted == sorted(set(driver.accepted))
    last_cycles = [c for c, chunk in zip(driver.accepted, chunks) if chunk["last"]]
    assert all(r.cycle > c for r, c in zip(driver.results, last_cycles))
    assert driver.cycle == driver.results[-1].cycle + 1 + driver.tail
    if gap == stall == 0:
        assert driver.accepted == list(range(len(chunks)))


def test_a_stalled_result_must_stay_put():
    chunks = stream_chunks(TERNARY, [Product([1], [[POS], [POS]])])
    a, b = pack_result(TERNARY, [1, 2]), pack_result(TERNARY, [1, 3])
    driver = StreamDriver(TERNARY, chunks, Constant(0.0), stall=0.5)
    assert driver.drive().ready is False
    driver.sample(True, True, a)                   # stalled
    driver.drive()
    driver.sample(True, True, a)                   # still there: fine
    driver.drive()
    with pytest.raises(StreamCheckError, match=r"^cycle 2: a stalled result changed from "
                                               r"\(\[1, 2\], False\) to \(\[1, 3\], False\)$"):
        driver.sample(True, True, b)
    driver = StreamDriver(TERNARY, chunks, Constant(0.0), stall=0.5)
    driver.drive()
    driver.sample(True, True, a)
    driver.drive()
    with pytest.raises(StreamCheckError, match=r"^cycle 1: a stalled result changed from "
                                               r"\(\[1, 2\], False\) to no result$"):
        driver.sample(True, False, None)


def test_the_tail_records_an_extra_result():
    chunks = stream_chunks(TERNARY, [Product([1], [[POS], [POS]])])
    result = pack_result(TERNARY, [1, 1])
    driver = StreamDriver(TERNARY, chunks, tail=2)
    for o_valid in (False, True, False, True):
        driver.drive()
        driver.sample(True, o_valid, result if o_valid else None)
    assert driver.finished
    assert driver.results == [Result(1, [1, 1], False), Result(3, [1, 1], False)]
    products = [Product([1], [[POS], [POS]])]
    with pytest.raises(StreamCheckError, match=r"^2 results for 1 products: an extra result "
                                               r"\[1, 1\] at cycle 3$"):
        check_results(products, [([1, 1], False)], driver.results)
    with pytest.raises(RuntimeError, match=r"^drive\(\) after the stream finished$"):
        driver.drive()


def test_drive_and_sample_alternate():
    driver = StreamDriver(TERNARY, [])
    with pytest.raises(RuntimeError, match=r"^sample\(\) without drive\(\): drive\(\) the cycle first$"):
        driver.sample(True, False, None)
    driver = StreamDriver(TERNARY, stream_chunks(TERNARY, [Product([1], [[POS], [POS]])]))
    driver.drive()
    with pytest.raises(RuntimeError, match=r"^drive\(\) was called twice: sample\(\) the cycle first$"):
        driver.drive()


def test_no_chunks_finishes_after_the_tail():
    driver = StreamDriver(TERNARY, [], tail=1)
    assert driver.expected_results == 0 and not driver.finished
    driver.drive()
    driver.sample(True, False, None)
    assert driver.finished and driver.cycle == 1


# --- the scoreboard ---------------------------------------------------------------------------

def test_check_results_names_the_first_mismatch():
    products = [Product([1, 2], [[POS, POS], [NEG, NEG]]), Product([3], [[POS], [INVALID]])]
    expected = [([3, -3], False), ([3, 0], True)]
    assert check_results(products, expected, [Result(4, [3, -3], False), Result(6, [3, 0], True)]) == 2
    with pytest.raises(StreamCheckError, match=r"^product 0 \(K=2\), row 1, result at cycle 4: "
                                               r"expected -3, got -4\n  act     = \[1, 2\]\n"
                                               r"  weights = \[0, 0\]$"):
        check_results(products, expected, [Result(4, [3, -4], False), Result(6, [3, 0], True)])
    with pytest.raises(StreamCheckError, match=r"^product 1 \(K=1\), result at cycle 6: expected "
                                               r"invalid=True, got False\n  weights = \[\[2\], \[3\]\]$"):
        check_results(products, expected, [Result(4, [3, -3], False), Result(6, [3, 0], False)])
    with pytest.raises(StreamCheckError, match=r"^1 results for 2 products: product 1 \(K=1\) got none$"):
        check_results(products, expected, [Result(4, [3, -3], False)])


# --- errors ---------------------------------------------------------------------------------

ONE = stream_chunks(TERNARY, [Product([1], [[POS], [POS]])])


def chunk(**fields):
    return [{**ONE[0], **fields}]


@pytest.mark.parametrize("args, kwargs, error, message", [
    (("unit", ONE), {}, TypeError,
     r"^unit must be a matrix unit \(TernaryMatrixUnit or IntMatrixUnit\), not 'unit'$"),
    ((TERNARY, ONE, random.Random()), {"gap": 1.0}, ValueError,
     r"^gap must be a probability in \[0, 1\), not 1\.0$"),
    ((TERNARY, ONE, random.Random()), {"stall": -0.1}, ValueError,
     r"^stall must be a probability in \[0, 1\), not -0\.1$"),
    ((TERNARY, ONE, random.Random()), {"gap": "0.1"}, TypeError,
     r"^gap must be a probability in \[0, 1\), not '0\.1'$"),
    ((TERNARY, ONE), {"stall": 0.2}, ValueError,
     r"^rng must be a random\.Random when gap, stall or garbage is set, not None$"),
    ((TERNARY, ONE, 7), {}, TypeError, r"^rng must be a random\.Random, not 7$"),
    ((TERNARY, ONE), {"garbage": 1}, TypeError, r"^garbage must be a bool, not 1$"),
    ((TERNARY, ONE), {"tail": -1}, ValueError, r"^tail must be an integer >= 0, not -1$"),
    ((TERNARY, ONE), {"timeout": 0}, ValueError, r"^timeout must be an integer >= 1, not 0$"),
    ((TERNARY, ONE[0]), {}, TypeError, r"^chunks must be a sequence of chunk dicts, not \{"),
    ((TERNARY, [[1, 2]]), {}, TypeError,
     r"^chunk 0 must be a dict with keys act, weights, first, last, not \[1, 2\]$"),
    ((TERNARY, [{"act": [0] * 3}]), {}, ValueError,
     r"^chunk 0 must have the keys act, weights, first, last, not act$"),
    ((TERNARY, ONE + chunk(act=[1, 2])), {}, ValueError,
     r"^chunk 1: act must hold 3 values \(unit cols\), not 2$"),
    ((TERNARY, chunk(act=[0, 128, 0])), {}, ValueError,
     r"^chunk 0: act\[1\] = 128 is outside the unit's range -128\.\.127$"),
    ((TERNARY, chunk(act=[0, 1.5, 0])), {}, TypeError,
     r"^chunk 0: act\[1\] must be an integer, not 1\.5$"),
    ((TERNARY, chunk(weights=[[1, 1, 4], [1, 1, 1]])), {}, ValueError,
     r"^chunk 0: weights\[0\]\[2\] = 4 is outside the unit's range 0\.\.3$"),
    ((TERNARY, chunk(weights=[[1, 1, 1]])), {}, ValueError,
     r"^chunk 0: weights must be 2 rows \(unit rows\), not \[\[1, 1, 1\]\]$"),
    ((INT, chunk(weights=[[0, 0, 0], [0, -9, 0]])), {}, ValueError,
     r"^chunk 0: weights\[1\]\[1\] = -9 is outside the unit's range -8\.\.7$"),
])
def test_driver_parameters_wrong(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        StreamDriver(*args, **kwargs)


@pytest.mark.parametrize("make, error, message", [
    (lambda: Product([], [[]]), ValueError,
     r"^act must hold at least one activation \(K >= 1\), not \(\)$"),
    (lambda: Product([1, 2], []), ValueError, r"^weights must hold at least one row, not \(\)$"),
    (lambda: Product([1, 2], [[1, 1], [1]]), ValueError,
     r"^weights\[1\] must hold K = 2 weights like act, not 1$"),
    (lambda: Product("12", [[1, 1]]), TypeError, r"^act must be a sequence of integers, not '12'$"),
    (lambda: Product([1, True], [[1, 1]]), TypeError, r"^act\[1\] must be an integer, not True$"),
    (lambda: Product([1], 5), TypeError, r"^weights must be a sequence of rows, not 5$"),
    (lambda: product_chunks(TERNARY, Product([1], [[1]])), ValueError,
     r"^product must have one weight row per unit row \(2\), not 1$"),
    (lambda: product_chunks(TERNARY, ([1], [[1], [1]])), TypeError,
     r"^product must be a Product, not \(\[1\], \[\[1\], \[1\]\]\)$"),
    (lambda: random_product(INT, random.Random(), 3, invalid_share=0.1), ValueError,
     r"^invalid_share applies to a ternary unit only \(an int unit has no INVALID code\), "
     r"not 0\.1$"),
    (lambda: random_product(TERNARY, random.Random(), 0), ValueError,
     r"^k must be an integer >= 1, not 0$"),
    (lambda: product_lengths(TERNARY, None, 3), TypeError, r"^rng must be a random\.Random, not None$"),
    (lambda: check_results([Product([1], [[1], [1]])], [], []), ValueError,
     r"^expected must hold one \(acc, invalid\) per product \(1\), not 0$"),
    (lambda: check_results([Product([1], [[1], [1]])], [([0], False)], [Result(0, [0, 0], False)]),
     ValueError, r"^expected\[0\] must hold one acc per row \(2\), not 1$"),
])
def test_helper_parameters_wrong(make, error, message):
    with pytest.raises(error, match=message):
        make()
