# amaranth: UnusedElaboratable=no
"""CommandDecoder: loads at stream rate, RUN checks and hand-off, hazards, errors and drops."""

import pytest
import torch
from amaranth.hdl import Value
from amaranth.sim import Simulator

from tritforge.hdl.command_decoder import CommandDecoder
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import ErrorCode, Opcode
from tritforge.sim import protocol

P = AcceleratorParams(rows=3, cols=10, max_k=100, weight_depth=8, act_depth=12, max_tokens=4,
                      stream_width=64)


def simulate(packets, *, sequencer_busy=lambda cycle: 0, responding=lambda cycle: 0, cycles=None,
             params=P):
    """Send ``packets`` back to back; record every strobe of the decoder with its cycle."""
    P = params
    dut = CommandDecoder(P)
    data = b"".join(packets)
    ends = set()
    offset = 0
    for packet in packets:
        offset += len(packet)
        ends.add(offset // P.bytes_per_beat - 1)
    beats = [data[i:i + P.bytes_per_beat] for i in range(0, len(data), P.bytes_per_beat)]
    log = {name: [] for name in ("weights", "acts", "weights_cycles", "acts_cycles", "run", "read",
                                 "status", "clear", "accepted")}

    async def source(ctx):
        for index, beat in enumerate(beats):
            ctx.set(dut.s.payload.data, int.from_bytes(beat, "little"))
            ctx.set(dut.s.payload.last, index in ends)
            ctx.set(dut.s.valid, 1)
            await ctx.tick().until(dut.s.ready)
        ctx.set(dut.s.valid, 0)

    async def monitor(ctx):
        for cycle in range(cycles or 4 * len(beats) + 40):
            ctx.set(dut.sequencer_busy, sequencer_busy(cycle))
            ctx.set(dut.responding, responding(cycle))
            for name, port in (("weights", dut.weights), ("acts", dut.acts)):
                if ctx.get(port.en):
                    log[name].append((ctx.get(port.bank), ctx.get(port.addr), ctx.get(Value.cast(port.data))))
                    log[name + "_cycles"].append(cycle)
            if ctx.get(dut.run_start):
                log["run"].append((cycle, ctx.get(dut.run)))
            if ctx.get(dut.read_start):
                log["read"].append((cycle, ctx.get(dut.read)))
            if ctx.get(dut.status_start):
                log["status"].append(cycle)
            if ctx.get(dut.clear):
                log["clear"].append(cycle)
            if ctx.get(dut.s.valid) and ctx.get(dut.s.ready):
                log["accepted"].append(cycle)
            await ctx.tick()
        log["error"], log["errors"] = ctx.get(dut.error), ctx.get(dut.errors)
        log["pending"] = ctx.get(dut.results_pending)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source, background=True)
    sim.add_testbench(monitor)
    sim.run()
    return log


def test_loads_write_items_at_stream_rate():
    gen = torch.Generator().manual_seed(0)
    w = torch.randint(-1, 2, (6, 20), generator=gen, dtype=torch.int8)
    x = torch.randint(-128, 128, (2, 20), generator=gen, dtype=torch.int16)
    tiles, chunks = protocol.pack_tiles(P, w), protocol.pack_chunks(P, x)
    log = simulate([protocol.load_weights(P, 1, tiles), protocol.load_acts(P, 0, chunks)])
    assert log["weights"] == [(1, i, int.from_bytes(t, "little")) for i, t in enumerate(tiles)]
    assert [(bank, addr) for bank, addr, _ in log["acts"]] == [(0, i) for i in range(len(chunks))]
    assert [data for *_, data in log["acts"]] == [int.from_bytes(c, "little") for c in chunks]
    for name, beats in (("weights_cycles", P.tile_beats), ("acts_cycles", P.chunk_beats)):
        cycles = log[name]   # one beat per cycle: an item every `beats` cycles
        assert [b - a for a, b in zip(cycles, cycles[1:])] == [beats] * (len(cycles) - 1)
    assert log["error"] == ErrorCode.NONE


def test_run_is_checked_and_handed_over():
    log = simulate([protocol.run(P, 4, 21, 5, weight_bank=1, act_bank=0), protocol.read_results(P)])
    (_, run), = log["run"]
    assert (run.tokens, run.chunks, run.blocks, run.last_cols, run.last_rows) == (4, 3, 2, 1, 2)
    assert (run.weight_bank, run.act_bank) == (1, 0)
    (_, read), = log["read"]
    assert (read.tokens, read.blocks) == (4, 2)
    assert log["error"] == ErrorCode.NONE and not log["pending"]


def test_run_waits_for_the_sequencer_and_read_for_the_response_channel():
    log = simulate([protocol.run(P, 1, 10, 3, weight_bank=0, act_bank=0), protocol.read_results(P)],
                   sequencer_busy=lambda cycle: cycle < 30, responding=lambda cycle: cycle < 50)
    (run_cycle, _), = log["run"]
    (read_cycle, _), = log["read"]
    # The sequencer is idle from cycle 30; the decoder sees it a cycle later (a register)
    # and the start strobe is a register too. The decoder sees the response channel free
    # a cycle late (a register) and the read starts a cycle later (a register).
    assert run_cycle == 32 and read_cycle == 52


