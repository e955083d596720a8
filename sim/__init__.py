"""Simulation and the host side: cocotb testbenches on Icarus Verilog and Verilator checked
against the golden model, the host protocol and driver (shared with an FPGA host), and the
cycle model.

Importing this package, :mod:`.protocol` or :mod:`.driver` needs numpy only (a board's host
driver runs without torch or Amaranth); :mod:`.perf_model` and :mod:`.build` add Amaranth; the
testbenches (``tb_*``), :mod:`.layer` and :mod:`.axis_transport` import cocotb and torch and
run inside a simulator.
"""

from .driver import Driver, plan_matmul
from .simulators import SIMULATORS, Simulator, SimulatorNotFound, find_simulator

__all__ = ["SIMULATORS", "Driver", "Simulator", "SimulatorNotFound", "find_simulator", "plan_matmul"]
