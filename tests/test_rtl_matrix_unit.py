"""The matrix units' Verilog on Icarus Verilog and Verilator (cocotb ``tb_matrix_unit``)."""

import pytest

from tritforge.sim.simulators import SIMULATORS
from tritforge.spec.params import UnitParams

from rtl_runs import run_matrix_unit_tb


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_ternary_matrix_unit(simulator, waves):
    unit = UnitParams(rows=3, cols=12, max_k=100, pipeline=2)
    summary = run_matrix_unit_tb(simulator, unit, waves, products=24, gap=0.3, stall=0.3, seed=7,
                                 garbage=True)
    assert summary["products"] == 24 and summary["chunks"] > 24


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("kind, rows, cols, pipeline", [
    ("ternary", 8, 32, 1), ("ternary", 1, 1, 0), ("ternary", 16, 64, 2), ("int", 4, 16, 1)])
@pytest.mark.parametrize("gap, stall", [(0.3, 0.3)])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_matrix_unit_sweep(simulator, kind, rows, cols, pipeline, gap, stall, waves):
    unit = UnitParams(kind=kind, rows=rows, cols=cols, max_k=4 * cols + 3, pipeline=pipeline)
    summary = run_matrix_unit_tb(simulator, unit, waves, products=60, gap=gap, stall=stall,
                                 seed=rows * cols)
    assert summary["products"] == 60
