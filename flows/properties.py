"""The hardware's formal properties: harnesses that :func:`tritforge.flows.formal.prove` proves.

Each harness is a ``wiring.Component`` whose ports are the proof's free inputs: it builds one
block, drives the block's inputs from them, and states ``Assume`` (what the environment
promises) and ``Assert`` (what the block guarantees) about the block's public ports. A
harness takes the block's class (``block=``) so that a test can hand it a deliberately
broken subclass (:mod:`tests.formal_mutants`) and see the proof fail.

For an inductive proof some harnesses also assert invariants on the block's inner state (the
states no input sequence reaches must be ruled out): they build the block as an *observed*
subclass that keeps the signals it needs as it elaborates (:func:`_observed_unit`,
:func:`_observed_decoder`, :func:`_observed_top`) and elaborate it before stating anything
(:func:`_elaborated`). The invariants are asserted, so proven with the property.
"""

import numpy as np
from amaranth.hdl import (Assert, Assume, Cat, Elaboratable, Fragment, Module, Mux, ResetSignal, Signal,
                          signed, unsigned)
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from ..hdl.accelerator import Accelerator
from ..hdl.base3_decoder import Base3Decoder
from ..hdl.command_decoder import CONSUMING_STATES, KNOWN_OPCODES, CommandDecoder
from ..hdl.matrix_unit import TernaryMatrixUnit
from ..hdl.sequencer import Sequencer, max_chunks, run_layout
from ..hdl.ternary_dot import Stages, TernaryDot
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


def _product(act, code):
    """The exact product of an activation and a weight code (``-act``, ``0`` or ``act``;
    INVALID counts 0, as the unit adds nothing for it) and whether the weight is non-ZERO."""
    value = Mux(code == WeightCode.POS, act, Mux(code == WeightCode.NEG, -act, 0))
    return value, (code == WeightCode.POS) | (code == WeightCode.NEG)


class _Elaborated(Elaboratable):
    """A fragment elaborated ahead of its parent (so the parent can name its inner signals)."""

    def __init__(self, fragment):
        self._fragment = fragment

    def elaborate(self, platform):
        return self._fragment


class _ObservedDot(TernaryDot):
    """A :class:`TernaryDot` that keeps the :class:`Stages` of its pipeline registers."""

    def _stages(self, m):
        self.stages = super()._stages(m)
        return self.stages


def _observed_unit(block):
    """``block`` (a :class:`TernaryMatrixUnit` class) whose instances keep their rows' dot
    products (``dots``, each an :class:`_ObservedDot`), their stage flags (``flags``) and the
    pipeline's ``advance`` (which, unlike ``i.ready``, also moves in reset cycles)."""

    class Observed(block):
        def _make_dot(self):
            dot = super()._make_dot()
            if type(dot) is not TernaryDot:
                raise TypeError(f"the overflow proof observes TernaryDot rows, not {type(dot).__name__}")
            dot = _ObservedDot(dot.lanes, dot.act_bits, dot.pipeline, raw=dot.raw)
            self.dots.append(dot)
            return dot

        def _flag_pipeline(self, m, advance):
            self.flags, self.advance = super()._flag_pipeline(m, advance), advance
            return self.flags

        def elaborate(self, platform):
            self.dots = []
            return super().elaborate(platform)

    Observed.__name__ = f"Observed{block.__name__}"
    return Observed


def _observed_decoder(block):
    """``block`` (a :class:`CommandDecoder` class) whose instances keep the registers their
    states share (``command``: the decoder's ``_Command``, its one-hot ``states`` among them)."""

    class Observed(block):
        def _front(self, m, c):
            self.command = c
            super()._front(m, c)

    Observed.__name__ = f"Observed{block.__name__}"
    return Observed


def _observed_top(block):
    """``block`` (an :class:`Accelerator` class) whose instances keep their command decoder
    (``decoder``, observed as :func:`_observed_decoder`) and response packers (``results``,
    ``status``)."""

    if block._make_decoder is not Accelerator._make_decoder:
        raise TypeError(f"the proof observes the top's own CommandDecoder, which {block.__name__} replaces")

    class Observed(block):
        def _make_decoder(self):
            self.decoder = _observed_decoder(CommandDecoder)(self.params)
            return self.decoder

        def _respond(self, m, results, status):
            self.results, self.status = results, status
            super()._respond(m, results, status)

    Observed.__name__ = f"Observed{block.__name__}"
    return Observed


def _one_hot(states):
    """Exactly one of the 1-bit ``states`` is set."""
    return sum(states) == 1


