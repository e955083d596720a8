"""The hardware's formal properties: harnesses that :func:`tritforge.flows.formal.prove` proves.

Each harness is a ``wiring.Component`` whose ports are the proof's free inputs: it builds one
block, drives the block's inputs from them, and states ``Assume`` (what the environment
promises) and ``Assert`` (what the block guarantees) about the block's public ports. A
harness takes the block's class (``block=``) so that a test can hand it a deliberately
broken subclass (:mod:`tests.formal_mutants`) and see the proof fail.
"""

import numpy as np
from amaranth.hdl import Assert, Assume, Cat, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..hdl.accelerator import Accelerator
from ..hdl.base3_decoder import Base3Decoder
from ..hdl.command_decoder import CommandDecoder
from ..hdl.matrix_unit import TernaryMatrixUnit
from ..hdl.sequencer import Sequencer, run_layout
from ..spec.formats import TRITS_PER_BYTE, WeightCode, pack_weights
from ..spec.protocol import ARG_BITS, OPCODE_BITS, Opcode

__all__ = ["base3_table", "Base3Harness", "StreamHoldHarness", "UnitOverflowHarness", "TopStreamHoldHarness",
           "DecoderResponseHarness", "RefusedCommandHarness",
           "SequencerResponseHarness"]


def base3_table():
    """``{byte: five weight codes}`` of every valid base-3 byte, from the spec's packer
    (:func:`tritforge.spec.formats.pack_weights`, bit-exact with the golden model's): all
    243 five-weight rows packed; every byte not in the table is invalid."""
    weights = np.array(np.meshgrid(*[(-1, 0, 1)] * TRITS_PER_BYTE, indexing="ij")).reshape(
        TRITS_PER_BYTE, -1).T
    packed = pack_weights(weights, "base3")[:, 0]
    return {int(byte): tuple(WeightCode.of(int(w)) for w in row) for byte, row in zip(packed, weights)}


class Base3Harness(wiring.Component):
    """Every byte of every lane decodes to the spec's five codes with ``invalid`` low, and every
    byte outside the table gives ``invalid`` high (and five ZERO codes, as documented)."""

    def __init__(self, lanes=1, block=Base3Decoder):
        self._lanes, self._block = lanes, block
        super().__init__({"packed": In(8 * lanes)})

    def elaborate(self, platform):
        m = Module()
        dut = m.submodules.dut = self._block(self._lanes)
        m.d.comb += dut.packed.as_value().eq(self.packed)
        table = base3_table()
        for lane in range(self._lanes):
            byte = self.packed[8 * lane:8 * lane + 8]
            codes = dut.codes[lane].as_value()
            with m.Switch(byte):
                for value in range(256):
                    with m.Case(value):
                        expected = table.get(value, (WeightCode.ZERO,) * TRITS_PER_BYTE)
                        word = sum(int(code) << (2 * i) for i, code in enumerate(expected))
                        m.d.comb += Assert((codes == word) & (dut.invalid[lane] == (value not in table)))
        return m


def _hold_rule(m, stream, name, cell):
    """State the stream rule on ``stream`` (valid/ready/payload) with ``cell``: ``Assert`` for
    an output the block drives, ``Assume`` for an input its environment drives. A payload
    offered and not taken is offered again, unchanged, next cycle."""
    _hold(m, stream.valid, stream.ready, stream.payload.as_value(), name, cell)


def _hold(m, valid, ready, payload, name, cell):
    """:func:`_hold_rule` on separate ``valid``, ``ready`` and ``payload`` values. Reset ends
    the rule (AXI4-Stream's own exception); for an output, the reset contract instead: no
    ``valid`` while ``rst`` is high."""
    waiting = Signal(name=f"{name}_waiting")
    was = Signal.like(payload, name=f"{name}_was")
    m.d.sync += [waiting.eq(valid & ~ready), was.eq(payload)]
    with m.If(waiting & ~ResetSignal()):
        m.d.comb += cell(valid & (payload == was))
    if cell is Assert:
        with m.If(ResetSignal()):
            m.d.comb += Assert(~valid)


