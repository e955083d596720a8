# amaranth: UnusedElaboratable=no
"""hdl.units: the one factory from a design's parameters to its component."""

import pytest

from tritforge.hdl import UNIT_CLASSES, Accelerator, IntMatrixUnit, TernaryMatrixUnit, build, build_unit
from tritforge.spec.params import UNIT_KINDS, AcceleratorParams, UnitParams


def test_every_unit_kind_has_its_class():
    assert tuple(UNIT_CLASSES) == UNIT_KINDS


@pytest.mark.parametrize("params, cls", [
    (UnitParams(rows=2, cols=3, max_k=16, pipeline=0), TernaryMatrixUnit),
    (UnitParams(kind="int", rows=1, cols=4, act_bits=6, weight_bits=4), IntMatrixUnit),
])
def test_build_unit_passes_every_parameter(params, cls):
    unit = build_unit(params)
    assert isinstance(unit, cls)
    assert (unit.rows, unit.cols, unit.act_bits, unit.max_k, unit.pipeline) == (
        params.rows, params.cols, params.act_bits, params.max_k, params.pipeline)
    # The ternary unit's weights are 2-bit codes; the int unit's width is a parameter.
    assert unit.weight_bits == (params.weight_bits or 2)


def test_build_dispatches_on_the_design():
    params = AcceleratorParams(rows=2, cols=4)
    top = build(params)
    assert isinstance(top, Accelerator) and top.params is params
    assert isinstance(build(UnitParams()), TernaryMatrixUnit)


def test_build_unit_wants_unit_params():
    with pytest.raises(TypeError, match=r"^params must be a UnitParams, not AcceleratorParams\("):
        build_unit(AcceleratorParams())
