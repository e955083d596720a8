# amaranth: UnusedElaboratable=no
"""RegisterSlice: every payload once and in order under random valid and ready, one per
cycle when both stay high, outputs and input ready from flip-flops."""

import random

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.register_slice import RegisterSlice


@pytest.mark.parametrize("idle, stall", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.4), (0.3, 0.4)])
def test_order_and_rate(idle, stall):
    dut = RegisterSlice(8)
    rng = random.Random(3)
    sent, received = list(range(100)), []
    cycles = [0]

    async def bench(ctx):
        queue = list(sent)
        while len(received) < len(sent):
            offer = bool(queue) and rng.random() >= idle
            take = rng.random() >= stall
            ctx.set(dut.i.valid, offer)
            if offer:
                ctx.set(dut.i.payload, queue[0])
            ctx.set(dut.o.ready, take)
            if offer and ctx.get(dut.i.ready):
                queue.pop(0)
            if take and ctx.get(dut.o.valid):
                received.append(ctx.get(dut.o.payload))
            await ctx.tick()
            cycles[0] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert received == sent
    if not idle and not stall:
        assert cycles[0] == len(sent) + 1
