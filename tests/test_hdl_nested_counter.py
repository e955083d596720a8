# amaranth: UnusedElaboratable=no
"""NestedCounter: the indices of nested loops against Python's, the ``last``/``wrap`` flags,
restart over advance, zero-width levels."""

import itertools
import random

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.nested_counter import NestedCounter

LEVELS = {"token": 4, "chunk": 3, "block": 5}


def walk(limits):
    """Python's nested loops: (token, chunk, block) in order, token innermost."""
    return [(t, c, b) for b, c, t in itertools.product(*(range(n) for n in reversed(limits)))]


def run(dut, steps):
    """Apply ``steps`` (restart, advance, limits) one per cycle; record before each edge
    the counts, ``last`` and ``wrap``."""
    names = list(dut.count.shape().members)
    seen = []

    async def bench(ctx):
        for restart, advance, limits in steps:
            for name, limit in zip(names, limits):
                ctx.set(dut.limit[name], limit)
            ctx.set(dut.restart, restart)
            ctx.set(dut.advance, advance)
            seen.append(tuple(tuple(ctx.get(getattr(dut, port)[name]) for name in names)
                              for port in ("count", "last", "wrap")))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("limits", [(4, 3, 5), (1, 1, 1), (1, 3, 2), (4, 1, 1), (2, 2, 3)])
def test_walks_every_index_in_order_then_starts_over(limits):
    indices = walk(limits)
    seen = run(NestedCounter(LEVELS), [(1, 0, limits)] + [(0, 1, (0, 0, 0))] * (2 * len(indices)))[1:]
    assert [counts for counts, _, _ in seen] == indices * 2
    for (counts, last, wrap) in seen:
        is_last = tuple(int(i == n - 1) for i, n in zip(counts, limits))
        assert last == is_last
        assert wrap == tuple(int(all(is_last[:level + 1])) for level in range(3))
    # The outermost wrap marks the loops' end: once per pass.
    assert [i for i, (_, _, wrap) in enumerate(seen) if wrap[2]] == [len(indices) - 1,
                                                                     2 * len(indices) - 1]


def test_holds_without_advance_and_restart_wins():
    rng = random.Random(5)
    limits = (3, 2, 4)
    steps = [(1, 0, limits)] + [(int(rng.random() < 0.1), int(rng.random() < 0.6), limits)
                                for _ in range(300)]
    seen = run(NestedCounter(LEVELS), steps)
    position = 0
    indices = walk(limits)
    for (restart, advance, _), (counts, _, _) in zip(steps, seen):
        assert counts == indices[position]
        if restart:
            position = 0
        elif advance:
            position = (position + 1) % len(indices)


def test_limits_are_taken_at_restart():
    """The limits the inputs hold while counting do not matter; a restart takes new ones."""
    steps = [(1, 0, (2, 1, 1))] + [(0, 1, (4, 3, 5))] * 2 + [(1, 0, (3, 1, 1))] + [(0, 1, (0, 0, 0))] * 3
    seen = run(NestedCounter(LEVELS), steps)
    assert [counts[0] for counts, _, _ in seen[1:3]] == [0, 1]
    assert [wrap[2] for _, _, wrap in seen[1:3]] == [0, 1]
    assert [counts[0] for counts, _, _ in seen[4:]] == [0, 1, 2]
    assert [wrap[2] for _, _, wrap in seen[4:]] == [0, 0, 1]


def test_reset_is_zero():
    seen = run(NestedCounter(LEVELS), [(0, 0, (2, 2, 2))])
    assert seen[0][0] == (0, 0, 0)


def test_single_iteration_levels_have_no_bits():
    """A level that can only count to 1 (e.g. ``max_tokens = 1``) is 0 bits wide."""
    dut = NestedCounter({"token": 1, "block": 3})
    assert len(dut.count.token) == 0
    seen = run(dut, [(1, 0, (1, 3))] + [(0, 1, (0, 0))] * 6)[1:]
    assert [counts for counts, _, _ in seen] == [(0, 0), (0, 1), (0, 2)] * 2
    assert [wrap for _, _, wrap in seen] == [(1, 0), (1, 0), (1, 1)] * 2


def test_wrong():
    with pytest.raises(TypeError, match=r"^levels must be a dict of level name to largest limit, "
                       r"not \[4, 3\]$"):
        NestedCounter([4, 3])
    with pytest.raises(ValueError, match=r"^levels must name at least one level$"):
        NestedCounter({})
    with pytest.raises(TypeError, match=r"^level names must be strings, not 0$"):
        NestedCounter({0: 4})
    with pytest.raises(TypeError, match=r"^the largest limit of level 'token' must be an "
                       r"integer, not 4\.0$"):
        NestedCounter({"token": 4.0})
    with pytest.raises(ValueError, match=r"^the largest limit of level 'block' must be at "
                       r"least 1, not 0$"):
        NestedCounter({"token": 4, "block": 0})
