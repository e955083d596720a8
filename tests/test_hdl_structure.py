# amaranth: UnusedElaboratable=no
# (blocks here are built only to read their structure)
"""The hardware's description of itself: the tree plan, the pipeline register count and
the blocks' ``structure()``, against what their ``elaborate`` builds."""

import pytest
from amaranth.hdl import Fragment, Module, Signal

from tritforge.hdl.int_matrix_unit import _IntDot
from tritforge.hdl.ternary_dot import (DotStructure, Stages, TernaryDot, TreeNode, adder_tree,
                                       plan_tree, stage_register_bits)


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
