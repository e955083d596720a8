"""Amaranth hardware: the ternary matrix unit, its INT8 baseline and the accelerator.

One block per module, each a :class:`amaranth.lib.wiring.Component` whose docstring states
its ports, protocol and latency. The numbers the hardware shares with the golden model and
the host (weight codes, the protocol, the parameter objects) come from :mod:`tritforge.spec`;
:func:`build` turns a design's parameters into its component.
"""

from .accelerator import Accelerator
from .base3_decoder import Base3Decoder
from .int_matrix_unit import IntMatrixUnit
from .matrix_unit import MatrixUnitBase, TernaryMatrixUnit
from .ternary_dot import TernaryDot
from .units import UNIT_CLASSES, build, build_unit

__all__ = [
    "Accelerator", "Base3Decoder", "IntMatrixUnit", "MatrixUnitBase", "TernaryDot",
    "TernaryMatrixUnit", "UNIT_CLASSES", "build", "build_unit",
]
