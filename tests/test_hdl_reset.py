# amaranth: UnusedElaboratable=no
"""The reset contract of every stream block of the accelerator and of the board top around it,
and of the accelerator top: while ``rst``
is high, from its first cycle, no ``ready`` and no ``valid`` output is high, so no handshake
completes and nothing is offered (Amaranth simulator).

Each block gets random inputs on every port and random reset pulses; the check runs in
every reset cycle, and the test also requires that each checked output was high in the cycle
before some reset rose (else the gate would not have been exercised).
"""

import random
import re

import pytest
from amaranth.hdl import ClockDomain, Module, Value
from amaranth.lib import wiring
from amaranth.hdl._ir import DriverConflict
from amaranth.sim import Simulator

from tritforge.hdl.accelerator import Accelerator
from tritforge.hdl.accumulator_buffer import AccumulatorBuffer
from tritforge.hdl.beat_serializer import BeatSerializer
from tritforge.hdl.command_decoder import CommandDecoder
from tritforge.hdl.frame_executor import FrameExecutor
from tritforge.hdl.frame_receiver import FrameReceiver
from tritforge.hdl.register_slice import RegisterSlice
from tritforge.hdl.reply_transmitter import ReplyTransmitter
from tritforge.hdl.result_packer import ResultPacker
from tritforge.hdl.sequencer import Sequencer
from tritforge.hdl.status_packer import StatusPacker
from tritforge.hdl.store_streamer import StoreStreamer
from tritforge.hdl.uart import UARTReceiver, UARTTransmitter
from tritforge.hdl.units import UNIT_CLASSES, build_unit
from tritforge.spec.link import LinkParams, Record
from tritforge.spec.params import AcceleratorParams, UnitParams
from tritforge.spec.protocol import Opcode

PARAMS = AcceleratorParams(rows=2, cols=4, max_k=16, weight_depth=4, act_depth=4, max_tokens=2,
                           counter_bits=16)
LINK = LinkParams(baud_divider=4, max_payload=16, data_beats=2, store_depth=16, timeout_bytes=2)
#: Outputs the contract covers: stream handshakes (``valid``/``ready``, AXI ``tvalid``/``tready``).
HANDSHAKE = re.compile(r"(^|_)t?(valid|ready)$")


def _unit(kind):
    return build_unit(UnitParams(kind=kind, rows=2, cols=4, max_k=16, pipeline=1))


def _sequencer():
    unit = UNIT_CLASSES["ternary"](PARAMS.rows, PARAMS.cols, max_k=PARAMS.cols)
    unit._MustUse__silence = True
    return Sequencer(PARAMS, unit.signature, unit.latency)


BLOCKS = {
    **{f"unit_{kind}": (lambda kind=kind: _unit(kind)) for kind in UNIT_CLASSES},
    "command_decoder": lambda: CommandDecoder(PARAMS),
    "sequencer": _sequencer,
    "accumulator_buffer": lambda: AccumulatorBuffer(2, 6, 12, 3),
    "beat_serializer": lambda: BeatSerializer(70, 32),
    "result_packer": lambda: ResultPacker(PARAMS),
    "status_packer": lambda: StatusPacker(PARAMS),
    "register_slice": lambda: RegisterSlice(8),
    "uart_transmitter": lambda: UARTTransmitter(4),
    "uart_receiver": lambda: UARTReceiver(4),
    "frame_receiver": lambda: FrameReceiver(LINK),
    "frame_executor": lambda: FrameExecutor(PARAMS, LINK),
    "store_streamer": lambda: StoreStreamer(PARAMS, LINK.store_depth),
    "reply_transmitter": lambda: ReplyTransmitter(PARAMS, LINK),
}
#: Inputs of a block driven otherwise than uniformly at random, by port name: what makes
#: its outputs busy often enough (a frame receiver sees a sync byte, then a silent line).
BIASED = {
    "frame_receiver": {"i.valid": lambda rng: rng.random() < 0.01,
                       "i.payload": lambda rng: rng.choice([0x5A, rng.getrandbits(8)]),
                       "rx_idle": lambda rng: 1, "uart_error": lambda rng: rng.random() < 0.02,
                       "reply.ready": lambda rng: rng.random() < 0.02},
    "reply_transmitter": {"reply.valid": lambda rng: rng.random() < 0.3,
                          "i.valid": lambda rng: rng.random() < 0.3,
                          "o.ready": lambda rng: rng.random() < 0.9},
    "frame_executor": {"execute": lambda rng: rng.random() < 0.9, "o.ready": lambda rng: rng.random() < 0.1,
                       "buf_data": lambda rng: rng.choice([Record.STREAM, rng.getrandbits(8)])},
}
#: The board's blocks work on bytes over a UART: fewer resets, more cycles.
SLOW = {"uart_transmitter", "uart_receiver", "frame_receiver", "frame_executor", "store_streamer",
        "reply_transmitter"}


def _ports(dut):
    """(inputs, checked outputs) of ``dut``: every input port, the handshake outputs, by name."""
    inputs, checked = {}, {}
    for path, member, value in dut.signature.flatten(dut):
        name = ".".join(str(part) for part in path)
        if member.flow == wiring.In:
            inputs[name] = Value.cast(value)
        elif HANDSHAKE.search(str(path[-1])):
            checked[name] = value
    return inputs, checked


