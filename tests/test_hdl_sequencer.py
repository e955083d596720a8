# amaranth: UnusedElaboratable=no
"""Sequencer with the real memories, matrix unit and accumulator buffer: exact results,
one chunk per cycle with no bubbles between tiles, the documented start and drain cost."""

import dataclasses

import numpy as np
import pytest
import torch
from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from tritforge.golden.quant import ternary_matmul
from tritforge.hdl.accumulator_buffer import AccumulatorBuffer, drain_signature
from tritforge.hdl.activation_buffer import ActivationBuffer, chunk_layout
from tritforge.hdl.banked_memory import write_signature
from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.spec.params import AcceleratorParams
from tritforge.hdl.sequencer import Sequencer, run_layout
from tritforge.hdl.weight_memory import WeightMemory
from tritforge.sim import protocol

PARAMS = AcceleratorParams(rows=3, cols=8, max_k=64, weight_depth=24, act_depth=24, max_tokens=6)


class Datapath(wiring.Component):
    """Memories -> sequencer -> matrix unit -> accumulator buffer, the accelerator's core."""

    def __init__(self, params):
        self.params = params
        self.unit = TernaryMatrixUnit(params.rows, params.cols, act_bits=params.act_bits,
                                      max_k=params.cols, pipeline=params.pipeline)
        super().__init__({
            "weights": In(write_signature(params.weight_depth, params.tile_bits)),
            "acts": In(write_signature(params.act_depth, chunk_layout(params.cols, params.act_bits))),
            "start": In(1), "run": In(run_layout(params)),
            "busy": Out(1), "compute": Out(1), "stall_out": Out(1),
            "macs": Out(range(params.rows * params.cols + 1)), "invalid_weight": Out(1),
            "drain": Out(drain_signature(params.rows, params.acc_bits, params.max_tokens)).flip(),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.params
        weights = m.submodules.weights = WeightMemory(p.rows, p.cols, p.weight_format, p.weight_depth)
        acts = m.submodules.acts = ActivationBuffer(p.cols, p.act_bits, p.act_depth)
        m.submodules.unit = unit = self.unit
        seq = m.submodules.seq = Sequencer(p, unit.signature, unit.latency)
        acc = m.submodules.acc = AccumulatorBuffer(p.rows, p.partial_bits, p.acc_bits, p.max_tokens)
        wiring.connect(m, wiring.flipped(self.weights), weights.write)
        wiring.connect(m, wiring.flipped(self.acts), acts.write)
        wiring.connect(m, seq.weights, weights.read)
        wiring.connect(m, seq.acts, acts.read)
        wiring.connect(m, seq.unit_i, unit.i)
        wiring.connect(m, unit.o, seq.unit_o)
        wiring.connect(m, seq.acc, acc.i)
        m.d.comb += [acc.claim.eq(seq.claim), seq.can_claim.eq(acc.can_claim)]
        wiring.connect(m, wiring.flipped(self.drain), acc.drain)
        m.d.comb += [seq.start.eq(self.start), seq.run.eq(self.run)]
        for name in ("busy", "compute", "stall_out", "macs", "invalid_weight"):
            m.d.comb += getattr(self, name).eq(getattr(seq, name))
        return m


def run_layer(x_q, w_t, *, k=None, n=None, bank=1, drain_delay=0, params=PARAMS):
    """Load, start, drain; return (results, trace) with per-cycle ``busy``/``compute``/
    ``stall_out``/``macs`` from the start cycle on.

    The run's ``k`` and ``n`` default to the arrays' sizes; smaller ones make the arrays'
    last columns (rows) the padding lanes (rows) of the last chunk (row block). The results
    cover the arrays' ``w_t.shape[0]`` outputs."""
    p = params
    dut = Datapath(p)
    tokens = x_q.shape[0]
    k = x_q.shape[1] if k is None else k
    n = w_t.shape[0] if n is None else n
    chunks, blocks = p.chunks(k), p.row_blocks(n)
    trace, results = [], []

    async def load(ctx, port, items):
        for addr, item in enumerate(items):
            ctx.set(port.bank, bank)
            ctx.set(port.addr, addr)
            ctx.set(Value.cast(port.data), int.from_bytes(item, "little"))
            ctx.set(port.en, 1)
            await ctx.tick()
        ctx.set(port.en, 0)

    async def bench(ctx):
        await load(ctx, dut.weights, protocol.pack_tiles(p, w_t))
        await load(ctx, dut.acts, protocol.pack_chunks(p, x_q))
        ctx.set(dut.run, {"tokens": tokens, "chunks": chunks, "blocks": blocks,
                          "last_cols": k - (chunks - 1) * p.cols, "last_rows": n - (blocks - 1) * p.rows,
                          "weight_bank": bank, "act_bank": bank})
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while ctx.get(dut.busy):
            trace.append({name: ctx.get(getattr(dut, name)) for name in ("compute", "stall_out", "macs")})
            await ctx.tick()

    async def drain(ctx):
        for _ in range(blocks):
            while not ctx.get(dut.drain.ready):
                await ctx.tick()
            for _ in range(drain_delay):
                await ctx.tick()
            for t in range(tokens):
                ctx.set(dut.drain.addr, t)
                ctx.set(dut.drain.en, 1)
                ctx.set(dut.drain.release, t == tokens - 1)
                await ctx.tick()
                ctx.set(dut.drain.en, 0)
                ctx.set(dut.drain.release, 0)
                results.append([ctx.get(dut.drain.data[r]) for r in range(p.rows)])

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(drain)
    sim.run()
    y = np.array(results).reshape(blocks, tokens, p.rows).transpose(1, 0, 2).reshape(tokens, -1)[:, :w_t.shape[0]]
    return y, trace, dut.unit.latency


def random_layer(seed, tokens, k, n):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randint(-128, 128, (tokens, k), generator=gen, dtype=torch.int16),
            torch.randint(-1, 2, (n, k), generator=gen, dtype=torch.int8))


@pytest.mark.parametrize("tokens, k, n", [(1, 8, 3), (1, 21, 7), (4, 24, 9), (6, 13, 2), (2, 64, 5)])
@pytest.mark.parametrize("pipeline", [0, 1, 2])
def test_results_and_timing(tokens, k, n, pipeline):
    x_q, w_t = random_layer(tokens * 100 + k, tokens, k, n)
    y, trace, latency = run_layer(x_q, w_t, params=dataclasses.replace(PARAMS, pipeline=pipeline))
    assert np.array_equal(y, ternary_matmul(x_q, w_t).numpy())
    chunks_fed = tokens * PARAMS.chunks(k) * PARAMS.row_blocks(n)
    computing = [c["compute"] for c in trace]
    stalled = [c["stall_out"] for c in trace]
    # Start: tile 0 is read (1 cycle), the first chunk is offered; then one chunk per cycle,
    # no bubble between tiles, except while a row block waits for its half of the
    # accumulator buffer (stall_out); busy ends the cycle after the unit's last result has
    # left.
    last_compute = len(computing) - 1 - computing[::-1].index(1)
    assert computing[0] == 0 and not any(computing[last_compute + 1:])
    assert all(compute or stall for compute, stall in zip(computing[1:last_compute + 1],
                                                          stalled[1:last_compute + 1]))
    assert not any(stall and compute for compute, stall in zip(computing, stalled))
    assert len(trace) == 2 + chunks_fed + sum(stalled) + latency
    assert sum(c["macs"] for c in trace) == tokens * k * n
    # A row block two before must be drained first: only blocks shorter than the unit's
    # latency and the drain wait.
    if tokens * PARAMS.chunks(k) >= latency + 3:
        assert not any(stalled)


def test_stalls_on_a_slow_drain():
    x_q, w_t = random_layer(5, 2, 16, 12)   # 4 row blocks: blocks 2 and 3 wait for the drain
    y, trace, _ = run_layer(x_q, w_t, drain_delay=25)
    assert np.array_equal(y, ternary_matmul(x_q, w_t).numpy())
    assert sum(c["stall_out"] for c in trace) >= 25
    assert not any(c["stall_out"] and c["compute"] for c in trace)


def padded_layer(seed, tokens, k, n, params):
    """A layer and the same layer on whole tiles: activations beyond ``k`` are nonzero garbage,
    weights beyond ``k`` and ``n`` are 0 (code ZERO, the padding contract)."""
    x_q, w_t = random_layer(seed, tokens, k, n)
    width, height = params.chunks(k) * params.cols, params.row_blocks(n) * params.rows
    gen = torch.Generator().manual_seed(seed + 1)
    garbage = torch.randint(1, 128, (tokens, width), generator=gen, dtype=torch.int16)
    garbage *= 1 - 2 * torch.randint(0, 2, (tokens, width), generator=gen, dtype=torch.int16)
    garbage[:, :k] = x_q
    w_padded = torch.zeros(height, width, dtype=torch.int8)
    w_padded[:n, :k] = w_t
    return x_q, w_t, garbage, w_padded


@pytest.mark.parametrize("weight_format", ["2bit", "base3"])
def test_padding_contract_makes_activations_beyond_k_dont_care(weight_format):
    """The hardware does not mask the lanes beyond K or the rows beyond N: with ZERO weights
    there, garbage activations beyond K change nothing and the outputs beyond N are 0."""
    params = dataclasses.replace(PARAMS, weight_format=weight_format)
    tokens, k, n = 4, 13, 5        # 3 padding lanes in the last chunk, 1 padding row
    x_q, w_t, garbage, w_padded = padded_layer(11, tokens, k, n, params)
    assert (garbage[:, k:] != 0).all()
    y, _, _ = run_layer(garbage, w_padded, k=k, n=n, params=params)
    assert np.array_equal(y[:, :n], ternary_matmul(x_q, w_t).numpy())
    assert not y[:, n:].any()


def test_nonzero_weights_beyond_k_and_n_change_the_results():
    """The contract is not vacuous: the unit multiplies the padding lanes and rows too."""
    tokens, k, n = 4, 13, 5
    x_q, w_t, garbage, w_padded = padded_layer(11, tokens, k, n, PARAMS)
    w_padded[:, k:] = 1
    w_padded[n:, :] = -1
    y, _, _ = run_layer(garbage, w_padded, k=k, n=n)
    full = ternary_matmul(garbage, w_padded).numpy()
    assert np.array_equal(y, full)
    assert not np.array_equal(y[:, :n], ternary_matmul(x_q, w_t).numpy())
    assert y[:, n:].any()


def test_wrong():
    unit = TernaryMatrixUnit(2, 4)
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not \{\}$"):
        Sequencer({}, unit.signature, unit.latency)
    with pytest.raises(ValueError, match="unit_latency"):
        Sequencer(PARAMS, unit.signature, 0)
