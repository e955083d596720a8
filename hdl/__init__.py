"""Amaranth hardware: the ternary matrix unit, its INT8 baseline and the accelerator.

One block per module, each a :class:`amaranth.lib.wiring.Component` whose docstring states
its ports, protocol and latency. :mod:`.encoding` and :mod:`.protocol` hold the constants
the hardware shares with the golden model and the host driver.
"""
# amaranth: UnusedElaboratable=no
# (a unit whose constructor rejects a parameter would otherwise warn "never used")

from .accelerator import Accelerator
from .base3_decoder import Base3Decoder
from .encoding import WeightCode, accumulator_bits
from .int_matrix_unit import IntMatrixUnit
from .matrix_unit import MatrixUnitBase, TernaryMatrixUnit
from .protocol import AcceleratorParams, ErrorCode, Opcode, StatusFlag
from .ternary_dot import TernaryDot

__all__ = [
    "Accelerator", "AcceleratorParams", "Base3Decoder", "ErrorCode", "IntMatrixUnit",
    "MatrixUnitBase", "Opcode", "StatusFlag", "TernaryDot", "TernaryMatrixUnit", "WeightCode",
    "accumulator_bits",
]