def check_reset_contract(dut, cycles, seed, drive=None, biased=None, reset_rate=0.06):
    """Random inputs (or ``drive(ctx, rng)``; ``biased``: a value maker per input name; a
    ``ready`` input is high a third of the time) and random reset pulses for ``cycles`` cycles;
    ``reset_rate``: the chance a reset starts in a cycle. Return the names of the checked
    outputs that were high right before a reset rose."""
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.dut = dut
    inputs, checked = _ports(dut)
    assert checked, "the block has no handshake output"
    rng = random.Random(seed)
    exercised, violations = set(), []

    async def bench(ctx):
        # Ports a block declares as inputs but drives itself (the weight store's port, declared
        # from the store's side) are left alone.
        for name, port in list(inputs.items()):
            try:
                ctx.set(port, 0)
            except DriverConflict:
                del inputs[name]
        in_reset, before = False, {}
        for cycle in range(cycles):
            if drive is None:
                for name, port in inputs.items():
                    if name in (biased or {}):
                        value = biased[name](rng)
                    elif name.endswith("ready"):
                        value = rng.random() < 0.3
                    else:
                        value = rng.getrandbits(len(port))
                    ctx.set(port, value)
            else:
                drive(ctx, rng)
            in_reset = rng.random() < (0.6 if in_reset else reset_rate)
            ctx.set(domain.rst, in_reset)
            now = {name: ctx.get(value) for name, value in checked.items()}
            if in_reset:
                violations.extend((cycle, name) for name, high in now.items() if high)
                exercised.update(name for name, high in before.items() if high)
            before = {} if in_reset else now
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert not violations, f"handshake outputs high during reset (cycle, port): {violations[:5]}"
    return exercised, set(checked)


@pytest.mark.parametrize("block", list(BLOCKS))
def test_stream_block_reset_contract(block):
    slow = block in SLOW
    exercised, checked = check_reset_contract(BLOCKS[block](), 5000 if slow else 1500, seed=len(block),
                                              biased=BIASED.get(block), reset_rate=0.02 if slow else 0.06)
    assert exercised == checked, f"never high before a reset: {sorted(checked - exercised)}"


def _top_driver(top):
    """Whole commands on ``s_axis`` (mostly READ_STATUS, so responses wait in flight), random
    ``m_axis_tready``: the top's outputs go high often enough for every reset to matter."""
    beats = []

    def drive(ctx, rng):
        if not beats:
            opcode = rng.choice([Opcode.READ_STATUS] * 4 + [Opcode.CLEAR, 0x7f])
            beats.append(int(opcode))
        ctx.set(top.s_axis_tvalid, rng.random() < 0.8)
        ctx.set(top.s_axis_tdata, beats[0])
        ctx.set(top.s_axis_tlast, 1)
        ctx.set(top.m_axis_tready, rng.random() < 0.3)
        if ctx.get(top.s_axis_tvalid) and ctx.get(top.s_axis_tready):
            beats.pop(0)
    return drive


def test_top_reset_contract():
    top = Accelerator(PARAMS)
    exercised, checked = check_reset_contract(top, 1500, seed=5, drive=_top_driver(top))
    assert exercised == checked == {"s_axis_tready", "m_axis_tvalid"}


def test_top_takes_nothing_during_reset_and_starts_afresh():
    """A response cut off by reset is not resumed; a READ_STATUS header offered through the
    reset is taken once, in the first cycle after it, and answered with a fresh status."""
    top = Accelerator(PARAMS)
    m = Module()
    m.domains.sync = domain = ClockDomain()
    m.submodules.top = top
    log = {}

    async def bench(ctx):
        ctx.set(top.s_axis_tdata, Opcode.READ_STATUS)
        ctx.set(top.s_axis_tlast, 1)
        ctx.set(top.s_axis_tvalid, 1)
        while not ctx.get(top.s_axis_tready):         # one READ_STATUS taken, response held
            await ctx.tick()
        await ctx.tick()
        ctx.set(top.s_axis_tvalid, 0)
        for _ in range(10):
            await ctx.tick()
        assert ctx.get(top.m_axis_tvalid)             # the response waits for m_axis_tready
        ctx.set(domain.rst, 1)
        ctx.set(top.s_axis_tvalid, 1)                 # a new header offered through the reset
        for _ in range(3):
            assert (ctx.get(top.m_axis_tvalid), ctx.get(top.s_axis_tready)) == (0, 0)
            await ctx.tick()
        ctx.set(domain.rst, 0)
        ctx.set(top.m_axis_tready, 1)
        taken, words = 0, []
        for _ in range(40):
            moved = ctx.get(top.s_axis_tvalid) and ctx.get(top.s_axis_tready)
            if ctx.get(top.m_axis_tvalid):
                words.append(ctx.get(top.m_axis_tdata))
            await ctx.tick()
            if moved:
                taken += 1
                ctx.set(top.s_axis_tvalid, 0)
        log.update(taken=taken, words=words)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert log["taken"] == 1
    # One status packet only (the cut one is gone): status_words words of 32 bits, one per beat.
    assert len(log["words"]) == PARAMS.status_words
    error_word, flags, cycles = log["words"][:3]
    assert (error_word, flags) == (0, 0) and 0 < cycles < 10
