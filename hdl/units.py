# amaranth: UnusedElaboratable=no
# (units are often built only to read their properties, or refused by a failing tool)
"""Which component each design's parameters build: the one factory of the hardware.

:data:`UNIT_CLASSES` maps each matrix unit kind of :data:`tritforge.spec.params.UNIT_KINDS`
to its class; :func:`build_unit` builds a unit from :class:`~tritforge.spec.params.UnitParams`,
:func:`build` any design (a unit or the accelerator top).
"""

from ..spec.params import AcceleratorParams, UnitParams, check_params
from .accelerator import Accelerator
from .int_matrix_unit import IntMatrixUnit
from .matrix_unit import TernaryMatrixUnit

__all__ = ["UNIT_CLASSES", "build_unit", "build"]

#: The class of each matrix unit kind.
UNIT_CLASSES = {"ternary": TernaryMatrixUnit, "int": IntMatrixUnit}


def build_unit(params):
    """A new matrix unit of :class:`UnitParams` ``params``."""
    check_params(params, UnitParams)
    common = dict(act_bits=params.act_bits, max_k=params.max_k, pipeline=params.pipeline)
    if params.kind == "int":
        common["weight_bits"] = params.weight_bits
    return UNIT_CLASSES[params.kind](params.rows, params.cols, **common)


def build(design):
    """A new component of ``design``: a :class:`UnitParams` or an :class:`AcceleratorParams`."""
    if isinstance(design, AcceleratorParams):
        return Accelerator(design)
    return build_unit(design)
