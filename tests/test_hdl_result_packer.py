# amaranth: UnusedElaboratable=no
"""ResultPacker behind a filled AccumulatorBuffer: the packet decode_results expects, at one
beat per cycle, under backpressure."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from tritforge.hdl.accumulator_buffer import AccumulatorBuffer
from tritforge.spec.params import AcceleratorParams
from tritforge.hdl.result_packer import ResultPacker
from tritforge.sim import protocol


class Harness(wiring.Component):
    def __init__(self, params):
        self.params = params
        self.results = ResultPacker(params)
        self.buffer = AccumulatorBuffer(params.rows, params.acc_bits, params.acc_bits, params.max_tokens)
        super().__init__({"i": In(self.buffer.i.signature.flip()),
                          "start": In(1), "read": In(self.results.read.shape()),
                          "o": Out(self.results.o.signature), "busy": Out(1)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.results, m.submodules.buffer = self.results, self.buffer
        wiring.connect(m, wiring.flipped(self.i), self.buffer.i)
        wiring.connect(m, self.results.drain, self.buffer.drain)
        wiring.connect(m, self.results.o, wiring.flipped(self.o))
        m.d.comb += [self.results.start.eq(self.start), self.results.read.eq(self.read),
                     self.busy.eq(self.results.busy)]
        return m


def stream_results(params, values, *, ready=lambda rng: True, seed=0, prefill=False):
    """Write ``values`` [blocks, tokens, rows] into the buffer (all of it first when
    ``prefill``: at most two blocks), read them out; return the packet bytes and the cycles
    from ``start`` to its last beat."""
    rng = random.Random(seed)
    blocks, tokens, _ = values.shape
    dut = Harness(params)
    packet, cycles, written = bytearray(), [0], [False]

    async def writer(ctx):
        for b in range(blocks):
            for t in range(tokens):
                for r in range(params.rows):
                    ctx.set(dut.i.payload.partial[r], int(values[b, t, r]))
                ctx.set(dut.i.payload.token, t)
                ctx.set(dut.i.payload.init, 1)
                ctx.set(dut.i.payload.last, t == tokens - 1)
                ctx.set(dut.i.valid, 1)
                await ctx.tick().until(dut.i.ready)
        ctx.set(dut.i.valid, 0)
        await ctx.tick()
        written[0] = True

    async def reader(ctx):
        while prefill and not written[0]:
            await ctx.tick()
        ctx.set(dut.read, {"tokens": tokens, "blocks": blocks})
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        last = False
        while not last:
            take = ready(rng)
            ctx.set(dut.o.ready, take)
            valid, data, last = (ctx.get(dut.o.valid), ctx.get(dut.o.payload.data),
                                 ctx.get(dut.o.payload.last))
            cycles[0] += 1
            await ctx.tick()
            if take and valid:
                packet.extend(data.to_bytes(params.bytes_per_beat, "little"))
            else:
                last = False
        ctx.set(dut.o.ready, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(writer)
    sim.add_testbench(reader)
    sim.run()
    return bytes(packet), cycles[0]


@pytest.mark.parametrize("rows, width", [(4, 32), (3, 64), (4, 128), (2, 256)])
def test_packet_layout(rows, width):
    params = AcceleratorParams(rows=rows, max_tokens=3, stream_width=width)
    rng = np.random.default_rng(rows * width)
    lim = 2 ** (params.acc_bits - 1)
    values = rng.integers(-lim, lim, size=(3, 3, rows))
    packet, _ = stream_results(params, values)
    n = 3 * rows
    y = protocol.decode_results(params, packet, 3, n)
    assert np.array_equal(y, values.transpose(1, 0, 2).reshape(3, n))


@pytest.mark.parametrize("rows, width", [(4, 32), (4, 128), (2, 256)])
def test_one_beat_per_cycle(rows, width):
    """Both halves full: the first beat two cycles after ``start``, then no gap."""
    params = AcceleratorParams(rows=rows, max_tokens=3, stream_width=width)
    values = np.arange(2 * 3 * rows).reshape(2, 3, rows)
    packet, cycles = stream_results(params, values, prefill=True)
    assert cycles == len(packet) // params.bytes_per_beat + 1


def test_backpressure():
    params = AcceleratorParams(rows=3, max_tokens=4, stream_width=64)
    values = np.arange(-30, 6).reshape(3, 4, 3)
    packet, _ = stream_results(params, values, ready=lambda rng: rng.random() < 0.4, seed=3)
    assert np.array_equal(protocol.decode_results(params, packet, 4, 9),
                          values.transpose(1, 0, 2).reshape(4, 9))


def test_wrong():
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not 'x'$"):
        ResultPacker("x")
