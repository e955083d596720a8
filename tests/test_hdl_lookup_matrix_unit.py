# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""LookupMatrixUnit's own features: base-3 bytes as table indices, its parameters, latency
and structure. Its behaviour as a ternary matrix unit (streams, gaps, backpressure,
INVALID, extremes) is tested with the adder tree's tests (``test_hdl_matrix_unit.py``)."""

import random

import pytest
from amaranth.hdl import Fragment

from tritforge.hdl.chunk_stream import Product, check_results, product_lengths, random_product, stream_chunks
from tritforge.hdl.lookup_matrix_unit import LookupMatrixUnit
from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.spec.formats import BASE3_LIMIT, TRITS_PER_BYTE, WeightCode

from unit_streams import simulate, ternary_expected


def base3_chunks(chunks, rng):
    """Code chunks as base-3 byte chunks (five codes per byte, the last padded with ZERO);
    a group holding an INVALID code becomes a random invalid byte 243..255."""
    converted = []
    for chunk in chunks:
        rows = []
        for codes in chunk["weights"]:
            row = []
            for start in range(0, len(codes), TRITS_PER_BYTE):
                group = list(codes[start:start + TRITS_PER_BYTE])
                group += [WeightCode.ZERO] * (TRITS_PER_BYTE - len(group))
                if WeightCode.INVALID in group:
                    row.append(rng.randrange(BASE3_LIMIT, 256))
                else:
                    row.append(sum(int(code) * 3 ** i for i, code in enumerate(group)))
            rows.append(row)
        converted.append(dict(chunk, weights=rows))
    return converted


def invalid_bytes_zeroed(product, cols):
    """``product`` as the base-3 unit sees it: every lane of a byte with an INVALID code
    INVALID (contributing 0, flagging the product)."""
    rows = []
    for codes in product.weights:
        codes = list(codes)
        # Bytes never straddle chunks: they restart at every chunk's first lane.
        for chunk in range(0, len(codes), cols):
            for start in range(chunk, min(chunk + cols, len(codes)), TRITS_PER_BYTE):
                span = range(start, min(start + TRITS_PER_BYTE, chunk + cols, len(codes)))
                if any(codes[k] == WeightCode.INVALID for k in span):
                    for k in span:
                        codes[k] = int(WeightCode.INVALID)
        rows.append(codes)
    return Product(product.act, rows)


@pytest.mark.parametrize("cols, pipeline, symmetric", [
    (10, 1, True), (7, 2, True),
    pytest.param(5, 0, True, marks=pytest.mark.slow), pytest.param(16, 1, True, marks=pytest.mark.slow),
    pytest.param(12, 1, False, marks=pytest.mark.slow), pytest.param(3, 3, False, marks=pytest.mark.slow),
])
def test_base3_bytes_are_table_indices(cols, pipeline, symmetric):
    """Packed bytes straight into the tables, against the golden model (invalid bytes
    included), under gaps and backpressure."""
    rng = random.Random(cols)
    kwargs = dict(max_k=6 * cols, pipeline=pipeline, group=5, symmetric=symmetric)
    codes_unit = LookupMatrixUnit(3, cols, **kwargs)
    unit = LookupMatrixUnit(3, cols, weight_format="base3", **kwargs)
    products = [random_product(codes_unit, rng, k, invalid_share=0.03)
                for k in product_lengths(codes_unit, rng, 8)]
    chunks = base3_chunks(stream_chunks(codes_unit, products), rng)
    driver = simulate(unit, chunks, cols, gap=0.3, stall=0.3, garbage=True)
    expected = [ternary_expected(invalid_bytes_zeroed(p, cols)) for p in products]
    assert any(invalid for _, invalid in expected) and not all(invalid for _, invalid in expected)
    assert check_results(products, expected, driver.results) == len(products)


def test_base3_chunk_layout():
    unit = LookupMatrixUnit(2, 12, group=5, weight_format="base3")
    weights = unit.chunk_layout()["weights"].shape
    assert (weights.length, weights.elem_shape.length, weights.elem_shape.elem_shape.width) == (2, 3, 8)


@pytest.mark.parametrize("cols", [1, 2, 7, 16, 33, 64])
@pytest.mark.parametrize("pipeline", [0, 1, 2, 3])
@pytest.mark.parametrize("group, weight_format, symmetric", [
    (1, "codes", True), (2, "codes", False), (3, "codes", True), (4, "codes", False),
    (5, "codes", True), (5, "base3", True), (5, "base3", False)])
