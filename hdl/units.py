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
from .int_matrix_unit import IntMatrixUnit
from .lookup_matrix_unit import LookupMatrixUnit
from .matrix_unit import TernaryMatrixUnit

__all__ = ["UNIT_CLASSES", "build_unit", "build", "unit_latency", "unit_structure", "accelerator_unit",
           "accelerator_unit_latency"]

#: The class of each matrix unit kind.
UNIT_CLASSES = {"ternary": TernaryMatrixUnit, "lookup": LookupMatrixUnit, "int": IntMatrixUnit}


def build_unit(params, *, weight_format="codes"):
    """A new matrix unit of :class:`UnitParams` ``params``.

    ``weight_format="base3"``: a lookup unit of group 5 that takes base-3 bytes (the
    accelerator's, :attr:`~tritforge.spec.params.AcceleratorParams.unit_reads_bytes`).
    """
    check_params(params, UnitParams)
    common = dict(act_bits=params.act_bits, max_k=params.max_k, pipeline=params.pipeline)
    if params.kind == "int":
        common["weight_bits"] = params.weight_bits
    if params.kind == "lookup":
        common.update(group=params.group, weight_format=weight_format)
    return UNIT_CLASSES[params.kind](params.rows, params.cols, **common)


def unit_latency(params, *, weight_format="codes"):
    """The latency of ``build_unit(params, weight_format=weight_format)``, without building it."""
    check_params(params, UnitParams)
    if params.kind == "lookup":
        return LookupMatrixUnit.latency_for(params.cols, params.pipeline, params.group, weight_format)
    return UNIT_CLASSES[params.kind].latency_for(params.cols, params.pipeline)


def _accelerator_weights(params):
    return "base3" if check_params(params).unit_reads_bytes else "codes"


def accelerator_unit(params):
    """A new matrix unit as the accelerator of :class:`AcceleratorParams` ``params`` holds it."""
    return build_unit(params.unit, weight_format=_accelerator_weights(params))


def accelerator_unit_latency(params):
    """The latency of :func:`accelerator_unit` ``(params)``, without building it."""
    return unit_latency(params.unit, weight_format=_accelerator_weights(params))


def unit_structure(params, *, weight_format="codes"):
    """The :class:`~tritforge.hdl.matrix_unit.MatrixUnitStructure` of ``build_unit(params)``,
    without building all of that unit.

    Every row of a unit is the same block (the structure describes one row and counts
    ``rows``), so a one-row unit tells it all. Building a unit's ports takes time in
    proportion to ``rows * cols`` (Amaranth formats every weight field): about 80 ms for
    64 x 64, against a few milliseconds for one row of 64.
    """
    one_row = build_unit(dataclasses.replace(check_params(params, UnitParams), rows=1),
                         weight_format=weight_format)
    return dataclasses.replace(one_row.structure(), rows=params.rows)


def build(design):
    """A new component of ``design``: a :class:`UnitParams` or an :class:`AcceleratorParams`."""
    if isinstance(design, AcceleratorParams):
        from .accelerator import Accelerator   # the top builds its unit with this module
        return Accelerator(design)
    return build_unit(design)
