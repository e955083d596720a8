# amaranth: UnusedElaboratable=no
"""BankedMemory / ActivationBuffer: two independent banks, latency 1, data held while idle."""

import pytest
from amaranth.sim import Simulator

from tritforge.hdl.activation_buffer import ActivationBuffer
from tritforge.hdl.banked_memory import BankedMemory


@pytest.mark.parametrize("depth", [1, 5, 8])
def test_banks_are_independent(depth):
    dut = BankedMemory(depth, 12)

    async def bench(ctx):
        for bank in (0, 1):
            for addr in range(depth):
                ctx.set(dut.write.bank, bank)
                ctx.set(dut.write.addr, addr)
                ctx.set(dut.write.data, bank << 8 | addr)
                ctx.set(dut.write.en, 1)
                await ctx.tick()
        ctx.set(dut.write.en, 0)
        for bank in (1, 0):
            for addr in reversed(range(depth)):
                ctx.set(dut.read.bank, bank)
                ctx.set(dut.read.addr, addr)
                ctx.set(dut.read.en, 1)
                await ctx.tick()
                ctx.set(dut.read.en, 0)
                assert ctx.get(dut.read.data) == bank << 8 | addr
                ctx.set(dut.read.bank, 1 - bank)
                await ctx.tick()
                assert ctx.get(dut.read.data) == bank << 8 | addr   # held while en is low

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_read_during_write_returns_old_word():
    dut = ActivationBuffer(cols=2, act_bits=8, depth=4)

    async def bench(ctx):
        for value in (0x0102, 0x0304):
            ctx.set(dut.write.addr, 2)
            ctx.set(dut.write.data.as_value(), value)
            ctx.set(dut.write.en, 1)
            ctx.set(dut.read.addr, 2)
            ctx.set(dut.read.en, 1)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        assert ctx.get(dut.read.data.as_value()) == 0x0102
        await ctx.tick()
        assert [ctx.get(dut.read.data[c]) for c in range(2)] == [0x04, 0x03]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("call, message", [
    (lambda: BankedMemory(0, 8), r"^depth must be a positive integer, not 0$"),
    (lambda: ActivationBuffer(0, 8, 4), r"^cols must be a positive integer, not 0$"),
    (lambda: ActivationBuffer(4, 8, True), r"^depth must be a positive integer, not True$"),
])
def test_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
