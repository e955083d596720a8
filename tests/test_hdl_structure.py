# amaranth: UnusedElaboratable=no
# (blocks here are built only to read their structure)
"""The hardware's description of itself: the tree plan, the pipeline register count and
the blocks' ``structure()``, against what their ``elaborate`` builds (Yosys' flip-flop
count is in ``test_flows_energy.py``)."""

import pytest
from amaranth.hdl import Fragment, Module, Signal

from tritforge.hdl.int_matrix_unit import IntMatrixUnit, _IntDot
from tritforge.hdl.matrix_unit import MatrixUnitStructure, TernaryMatrixUnit
from tritforge.hdl.ternary_dot import (DotStructure, Stages, TernaryDot, TreeNode, adder_tree,
                                       plan_tree, stage_register_bits)
from tritforge.hdl.units import build_unit, unit_structure
from tritforge.spec.errors import ParameterTypeError
from tritforge.spec.params import AcceleratorParams, UnitParams


def _leaves(m, ranges):
    """Leaves over ``(lo, hi, carries)`` with real signals, as a block makes them."""
    leaves = []
    for index, (lo, hi, carries) in enumerate(ranges):
        value = Signal(range(lo, hi + 1), name=f"leaf{index}")
        bits = tuple(Signal(name=f"carry{index}_{k}") for k in range(carries))
        leaves.append(TreeNode(value, lo, hi, bits))
    return leaves


@pytest.mark.parametrize("invert_root", [False, True])
@pytest.mark.parametrize("ranges", [
    [(-128, 127, 1)],
    [(-128, 127, 1)] * 5,
    [(0, 3, 0), (-8, 7, 2), (-1, 0, 1), (5, 9, 0), (-100, 100, 0), (-2, 1, 3), (0, 1, 0)],
])
def test_plan_is_the_emitted_tree(ranges, invert_root):
    m = Module()
    stages = Stages(m, 1, Signal())
    leaves = _leaves(m, ranges)
    root, riders = adder_tree(m, leaves, stages=stages, riders=[Signal()], invert_root=invert_root)
    plan = plan_tree(leaves, invert_root=invert_root)
    assert (plan.root.lo, plan.root.hi, len(plan.root.carries)) == (root.lo, root.hi, len(root.carries))
    assert len(root.value) == plan.root.shape.width
    assert len(plan.adders) == len(leaves) - 1 == len(plan.adder_widths)
    # One register stage per level: the plan's bits plus the rider.
    assert stages.bits == sum(bits + 1 for bits in plan.level_bits)


@pytest.mark.parametrize("pipeline, expected", [(0, 0), (1, 3 + 5 + 7), (2, 5 + 7), (3, 7), (5, 7)])
def test_stage_register_bits(pipeline, expected):
    # After every pipeline-th level, and after the last one if no stage ended there.
    assert stage_register_bits([3, 5, 7], pipeline) == expected
    assert stage_register_bits([], pipeline) == 0


def test_stage_register_bits_wrong():
    with pytest.raises(ValueError, match=r"^pipeline must be an integer >= 0, not -1$"):
        stage_register_bits([1], -1)


@pytest.mark.parametrize("lanes", [1, 2, 3, 8, 13])
@pytest.mark.parametrize("pipeline", [0, 1, 2, 3])
@pytest.mark.parametrize("make, correction_adders", [
    (lambda lanes, pipeline: TernaryDot(lanes, 6, pipeline, raw=True), 0),
    (lambda lanes, pipeline: TernaryDot(lanes, 6, pipeline, raw=False), 1),
    (lambda lanes, pipeline: _IntDot(lanes, 5, 3, pipeline), 0),
], ids=["ternary_raw", "ternary", "int"])
def test_dot_structure_is_what_elaborate_builds(make, correction_adders, lanes, pipeline):
    dot = make(lanes, pipeline)
    structure = dot.structure()
    # elaborate checks its register bits against structure() itself.
    Fragment.get(dot, None)
    assert structure.latency == dot.latency
    assert len(structure.adder_widths) == lanes - 1 + correction_adders
    if pipeline == 0:
        assert structure.register_bits == 0


def test_ternary_dot_structure_by_hand():
    # Two 8-bit leaves in [-128, 127] with a carry each: one 9-bit adder takes one carry
    # ([-256, 255]); its register holds 9 bits, the pending carry and the INVALID flag.
    assert TernaryDot(2, 8, pipeline=1, raw=True).structure() == DotStructure(
        adder_widths=(9,), multipliers=(), register_bits=11, latency=1)
    # Not raw: the final correction adds a 10-bit adder ([-256, 256]) and a second level.
    assert TernaryDot(2, 8, pipeline=1).structure() == DotStructure(
        adder_widths=(9, 10), multipliers=(), register_bits=11 + 11, latency=2)


def test_int_dot_structure_by_hand():
    # 4-bit x 4-bit products in [-56, 64] (8 bits); their sum [-112, 128] (9 bits).
    assert _IntDot(2, 4, 4, pipeline=1).structure() == DotStructure(
        adder_widths=(9,), multipliers=((4, 4), (4, 4)), register_bits=2 * 8 + 9, latency=2)


def test_unit_structure_by_hand():
    unit = TernaryMatrixUnit(3, 2, act_bits=8, max_k=64, pipeline=1)
    # Flags: valid and last of the one stage (its first drives nothing); seen-INVALID.
    assert unit.structure() == MatrixUnitStructure(
        rows=3, cols=2, act_bits=8, weight_bits=2, pipeline=1,
        dot=TernaryDot(2, 8, pipeline=1, raw=True).structure(), row_register_bits=11,
        acc_bits=unit.acc_bits, control_register_bits=3, latency=1)
    assert unit.structure().register_bits == 3 * (11 + unit.acc_bits) + 3


def test_combinational_unit_registers_the_dot_outputs():
    # pipeline 0: the unit registers each row's partial sum, carry and INVALID flag; the
    # int unit its sum only (its INVALID flag is a constant).
    ternary = TernaryMatrixUnit(2, 4, pipeline=0).structure()
    integer = IntMatrixUnit(2, 4, pipeline=0).structure()
    assert ternary.row_register_bits == len(TernaryDot(4, 8, raw=True).partial) + 2
    assert integer.row_register_bits == len(_IntDot(4, 8, 8, 0).sum)
    assert (ternary.control_register_bits, integer.control_register_bits) == (3, 2)


@pytest.mark.parametrize("params", [
    UnitParams(rows=5, cols=7, pipeline=2), UnitParams(kind="int", rows=3, cols=9, pipeline=0),
])
def test_unit_structure_reads_one_row(params):
    assert unit_structure(params) == build_unit(params).structure()


def test_unit_structure_wrong():
    with pytest.raises(ParameterTypeError, match=r"^params must be a UnitParams, not AcceleratorParams"):
        unit_structure(AcceleratorParams())
