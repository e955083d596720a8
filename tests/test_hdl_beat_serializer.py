# amaranth: UnusedElaboratable=no
"""BeatSerializer: groups sent beat by beat, padded, ``last`` on the final group's last beat;
one beat per cycle with no gap between groups; the documented first-beat latency."""

import random

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.beat_serializer import BeatSerializer


def serialize(group_bits, width, groups, *, ready=lambda rng: True, gap=lambda rng: False, seed=0):
    """Load ``groups`` (ints) one after the other, the last one final, as a producer that
    shows each group from the cycle after its ``load``; return the beats sent as
    ``(data, last)``, the cycle of each load and the cycle of each beat sent."""
    dut = BeatSerializer(group_bits, width)
    rng = random.Random(seed)
    sent, loads, beat_cycles = [], [], []

    async def bench(ctx):
        assert not ctx.get(dut.o.valid) and ctx.get(dut.can_load)     # reset: empty
        queue = list(groups)
        cycle = 0
        while queue or ctx.get(dut.o.valid):
            take = ready(rng)
            ctx.set(dut.o.ready, take)
            load = bool(queue) and ctx.get(dut.can_load) and not gap(rng)
            ctx.set(dut.load, load)
            ctx.set(dut.final, load and len(queue) == 1)
            valid, data, last = (ctx.get(dut.o.valid), ctx.get(dut.o.payload.data),
                                 ctx.get(dut.o.payload.last))
            await ctx.tick()
            if valid and take:
                sent.append((data, last))
                beat_cycles.append(cycle)
            if load:
                loads.append(cycle)
                ctx.set(dut.group, queue.pop(0))
            cycle += 1
            assert cycle < 50 * (len(groups) + 1) * dut.beats
        ctx.set(dut.load, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return sent, loads, beat_cycles


def expected_beats(group_bits, width, groups):
    beats = -(-group_bits // width)
    out = []
    for g, group in enumerate(groups):
        for i in range(beats):
            final = g == len(groups) - 1 and i == beats - 1
            out.append((group >> (i * width) & (2 ** width - 1), final))
    return out


@pytest.mark.parametrize("group_bits, width",
                         [(96, 32), (96, 64), (128, 32), (32, 64), (1, 8), (7, 3)])
def test_groups_back_to_back(group_bits, width):
    """Ready always and a group loaded whenever possible: one beat per cycle, the first one
    the cycle after the first load, and no gap between groups."""
    rng = random.Random(group_bits * width)
    groups = [rng.getrandbits(group_bits) for _ in range(4)]
    sent, loads, beat_cycles = serialize(group_bits, width, groups)
    assert sent == expected_beats(group_bits, width, groups)
    assert beat_cycles == list(range(loads[0] + 1, loads[0] + 1 + len(sent)))


@pytest.mark.parametrize("group_bits, width", [(96, 32), (32, 64), (100, 32)])
def test_backpressure_and_gaps(group_bits, width):
    rng = random.Random(7)
    groups = [rng.getrandbits(group_bits) for _ in range(5)]
    sent, loads, beat_cycles = serialize(group_bits, width, groups, seed=3,
                                         ready=lambda r: r.random() < 0.5,
                                         gap=lambda r: r.random() < 0.3)
    assert sent == expected_beats(group_bits, width, groups)
    # Each group's first beat is never before the cycle after its load.
    beats = -(-group_bits // width)
    assert all(beat_cycles[g * beats] > load for g, load in enumerate(loads))


def test_one_packet_per_final_group():
    """``last`` marks only the final group: two packets of two groups each."""
    groups = [0x11, 0x22, 0x33, 0x44]
    sent_a, _, _ = serialize(16, 8, groups[:2])
    sent_b, _, _ = serialize(16, 8, groups[2:])
    assert [last for _, last in sent_a + sent_b] == [0, 0, 0, 1, 0, 0, 0, 1]
    assert [data for data, _ in sent_a] == [0x11, 0, 0x22, 0]


def test_beats():
    assert BeatSerializer(448, 32).beats == 14
    assert BeatSerializer(96, 128).beats == 1


def test_wrong():
    with pytest.raises(TypeError, match=r"^group_bits must be an integer, not '8'$"):
        BeatSerializer("8", 32)
    with pytest.raises(TypeError, match=r"^stream_width must be an integer, not True$"):
        BeatSerializer(8, True)
    with pytest.raises(ValueError, match=r"^group_bits must be a positive integer, not 0$"):
        BeatSerializer(0, 32)
    with pytest.raises(ValueError, match=r"^stream_width must be a positive integer, not -32$"):
        BeatSerializer(8, -32)
