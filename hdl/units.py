# amaranth: UnusedElaboratable=no
# (units are often built only to read their properties, or refused by a failing tool)
"""Which component each design's parameters build: the one factory of the hardware.

:data:`UNIT_CLASSES` maps each matrix unit kind of :data:`tritforge.spec.params.UNIT_KINDS`
to its class; :func:`build_unit` builds a unit from :class:`~tritforge.spec.params.UnitParams`,
:func:`build` any design (a unit or the accelerator top), :func:`unit_structure` what a
unit would build.
"""

import dataclasses

from ..spec.params import AcceleratorParams, UnitParams, check_params
from .accelerator import Accelerator
from .int_matrix_unit import IntMatrixUnit
from .matrix_unit import TernaryMatrixUnit

__all__ = ["UNIT_CLASSES", "build_unit", "build", "unit_structure"]

#: The class of each matrix unit kind.
UNIT_CLASSES = {"ternary": TernaryMatrixUnit, "int": IntMatrixUnit}


def build_unit(params):
    """A new matrix unit of :class:`UnitParams` ``params``."""
    check_params(params, UnitParams)
    common = dict(act_bits=params.act_bits, max_k=params.max_k, pipeline=params.pipeline)
    if params.kind == "int":
        common["weight_bits"] = params.weight_bits
    return UNIT_CLASSES[params.kind](params.rows, params.cols, **common)


def unit_structure(params):
    """The :class:`~tritforge.hdl.matrix_unit.MatrixUnitStructure` of ``build_unit(params)``,
    without building all of that unit.

    Every row of a unit is the same block (the structure describes one row and counts
    ``rows``), so a one-row unit tells it all. Building a unit's ports takes time in
    proportion to ``rows * cols`` (Amaranth formats every weight field): about 80 ms for
    64 x 64, against a few milliseconds for one row of 64.
    """
    one_row = build_unit(dataclasses.replace(check_params(params, UnitParams), rows=1))
    return dataclasses.replace(one_row.structure(), rows=params.rows)


def build(design):
    """A new component of ``design``: a :class:`UnitParams` or an :class:`AcceleratorParams`."""
    if isinstance(design, AcceleratorParams):
        return Accelerator(design)
    return build_unit(design)
