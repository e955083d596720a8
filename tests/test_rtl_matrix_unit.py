"""The matrix units' Verilog on Icarus Verilog and Verilator (cocotb ``tb_matrix_unit``)."""

import pytest

from tritforge.sim.simulators import SIMULATORS
from tritforge.spec.params import UnitParams

from rtl_runs import run_matrix_unit_tb


LOOKUP3 = {"kind": "lookup", "group": 3}


@pytest.mark.rtl
@pytest.mark.parametrize("simulator, unit_kind", [
    *((simulator, {}) for simulator in SIMULATORS), ("icarus", LOOKUP3),
    # Verilator builds the lookup unit in ~55 s (Icarus: 7 s for the whole test).
    pytest.param("verilator", LOOKUP3, marks=pytest.mark.slow)],
    ids=[*(f"{simulator}-tree" for simulator in SIMULATORS), "icarus-lookup3", "verilator-lookup3"])
def test_ternary_matrix_unit(simulator, unit_kind, waves):
    unit = UnitParams(rows=3, cols=12, max_k=100, pipeline=2, **unit_kind)
    summary = run_matrix_unit_tb(simulator, unit, waves, products=24, gap=0.3, stall=0.3, seed=7,
                                 garbage=True)
    assert summary["products"] == 24 and summary["chunks"] > 24


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("kind, rows, cols, pipeline, group", [
    ("ternary", 8, 32, 1, None), ("ternary", 1, 1, 0, None), ("ternary", 16, 64, 2, None),
    ("int", 4, 16, 1, None), ("lookup", 8, 32, 1, 1), ("lookup", 4, 30, 0, 2), ("lookup", 8, 32, 2, 3),
    ("lookup", 3, 17, 1, 4), ("lookup", 4, 64, 1, 5)])
@pytest.mark.parametrize("gap, stall", [(0.3, 0.3)])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_matrix_unit_sweep(simulator, kind, rows, cols, pipeline, group, gap, stall, waves):
    unit = UnitParams(kind=kind, rows=rows, cols=cols, max_k=4 * cols + 3, pipeline=pipeline, group=group)
    summary = run_matrix_unit_tb(simulator, unit, waves, products=60, gap=gap, stall=stall,
                                 seed=rows * cols)
    assert summary["products"] == 60