def _decoder_invariants(m, decoder):
    """Assert what holds of an (observed) command decoder's state in every reachable state:
    its state register is one-hot and ``consuming`` says whether that state takes beats."""
    states = decoder.command.states
    m.d.comb += [Assert(_one_hot(states.values())),
                 Assert(decoder.command.consuming == Cat(states[name] for name in CONSUMING_STATES).any())]


def _elaborated(m, name, block, platform):
    """Add ``block`` to ``m`` as submodule ``name``, elaborated now: its inner signals (kept by
    the observed classes above) exist once this returns."""
    m.submodules[name] = _Elaborated(Fragment.get(block, platform))
    return block


class UnitOverflowHarness(wiring.Component):
    """The matrix unit's results are the exact dot products, for every product of at most
    ``max_k`` non-ZERO weights per row: the accumulators never overflow.

    The environment: any chunks, any gaps, any backpressure; a product is the chunks from a
    ``first`` chunk (or the chunk after a ``last`` one) to its ``last`` chunk, any number of
    them, with at most ``max_k`` non-ZERO weights per row in all (the unit's contract: the
    padding of a partial chunk is ZERO codes); activations any ``act_bits`` value.

    An inductive proof, decomposed so that every step is a small one:

    * the adder tree, level by level: the harness keeps a reference pipeline of exact sums
      (a wide adder per node, the nodes paired as the unit's tree pairs them, registered where
      the tree registers); every registered node of the unit's tree, with its pending carry,
      equals its reference exactly (``-sum`` in the tree's complement domain, ``+sum`` at the
      inverted root), and every reference is at most ``nonzero * 2**(act_bits-1)`` in size,
      with ``nonzero`` the node's count of non-ZERO weights;
    * the stage flags equal the harness's own delay line of ``valid``/``first``/``last``;
    * the accumulator, through the result port (``acc + partial + carry``): it holds the
      harness's exact running sum of the current product's chunks that have left the tree
      (0 after a ``last`` chunk and when a ``first`` chunk reaches the last stage), and the
      running sum and its non-ZERO count stay within ``max_k``;
    * the property: a result, when valid, equals that running sum plus the leaving chunk's
      exact sum, both wide (``acc_bits + 2``), with no truncation.

    The product contract is assumed where the accumulator sees a chunk (its last stage), which
    allows every trace the input-side statement allows (a chunk changes nothing before it
    reaches the accumulator). Pipelined units only (``pipeline >= 1``, ``cols >= 2``): the
    reference pipeline follows the tree's registers.

    ``rows`` (default: all) states the invariants and the property of these rows only: each
    row's invariants are inductive on their own (with the flags'), so proofs row by row prove
    the whole unit, in less time than one proof of every row (the solver's time grows faster
    than the rows).
    """

    def __init__(self, params, block=TernaryMatrixUnit, rows=None):
        if params.pipeline < 1 or params.cols < 2:
            raise ValueError(f"the overflow proof needs a pipelined tree (pipeline >= 1, cols >= 2), "
                             f"not pipeline = {params.pipeline}, cols = {params.cols}")
        self._params = params
        self._rows = tuple(range(params.rows)) if rows is None else tuple(rows)
        if not self._rows or not set(self._rows) <= set(range(params.rows)):
            raise ValueError(f"rows must be some of the unit's rows 0..{params.rows - 1}, not {rows!r}")
        self._unit = _unit(params, _observed_unit(block))
        super().__init__({"i_valid": In(1), "i_payload": In(self._unit.chunk_layout().size),
                          "o_ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        p, unit = self._params, self._unit
        chunk = unit.i.payload
        m.d.comb += [unit.i.valid.eq(self.i_valid), chunk.as_value().eq(self.i_payload),
                     unit.o.ready.eq(self.o_ready)]
        # Elaborate the unit first: its trees' registers and stage flags exist only then.
        m.submodules.unit = _Elaborated(Fragment.get(unit, platform))
        advance = unit.advance
        latency = unit.latency

        # The stage flags: a delay line of the input's, equal to the unit's.
        flags = [(unit.i.valid, chunk.first, chunk.last)]
        for stage in range(1, latency + 1):
            valid = Signal(name=f"ref{stage}_valid")
            first, last = (Signal(name=f"ref{stage}_{name}", reset_less=True) for name in ("first", "last"))
            with m.If(advance):
                m.d.sync += [valid.eq(flags[-1][0]), first.eq(flags[-1][1]), last.eq(flags[-1][2])]
            flags.append((valid, first, last))
            theirs = unit.flags[stage]
            m.d.comb += Assert((theirs.valid == valid) & (theirs.first == first) & (theirs.last == last))
        valid, first, last = flags[-1]
        # In reset the unit offers nothing (its reset contract).
        m.d.comb += Assert(unit.o.valid == (valid & last & ~ResetSignal()))

        # The product at the accumulator: the running sums of the chunks that left.
        half_shift = p.act_bits - 1
        wide = signed(unit.acc_bits + 2)
        fresh = Signal(init=1, name="out_fresh")       # the last chunk that left was `last`
        start = first | fresh
        with m.If(advance & valid):
            m.d.sync += fresh.eq(last)
        for row in self._rows:
            total, nonzero = self._tree(m, row, advance, latency)
            run = Signal(wide, name=f"out_run{row}")
            count = Signal(range(p.max_k + 1), name=f"out_nonzero{row}")
            run_now = Signal(wide, name=f"out_run{row}_now")
            count_now = Signal(range(2 * p.max_k + p.cols + 1), name=f"out_nonzero{row}_now")
            m.d.comb += [run_now.eq(Mux(start, 0, run) + total), count_now.eq(Mux(start, 0, count) + nonzero)]
            with m.If(valid):
                m.d.comb += Assume(count_now <= p.max_k)
            with m.If(advance & valid):
                m.d.sync += [run.eq(run_now), count.eq(count_now)]
            m.d.comb += Assert((count <= p.max_k) & (run <= (count << half_shift))
                               & (run >= -(count << half_shift)))
            # The accumulator holds the running sum (0 once a product ended or a new one
            # reached the last stage); the result port is it plus the leaving chunk.
            held = Mux(Mux(valid, start, fresh), 0, run)
            result = unit.o.payload.acc[row]
            m.d.comb += Assert(result == (held + total)[:unit.acc_bits].as_signed())
            with m.If(unit.o.valid):
                m.d.comb += Assert(result == run_now)
        return m

    def _tree(self, m, row, advance, latency):
        """The reference pipeline of row ``row``'s tree, its invariants on the unit's tree
        registers, and the exact sum and non-ZERO count of the chunk in the last stage."""
        p, unit = self._params, self._unit
        dot = unit.dots[row]
        chunk = unit.i.payload
        value_shape = signed(p.act_bits + p.cols.bit_length() + 1)
        count_shape = unsigned(p.cols.bit_length())
        # A node: its exact sum, its count of non-ZERO weights and its number of lanes.
        nodes = []
        for lane in range(p.cols):
            product, nonzero = _product(chunk.act[lane], chunk.weights[row][lane])
            nodes.append((product, nonzero, 1))
        stages = Stages(m, p.pipeline, advance)
        registered = []      # the nodes of each register stage

        def end(nodes, step):
            registers = stages.registers
            flat = step([n[0] for n in nodes] + [n[1] for n in nodes])
            nodes = [(value, count, n[2]) for value, count, n in zip(flat, flat[len(nodes):], nodes)]
            if stages.registers > registers:
                registered.append(nodes)
            return nodes

        while len(nodes) > 1:
            paired = []
            for k in range(0, len(nodes) - 1, 2):
                (a, count_a, lanes_a), (b, count_b, lanes_b) = nodes[k], nodes[k + 1]
                value, count = Signal(value_shape), Signal(count_shape)
                m.d.comb += [value.eq(a + b), count.eq(count_a + count_b)]
                paired.append((value, count, lanes_a + lanes_b))
            nodes = end(paired + nodes[len(paired) * 2:], stages.end_level)
        nodes = end(nodes, stages.close)
        theirs = dot.stages.registered
        assert len(registered) == len(theirs) == latency
        half_shift = p.act_bits - 1
        for stage, (ours, flat) in enumerate(zip(registered, theirs), start=1):
            # The unit's stage: node values, one pending carry per node, the INVALID rider.
            assert len(flat) == 2 * len(ours) + 1
            inverted = stage == latency        # the root is registered inverted: +sum
            for (value, count, lanes), node, carry in zip(ours, flat, flat[len(ours):]):
                m.d.comb += Assert((node + carry == (value if inverted else -value)) & (count <= lanes)
                                   & (value <= (count << half_shift)) & (value >= -(count << half_shift)))
        return registered[-1][0][:2]


class TopStreamHoldHarness(wiring.Component):
    """The accelerator top's response stream ``m_axis`` obeys AXI4-Stream: once ``tvalid`` is
    high it stays high, with the same ``tdata`` and ``tlast``, until ``tready``; whatever the
    commands and the backpressure, as long as the host's ``s_axis`` obeys the same rule.

    For an inductive proof the harness also asserts what makes the rule hold in every
    reachable state, on the blocks inside: one response packer busy at a time, a packer
    started only while both are idle, and the command decoder's state register one-hot (its
    READ and STATUS states start the packers). (That a busy packer is known to the decoder,
    through its registered ``responding``, follows from two cycles of the trace: the proof
    closes at two steps.)"""

    def __init__(self, params, block=Accelerator):
        self._top = _observed_top(block)(params)
        super().__init__({"s_tdata": In(params.stream_width), "s_tvalid": In(1), "s_tlast": In(1),
                          "m_tready": In(1)})

    def elaborate(self, platform):
        m = Module()
        top = self._top
        m.d.comb += [top.s_axis_tdata.eq(self.s_tdata), top.s_axis_tvalid.eq(self.s_tvalid),
                     top.s_axis_tlast.eq(self.s_tlast), top.m_axis_tready.eq(self.m_tready)]
        # Elaborate the top first: its blocks exist only then.
        m.submodules.top = _Elaborated(Fragment.get(top, platform))
        _hold(m, top.s_axis_tvalid, top.s_axis_tready, Cat(top.s_axis_tdata, top.s_axis_tlast),
              "s", Assume)
        _hold(m, top.m_axis_tvalid, top.m_axis_tready, Cat(top.m_axis_tdata, top.m_axis_tlast),
              "m", Assert)
        decoder, results, status = top.decoder, top.results, top.status
        strobes = decoder.read_start | decoder.status_start
        m.d.comb += [Assert(_one_hot(decoder.command.states.values())),
                     Assert(~(results.busy & status.busy)),
                     Assert(~strobes | ~(results.busy | status.busy
                                         | (decoder.read_start & decoder.status_start)))]
        return m


def _at_most(m, condition, cycles, name, cell):
    """State with ``cell`` that ``condition`` never holds for more than ``cycles`` cycles in a
    row (a counter of the cycles it has held, saturating just past the bound, which it
    returns)."""
    held = Signal(range(cycles + 2), name=f"{name}_cycles")
    with m.If(condition):
        m.d.sync += held.eq(Mux(held > cycles, held, held + 1))
        m.d.comb += cell(held < cycles)
    with m.Else():
        m.d.sync += held.eq(0)
    return held


class DecoderResponseHarness(wiring.Component):
    """The command decoder never stalls its input for more than :meth:`bound` cycles in a row
    (no deadlock: every command it is parsing or waiting to hand over finishes and the next
    beat is taken), under fairness: the sequencer's ``busy`` and the packers' ``responding``
    never stay high more than ``fairness`` cycles in a row. The input obeys the stream rule
    and may pause; any commands, any values."""

    #: Cycles the decoder adds to a wait on ``busy`` or ``responding`` (see :meth:`bound`).
    OVERHEAD = 3

    def __init__(self, params, fairness, block=CommandDecoder):
        self._decoder, self._fairness = _observed_decoder(block)(params), fairness
        super().__init__({"s_data": In(params.stream_width), "s_valid": In(1), "s_last": In(1),
                          "sequencer_busy": In(1), "responding": In(1), "invalid_weight": In(1)})

    def bound(self):
        """The longest stall: one wait on the environment (``fairness`` cycles) plus the
        decoder's registered view of it (:data:`OVERHEAD`: its ``busy`` / ``responding``
        registers and start strobes). Measured tight: one cycle less fails (a test)."""
        return self._fairness + self.OVERHEAD

    def elaborate(self, platform):
        m = Module()
        dut = _elaborated(m, "decoder", self._decoder, platform)
        m.d.comb += [dut.s.payload.data.eq(self.s_data), dut.s.payload.last.eq(self.s_last),
                     dut.s.valid.eq(self.s_valid), dut.sequencer_busy.eq(self.sequencer_busy),
                     dut.responding.eq(self.responding), dut.invalid_weight.eq(self.invalid_weight)]
        _hold_rule(m, dut.s, "s", Assume)
        _decoder_invariants(m, dut)
        _at_most(m, self.sequencer_busy, self._fairness, "busy", Assume)
        _at_most(m, self.responding, self._fairness, "responding", Assume)
        # A reset is no stall: the decoder takes nothing then (its reset contract).
        _at_most(m, dut.s.valid & ~dut.s.ready & ~ResetSignal(), self.bound(), "stall", Assert)
        return m


class RefusedCommandHarness(wiring.Component):
    """A refused command changes no memory and no result, from any state: the command
    decoder takes any commands (any opcodes, lengths, values, pauses, bank bits; the sequencer's
    ``busy``, ``responding`` and ``invalid_weight`` free), and for every command the harness
    classifies as refused, nothing attributable to it happens: no bank write (``weights.en``,
    ``acts.en``), no ``run_start`` (the sequencer never starts, so the accumulator buffer is
    not written), no ``clear``, no ``read_start`` / ``status_start``, and ``results_pending``
    and ``read`` keep their values.

    The harness parses the beats as the decoder takes them (from its own copy of the input
    register, asserted equal to the decoder's): a command is its beats up to ``tlast``. It
    classifies a command as refused from its own beats: an unknown opcode; ``LOAD_WEIGHTS`` /
    ``LOAD_ACTS`` with ``tlast`` on the header or on the count, or a count of 0 or above the
    bank's depth; ``RUN`` with ``tlast`` before its third argument or a beat after it, or
    ``T = 0``, ``T > max_tokens``, ``K = 0``, ``K > max_k`` or ``N = 0``; ``READ_RESULTS`` while
    ``results_pending`` is low; ``READ_RESULTS`` / ``READ_STATUS`` / ``CLEAR`` with a beat too
    many. A command's
    effects come from the cycle after its header is taken up to the cycle the next header is
    taken (the decoder's latency: a load's last write, a run's start strobe, a packer's start
    strobe come the cycle after the decision, when the decoder may already take the next
    header); effects in the cycle a header is taken belong to the command before it.
    Effects seen before a command is known to be refused (a ``RUN`` is known at its last
    argument) count too. Not classified (nothing asserted): accepted commands, a load refused
    for its payload's length (the items before the error are written: documented), refusals
    that depend on the state (``BANK_BUSY``, ``RESULTS_PENDING``, a ``RUN``'s capacity).

    The proof is inductive: the harness also asserts how its view of the command stream (beat
    index, opcode, refused) maps onto the decoder's state (:meth:`_parse_invariants`), which
    rules out the states no command sequence reaches."""

    def __init__(self, params, block=CommandDecoder):
        self._params, self._decoder = params, _observed_decoder(block)(params)
        super().__init__({"s_data": In(params.stream_width), "s_valid": In(1), "s_last": In(1),
                          "sequencer_busy": In(1), "responding": In(1), "invalid_weight": In(1)})

    def _parse_invariants(self, m, dut, index, opcode, refused, seen):
        """Assert the map from the harness's parse (``index`` of the next beat in the command,
        0 between commands; ``opcode``; ``refused``; effects ``seen`` since the header) to the
        decoder's state: which states a command can be in at each beat, that the decoder's
        command registers agree with the beats, and that a refused command is only ever in
        states (with the flags) that refuse it."""
        c = dut.command
        st = c.states
        is_run = opcode == Opcode.RUN
        is_load = opcode.matches(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS)
        # Between commands (the last one's tlast taken) or inside one: the decoder's states,
        # the checks after a final argument telling by whether tlast came with it.
        checks = Cat(st[n] for n in ("CHECK_LOAD", "LOAD_WAIT", "CHECK_RUN")).any()
        between = (Cat(st[n] for n in ("HEADER", "CHECK_SIZE", "CHECK_FIT", "RUN_WAIT", "READ", "STATUS",
                                        "CLEAR")).any() | (checks & c.args_end_last))
        inside = Cat(st[n] for n in ("ARGS", "PAYLOAD", "DROP")).any() | (checks & ~c.args_end_last)
        m.d.comb += Assert((index <= 4) & Mux(index == 0, between, inside))
        with m.If((index >= 1) & (index <= 3) & (is_run | (is_load & (index == 1)))):
            m.d.comb += Assert(st["ARGS"] & (c.arg_index == index - 1) & (c.is_run == is_run)
                               & (c.final_arg == (is_load | (index == 3))))
        m.d.comb += Assert(~st["ARGS"] | (is_run & (index >= 1) & (index <= 3)) | (is_load & (index == 1)))
        with m.If(Cat(st[n] for n in ("CHECK_LOAD", "LOAD_WAIT", "PAYLOAD")).any()):
            m.d.comb += Assert(is_load)
        with m.If(Cat(st[n] for n in ("CHECK_RUN", "CHECK_SIZE", "CHECK_FIT", "RUN_WAIT")).any()):
            m.d.comb += Assert(is_run)
        with m.If(is_load):
            m.d.comb += Assert(c.loading_weights == (opcode == Opcode.LOAD_WEIGHTS))
        with m.If((index >= 1) & ~(is_run | is_load)):
            m.d.comb += Assert(st["DROP"])
        # A refused command leaves the decoder only in states that refuse it.
        a = c.args
        run_over = a[0].over["run"] | a[1].over["run"] | a[2].over["run"]
        load_over = Mux(c.loading_weights, a[0].over["weights"], a[0].over["acts"])
        refusing = (st["HEADER"] | st["DROP"] | st["ARGS"]
                    | (st["CHECK_LOAD"] & (a[0].zero | load_over | c.args_end_last))
                    | (st["LOAD_WAIT"] & c.args_end_last)
                    | (st["CHECK_RUN"] & (~c.args_end_last | a[0].zero | a[1].zero | a[2].zero | run_over))
                    | (st["READ"] & ~c.pending))
        m.d.comb += Assert(~refused | refusing)
        # A load or a RUN is known refused at its first argument at the earliest.
        m.d.comb += Assert(~(refused & (index == 1) & (is_load | is_run)))
        with m.If(refused & is_run & st["ARGS"]):
            m.d.comb += Assert(a[0].zero | a[0].over["run"]
                               | ((index >= 3) & (a[1].zero | a[1].over["run"])))
        # Nothing happens while a command's arguments come in (the command before it has
        # had all its effects by the cycle its header is taken).
        m.d.comb += Assert(~(st["ARGS"] & seen))
        # A strobe comes the cycle after its decision, when the decoder is back in HEADER.
        m.d.comb += Assert(~(dut.run_start | dut.read_start | dut.status_start) | st["HEADER"])

    def elaborate(self, platform):
        m = Module()
        p = self._params
        dut = _elaborated(m, "decoder", self._decoder, platform)
        c = dut.command
        m.d.comb += [dut.s.payload.data.eq(self.s_data), dut.s.payload.last.eq(self.s_last),
                     dut.s.valid.eq(self.s_valid), dut.sequencer_busy.eq(self.sequencer_busy),
                     dut.responding.eq(self.responding), dut.invalid_weight.eq(self.invalid_weight)]
        _hold_rule(m, dut.s, "s", Assume)
        _decoder_invariants(m, dut)
        # The harness's copy of the decoder's input register.
        data, last = Signal(p.stream_width, name="copy_data"), Signal(name="copy_last")
        with m.If(dut.s.valid & dut.s.ready):
            m.d.sync += [data.eq(self.s_data), last.eq(self.s_last)]
        with m.If(c.beat_valid):
            m.d.comb += Assert((c.beat.data == data) & (c.beat.last == last))
            # ... with the flags the decoder works out as a beat enters.
            m.d.comb += Assert((c.beat.op == Cat(data[:OPCODE_BITS] == op for op in KNOWN_OPCODES))
                               & (c.beat.high == Cat(a.high_bits(data) for a in c.args)))

        # The command being taken: its beat index (saturating), opcode, and arguments.
        take = c.take
        index = Signal(range(5), name="beat_index")
        opcode = Signal(OPCODE_BITS, name="opcode")
        arg = data[:ARG_BITS]
        op = data[:OPCODE_BITS]
        refused = Signal(name="refused")              # the command taken is refused
        refused_now = Signal(name="refused_now")
        header = take & (index == 0)
        is_load = opcode.matches(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS)
        depth = Mux(opcode == Opcode.LOAD_WEIGHTS, p.weight_depth, p.act_depth)
        is_run = opcode == Opcode.RUN
        with m.If(header):
            known = op.matches(*Opcode)
            m.d.comb += refused_now.eq(~known | (op.matches(Opcode.READ_RESULTS, Opcode.READ_STATUS,
                                                            Opcode.CLEAR) & ~last)
                                       | ((op == Opcode.READ_RESULTS) & ~dut.results_pending)
                                       | (op.matches(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS, Opcode.RUN)
                                          & last))
        with m.Elif(take & (index == 1)):
            m.d.comb += refused_now.eq(refused | (is_load & (last | (arg == 0) | (arg > depth)))
                                       | (is_run & (last | (arg == 0) | (arg > p.max_tokens))))
        with m.Elif(take & (index == 2)):
            m.d.comb += refused_now.eq(refused | (is_run & (last | (arg == 0) | (arg > p.max_k))))
        with m.Elif(take & (index == 3)):
            m.d.comb += refused_now.eq(refused | (is_run & (~last | (arg == 0))))
        with m.Else():
            m.d.comb += refused_now.eq(refused)
        with m.If(take):
            m.d.sync += [index.eq(Mux(last, 0, Mux(index == 4, 4, index + 1))), refused.eq(refused_now)]
            with m.If(index == 0):
                m.d.sync += opcode.eq(op)

        # Effects: those of the cycle, and whether any came since the command's header.
        seen = Signal(name="effect_seen")
        self._parse_invariants(m, dut, index, opcode, refused, seen)
        pending, read = Signal(name="pending_at_header"), Signal.like(dut.read, name="read_at_header")
        effect = (dut.weights.en | dut.acts.en | dut.run_start | dut.clear | dut.read_start
                  | dut.status_start | (dut.results_pending != pending)
                  | (dut.read.as_value() != read.as_value()))
        with m.If(header):
            # This cycle's effects are the previous command's (its window ends here).
            m.d.comb += Assert(~(refused & effect))
            m.d.sync += [seen.eq(0), pending.eq(dut.results_pending), read.eq(dut.read)]
        with m.Else():
            m.d.comb += Assert(~(refused_now & (seen | effect)))
            m.d.sync += seen.eq(seen | effect)
        return m


class SequencerResponseHarness(wiring.Component):
    """Every ``RUN`` the sequencer starts ends (``busy`` falls) within :meth:`bound` cycles of
    its shape: ``T * chunks * blocks`` chunks at one per cycle, a wait of at most
    ``fairness`` cycles for the accumulator buffer (``can_claim``) per row block, the unit's
    latency and :data:`OVERHEAD`. The environment: any run the decoder can accept
    (``1 <= T <= max_tokens``, ``1 <= chunks <= max_chunks``, ``1 <= blocks``,
    ``chunks * blocks <= weight_depth``, ``T * chunks <= act_depth``), started any time the sequencer is idle;
    ``can_claim`` low at most ``fairness`` cycles in a row; any memory data. The sequencer
    drives its own matrix unit, as in the accelerator. With ``shape`` (a ``(T, chunks)``
    pair) the bound is asserted only for the runs of that shape (any number of row blocks;
    runs of every shape still happen), the two taken as constants: the solver's arithmetic
    is then linear (the default configuration's proof is out of its reach otherwise).

    For an induction that closes in a few steps whatever the run's length, the harness also
    asserts a *progress measure* (:meth:`_remaining`): from the sequencer's registers, the
    cycles the run still needs at most; with the cycles it has been busy, never more than
    the bound. The measure falls by at least one every busy cycle, so the bound holds."""

    #: The cycles a run takes beyond its chunks, waits and the unit's latency (measured tight).
    OVERHEAD = 2

    def __init__(self, params, fairness, block=Sequencer, shape=None):
        self._params, self._fairness, self._shape = params, fairness, shape
        spec = params.unit
        self._unit = TernaryMatrixUnit(spec.rows, spec.cols, act_bits=spec.act_bits,
                                       max_k=spec.max_k, pipeline=spec.pipeline)
        self._sequencer = block(params, self._unit.signature, self._unit.latency)
        seq = self._sequencer
        super().__init__({"start": In(1), "run": In(run_layout(params)), "can_claim": In(1),
                          "weights_data": In(seq.weights.data.shape()),
                          "acts_data": In(seq.acts.data.shape())})

    def bound(self, run, per_block=None):
        """The cycles ``run`` may keep the sequencer busy (``per_block``: its chunks per row
        block, ``T * chunks``, if already made)."""
        per_block = run.tokens * run.chunks if per_block is None else per_block
        return per_block * run.blocks + run.blocks * self._fairness + self._unit.latency + self.OVERHEAD

    def elaborate(self, platform):
        m = Module()
        p = self._params
        seq = _elaborated(m, "sequencer", self._sequencer, platform)
        unit = m.submodules.unit = self._unit
        wiring.connect(m, seq.unit_i, unit.i)
        wiring.connect(m, unit.o, seq.unit_o)
        m.d.comb += [seq.start.eq(self.start), seq.run.eq(self.run), seq.can_claim.eq(self.can_claim),
                     seq.weights.data.eq(self.weights_data), seq.acts.data.eq(self.acts_data),
                     seq.acc.ready.eq(1)]
        run = self.run
        with m.If(self.start & ~seq.busy):
            m.d.comb += Assume(self._accepted(run))
        waited = _at_most(m, ~self.can_claim, self._fairness, "claim", Assume)
        # The run in progress (the one started last) and the cycles it has been busy.
        taken = Signal.like(self.run, name="taken_run")
        cycles = Signal(16, name="run_cycles")
        with m.If(self.start & ~seq.busy):
            m.d.sync += [taken.eq(run), cycles.eq(0)]
        with m.Elif(seq.busy):
            m.d.sync += cycles.eq(cycles + 1)
        checked, tokens, chunks = seq.busy, taken.tokens, taken.chunks
        if self._shape is None:
            # T x chunks: at most act_depth for an accepted run (asserted), so no wider (for
            # the solver).
            per_block = Signal(range(p.act_depth + 1), name="per_block")
            m.d.comb += per_block.eq(taken.tokens * taken.chunks)
        else:
            # Only runs of this T and chunks are checked, with the two as constants.
            tokens, chunks = self._shape
            checked = checked & (taken.tokens == tokens) & (taken.chunks == chunks)
            per_block = tokens * chunks
        with m.If(checked):
            bound = self.bound(taken, per_block)
            # The run in progress is one that was accepted (the harness's own register: an
            # invariant for the induction step), and it ends in time: the cycles it has been
            # busy and those it still needs (at least this one) stay within its bound.
            m.d.comb += [Assert((cycles < bound) & self._accepted(taken)),
                         Assert(cycles + self._remaining(m, taken, tokens, chunks, per_block, waited)
                                <= bound)]
        m.d.comb += Assert(waited <= self._fairness)
        return m

    def _remaining(self, m, run, tokens, chunks, per_block, waited):
        """The cycles (this one included) the busy sequencer still needs at most to end ``run``,
        ``tokens``, ``chunks``, ``per_block``: its ``T``, ``chunks`` and ``T * chunks``
        (signals, or constants); ``waited``: the cycles ``can_claim`` has been low
        until now. Asserts (while busy) the invariants that make it one: the walk's registers
        agree with ``run``, and after the last chunk is offered the final tag is on its way.

        While chunks are issued: one cycle per chunk still to come (the walk's ``remaining``
        per level, token innermost), ``fairness`` cycles of wait per row block still to
        start (less those already waited if the next chunk starts a block), then the
        unit's latency and :data:`OVERHEAD`. Once the last chunk is offered: the cycles
        until the final tag leaves the delay line, plus one for ``done``."""
        registers, fairness, latency = self._sequencer.registers, self._fairness, self._unit.latency
        walk = registers["walk"]
        through = 1
        for level, limit in (("token", tokens), ("chunk", chunks), ("block", run.blocks)):
            inner = walk.registers[level]
            through = through & walk.last[level]
            m.d.comb += Assert((inner["top"] + 1 == limit) & (inner["single"] == (limit == 1))
                               & (inner["remaining"] <= inner["top"])
                               & (walk.last[level] == (inner["remaining"] == 0))
                               & (inner["through"] == through))
        left = {level: walk.registers[level]["remaining"] for level in ("token", "chunk", "block")}
        # Sums of products of two counters each: nested products (T x (chunk + chunks x
        # block)) were far slower for the solver.
        chunks = 1 + left["token"] + tokens * left["chunk"] + per_block * left["block"]
        waits = fairness * left["block"] + Mux(registers["block_start"], fairness - waited, 0)
        issuing = chunks + waits + latency + self.OVERHEAD
        # The final tag in the delay line (the one furthest on leaves first), or gone: `done`.
        tags = registers["tags"]
        final = [tag.valid & tag.final for tag in tags]
        draining = latency + self.OVERHEAD      # stage 0: the final chunk is being taken
        for stage, here in enumerate(final, start=1):
            draining = Mux(here, latency - stage + self.OVERHEAD, draining)
        offered, done = registers["offered"], registers["done"]
        with m.If(~registers["issuing"] & offered):
            m.d.comb += Assert(registers["offered_tag"].final)
        with m.If(~registers["issuing"] & ~offered & ~done):
            m.d.comb += Assert(Cat(final).any())
        return Mux(registers["issuing"], issuing, Mux(done, 1, draining))

    @staticmethod
    def run_shapes(params):
        """Every ``(T, chunks)`` of a run the decoder accepts (:meth:`_accepted` with one row
        block): the shapes ``shape=`` can take, which together cover every run."""
        return [(tokens, chunks) for tokens in range(1, params.max_tokens + 1)
                for chunks in range(1, max_chunks(params) + 1)
                if tokens * chunks <= params.act_depth and chunks <= params.weight_depth]

    def _accepted(self, run):
        """``run`` is one the command decoder can hand over."""
        p = self._params
        return ((run.tokens >= 1) & (run.tokens <= p.max_tokens) & (run.chunks >= 1)
                & (run.chunks <= max_chunks(p)) & (run.blocks >= 1)
                & (run.last_cols >= 1) & (run.last_cols <= p.cols)
                & (run.last_rows >= 1) & (run.last_rows <= p.rows)
                & (run.chunks * run.blocks <= p.weight_depth)
                & (run.tokens * run.chunks <= p.act_depth))
