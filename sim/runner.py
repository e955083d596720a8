"""Run a cocotb test module on an Amaranth design, on Icarus Verilog or Verilator.

The design is converted to Verilog once per build folder; cocotb's own runner
(``cocotb_tools.runner``) builds and runs it. Test parameters travel to the cocotb side as
JSON in the environment variable :data:`CONFIG_ENV` (read them with :func:`tb_config`).
"""

import json
import os
from pathlib import Path

from .simulators import activate, find_simulator

__all__ = ["CONFIG_ENV", "write_verilog", "run_cocotb", "tb_config"]

CONFIG_ENV = "TRITFORGE_TB_CONFIG"
#: Amaranth's Verilog trips Verilator's width lint; the warnings are not errors here.
_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTH")


def write_verilog(component, name, path, ports=None):
    """Convert ``component`` to Verilog (top module ``name``, optionally explicit ``ports``)
    at ``path``; return the path."""
    from amaranth.back import verilog
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(component, name=name, ports=ports, emit_src=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # never leave a half-written source behind
    return path


def run_cocotb(simulator, sources, toplevel, test_module, build_dir, *, config=None, waves=False,
               testcase=None, seed=None):
    """Build ``sources`` and run the cocotb ``test_module`` on them; return the results file.

    Raises ``AssertionError`` (so pytest reports a failure) when any cocotb test fails.
    """
    from cocotb_tools.runner import get_runner, get_results

    sim = activate(find_simulator(simulator))
    runner = get_runner(sim.name)
    build_dir = Path(build_dir).resolve()
    runner.build(sources=[Path(s).resolve() for s in sources], hdl_toplevel=toplevel,
                 build_dir=build_dir, always=True, timescale=("1ns", "1ps"), waves=waves,
                 build_args=list(_VERILATOR_ARGS) if sim.name == "verilator" else [])
    results = runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                          test_dir=build_dir, waves=waves, testcase=testcase, seed=seed,
                          extra_env={CONFIG_ENV: json.dumps(config or {})})
    tests, failures = get_results(results)
    if tests == 0 or failures:
        raise AssertionError(f"{failures} of {tests} cocotb tests failed on {sim.name}; "
                             f"log and results in {build_dir}")
    return results


def tb_config():
    """The parameters :func:`run_cocotb` passed to this cocotb test module."""
    return json.loads(os.environ.get(CONFIG_ENV, "{}"))
