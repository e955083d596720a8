# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""TernaryMatrixUnit against the golden integer reference, under gaps and backpressure.

The stream driver, the monitor and the result checker are plain functions so that
``test_hdl_int_matrix_unit.py`` drives its unit with them too.
"""

import dataclasses
import random

import numpy as np
import pytest
import torch
from amaranth.sim import Simulator

from tritforge.golden import ternary_matmul
from tritforge.spec.formats import WeightCode, accumulator_bits
from tritforge.hdl.matrix_unit import TernaryMatrixUnit, describe_shape


@dataclasses.dataclass
class Product:
    """One dot product per row: ``act`` (K values) and ``weights`` (rows x K values as the
    unit takes them: codes or integers); ``pad`` fills a partial last chunk."""
    act: list
    weights: list
    pad: int

    def chunks(self, cols):
        """Payloads of the chunks carrying this product, in order."""
        k = len(self.act)
        count = -(-k // cols)
        payloads = []
        for index in range(count):
            lanes = range(index * cols, (index + 1) * cols)
            payloads.append({
                "act": [self.act[j] if j < k else 0 for j in lanes],
                "weights": [[row[j] if j < k else self.pad for j in lanes] for row in self.weights],
                "first": index == 0,
                "last": index == count - 1,
            })
        return payloads


def random_ternary_product(rng, rows, k, act_bits=8, invalid_probability=0.0):
    half = 1 << (act_bits - 1)
    act = [rng.randrange(-half, half) for _ in range(k)]
    weights = [[WeightCode.INVALID if rng.random() < invalid_probability
                else rng.choice((WeightCode.NEG, WeightCode.ZERO, WeightCode.POS))
                for _ in range(k)] for _ in range(rows)]
    return Product(act, [[int(code) for code in row] for row in weights], int(WeightCode.ZERO))


def ternary_expected(product):
    """Golden result of one product: (acc per row, invalid); INVALID codes count as 0."""
    codes = np.array(product.weights, dtype=np.int64)
    invalid = codes == WeightCode.INVALID
    w_t = torch.tensor(np.where(invalid, 0, codes - 1), dtype=torch.int8)
    x_q = torch.tensor([product.act], dtype=torch.int16)
    return ternary_matmul(x_q, w_t)[0].tolist(), bool(invalid.any())


def simulate(dut, products, *, seed=0, gap_probability=0.0, stall_probability=0.0,
             garbage_in_gaps=True):
    """Stream ``products`` through ``dut``; return every ``(acc list, invalid)`` received.

    The driver idles with probability ``gap_probability`` before each chunk (with
    random payload while ``i.valid`` is low, unless ``garbage_in_gaps`` is off); the
    monitor drops ``o.ready`` with probability ``stall_probability`` each cycle and checks
    that a stalled result stays put. After the expected count, it watches a few more
    cycles to catch duplicates.
    """
    rng = random.Random(seed)
    chunks = [chunk for product in products for chunk in product.chunks(dut.cols)]
    received = []
    cycle_limit = 20 + (len(chunks) + len(products)) * (dut.latency + 4) * 8

    async def driver(ctx):
        for chunk in chunks:
            while rng.random() < gap_probability:
                if garbage_in_gaps:
                    ctx.set(dut.i.payload, _garbage(rng, chunk))
                await ctx.tick()
            ctx.set(dut.i.payload, chunk)
            ctx.set(dut.i.valid, 1)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def monitor(ctx):
        stalled = None
        for cycle in range(cycle_limit):
            ready = rng.random() >= stall_probability
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            result = (list(payload.acc), bool(payload.invalid)) if valid else None
            assert stalled is None or result == stalled, (
                f"cycle {cycle}: stalled result changed from {stalled} to {result}")
            stalled = result if valid and not ready else None
            if valid and ready:
                received.append(result)
            if len(received) == len(products):
                break
        for _ in range(dut.latency + 3):
            ctx.set(dut.o.ready, 1)
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, f"extra result after the {len(products)} expected"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(driver)
    sim.add_testbench(monitor)
    sim.run()
    return received


def _garbage(rng, chunk):
    return {
        "act": [rng.randrange(-2, 2) * 37 for _ in chunk["act"]],
        "weights": [[rng.randrange(4) for _ in row] for row in chunk["weights"]],
        "first": rng.random() < 0.5,
        "last": rng.random() < 0.5,
    }


def check_results(products, expected, received, cols):
    """Assert ``received`` equals ``expected`` result by result; the first mismatch names
    the product, its chunks, the row, the inputs, and both values."""
    assert len(received) == len(expected), (
        f"expected {len(expected)} results, received {len(received)}")
    first_chunk = 0
    for index, (product, (want_acc, want_invalid), (got_acc, got_invalid)) in enumerate(
            zip(products, expected, received)):
        chunks = -(-len(product.act) // cols)
        last_chunk = first_chunk + chunks - 1
        where = f"product {index} (K={len(product.act)}, chunks {first_chunk}..{last_chunk})"
        for row, (want, got) in enumerate(zip(want_acc, got_acc)):
            assert want == got, (
                f"{where}, row {row}: expected {want}, got {got}\n"
                f"  act     = {product.act}\n  weights = {product.weights[row]}")
        assert want_invalid == got_invalid, (
            f"{where}: expected invalid={want_invalid}, got {got_invalid}\n"
            f"  weights = {product.weights}")
        first_chunk += chunks
    return len(received)


def _lengths(rng, cols, max_k, count):
    """K values covering 1, exactly cols, several chunks, and random lengths."""
    fixed = [1, cols, min(3 * cols, max_k), max_k]
    return (fixed + [rng.randint(1, max_k) for _ in range(count)])[:max(count, 4)]


class TestTernaryMatrixUnit:
    @pytest.mark.parametrize("rows, cols, pipeline", [
        (1, 1, 1), (1, 5, 0), (3, 7, 1), (2, 3, 2), (4, 16, 1), (2, 6, 3), (3, 4, 0),
    ])
    def test_random_products(self, rows, cols, pipeline):
        rng = random.Random(rows * 1000 + cols * 10 + pipeline)
        max_k = 6 * cols
        dut = TernaryMatrixUnit(rows, cols, max_k=max_k, pipeline=pipeline)
        products = [random_ternary_product(rng, rows, k, invalid_probability=0.02)
                    for k in _lengths(rng, cols, max_k, 8)]
        expected = [ternary_expected(p) for p in products]
        received = simulate(dut, products, seed=cols, gap_probability=0.3,
                            stall_probability=0.3)
        assert check_results(products, expected, received, cols) == len(products)

    @pytest.mark.parametrize("act_bits", [2, 5, 12])
    def test_other_activation_widths(self, act_bits):
        rng = random.Random(act_bits)
        dut = TernaryMatrixUnit(2, 5, act_bits=act_bits, max_k=20, pipeline=1)
        products = [random_ternary_product(rng, 2, k, act_bits) for k in (1, 5, 13, 20)]
        expected = [ternary_expected(p) for p in products]
        received = simulate(dut, products, seed=1, gap_probability=0.2, stall_probability=0.2)
        assert check_results(products, expected, received, 5) == len(products)

    @pytest.mark.parametrize("pipeline", [0, 1, 2])
    def test_extremes_do_not_overflow(self, pipeline):
        """All activations -128 at K = max_k: the largest and the most negative sums."""
        max_k, cols = 64, 8
        dut = TernaryMatrixUnit(2, cols, max_k=max_k, pipeline=pipeline)
        assert dut.acc_bits == accumulator_bits(max_k, 8) == 15
        act = [-128] * max_k
        rows = [[int(WeightCode.NEG)] * max_k, [int(WeightCode.POS)] * max_k]
        products = [Product(act, rows, int(WeightCode.ZERO)),
                    Product(act, rows[::-1], int(WeightCode.ZERO))]
        expected = [ternary_expected(p) for p in products]
        assert expected[0] == ([8192, -8192], False)
        received = simulate(dut, products, seed=2, stall_probability=0.5)
        assert check_results(products, expected, received, cols) == 2

    def test_invalid_code_flags_and_contributes_zero(self):
        zero, pos, invalid = int(WeightCode.ZERO), int(WeightCode.POS), int(WeightCode.INVALID)
        act = [10, 20, 30, 40, 50, 60]
        products = [
            # INVALID in the second chunk of row 1 only: flagged, lane counts 0.
            Product(act, [[pos] * 6, [pos, pos, pos, pos, invalid, pos]], zero),
            # The next product is clean: the flag must not leak into it.
            Product(act, [[pos] * 6, [pos] * 6], zero),
            # INVALID in the first of two chunks.
            Product(act[:4], [[invalid, pos, pos, pos], [zero] * 4], zero),
        ]
        dut = TernaryMatrixUnit(2, 3, max_k=6)
        expected = [ternary_expected(p) for p in products]
        assert [e[1] for e in expected] == [True, False, True]
        assert expected[0][0] == [210, 160]
        received = simulate(dut, products, seed=3, gap_probability=0.3, stall_probability=0.3)
        assert check_results(products, expected, received, 3) == 3

    @pytest.mark.parametrize("pipeline", [0, 1, 2, 5])
    def test_full_throughput_and_latency(self, pipeline):
        """One chunk per cycle with the output always ready; result `latency` cycles
        after its last chunk is accepted."""
        rows, cols = 2, 8
        dut = TernaryMatrixUnit(rows, cols, max_k=32, pipeline=pipeline)
        products = [random_ternary_product(random.Random(k), rows, k) for k in (8, 32, 17, 1)]
        chunks = [c for p in products for c in p.chunks(cols)]
        accepted, results = [], []

        async def driver(ctx):
            ctx.set(dut.o.ready, 1)
            for cycle, chunk in enumerate(chunks):
                ctx.set(dut.i.payload, chunk)
                ctx.set(dut.i.valid, 1)
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                assert ready, f"chunk {cycle} not accepted in its cycle"
                accepted.append(cycle)
            ctx.set(dut.i.valid, 0)
            for cycle in range(len(chunks), len(chunks) + dut.latency + 2):
                await ctx.tick()

        async def monitor(ctx):
            for cycle in range(len(chunks) + dut.latency + 2):
                valid, payload = ctx.get(dut.o.valid), ctx.get(dut.o.payload)
                if valid:
                    results.append((cycle, list(payload.acc)))
                await ctx.tick()

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(driver)
        sim.add_testbench(monitor)
        sim.run()
        last_chunks = [i for i, c in enumerate(chunks) if c["last"]]
        assert [cycle for cycle, _ in results] == [i + dut.latency for i in last_chunks]
        assert [acc for _, acc in results] == [ternary_expected(p)[0] for p in products]

    def test_first_restarts_an_unfinished_product(self):
        """A `first` chunk before the previous product's `last` drops that product."""
        zero, pos = int(WeightCode.ZERO), int(WeightCode.POS)
        dut = TernaryMatrixUnit(1, 2, max_k=8)
        unfinished = Product([1, 2, 3, 4], [[pos] * 4], zero).chunks(2)[:1]
        whole = Product([5, 6, 7, 8], [[pos] * 4], zero)
        received = []

        async def driver(ctx):
            ctx.set(dut.o.ready, 1)
            for chunk in unfinished + whole.chunks(2):
                ctx.set(dut.i.payload, chunk)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)
            for _ in range(dut.latency + 2):
                _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                if valid:
                    received.append(list(payload.acc))

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(driver)
        sim.run()
        assert received == [[26]]

    def test_properties(self):
        dut = TernaryMatrixUnit(8, 32, act_bits=8, max_k=4096, pipeline=1)
        assert (dut.rows, dut.cols, dut.act_bits, dut.max_k, dut.pipeline) == (8, 32, 8, 4096, 1)
        assert dut.acc_bits == accumulator_bits(4096, 8) == 21
        assert dut.latency == 5  # ceil(log2(32)) levels, one register each
        assert TernaryMatrixUnit(8, 32, pipeline=2).latency == 3
        assert TernaryMatrixUnit(8, 32, pipeline=0).latency == 1
        assert TernaryMatrixUnit(1, 1).latency == 1
        assert TernaryMatrixUnit(2, 3, acc_bits=40).acc_bits == 40
        assert dut.chunks(1024) == 32 and dut.chunks(1) == 1 and dut.chunks(33) == 2

    def test_describe_ports(self):
        dut = TernaryMatrixUnit(2, 3, act_bits=8, max_k=16)
        ports = {p["name"]: p for p in dut.describe_ports()}
        assert set(ports) == {"clk", "rst", "i__payload", "i__valid", "i__ready",
                              "o__payload", "o__valid", "o__ready"}
        assert ports["i__ready"]["direction"] == "output"
        assert ports["o__ready"]["direction"] == "input"
        chunk = ports["i__payload"]
        assert chunk["direction"] == "input"
        assert chunk["width"] == 3 * 8 + 2 * 3 * 2 + 2
        fields = {f["name"]: f for f in chunk["fields"]}
        assert (fields["act"]["offset"], fields["act"]["length"]) == (0, 3)
        assert fields["act"]["element"] == {"width": 8, "signed": True}
        assert fields["weights"]["offset"] == 24
        assert fields["weights"]["element"]["element"] == {"width": 2, "signed": False}
        assert (fields["first"]["offset"], fields["last"]["offset"]) == (36, 37)
        result = ports["o__payload"]
        assert result["width"] == 2 * dut.acc_bits + 1
        assert describe_shape(dut.result_layout()) == {k: result[k] for k in ("width", "fields")}

    @pytest.mark.parametrize("kwargs, error, message", [
        ({"rows": 0, "cols": 4}, ValueError, r"^rows must be an integer >= 1, not 0$"),
        ({"rows": "2", "cols": 4}, TypeError, r"^rows must be an integer >= 1, not '2'$"),
        ({"rows": 2, "cols": 0}, ValueError, r"^cols must be an integer >= 1, not 0$"),
        ({"rows": 2, "cols": 4, "act_bits": 1}, ValueError,
         r"^act_bits must be an integer in 2\.\.16, not 1$"),
        ({"rows": 2, "cols": 4, "act_bits": 17}, ValueError,
         r"^act_bits must be an integer in 2\.\.16, not 17$"),
        ({"rows": 2, "cols": 4, "max_k": 0}, ValueError, r"^max_k must be an integer >= 1, not 0$"),
        ({"rows": 2, "cols": 4, "pipeline": -1}, ValueError,
         r"^pipeline must be an integer >= 0, not -1$"),
        ({"rows": 2, "cols": 4, "max_k": 4096, "acc_bits": 20}, ValueError,
         r"^acc_bits must be an integer >= 21, not 20$"),
        ({"rows": 2, "cols": 4, "acc_bits": 21.0}, TypeError,
         r"^acc_bits must be an integer >= 21, not 21\.0$"),
        ({"rows": True, "cols": 4}, TypeError, r"^rows must be an integer >= 1, not True$"),
    ])
    def test_parameters_wrong(self, kwargs, error, message):
        with pytest.raises(error, match=message):
            TernaryMatrixUnit(**kwargs)


