# amaranth: UnusedElaboratable=no
"""UART transmitter and receiver: bytes back to back through a loopback, the bit timing,
a missing stop bit, the parameter check."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from tritforge.hdl.uart import UARTReceiver, UARTTransmitter
from tritforge.spec.errors import ParameterError


def loopback(divider, data):
    """Send ``data`` from a transmitter into a receiver; the bytes received and the cycles
    the transmitter spent per byte."""
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divider)
    m.submodules.rx = rx = UARTReceiver(divider)
    m.d.comb += rx.rx.eq(tx.tx)
    received, taken = [], []

    async def bench(ctx):
        ctx.set(rx.o.ready, 1)
        queue, cycle = list(data), 0
        while len(received) < len(data) and cycle < 20 * divider * (len(data) + 2):
            ctx.set(tx.i.valid, bool(queue))
            if queue:
                ctx.set(tx.i.payload, queue[0])
            if queue and ctx.get(tx.i.ready):
                queue.pop(0)
                taken.append(cycle)
            if ctx.get(rx.o.valid):
                received.append(ctx.get(rx.o.payload))
            await ctx.tick()
            cycle += 1

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return received, [b - a for a, b in zip(taken, taken[1:])]


@pytest.mark.parametrize("divider", [4, 7, 16])
def test_loopback(divider):
    data = [random.Random(divider).randrange(256) for _ in range(12)] + [0x00, 0xFF, 0x55]
    received, spacing = loopback(divider, data)
    assert received == data
    assert set(spacing) == {10 * divider}        # back to back: a byte every 10 bit times


def test_missing_stop_bit_is_a_framing_error():
    rx = UARTReceiver(4)
    seen = {"bytes": 0, "errors": 0}

    async def bench(ctx):
        ctx.set(rx.o.ready, 1)
        for bit in [1, 1, 0] + [1, 0, 1, 0, 1, 0, 1, 0] + [0] + [1] * 3:     # stop bit 0
            ctx.set(rx.rx, bit)
            for _ in range(4):
                await ctx.tick()
                seen["bytes"] += ctx.get(rx.o.valid)
                seen["errors"] += ctx.get(rx.framing_error)

    sim = Simulator(rx)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == {"bytes": 0, "errors": 1}


def test_divider_wrong():
    with pytest.raises(ParameterError, match=r"^divider must be an integer >= 4, not 3$"):
        UARTTransmitter(3)
    with pytest.raises(ParameterError, match=r"^divider must be an integer >= 4"):
        UARTReceiver(2)
