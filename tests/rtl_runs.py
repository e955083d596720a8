"""How the RTL tests build and run their designs on Icarus Verilog and Verilator (a helper
module, not a test: the test files import it, never each other)."""

import json
from pathlib import Path

from tritforge.hdl.units import build_unit
from tritforge.sim.build import ACCELERATOR_TESTBENCH, run_accelerator
from tritforge.sim.runner import run_cocotb, write_verilog
from tritforge.spec.params import AcceleratorParams

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl"
MATRIX_UNIT_TB = "tritforge.sim.tb_matrix_unit"

#: Test geometries: small buffers so that layers get split; the two formats also differ in
#: stream width and in a tile shape that is not a power of two.
GEOMETRIES = {
    "2bit": AcceleratorParams(rows=4, cols=16, weight_format="2bit", max_k=256, weight_depth=16,
                              act_depth=32, max_tokens=8, stream_width=32),
    "base3": AcceleratorParams(rows=3, cols=10, weight_format="base3", max_k=100, weight_depth=12,
                               act_depth=24, max_tokens=6, stream_width=64, counter_bits=32),
    #: Wide stream: a result group or a tile in one beat.
    "wide": AcceleratorParams(rows=4, cols=16, weight_format="2bit", max_k=512, weight_depth=32,
                              act_depth=64, max_tokens=16, stream_width=128),
    #: The lookup unit: groups of 3 over 2-bit codes; base-3 bytes as table indices (group 5,
    #: a partial last group).
    "lookup": AcceleratorParams(rows=4, cols=16, weight_format="2bit", max_k=256, weight_depth=16,
                                act_depth=32, max_tokens=8, stream_width=32, unit_kind="lookup", group=3),
    "lookup_base3": AcceleratorParams(rows=3, cols=12, weight_format="base3", max_k=100, weight_depth=12,
                                      act_depth=24, max_tokens=6, stream_width=64, unit_kind="lookup",
                                      group=5),
}


def run_accelerator_tb(simulator, name, params, waves, testcase=None,
                       test_module=ACCELERATOR_TESTBENCH, harness=False, **config):
    """Build ``params`` (in the batch harness with ``harness``) into
    ``build/rtl/<name>_<simulator>``, run the cocotb tests of ``test_module`` (all, or
    ``testcase``) with the testbench knobs ``config``, return the testbench's summary."""
    build = BUILD / f"{name}_{simulator}"
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    run_accelerator(simulator, params, build, test_module, waves=waves, testcase=testcase,
                    harness=harness, config={"summary": str(summary), **config})
    return json.loads(summary.read_text())


def run_matrix_unit_tb(simulator, unit_params, waves, **config):
    """Convert the unit of ``unit_params``, run the matrix-unit testbench with the knobs
    ``config`` (``products``, ``gap``, ``stall``, ``seed``), return its summary."""
    build = BUILD / f"mu_{unit_params.name}_{simulator}"
    unit = build_unit(unit_params)
    source = write_verilog(unit, "matrix_unit", build / "matrix_unit.v", ports=unit.verilog_ports())
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    run_cocotb(simulator, [source], "matrix_unit", MATRIX_UNIT_TB, build, waves=waves,
               config={**config, "unit": unit_params.to_dict(), "summary": str(summary)})
    return json.loads(summary.read_text())
