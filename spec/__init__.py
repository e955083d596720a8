"""The definitions every layer of tritforge shares: pure Python and numpy, no torch, no Amaranth.

:mod:`.formats`
    Weight codes, packed weight formats (numpy packers), the accumulator width rule and the
    shapes of the BitNet b1.58 models.
:mod:`.protocol`
    The accelerator's host protocol: opcodes, error codes, status words and counters.
:mod:`.params`
    One frozen parameter object per design (:class:`UnitParams`, :class:`AcceleratorParams`).
:mod:`.errors`
    :class:`TritforgeError`, the domain errors a user can cause.

This is the bottom layer: ``golden`` (torch) and ``hdl`` (Amaranth) both build on it, so that
neither has to repeat a number the other defines.
"""

from .errors import ParameterError, ParameterTypeError, TritforgeError, check_integer
from .formats import MODEL_SHAPES, WEIGHT_FORMATS, ModelShape, WeightCode, accumulator_bits
from .io import write_text_atomic
from .params import (DESIGN_KINDS, UNIT_KINDS, AcceleratorParams, UnitParams, design_from_dict,
                     load_design)

__all__ = [
    "TritforgeError", "ParameterError", "ParameterTypeError", "check_integer",
    "WeightCode", "WEIGHT_FORMATS", "MODEL_SHAPES", "ModelShape", "accumulator_bits",
    "write_text_atomic", "UNIT_KINDS", "DESIGN_KINDS", "UnitParams", "AcceleratorParams",
    "design_from_dict", "load_design",
]
