# amaranth: UnusedElaboratable=no
"""StatusPacker and PerfCounters: a consistent snapshot, the words in order, counter classes."""

import random

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.perf_counters import PerfCounters
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import COUNTERS
from tritforge.hdl.status_packer import StatusPacker


@pytest.mark.parametrize("width, counter_bits", [(32, 64), (96, 64), (256, 64), (64, 0), (96, 40)])
def test_snapshot_sent_in_order(width, counter_bits):
    params = AcceleratorParams(stream_width=width, counter_bits=counter_bits)
    dut = StatusPacker(params)
    STATUS_WORDS = params.status_words
    words = [random.Random(i).getrandbits(32) for i in range(STATUS_WORDS)]
    packet = bytearray()

    async def bench(ctx):
        for i, word in enumerate(words):
            ctx.set(dut.words[i], word)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for i in range(STATUS_WORDS):          # the live words change: the snapshot does not
            ctx.set(dut.words[i], 0xDEAD0000 + i)
        ctx.set(dut.o.ready, 1)
        while True:
            assert ctx.get(dut.busy) and ctx.get(dut.o.valid)
            data, last = ctx.get(dut.o.payload.data), ctx.get(dut.o.payload.last)
            await ctx.tick()
            packet.extend(data.to_bytes(width // 8, "little"))
            if last:
                break
        assert not ctx.get(dut.busy) and not ctx.get(dut.o.valid)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(packet) == params.status_beats * width // 8
    got = [int.from_bytes(packet[4 * i:4 * i + 4], "little") for i in range(len(packet) // 4)]
    assert got[:STATUS_WORDS] == words and not any(got[STATUS_WORDS:])


def test_counters_classify_every_cycle():
    """Each cycle's events are counted a cycle later (registered first); the cycle of
    ``clear`` and the events in flight then are dropped."""
    dut = PerfCounters(max_macs=12)
    rng = random.Random(4)
    expected = dict.fromkeys(COUNTERS, 0)

    async def bench(ctx):
        previous = None                       # the events registered at the last edge
        for cycle in range(200):
            busy = rng.random() < 0.7
            compute = busy and rng.random() < 0.6
            stall = busy and not compute and rng.random() < 0.5
            macs = rng.randint(1, 12) if compute else 0
            clear = cycle == 50
            for name, value in (("busy", busy), ("compute", compute), ("stall_out", stall),
                                ("macs", macs), ("clear", clear)):
                ctx.set(getattr(dut, name), value)
            await ctx.tick()
            counted = previous or (False, False, False, 0)
            previous = (False, False, False, 0) if clear else (busy, compute, stall, macs)
            if clear:
                expected.update(dict.fromkeys(COUNTERS, 0))
                continue
            busy_then, compute_then, stall_then, macs_then = counted
            for name, value in (("cycles", 1), ("busy", busy_then), ("compute", compute_then),
                                ("stall_in", not busy_then), ("stall_out", stall_then),
                                ("macs", macs_then)):
                expected[name] += int(value)
            assert {name: ctx.get(getattr(dut.counters, name)) for name in COUNTERS} == expected

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert expected["cycles"] == 149


def test_wrong():
    with pytest.raises(ValueError, match=r"^max_macs must be an integer >= 1, not 0$"):
        PerfCounters(0)
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not 1$"):
        StatusPacker(1)