def _unit(params, block):
    """A matrix unit of ``params`` (a :class:`~tritforge.spec.params.UnitParams`)."""
    return block(params.rows, params.cols, act_bits=params.act_bits, max_k=params.max_k,
                 pipeline=params.pipeline)


class StreamHoldHarness(wiring.Component):
    """The matrix unit's result stream ``o`` obeys valid/ready (a result offered stays, unchanged,
    until taken), whatever its input and the backpressure do; its input ``i`` is driven by
    an environment that obeys the same rule."""

    def __init__(self, params, block=TernaryMatrixUnit):
        self._unit = _unit(params, block)
        super().__init__({"i_valid": In(1), "i_payload": In(self._unit.chunk_layout().size),
                          "o_ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        unit = m.submodules.unit = self._unit
        m.d.comb += [unit.i.valid.eq(self.i_valid), unit.i.payload.as_value().eq(self.i_payload),
                     unit.o.ready.eq(self.o_ready)]
        _hold_rule(m, unit.i, "i", Assume)
        _hold_rule(m, unit.o, "o", Assert)
        return m


def _weight(code):
    """The ternary weight of a 2-bit code as a signed value; INVALID counts as 0 (the unit
    adds nothing for it)."""
    return Mux(code == WeightCode.POS, 1, Mux(code == WeightCode.NEG, -1, 0)).as_signed()


class UnitOverflowHarness(wiring.Component):
    """The matrix unit's results are the exact dot products, computed here in a wider signed
    width, for every product within ``max_k``: the accumulators never overflow.

    The environment sends any chunks (with gaps) under the unit's documented contract: a
    product is at most ``ceil(max_k / cols)`` chunks with at most ``max_k`` non-ZERO weights per
    row (padding lanes carry ZERO codes), activations any ``act_bits`` value. With
    ``single_chunk`` every chunk is a whole product (``first = last = 1``), as the
    accelerator's sequencer uses the unit (``max_k = cols``); the proof is then inductive.
    ``o.ready`` is held high: the unit's results do not depend on backpressure (its pipeline
    advances as a whole), and this keeps the reference aligned with the unit's latency.
    """

    def __init__(self, params, block=TernaryMatrixUnit, single_chunk=False):
        self._params, self._single = params, single_chunk
        self._unit = _unit(params, block)
        super().__init__({"i_valid": In(1), "i_payload": In(self._unit.chunk_layout().size)})

    def elaborate(self, platform):
        m = Module()
        p, unit = self._params, self._unit
        m.submodules.unit = unit
        chunk = unit.i.payload
        m.d.comb += [unit.i.valid.eq(self.i_valid), chunk.as_value().eq(self.i_payload),
                     unit.o.ready.eq(1)]
        if self._single:
            m.d.comb += Assume(chunk.first & chunk.last)
        wide = signed(unit.acc_bits + 4)
        taken = unit.i.valid & unit.i.ready
        # The product being received: does the next chunk start afresh, its chunks and
        # non-ZERO weights so far, and its exact sums so far.
        fresh = Signal(init=1)
        starts = chunk.first | fresh
        chunks = Signal(range(unit.chunks(p.max_k) + 2))
        chunks_now = Mux(starts, 0, chunks) + 1
        with m.If(taken):
            m.d.comb += Assume(chunks_now <= unit.chunks(p.max_k))
            m.d.sync += [chunks.eq(chunks_now), fresh.eq(chunk.last)]
        exact_now = []
        for row in range(p.rows):
            codes = chunk.weights[row]
            nonzero = Signal(range(p.max_k + p.cols + 1), name=f"nonzero{row}")
            nonzero_now = Mux(starts, 0, nonzero) + sum(
                ((codes[c] == WeightCode.POS) | (codes[c] == WeightCode.NEG)) for c in range(p.cols))
            exact = Signal(wide, name=f"exact{row}")
            exact_sum = Signal(wide, name=f"exact{row}_now")
            m.d.comb += exact_sum.eq(Mux(starts, 0, exact) + sum(
                _weight(codes[c]) * chunk.act[c] for c in range(p.cols)))
            with m.If(taken):
                m.d.comb += Assume(nonzero_now <= p.max_k)
                m.d.sync += [nonzero.eq(nonzero_now), exact.eq(exact_sum)]
            exact_now.append(exact_sum)
        # A product's result leaves `latency` cycles after its last chunk (never stalled).
        line = [(taken & chunk.last, Cat(*exact_now))]
        for stage in range(unit.latency):
            valid, sums = Signal(name=f"expect{stage + 1}_valid"), Signal(len(line[-1][1]),
                                                                       name=f"expect{stage + 1}")
            m.d.sync += [valid.eq(line[-1][0]), sums.eq(line[-1][1])]
            line.append((valid, sums))
        expected_valid, expected = line[-1]
        # In reset the unit offers nothing (its reset contract); the reference is reset too.
        m.d.comb += Assert(unit.o.valid == (expected_valid & ~ResetSignal()))
        with m.If(unit.o.valid):
            for row in range(p.rows):
                value = expected[row * wide.width:(row + 1) * wide.width].as_signed()
                m.d.comb += Assert(unit.o.payload.acc[row] == value)
        return m


class TopStreamHoldHarness(wiring.Component):
    """The accelerator top's response stream ``m_axis`` obeys AXI4-Stream: once ``tvalid`` is
    high it stays high, with the same ``tdata`` and ``tlast``, until ``tready``; whatever the
    commands and the backpressure, as long as the host's ``s_axis`` obeys the same rule."""

    def __init__(self, params, block=Accelerator):
        self._top = block(params)
        super().__init__({"s_tdata": In(params.stream_width), "s_tvalid": In(1), "s_tlast": In(1),
                          "m_tready": In(1)})

    def elaborate(self, platform):
        m = Module()
        top = m.submodules.top = self._top
        m.d.comb += [top.s_axis_tdata.eq(self.s_tdata), top.s_axis_tvalid.eq(self.s_tvalid),
                     top.s_axis_tlast.eq(self.s_tlast), top.m_axis_tready.eq(self.m_tready)]
        _hold(m, top.s_axis_tvalid, top.s_axis_tready, Cat(top.s_axis_tdata, top.s_axis_tlast),
              "s", Assume)
        _hold(m, top.m_axis_tvalid, top.m_axis_tready, Cat(top.m_axis_tdata, top.m_axis_tlast),
              "m", Assert)
        return m


def _at_most(m, condition, cycles, name, cell):
    """State with ``cell`` that ``condition`` never holds for more than ``cycles`` cycles in a
    row (a counter of the cycles it has held, saturating just past the bound)."""
    held = Signal(range(cycles + 2), name=f"{name}_cycles")
    with m.If(condition):
        m.d.sync += held.eq(Mux(held > cycles, held, held + 1))
        m.d.comb += cell(held < cycles)
    with m.Else():
        m.d.sync += held.eq(0)


class DecoderResponseHarness(wiring.Component):
    """The command decoder never stalls its input for more than :meth:`bound` cycles in a row
    (no deadlock: every command it is parsing or waiting to hand over finishes and the next
    beat is taken), under fairness: the sequencer's ``busy`` and the packers' ``responding``
    never stay high more than ``fairness`` cycles in a row. The input obeys the stream rule
    and may pause; any commands, any values."""

    #: Cycles the decoder adds to a wait on ``busy`` or ``responding`` (see :meth:`bound`).
    OVERHEAD = 3

    def __init__(self, params, fairness, block=CommandDecoder):
        self._decoder, self._fairness = block(params), fairness
        super().__init__({"s_data": In(params.stream_width), "s_valid": In(1), "s_last": In(1),
                          "sequencer_busy": In(1), "responding": In(1), "invalid_weight": In(1)})

    def bound(self):
        """The longest stall: one wait on the environment (``fairness`` cycles) plus the
        decoder's registered view of it (:data:`OVERHEAD`: its ``busy`` / ``responding``
        registers and start strobes). Measured tight: one cycle less fails (a test)."""
        return self._fairness + self.OVERHEAD

    def elaborate(self, platform):
        m = Module()
        dut = m.submodules.decoder = self._decoder
        m.d.comb += [dut.s.payload.data.eq(self.s_data), dut.s.payload.last.eq(self.s_last),
                     dut.s.valid.eq(self.s_valid), dut.sequencer_busy.eq(self.sequencer_busy),
                     dut.responding.eq(self.responding), dut.invalid_weight.eq(self.invalid_weight)]
        _hold_rule(m, dut.s, "s", Assume)
        _at_most(m, self.sequencer_busy, self._fairness, "busy", Assume)
        _at_most(m, self.responding, self._fairness, "responding", Assume)
        # A reset is no stall: the decoder takes nothing then (its reset contract).
        _at_most(m, dut.s.valid & ~dut.s.ready & ~ResetSignal(), self.bound(), "stall", Assert)
        return m


class RefusedCommandHarness(wiring.Component):
    """A refused command changes no memory and no result: the command decoder, sent only
    commands it must refuse, never raises a bank write enable (``weights.en``, ``acts.en``),
    never starts the sequencer (``run_start``: the accumulator buffer is written only by a
    run), never clears, and never has results pending or a new result size (``read``).

    The refused commands, any number in a row, each any length (``tlast`` anywhere, pauses
    anywhere), any bank bits: an unknown opcode; ``LOAD_WEIGHTS`` / ``LOAD_ACTS`` with a count
    of 0 or above the bank's depth; ``RUN`` with ``T = 0``, ``T > max_tokens`` or ``K = 0``
    (any ``N``); ``READ_RESULTS`` (no results are pending); ``READ_STATUS`` and ``CLEAR`` with
    a beat too many. Nor does the decoder start a response packer (``read_start``,
    ``status_start``). The sequencer's ``busy``, ``responding`` and ``invalid_weight`` are
    free."""

    def __init__(self, params, block=CommandDecoder):
        self._params, self._decoder = params, block(params)
        super().__init__({"s_data": In(params.stream_width), "s_valid": In(1), "s_last": In(1),
                          "sequencer_busy": In(1), "responding": In(1), "invalid_weight": In(1)})

    def elaborate(self, platform):
        m = Module()
        p, dut = self._params, self._decoder
        m.submodules.decoder = dut
        m.d.comb += [dut.s.payload.data.eq(self.s_data), dut.s.payload.last.eq(self.s_last),
                     dut.s.valid.eq(self.s_valid), dut.sequencer_busy.eq(self.sequencer_busy),
                     dut.responding.eq(self.responding), dut.invalid_weight.eq(self.invalid_weight)]
        _hold_rule(m, dut.s, "s", Assume)
        # The packet being sent, as beats are taken: the beat's index in it (saturating at
        # 3), its opcode and its first argument.
        index = Signal(range(4))
        opcode = Signal(OPCODE_BITS)
        first_arg = Signal(ARG_BITS)
        data = self.s_data
        arg = data[:ARG_BITS]
        with m.If(dut.s.valid & dut.s.ready):
            m.d.sync += index.eq(Mux(self.s_last, 0, Mux(index == 3, 3, index + 1)))
            with m.If(index == 0):
                m.d.sync += opcode.eq(data[:OPCODE_BITS])
                # READ_STATUS and CLEAR are refused only with a beat too many (LENGTH);
                # READ_RESULTS always is (NO_RESULTS: no RUN is ever accepted here).
                with m.If(data[:OPCODE_BITS].matches(Opcode.READ_STATUS, Opcode.CLEAR)):
                    m.d.comb += Assume(~self.s_last)
            with m.If(index == 1):
                m.d.sync += first_arg.eq(arg)
                with m.If(opcode == Opcode.LOAD_WEIGHTS):
                    m.d.comb += Assume((arg == 0) | (arg > p.weight_depth))
                with m.If(opcode == Opcode.LOAD_ACTS):
                    m.d.comb += Assume((arg == 0) | (arg > p.act_depth))
            with m.If((index == 2) & (opcode == Opcode.RUN)):
                m.d.comb += Assume((first_arg == 0) | (first_arg > p.max_tokens) | (arg == 0))
        m.d.comb += Assert(~dut.weights.en & ~dut.acts.en & ~dut.run_start & ~dut.clear
                           & ~dut.read_start & ~dut.status_start
                           & ~dut.results_pending & (dut.read.as_value() == 0))
        return m


class SequencerResponseHarness(wiring.Component):
    """Every ``RUN`` the sequencer starts ends (``busy`` falls) within :meth:`bound` cycles of
    its shape: ``T * chunks * blocks`` chunks at one per cycle, a wait of at most
    ``fairness`` cycles for the accumulator buffer (``can_claim``) per row block, the unit's
    latency and :data:`OVERHEAD`. The environment: any run the decoder can accept
    (``1 <= T <= max_tokens``, ``1 <= chunks``, ``1 <= blocks``, ``chunks * blocks <=
    weight_depth``, ``T * chunks <= act_depth``), started any time the sequencer is idle;
    ``can_claim`` low at most ``fairness`` cycles in a row; any memory data. The sequencer
    drives its own matrix unit, as in the accelerator."""

    #: The cycles a run takes beyond its chunks, waits and the unit's latency (measured tight).
    OVERHEAD = 2

    def __init__(self, params, fairness, block=Sequencer):
        self._params, self._fairness = params, fairness
        spec = params.unit
        self._unit = TernaryMatrixUnit(spec.rows, spec.cols, act_bits=spec.act_bits,
                                       max_k=spec.max_k, pipeline=spec.pipeline)
        self._sequencer = block(params, self._unit.signature, self._unit.latency)
        seq = self._sequencer
        super().__init__({"start": In(1), "run": In(run_layout(params)), "can_claim": In(1),
                          "weights_data": In(seq.weights.data.shape()),
                          "acts_data": In(seq.acts.data.shape())})

    def bound(self, run):
        """The cycles ``run`` may keep the sequencer busy."""
        return (run.tokens * run.chunks * run.blocks + run.blocks * self._fairness
                + self._unit.latency + self.OVERHEAD)

    def elaborate(self, platform):
        m = Module()
        p, seq, unit = self._params, self._sequencer, self._unit
        m.submodules.sequencer, m.submodules.unit = seq, unit
        wiring.connect(m, seq.unit_i, unit.i)
        wiring.connect(m, unit.o, seq.unit_o)
        m.d.comb += [seq.start.eq(self.start), seq.run.eq(self.run), seq.can_claim.eq(self.can_claim),
                     seq.weights.data.eq(self.weights_data), seq.acts.data.eq(self.acts_data),
                     seq.acc.ready.eq(1)]
        run = self.run
        with m.If(self.start & ~seq.busy):
            m.d.comb += Assume(self._accepted(run))
        _at_most(m, ~self.can_claim, self._fairness, "claim", Assume)
        # The run in progress (the one started last) and the cycles it has been busy.
        taken = Signal.like(self.run, name="taken_run")
        cycles = Signal(16, name="run_cycles")
        with m.If(self.start & ~seq.busy):
            m.d.sync += [taken.eq(run), cycles.eq(0)]
        with m.Elif(seq.busy):
            m.d.sync += cycles.eq(cycles + 1)
            # The run in progress is one that was accepted (the harness's own register: an
            # invariant for the induction step).
            m.d.comb += Assert((cycles < self.bound(taken)) & self._accepted(taken))
        return m

    def _accepted(self, run):
        """``run`` is one the command decoder can hand over."""
        p = self._params
        return ((run.tokens >= 1) & (run.tokens <= p.max_tokens) & (run.chunks >= 1)
                & (run.blocks >= 1) & (run.last_cols >= 1) & (run.last_cols <= p.cols)
                & (run.last_rows >= 1) & (run.last_rows <= p.rows)
                & (run.chunks * run.blocks <= p.weight_depth)
                & (run.tokens * run.chunks <= p.act_depth))