@pytest.mark.synth
class TestTernaryMatrixUnitSynthesis:
    def test_ice40_area_and_no_multiplier(self):
        from tritforge.flows.synth import synthesize
        rows, cols = 8, 32
        report = synthesize(TernaryMatrixUnit(rows, cols, pipeline=1), "ice40", top_name="tmu")
        assert report["mul_cells"] == 0
        assert report["dsp"] == 0
        lut_per_lane = report["lut4"] / (rows * cols)
        assert lut_per_lane <= 20, f"{lut_per_lane:.2f} LUT4 per lane ({report['lut4']} LUT4)"

    def test_ecp5_uses_no_dsp(self):
        from tritforge.flows.synth import synthesize
        report = synthesize(TernaryMatrixUnit(4, 16, pipeline=1), "ecp5", top_name="tmu")
        assert report["dsp"] == 0
        assert report["mul_cells"] == 0
        assert report["lut4"] > 0


@pytest.mark.parametrize("cols", [1, 2, 7, 16, 33, 64])
@pytest.mark.parametrize("pipeline", [0, 1, 2, 3])
def test_latency_for_matches_a_built_unit(cols, pipeline):
    assert TernaryMatrixUnit.latency_for(cols, pipeline) == TernaryMatrixUnit(2, cols, pipeline=pipeline).latency
