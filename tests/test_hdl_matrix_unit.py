# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""TernaryMatrixUnit against the golden integer reference, under gaps and backpressure.

The behaviour tests run on every unit that promises TernaryMatrixUnit's behaviour (the
``make`` fixture): the adder tree and the table-lookup unit (one group size by default,
every group size, full and half tables under ``slow``).

The chunks, the valid/ready driver (input gaps with garbage payload, output stalls, a stalled
result must stay put, a tail that catches extra results) and the scoreboard are
:mod:`tritforge.hdl.chunk_stream`'s, shared with the int unit's tests and the cocotb testbench.
"""

import functools
import random

import pytest

from tritforge.hdl.chunk_stream import (Product, check_results, product_chunks, product_lengths,
                                        random_product, stream_chunks)
from tritforge.hdl.lookup_matrix_unit import GROUP_RANGE, LookupMatrixUnit
from tritforge.hdl.matrix_unit import TernaryMatrixUnit, describe_shape
from tritforge.spec.formats import WeightCode, accumulator_bits

from unit_streams import simulate, stream_and_check, ternary_expected


def _lookup(group, symmetric=True):
    return pytest.param(functools.partial(LookupMatrixUnit, group=group, symmetric=symmetric),
                        id=f"lookup{group}" + ("" if symmetric else "full"),
                        marks=() if (group, symmetric) == (3, True) else pytest.mark.slow)


#: Makers of the units that behave as TernaryMatrixUnit: ``make(rows, cols, **kwargs)``.
TERNARY_UNITS = [pytest.param(TernaryMatrixUnit, id="tree"),
                 *(_lookup(group, symmetric) for group in GROUP_RANGE for symmetric in (True, False))]


@pytest.fixture(params=TERNARY_UNITS)
def make(request):
    return request.param


class TestTernaryMatrixUnit:
    @pytest.mark.parametrize("rows, cols, pipeline, count, gap, stall, seed", [
        (1, 1, 1, 8, 0.3, 0.3, 1), (1, 5, 0, 8, 0.8, 0.0, 2), (3, 7, 1, 8, 0.3, 0.3, 3),
        (2, 3, 2, 8, 0.0, 0.8, 4), (4, 16, 1, 8, 0.3, 0.3, 5), (2, 6, 3, 8, 0.6, 0.6, 6),
        (3, 4, 0, 8, 0.3, 0.3, 7),
    ])
    def test_random_products(self, make, rows, cols, pipeline, count, gap, stall, seed):
        """K = 1, cols, 3 * cols, max_k and random; 2 % INVALID codes; long input gaps, long
        output stalls, both, and some of each."""
        rng = random.Random(seed)
        unit = make(rows, cols, max_k=6 * cols, pipeline=pipeline)
        products = [random_product(unit, rng, k, invalid_share=0.02)
                    for k in product_lengths(unit, rng, count)]
        assert stream_and_check(unit, products, seed, gap=gap, stall=stall) == count

    @pytest.mark.parametrize("act_bits, gap, stall, seed", [
        (2, 0.2, 0.2, 1), (5, 0.2, 0.2, 2), (12, 0.2, 0.2, 3)])
    def test_other_activation_widths(self, make, act_bits, gap, stall, seed):
        rng = random.Random(seed)
        unit = make(2, 5, act_bits=act_bits, max_k=20, pipeline=1)
        products = [random_product(unit, rng, k) for k in (1, 5, 13, 20)]
        assert stream_and_check(unit, products, seed, gap=gap, stall=stall) == 4

    @pytest.mark.parametrize("pipeline, stall, seed", [(0, 0.5, 2), (1, 0.5, 2), (2, 0.5, 2)])
    def test_extremes_do_not_overflow(self, make, pipeline, stall, seed):
        """All activations -128 at K = max_k: the largest and the most negative sums."""
        max_k, cols = 64, 8
        unit = make(2, cols, max_k=max_k, pipeline=pipeline)
        assert unit.acc_bits == accumulator_bits(max_k, 8) == 15
        act = [-128] * max_k
        rows = [[int(WeightCode.NEG)] * max_k, [int(WeightCode.POS)] * max_k]
        products = [Product(act, rows), Product(act, rows[::-1])]
        assert ternary_expected(products[0]) == ([8192, -8192], False)
        assert stream_and_check(unit, products, seed, stall=stall) == 2

    @pytest.mark.parametrize("gap, stall, seed", [(0.3, 0.3, 3)])
    def test_invalid_code_flags_and_contributes_zero(self, make, gap, stall, seed):
        zero, pos, invalid = int(WeightCode.ZERO), int(WeightCode.POS), int(WeightCode.INVALID)
        act = [10, 20, 30, 40, 50, 60]
        products = [
            # INVALID in the second chunk of row 1 only: flagged, lane counts 0.
            Product(act, [[pos] * 6, [pos, pos, pos, pos, invalid, pos]]),
            # The next product is clean: the flag must not leak into it.
            Product(act, [[pos] * 6, [pos] * 6]),
            # INVALID in the first of two chunks.
            Product(act[:4], [[invalid, pos, pos, pos], [zero] * 4]),
        ]
        unit = make(2, 3, max_k=6)
        expected = [ternary_expected(p) for p in products]
        assert [e[1] for e in expected] == [True, False, True]
        assert expected[0][0] == [210, 160]
        assert stream_and_check(unit, products, seed, gap=gap, stall=stall) == 3

    @pytest.mark.parametrize("pipeline", [0, 1, 2, 5])
    def test_full_throughput_and_latency(self, make, pipeline):
        """One chunk per cycle with the output always ready; result `latency` cycles
        after its last chunk is accepted."""
        rows, cols = 2, 8
        unit = make(rows, cols, max_k=32, pipeline=pipeline)
        products = [random_product(unit, random.Random(k), k) for k in (8, 32, 17, 1)]
        chunks = stream_chunks(unit, products)
        driver = simulate(unit, chunks, 0)
        assert driver.accepted == list(range(len(chunks))), "a chunk was not accepted in its cycle"
        last_chunks = [index for index, chunk in enumerate(chunks) if chunk["last"]]
        assert [r.cycle for r in driver.results] == [i + unit.latency for i in last_chunks]
        assert check_results(products, [ternary_expected(p) for p in products], driver.results) == 4

    def test_first_restarts_an_unfinished_product(self, make):
        """A `first` chunk before the previous product's `last` drops that product."""
        pos = int(WeightCode.POS)
        unit = make(1, 2, max_k=8)
        unfinished = product_chunks(unit, Product([1, 2, 3, 4], [[pos] * 4]))[:1]
        whole = product_chunks(unit, Product([5, 6, 7, 8], [[pos] * 4]))
        driver = simulate(unit, unfinished + whole, 0)
        assert [r.acc for r in driver.results] == [[26]]

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