def test_latency_for_matches_a_built_unit(cols, pipeline, group, weight_format, symmetric):
    unit = LookupMatrixUnit(1, cols, pipeline=pipeline, group=group, weight_format=weight_format,
                            symmetric=symmetric)
    assert LookupMatrixUnit.latency_for(cols, pipeline, group, weight_format, symmetric) == unit.latency


def test_latency_by_hand():
    # 64 lanes in groups of 3: table 2 levels, lookup 1, tree over 22 sums 5 levels.
    assert LookupMatrixUnit(2, 64, group=3, pipeline=1).latency == 8
    assert LookupMatrixUnit(2, 64, group=3, pipeline=2).latency == 4
    assert LookupMatrixUnit(2, 64, group=3, pipeline=1, symmetric=False).latency == 9
    # group 1 is the adder tree with a lookup level in front.
    assert LookupMatrixUnit(2, 32, group=1).latency == TernaryMatrixUnit(2, 32).latency + 1


def test_properties():
    unit = LookupMatrixUnit(4, 16, act_bits=6, max_k=100, pipeline=2, group=4, symmetric=False)
    assert (unit.rows, unit.cols, unit.act_bits, unit.max_k, unit.pipeline) == (4, 16, 6, 100, 2)
    assert (unit.group, unit.weight_format, unit.symmetric) == (4, "codes", False)
    assert unit.acc_bits == TernaryMatrixUnit(4, 16, act_bits=6, max_k=100).acc_bits
    assert isinstance(unit, TernaryMatrixUnit)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"group": 0}, ValueError, r"^group must be an integer in 1\.\.5, not 0$"),
    ({"group": 6}, ValueError, r"^group must be an integer in 1\.\.5, not 6$"),
    ({"group": 2.0}, TypeError, r"^group must be an integer in 1\.\.5, not 2\.0$"),
    ({"weight_format": "2bit"}, ValueError, r"^weight_format must be one of codes, base3, not '2bit'$"),
    ({"weight_format": 3}, TypeError, r"^weight_format must be a string, not 3$"),
    ({"group": 3, "weight_format": "base3"}, ValueError,
     r"^weight_format 'base3' needs group 5 \(the trits of a byte\), not 3$"),
    ({"symmetric": 1}, TypeError, r"^symmetric must be a bool, not 1$"),
    ({"cols": 0}, ValueError, r"^cols must be an integer >= 1, not 0$"),
    ({"pipeline": -1}, ValueError, r"^pipeline must be an integer >= 0, not -1$"),
])
def test_parameters_wrong(kwargs, error, message):
    with pytest.raises(error, match=message):
        LookupMatrixUnit(**{"rows": 2, "cols": 8, **kwargs})


def test_table_structure_by_hand():
    # Two 8-bit lanes: the canonical sums a1 + a0 and a1 - a0 (9 bits each), one level,
    # then a register holding a0, a1 and both sums (8 + 8 + 9 + 9 bits).
    half = LookupMatrixUnit(1, 2, group=2, pipeline=1).structure().shared
    assert (half.adder_widths, half.register_bits, half.latency) == ((9, 9), 34, 1)
    # A full table negates the four in a second level (a1 - a0, a1, a0: 9 bits; -(a1 + a0)
    # reaches +256: 10 bits), registered with the four it negates.
    full = LookupMatrixUnit(1, 2, group=2, pipeline=1, symmetric=False).structure().shared
    assert (full.adder_widths, full.latency) == ((9, 9, 9, 9, 9, 10), 2)
    assert full.register_bits == 34 + 34 + 3 * 9 + 10
    # Rows: one lookup over 0, a0, a1, a1 + a0, a1 - a0 and the sign: six inputs of 9 bits
    # (their range [-256, 255] holds the inverted values too).
    assert LookupMatrixUnit(3, 2, group=2).structure().muxes == ((6, 9),)


@pytest.mark.parametrize("group, weight_format, symmetric, pipeline", [
    (1, "codes", True, 1), (2, "codes", False, 2), (3, "codes", True, 0), (4, "codes", True, 3),
    (5, "base3", True, 1), (5, "base3", False, 2)])
def test_structure_is_what_elaborate_builds(group, weight_format, symmetric, pipeline):
    unit = LookupMatrixUnit(2, 13, group=group, weight_format=weight_format, symmetric=symmetric,
                            pipeline=pipeline)
    structure = unit.structure()
    # elaborate checks the table's and every row's register bits against structure().
    Fragment.get(unit, None)
    assert structure.latency == unit.latency
    assert len(structure.muxes) == -(-13 // group)
    assert structure.register_bits == (2 * (structure.row_register_bits + unit.acc_bits)
                                       + structure.control_register_bits + structure.shared.register_bits)
