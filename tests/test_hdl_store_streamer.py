# amaranth: UnusedElaboratable=no
"""StoreStreamer with a WeightStore: the packet equals the host's LOAD_WEIGHTS packet of the
same tiles, one beat per cycle, under backpressure; the stores' checks."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module, Mux, Signal
from amaranth.back import rtlil
from amaranth.sim import Simulator

from tritforge.hdl.store_streamer import StoreStreamer
from tritforge.hdl.weight_store import SPRAMWeightStore, WeightStore
from tritforge.sim import protocol
from tritforge.sim.board import store_layout
from tritforge.spec.errors import ParameterError
from tritforge.spec.params import AcceleratorParams


def stream_from_store(params, words, address, tiles, bank, ready):
    """Write ``words`` to a store, stream ``tiles`` tiles from ``address``; the packet's
    beats and the cycles between the first and the last beat."""
    depth = 64
    m = Module()
    m.submodules.store = store = WeightStore(params.stream_width, depth)
    m.submodules.streamer = streamer = StoreStreamer(params, depth)
    # The test writes the store while the streamer is idle (its enable low).
    write_addr, write_en, write_data = Signal(range(depth)), Signal(), Signal(params.stream_width)
    m.d.comb += [store.addr.eq(Mux(write_en, write_addr, streamer.store.addr)),
                 store.en.eq(write_en | streamer.store.en), store.we.eq(write_en),
                 store.wdata.eq(write_data), streamer.store.rdata.eq(store.rdata)]
    beats, cycles = [], []
    rng = random.Random(1)

    async def bench(ctx):
        for index, word in enumerate(words):
            ctx.set(write_addr, index)
            ctx.set(write_en, 1)
            ctx.set(write_data, word)
            await ctx.tick()
        ctx.set(write_en, 0)
        ctx.set(streamer.start, 1)
        ctx.set(streamer.bank, bank)
        ctx.set(streamer.address, address)
        ctx.set(streamer.tiles, tiles)
        await ctx.tick()
        ctx.set(streamer.start, 0)
        cycle = 0
        while ctx.get(streamer.busy):
            take = ready(rng)
            ctx.set(streamer.o.ready, take)
            if take and ctx.get(streamer.o.valid):
                beats.append((ctx.get(streamer.o.payload.data), ctx.get(streamer.o.payload.last)))
                cycles.append(cycle)
            await ctx.tick()
            cycle += 1

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return beats, cycles


@pytest.mark.parametrize("backpressure", [0.0, 0.5])
@pytest.mark.parametrize("params", [AcceleratorParams(rows=2, cols=16, stream_width=32),
                                    AcceleratorParams(rows=3, cols=10, weight_format="base3",
                                                      stream_width=64)], ids=["2bit", "base3"])
def test_packet_is_load_weights(params, backpressure):
    w_t = np.random.default_rng(2).integers(-1, 2, (5, 20))
    blocks, data = store_layout(params, w_t, 3)
    size = params.bytes_per_beat
    words = [0] * 3 + [int.from_bytes(data[i:i + size], "little") for i in range(0, len(data), size)]
    (address, tiles), = blocks.values()
    beats, cycles = stream_from_store(params, words, address, tiles, 1,
                                      lambda rng: rng.random() >= backpressure)
    expected = protocol.load_weights(params, 1, protocol.pack_tiles(params, w_t))
    got = b"".join(data.to_bytes(size, "little") for data, _ in beats)
    assert got == expected
    assert [last for _, last in beats] == [0] * (len(beats) - 1) + [1]
    if not backpressure:
        assert cycles == list(range(cycles[0], cycles[0] + len(beats)))     # a beat per cycle


def test_spram_store_builds_its_primitives():
    text = rtlil.convert(SPRAMWeightStore(32), name="store")
    assert text.count("SB_SPRAM256KA") >= 4 and SPRAMWeightStore(64).depth == 16384


def test_stores_wrong():
    with pytest.raises(ParameterError, match=r"^width of an SPRAM weight store must be 16, 32 or 64 bits"):
        SPRAMWeightStore(48)
    with pytest.raises(ParameterError, match=r"^depth must be an integer >= 1, not 0$"):
        WeightStore(32, 0)
