# amaranth: UnusedElaboratable=no
"""AccumulatorBuffer: read-modify-write sums over K-chunks, two row blocks, hold-back when full."""

import random

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.accumulator_buffer import AccumulatorBuffer

ROWS, PARTIAL_BITS, ACC_BITS, MAX_TOKENS = 3, 6, 12, 4


def updates(rng, blocks, tokens, chunks):
    """The update stream of ``blocks`` row blocks and the sums the drain must see."""
    stream, sums = [], []
    for _ in range(blocks):
        block = [[0] * ROWS for _ in range(tokens)]
        for kc in range(chunks):
            for t in range(tokens):
                partial = [rng.randint(-2 ** (PARTIAL_BITS - 1), 2 ** (PARTIAL_BITS - 1) - 1)
                           for _ in range(ROWS)]
                block[t] = [a + p for a, p in zip(block[t], partial)]
                stream.append((partial, t, kc == 0, kc == chunks - 1 and t == tokens - 1))
        sums.append(block)
    return stream, sums


def simulate(stream, tokens, *, gap, drain_delay):
    """Feed ``stream`` (``gap()`` idle cycles between updates), drain each block after
    ``drain_delay()`` cycles; return the drained blocks and the cycles ``i`` was held back."""
    dut = AccumulatorBuffer(ROWS, PARTIAL_BITS, ACC_BITS, MAX_TOKENS)
    drained, held_back = [], [0]
    blocks = sum(1 for *_, last in stream if last)

    async def producer(ctx):
        for partial, token, init, last in stream:
            for r, value in enumerate(partial):
                ctx.set(dut.i.payload.partial[r], value)
            ctx.set(dut.i.payload.token, token)
            ctx.set(dut.i.payload.init, init)
            ctx.set(dut.i.payload.last, last)
            ctx.set(dut.i.valid, 1)
            while not ctx.get(dut.i.ready):
                held_back[0] += 1
                await ctx.tick()
            await ctx.tick()
            ctx.set(dut.i.valid, 0)
            for _ in range(gap()):
                await ctx.tick()

    async def consumer(ctx):
        for _ in range(blocks):
            while not ctx.get(dut.drain.ready):
                await ctx.tick()
            for _ in range(drain_delay()):
                await ctx.tick()
            block = []
            for t in range(tokens):
                ctx.set(dut.drain.addr, t)
                ctx.set(dut.drain.en, 1)
                ctx.set(dut.drain.release, t == tokens - 1)
                await ctx.tick()
                ctx.set(dut.drain.en, 0)
                ctx.set(dut.drain.release, 0)
                block.append([ctx.get(dut.drain.data[r]) for r in range(ROWS)])
            drained.append(block)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    return drained, held_back[0]


@pytest.mark.parametrize("tokens", [1, 2, 4])
def test_back_to_back_sums(tokens):
    """Updates every cycle, including the same token on consecutive cycles (T = 1)."""
    rng = random.Random(tokens)
    stream, sums = updates(rng, blocks=3, tokens=tokens, chunks=5)
    drained, _ = simulate(stream, tokens, gap=lambda: 0, drain_delay=lambda: 0)
    assert drained == sums


def test_random_gaps_and_slow_drain():
    rng = random.Random(11)
    stream, sums = updates(rng, blocks=6, tokens=3, chunks=3)
    drained, held_back = simulate(stream, 3, gap=lambda: rng.choice((0, 0, 1, 3)),
                                  drain_delay=lambda: rng.choice((0, 5, 40)))
    assert drained == sums
    assert held_back > 0  # two full halves held the updates back


def test_holds_back_when_both_halves_are_full():
    """Two blocks complete, none drained: the third block's first update waits."""
    rng = random.Random(2)
    stream, sums = updates(rng, blocks=3, tokens=2, chunks=1)
    drained, held_back = simulate(stream, 2, gap=lambda: 0, drain_delay=lambda: 30)
    assert drained == sums and held_back >= 30


@pytest.mark.parametrize("args, message", [
    ((0, 4, 8, 2), r"^rows must be a positive integer, not 0$"),
    ((2, 9, 8, 2), r"^acc_bits must be at least partial_bits \(9\), not 8$"),
    ((2, 4, 8, -1), r"^max_tokens must be a positive integer, not -1$"),
])
def test_wrong(args, message):
    with pytest.raises(ValueError, match=message):
        AccumulatorBuffer(*args)
