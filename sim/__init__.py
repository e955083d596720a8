"""Simulation: cocotb testbenches on Icarus Verilog and Verilator, checked against the golden model."""

from .simulators import SIMULATORS, Simulator, SimulatorNotFound, find_simulator

__all__ = ["SIMULATORS", "Simulator", "SimulatorNotFound", "find_simulator"]
