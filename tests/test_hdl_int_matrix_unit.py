# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""IntMatrixUnit, the multiplying baseline, against numpy integer arithmetic.

Driven by the same stream driver, monitor and checker as the ternary unit.
"""

import random

import numpy as np
import pytest

from test_hdl_matrix_unit import Product, check_results, simulate
from tritforge.hdl.int_matrix_unit import IntMatrixUnit


def random_int_product(rng, rows, k, act_bits=8, weight_bits=8):
    a_half, w_half = 1 << (act_bits - 1), 1 << (weight_bits - 1)
    act = [rng.randrange(-a_half, a_half) for _ in range(k)]
    weights = [[rng.randrange(-w_half, w_half) for _ in range(k)] for _ in range(rows)]
    return Product(act, weights, 0)


def int_expected(product):
    """Exact result in int64 numpy arithmetic; the integer unit never flags invalid."""
    acc = np.array(product.weights, dtype=np.int64) @ np.array(product.act, dtype=np.int64)
    return acc.tolist(), False


class TestIntMatrixUnit:
    @pytest.mark.parametrize("rows, cols, pipeline", [(1, 1, 1), (3, 5, 0), (2, 8, 1), (2, 6, 2)])
    def test_random_products(self, rows, cols, pipeline):
        rng = random.Random(rows * 100 + cols + pipeline)
        max_k = 5 * cols
        dut = IntMatrixUnit(rows, cols, max_k=max_k, pipeline=pipeline)
        lengths = [1, cols, max_k] + [rng.randint(1, max_k) for _ in range(4)]
        products = [random_int_product(rng, rows, k) for k in lengths]
        expected = [int_expected(p) for p in products]
        received = simulate(dut, products, seed=cols, gap_probability=0.3, stall_probability=0.3)
        assert check_results(products, expected, received, cols) == len(products)

    @pytest.mark.parametrize("pipeline", [0, 1])
    def test_extremes_do_not_overflow(self, pipeline):
        max_k, cols = 64, 8
        dut = IntMatrixUnit(2, cols, max_k=max_k, pipeline=pipeline)
        assert dut.acc_bits == 22          # 64 * 128 * 128 = 2**20 needs 21 bits + sign
        act = [-128] * max_k
        products = [Product(act, [[-128] * max_k, [127] * max_k], 0)]
        expected = [int_expected(p) for p in products]
        assert expected[0][0] == [1 << 20, -64 * 128 * 127]
        received = simulate(dut, products, seed=4, stall_probability=0.5)
        assert check_results(products, expected, received, cols) == 1

    def test_narrow_weights(self):
        rng = random.Random(7)
        dut = IntMatrixUnit(2, 4, act_bits=6, weight_bits=3, max_k=12)
        products = [random_int_product(rng, 2, k, 6, 3) for k in (1, 4, 12, 7)]
        expected = [int_expected(p) for p in products]
        received = simulate(dut, products, seed=5, gap_probability=0.3, stall_probability=0.3)
        assert check_results(products, expected, received, 4) == 4

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
