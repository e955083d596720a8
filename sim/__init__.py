"""Simulation: cocotb testbenches on Icarus Verilog and Verilator, checked against the golden
model, and the host side of the accelerator's command protocol (shared with a future FPGA
host driver)."""

from .driver import Driver, plan_matmul
from .simulators import SIMULATORS, Simulator, SimulatorNotFound, find_simulator

__all__ = ["SIMULATORS", "Driver", "Simulator", "SimulatorNotFound", "find_simulator", "plan_matmul"]