def test_load_waits_for_a_run_reading_its_bank_once_results_are_requested():
    tile = [bytes(P.tile_bits // 8)]
    packets = [protocol.run(P, 1, 10, 3, weight_bank=0, act_bank=0), protocol.read_results(P),
               protocol.load_weights(P, 0, tile), protocol.load_weights(P, 1, tile)]
    log = simulate(packets, sequencer_busy=lambda cycle: 2 <= cycle < 40)
    assert [bank for bank, *_ in log["weights"]] == [0, 1]
    assert log["accepted"][-1] >= 40 and log["error"] == ErrorCode.NONE


@pytest.mark.parametrize("packets, error", [
    ([protocol.encode_command(P, Opcode.RUN, (1, 101, 1))], ErrorCode.CAPACITY),
    ([protocol.encode_command(P, Opcode.RUN, (4, 40, 1))], ErrorCode.CAPACITY),   # 16 chunks > 12
    ([protocol.encode_command(P, Opcode.RUN, (1, 30, 9))], ErrorCode.CAPACITY),   # 3 x 3 tiles > 8
    ([protocol.encode_command(P, Opcode.RUN, (1, 30, 6))], ErrorCode.NONE),       # 3 x 2 tiles
    ([protocol.encode_command(P, Opcode.LOAD_ACTS, (13,), [bytes(10)] * 13)], ErrorCode.CAPACITY),
    ([protocol.read_results(P)], ErrorCode.NO_RESULTS),
    ([bytes([0x42]) + bytes(P.bytes_per_beat - 1)] * 3, ErrorCode.OPCODE),
])
def test_errors(packets, error):
    log = simulate(packets)
    assert log["error"] == error
    assert log["errors"] == (0 if error == ErrorCode.NONE else 1 << error)


def test_run_longer_than_any_bank_is_refused():
    """K may exceed what a bank holds even when max_k allows it: 16 chunks must not wrap
    around in a chunk counter sized for the 8 a bank can hold."""
    params = AcceleratorParams(rows=3, cols=10, max_k=400, weight_depth=8, act_depth=12, max_tokens=4,
                               stream_width=64)
    log = simulate([protocol.encode_command(params, Opcode.RUN, (1, 160, 1))], params=params)
    assert log["run"] == [] and log["error"] == ErrorCode.CAPACITY


def test_refused_run_keeps_the_pending_results_size():
    packets = [protocol.run(P, 4, 21, 5, weight_bank=1, act_bank=0),
               protocol.run(P, 1, 10, 3, weight_bank=0, act_bank=1), protocol.read_results(P)]
    log = simulate(packets)
    assert len(log["run"]) == 1 and log["error"] == ErrorCode.RESULTS_PENDING
    (_, read), = log["read"]
    assert (read.tokens, read.blocks) == (4, 2)


def test_first_error_is_kept_and_clear_recovers():
    bad = protocol.encode_command(P, Opcode.RUN, (0, 1, 1))
    log = simulate([bad, protocol.read_results(P)])
    assert log["error"] == ErrorCode.ZERO_SIZE
    assert log["errors"] == 1 << ErrorCode.ZERO_SIZE | 1 << ErrorCode.NO_RESULTS
    log = simulate([bad, protocol.clear(P)])
    assert log["clear"] and log["error"] == ErrorCode.NONE and log["errors"] == 0


def test_dropped_payload_does_not_desynchronise():
    """The refused load's payload is dropped; the READ_STATUS after it is still parsed."""
    log = simulate([protocol.encode_command(P, Opcode.LOAD_WEIGHTS, (0,), [bytes(8)] * 3),
                    protocol.read_status(P)])
    assert log["error"] == ErrorCode.ZERO_SIZE and len(log["status"]) == 1 and not log["weights"]


def header_and_count(opcode, count):
    """A load's header and count beats, ``tlast`` with the count: no payload."""
    beat = lambda value: value.to_bytes(4, "little") + bytes(P.bytes_per_beat - 4)
    return beat(opcode) + beat(count)


@pytest.mark.parametrize("opcode, count, error", [
    (Opcode.LOAD_WEIGHTS, 0, ErrorCode.ZERO_SIZE),
    (Opcode.LOAD_ACTS, 0, ErrorCode.ZERO_SIZE),
    (Opcode.LOAD_WEIGHTS, P.weight_depth + 1, ErrorCode.CAPACITY),
    (Opcode.LOAD_ACTS, 1, ErrorCode.LENGTH),
])
def test_load_values_are_checked_before_the_payload_length(opcode, count, error):
    """Checks in the documented order: a value error wins over the missing payload, and
    the next command is parsed (nothing is dropped after the count's tlast)."""
    log = simulate([header_and_count(opcode, count), protocol.read_status(P)])
    assert log["error"] == error and log["errors"] == 1 << error
    assert len(log["status"]) == 1 and not log["weights"] and not log["acts"]


def test_wrong():
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not None$"):
        CommandDecoder(None)
