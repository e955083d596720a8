"""The matrix units' Verilog on Icarus Verilog and Verilator (cocotb ``tb_matrix_unit``)."""

import json
from pathlib import Path

import pytest

from tritforge.flows.generate import build_unit
from tritforge.sim.runner import run_cocotb, write_verilog
from tritforge.sim.simulators import SIMULATORS

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl"


def run_matrix_unit(simulator, waves, **config):
    """Convert the configured unit, run the testbench, return its summary."""
    name = "mu_{kind}_r{rows}_c{cols}_p{pipeline}".format(**config)
    build = BUILD / f"{name}_{simulator}"
    unit = build_unit(config["kind"], config["rows"], config["cols"], 8, config["max_k"], config["pipeline"])
    source = write_verilog(unit, "matrix_unit", build / "matrix_unit.v", ports=unit.verilog_ports())
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    run_cocotb(simulator, [source], "matrix_unit", "tritforge.sim.tb_matrix_unit", build, waves=waves,
               config={**config, "summary": str(summary)})
    return json.loads(summary.read_text())


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_ternary_matrix_unit(simulator, waves):
    summary = run_matrix_unit(simulator, waves, kind="ternary", rows=3, cols=12, max_k=100, pipeline=2,
                              products=24, seed=7)
    assert summary["products"] == 24 and summary["chunks"] > 24


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("kind, rows, cols, pipeline", [
    ("ternary", 8, 32, 1), ("ternary", 1, 1, 0), ("ternary", 16, 64, 2), ("int", 4, 16, 1)])
@pytest.mark.parametrize("simulator", SIMULATORS)
def test_matrix_unit_sweep(simulator, kind, rows, cols, pipeline, waves):
    summary = run_matrix_unit(simulator, waves, kind=kind, rows=rows, cols=cols, max_k=4 * cols + 3,
                              pipeline=pipeline, products=60, seed=rows * cols)
    assert summary["products"] == 60
