# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""IntMatrixUnit, the multiplying baseline, against numpy integer arithmetic.

Driven and checked by :mod:`tritforge.hdl.chunk_stream`, like the ternary unit.
"""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from tritforge.hdl.chunk_stream import (Product, StreamDriver, check_results, product_lengths,
                                        random_product, stream_chunks)
from tritforge.hdl.int_matrix_unit import IntMatrixUnit


def int_expected(product):
    """Exact result in int64 numpy arithmetic; the integer unit never flags invalid."""
    acc = np.array(product.weights, dtype=np.int64) @ np.array(product.act, dtype=np.int64)
    return acc.tolist(), False


def stream_and_check(unit, products, seed, **knobs):
    """Stream ``products`` through ``unit`` (garbage in the gaps) in Amaranth's simulator,
    check every result; the count."""
    driver = StreamDriver(unit, stream_chunks(unit, products), random.Random(seed), garbage=True,
                          **knobs)
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(driver.amaranth_testbench)
    sim.run()
    return check_results(products, [int_expected(p) for p in products], driver.results)


class TestIntMatrixUnit:
    @pytest.mark.parametrize("rows, cols, pipeline, count, gap, stall, seed", [
        (1, 1, 1, 7, 0.3, 0.3, 1), (3, 5, 0, 7, 0.3, 0.3, 2), (2, 8, 1, 7, 0.3, 0.3, 3),
        (2, 6, 2, 7, 0.3, 0.3, 4)])
    def test_random_products(self, rows, cols, pipeline, count, gap, stall, seed):
        rng = random.Random(seed)
        unit = IntMatrixUnit(rows, cols, max_k=5 * cols, pipeline=pipeline)
        products = [random_product(unit, rng, k) for k in product_lengths(unit, rng, count)]
        assert stream_and_check(unit, products, seed, gap=gap, stall=stall) == count

    @pytest.mark.parametrize("pipeline, stall, seed", [(0, 0.5, 4), (1, 0.5, 4)])
    def test_extremes_do_not_overflow(self, pipeline, stall, seed):
        max_k, cols = 64, 8
        unit = IntMatrixUnit(2, cols, max_k=max_k, pipeline=pipeline)
        assert unit.acc_bits == 22          # 64 * 128 * 128 = 2**20 needs 21 bits + sign
        products = [Product([-128] * max_k, [[-128] * max_k, [127] * max_k])]
        assert int_expected(products[0])[0] == [1 << 20, -64 * 128 * 127]
        assert stream_and_check(unit, products, seed, stall=stall) == 1

    @pytest.mark.parametrize("gap, stall, seed", [(0.3, 0.3, 5)])
    def test_narrow_weights(self, gap, stall, seed):
        rng = random.Random(seed)
        unit = IntMatrixUnit(2, 4, act_bits=6, weight_bits=3, max_k=12)
        products = [random_product(unit, rng, k) for k in (1, 4, 12, 7)]
        assert all(-4 <= w <= 3 for p in products for row in p.weights for w in row)
        assert stream_and_check(unit, products, seed, gap=gap, stall=stall) == 4

    def test_properties(self):
        dut = IntMatrixUnit(8, 32, weight_bits=8, max_k=4096)
        assert (dut.rows, dut.cols, dut.act_bits, dut.weight_bits, dut.max_k) == (8, 32, 8, 8, 4096)
        assert dut.acc_bits == 28         # 4096 * 2**14 = 2**26 needs 27 bits + sign
        assert dut.latency == 6           # multiplier level + 5 adder levels
        assert IntMatrixUnit(8, 32, pipeline=0).latency == 1
        assert IntMatrixUnit(8, 32, pipeline=2).latency == 3
        fields = {p["name"]: p for p in dut.describe_ports()}["i__payload"]["fields"]
        weights = {f["name"]: f for f in fields}["weights"]
        assert weights["element"]["element"] == {"width": 8, "signed": True}

    @pytest.mark.parametrize("kwargs, error, message", [
        ({"weight_bits": 1}, ValueError, r"^weight_bits must be an integer in 2\.\.16, not 1$"),
        ({"weight_bits": 17}, ValueError, r"^weight_bits must be an integer in 2\.\.16, not 17$"),
        ({"weight_bits": "8"}, TypeError, r"^weight_bits must be an integer in 2\.\.16, not '8'$"),
        ({"acc_bits": 27}, ValueError, r"^acc_bits must be an integer >= 28, not 27$"),
        ({"rows": 0}, ValueError, r"^rows must be an integer >= 1, not 0$"),
    ])
    def test_parameters_wrong(self, kwargs, error, message):
        arguments = {"rows": 2, "cols": 4, **kwargs}
        with pytest.raises(error, match=message):
            IntMatrixUnit(**arguments)


@pytest.mark.synth
def test_ice40_maps_each_lane_to_a_multiplier():
    from tritforge.flows.synth import synthesize
    report = synthesize(IntMatrixUnit(2, 4, pipeline=1), "ice40", top_name="imu")
    assert report["mul_cells"] == 8
    assert report["dsp"] == 8
