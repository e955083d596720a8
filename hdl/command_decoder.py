"""Command decoder: parses host commands from the input stream, loads the banks, dispatches."""

from contextlib import contextmanager

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import (ACT_BANK_BIT, ARG_BITS, ARGUMENTS, ERROR_BITS, ERROR_SET_BITS,
                             OPCODE_BITS, WEIGHT_BANK_BIT, ErrorCode, Opcode)
from .activation_buffer import chunk_layout
from .arith import divide_const
from .banked_memory import write_signature
from .sequencer import max_chunks, run_layout
from .reset import hold_low_in_reset

__all__ = ["beat_layout", "read_layout", "CommandDecoder"]


def beat_layout(width):
    """One AXI4-Stream beat: ``data`` (``tdata``) and ``last`` (``tlast``)."""
    return StructLayout({"data": width, "last": 1})


def read_layout(params):
    """What the result packer needs to stream a run's results."""
    return StructLayout({"tokens": range(params.max_tokens + 1),
                         "blocks": range(params.weight_depth + 1)})


#: The decoder's states; HEADER is the reset state.
STATES = ("HEADER", "ARGS", "CHECK_LOAD", "LOAD_WAIT", "PAYLOAD", "CHECK_RUN", "CHECK_SIZE",
          "CHECK_FIT", "RUN_WAIT", "READ", "STATUS", "CLEAR", "DROP")
#: The decoder's states that take beats from the input register.
CONSUMING_STATES = ("HEADER", "ARGS", "PAYLOAD", "DROP")

#: The opcodes the decoder knows, in the order of ``front_layout``'s ``op`` bits.
KNOWN_OPCODES = (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS, Opcode.RUN, Opcode.READ_RESULTS,
                 Opcode.READ_STATUS, Opcode.CLEAR)


def front_layout(width):
    """A beat in the decoder's input register: the beat, its opcode bits as one flag per
    known opcode (:data:`KNOWN_OPCODES`; all 0: unknown) and, per argument, whether bits
    above the argument's width are set (:meth:`_Argument.high_bits`)."""
    return StructLayout({"data": width, "last": 1, "op": len(KNOWN_OPCODES), "high": 3})


def _split(whole, rest, part):
    """From ``(size // part, size % part)`` (:func:`~tritforge.hdl.arith.divide_const`, no
    divider cell), for ``size >= 1``: ``(ceil(size / part), items in the last part)``."""
    return whole + (rest != 0), Mux(rest == 0, part, rest)


class _Argument:
    """One 32-bit argument, kept as the bits an accepted value can have, and its checks
    (zero, above each of its limits) as flags, found in two steps: whether any bit above
    those is set as its beat enters the input register, the rest as it is captured. The
    checks in the states then read flags, not 32-bit comparisons, with the same outcome."""

    def __init__(self, index, limits):
        self.limits = dict(limits)
        self.width = max(max(self.limits.values()), 1).bit_length()
        self.value = Signal(self.width, name=f"arg{index}")
        self.zero = Signal(name=f"arg{index}_zero")
        self.over = {name: Signal(name=f"arg{index}_over_{name}") for name in self.limits}

    def high_bits(self, data):
        """Any bit of the 32 bits ``data`` above the argument's width is set."""
        return data[self.width:ARG_BITS].any()

    def capture(self, data, high):
        """Assignments that take the argument and its checks from the 32 bits ``data``
        (``high``: its :meth:`high_bits`)."""
        low = data[:self.width]
        return [self.value.eq(low), self.zero.eq(~high & (low == 0)),
                *(self.over[name].eq(high | (low > limit)) for name, limit in self.limits.items())]


class _Command:
    """The registers the decoder's states share (one :class:`CommandDecoder` elaboration)."""

    def __init__(self, p):
        # The command being parsed: its kind (flags from the header's opcode) and arguments.
        self.is_run = Signal()
        self.loading_weights = Signal()
        self.weight_bank, self.act_bank = Signal(name="weight_bank"), Signal(name="act_bank")
        # Argument 0 is a load's count or a RUN's T, 1 and 2 are a RUN's K and N.
        self.args = [_Argument(0, {"run": p.max_tokens, "weights": p.weight_depth, "acts": p.act_depth}),
                     _Argument(1, {"run": min(p.max_k, max_chunks(p) * p.cols)}),
                     _Argument(2, {"run": p.weight_depth * p.rows})]
        self.arg_index = Signal(range(3))
        self.final_arg = Signal()            # the next argument beat is the command's last
        self.args_end_last = Signal()        # tlast came with the final argument
        # The error raised by the current command this cycle: each state raises its own, and
        # `fail` is their OR (one state at a time), not a priority chain across states.
        self.fails = {name: Signal(ErrorCode, name=f"fail_{name.lower()}") for name in STATES}
        self.fail = Signal(ErrorCode)

        # RUN bookkeeping: the run being checked (handed to the sequencer when accepted);
        # the banks and size of the last run handed over; whether its results are requested.
        self.run = Signal(run_layout(p))
        self.run_weight_bank, self.run_act_bank = (Signal(name="run_weight_bank"),
                                                   Signal(name="run_act_bank"))
        self.read = Signal(read_layout(p))
        self.pending = Signal()
        # The tiling of the RUN being checked (CHECK_RUN computes it, CHECK_SIZE uses it).
        self.chunks = Signal(range(max_chunks(p) + 1))
        self.blocks = Signal(range(p.weight_depth + 1))
        # The capacity rule's bounds for this many chunks (looked up in CHECK_RUN).
        self.most_blocks = Signal(range(p.weight_depth + 1))
        self.most_tokens = Signal(range(p.act_depth + 1))
        # CHECK_SIZE's comparisons, for CHECK_FIT.
        self.too_many_blocks, self.too_many_tokens = Signal(), Signal()
        self.sequencer_busy = Signal()       # running, or about to start

        # Loads: items still to come, where the next one goes, the beats held of it; the
        # state logic's conditions, kept in registers alongside the counts they follow.
        self.items_left = Signal(range(max(p.weight_depth, p.act_depth) + 1))
        self.last_item = Signal()            # items_left == 1
        self.item_ends = Signal()            # the next payload beat is its item's last
        self.bank_in_use = Signal()          # the load's bank is the last RUN's
        self.item_addr = Signal(range(max(p.weight_depth, p.act_depth)))
        self.beat_index = Signal(range(max(p.tile_beats, p.chunk_beats)))
        self.held = [Signal(p.stream_width, name=f"held{i}")
                     for i in range(max(p.tile_beats, p.chunk_beats))]
        self.item_done = Signal()            # an item's last beat is taken this cycle

        # The beat being parsed, from the input register, with what the header and
        # argument checks need already worked out as it entered (`front_layout`).
        self.beat = Signal(front_layout(p.stream_width), name="front")
        self.beat_valid = Signal(name="front_valid")
        # The state, one flip-flop per state (one-hot): a state's logic starts from its own
        # flip-flop, and a state's next value is an OR of the transitions into it, not a
        # decoding of an encoded state (Yosys does not re-encode a state register that has
        # an initial value). HEADER, the reset state, takes beats: see `goto`.
        self.states = {name: Signal(init=name == "HEADER", name=f"in_{name.lower()}")
                       for name in STATES}
        self.consuming = Signal(init=1)
        self.take = self.beat_valid & self.consuming
        self._current = None

    @contextmanager
    def state(self, m, name):
        """The logic of state ``name`` (the ``with`` body), active while in it."""
        self._current = name
        with m.If(self.states[name]):
            yield
        self._current = None

    def goto(self, m, state):
        """Go from the current state to ``state`` at the next edge; ``consuming`` follows,
        so that whether the decoder takes a beat is a register too."""
        if state != self._current:
            m.d.sync += [self.states[self._current].eq(0), self.states[state].eq(1)]
        m.d.sync += self.consuming.eq(state in CONSUMING_STATES)

    def raise_error(self, m, error):
        """The current state raises ``error`` this cycle."""
        m.d.comb += self.fails[self._current].eq(error)

    def combine_errors(self, m):
        """``fail``: the OR of the states' own (one state at a time)."""
        fail = 0
        for name in STATES:
            fail = fail | self.fails[name]
        m.d.comb += self.fail.eq(fail)

    def refuse(self, m, error, then):
        """Refuse the command with ``error`` and go to state ``then``: ``"DROP"`` while beats
        of it are still to come, ``"HEADER"`` once its ``tlast`` has arrived."""
        self.raise_error(m, error)
        self.goto(m, then)

    def refuse_rest(self, m, error):
        """Refuse the command with ``error`` after its last argument: drop its payload up to
        ``tlast``, unless ``tlast`` came with that argument."""
        with m.If(self.args_end_last):
            self.refuse(m, error, "HEADER")
        with m.Else():
            self.refuse(m, error, "DROP")


class CommandDecoder(wiring.Component):
    """Parses the command stream (:mod:`tritforge.spec.protocol`) and executes each command.

    Every beat enters an input register first (``s.ready`` is high while the register is
    empty or its beat is being taken): the states act on a beat one cycle after it arrives,
    at one beat per cycle. Loads are written to the banks at stream rate (an item is
    written two cycles after its last beat arrives). ``RUN`` is checked in the two cycles
    after its last argument is parsed and handed to the sequencer in the third, or as soon
    as it is idle; the decoder goes on with the next command meanwhile. ``READ_RESULTS`` and ``READ_STATUS`` are handed to the
    packers once no response is being sent; ``CLEAR`` waits for the same and then pulses
    ``clear`` (the accelerator resets its datapath, counters, the error and the pending
    results with it). Errors follow :class:`~tritforge.spec.protocol.ErrorCode`: the command
    is refused, its remaining beats up to ``tlast`` are dropped one per cycle.

    Reset: ``s.ready`` is low while ``rst`` is high (no beat is taken); then the decoder
    waits for a header with no error, no pending results, its strobes low.

    The ``RUN`` checks use no multiplier (no DSP block) and no divider: ``chunks``,
    ``last_cols`` (``blocks``, ``last_rows``) come from the quotient and remainder of ``K``
    by ``cols`` (``N`` by ``rows``), a bit slice for a power of two, else a long division by
    the constant (:func:`~tritforge.hdl.arith.divide_const`); the capacity rule
    ``chunks * blocks <= weight_depth``, ``tokens * chunks <= act_depth`` compares ``blocks``
    and ``tokens`` with constant tables of ``depth // chunks``.

    Parameters
    ----------
    params : AcceleratorParams

    Members
    -------
    s : ``In(stream.Signature(beat_layout(stream_width)))``
        Commands from the host.
    weights : ``Out(write_signature(weight_depth, tile_bits))``
    acts : ``Out(write_signature(act_depth, chunk_layout(cols, act_bits)))``
    run_start : ``Out(1)``, run : ``Out(run_layout(params))``
        Start strobe to the sequencer, from a register: it comes the cycle after the decoder
        finds the sequencer idle (``sequencer_busy`` low a cycle before) and the run
        accepted; the decoder counts the sequencer busy from that decision on.
    sequencer_busy : ``In(1)``
    read_start : ``Out(1)``, read : ``Out(read_layout(params))``
        Start strobe to the result packer, from a register: it comes the cycle after the
        decoder finds ``responding`` low.
    status_start : ``Out(1)``
        Start strobe to the status packer, from a register, as ``read_start``.
    responding : ``In(1)``
        A response packet is being sent.
    clear : ``Out(1)``
        ``CLEAR`` strobe.
    invalid_weight : ``In(1)``
        Raises :attr:`ErrorCode.INVALID_WEIGHT`.
    error : ``Out(ERROR_BITS)``
        The first error since reset or ``CLEAR`` (0: none).
    errors : ``Out(16)``
        Bit ``e`` set when error ``e`` happened since reset or ``CLEAR``.
    results_pending : ``Out(1)``
        A ``RUN`` was accepted and its results not yet requested.
    """

    def __init__(self, params):
        check_params(params)
        self._params = params
        super().__init__({
            "s": In(stream.Signature(beat_layout(params.stream_width))),
            "weights": Out(write_signature(params.weight_depth, params.tile_bits)),
            "acts": Out(write_signature(params.act_depth, chunk_layout(params.cols, params.act_bits))),
            "run_start": Out(1),
            "run": Out(run_layout(params)),
            "sequencer_busy": In(1),
            "read_start": Out(1),
            "read": Out(read_layout(params)),
            "status_start": Out(1),
            "responding": In(1),
            "clear": Out(1),
            "invalid_weight": In(1),
            "error": Out(ERROR_BITS),
            "errors": Out(ERROR_SET_BITS),
            "results_pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = _Command(self._params)
        # The start strobe is a register (a short path to the sequencer's many loads), and
        # so is the sequencer's busy as the decoder sees it (a short path into this state
        # logic). Between them the sequencer shows busy two cycles after the strobe:
        # `started` covers those.
        started = Signal(2)
        busy = Signal()
        m.d.sync += [self.run_start.eq(0), self.read_start.eq(0), self.status_start.eq(0),
                     started.eq(Cat(self.run_start, started[0])),
                     busy.eq(self.sequencer_busy)]
        m.d.comb += c.sequencer_busy.eq(busy | self.run_start | started.any())
        m.d.comb += [self.run.eq(c.run), self.results_pending.eq(c.pending), self.read.eq(c.read)]
        self._front(m, c)
        self._drive_writes(m, c)
        self._header_states(m, c)
        self._load_states(m, c)
        self._run_states(m, c)
        self._response_states(m, c)
        self._drop_state(m, c)
        c.combine_errors(m)
        self._latch_errors(m, c.fail)
        hold_low_in_reset(m, self.s.ready)
        return m

    def _front(self, m, c):
        """The input register: a beat enters while the register is empty or its beat is
        taken, so the link runs at one beat per cycle; the states see the beat a cycle
        after it arrives. The opcode and argument range flags are found here, on the
        input side, so that the states' next-state logic starts from flags."""
        room = ~c.beat_valid | c.consuming
        enter = self.s.valid & room
        data = self.s.payload.data
        m.d.comb += self.s.ready.eq(room)
        with m.If(enter):
            m.d.sync += [c.beat_valid.eq(1), c.beat.data.eq(data), c.beat.last.eq(self.s.payload.last),
                         c.beat.op.eq(Cat(data[:OPCODE_BITS] == op for op in KNOWN_OPCODES)),
                         c.beat.high.eq(Cat(argument.high_bits(data) for argument in c.args))]
        with m.Elif(c.take):
            m.d.sync += c.beat_valid.eq(0)

    def _header_states(self, m, c):
        """HEADER takes the opcode and banks; ARGS takes the argument beats into ``args``."""
        beat, take = c.beat, c.take
        op = dict(zip(KNOWN_OPCODES, beat.op))
        with c.state(m, "HEADER"):
            with m.If(take):
                m.d.sync += [c.is_run.eq(op[Opcode.RUN]), c.loading_weights.eq(op[Opcode.LOAD_WEIGHTS]),
                             c.final_arg.eq(~op[Opcode.RUN]), c.arg_index.eq(0),
                             c.weight_bank.eq(beat.data[WEIGHT_BANK_BIT]),
                             c.act_bank.eq(beat.data[ACT_BANK_BIT])]
                with m.If(op[Opcode.LOAD_WEIGHTS] | op[Opcode.LOAD_ACTS] | op[Opcode.RUN]):
                    with m.If(beat.last):
                        c.raise_error(m, ErrorCode.LENGTH)
                    with m.Else():
                        c.goto(m, "ARGS")
                for opcode, state in ((Opcode.READ_RESULTS, "READ"), (Opcode.READ_STATUS, "STATUS"),
                                      (Opcode.CLEAR, "CLEAR")):
                    with m.Elif(op[opcode]):
                        with m.If(beat.last):
                            c.goto(m, state)
                        with m.Else():
                            c.refuse(m, ErrorCode.LENGTH, "DROP")
                with m.Else():
                    c.raise_error(m, ErrorCode.OPCODE)
                    with m.If(~beat.last):
                        c.goto(m, "DROP")

        with c.state(m, "ARGS"):
            final_arg = c.final_arg
            with m.If(take):
                m.d.sync += [c.arg_index.eq(c.arg_index + 1), c.args_end_last.eq(beat.last),
                             c.final_arg.eq(c.arg_index == len(ARGUMENTS[Opcode.RUN]) - 2)]
                with m.Switch(c.arg_index):
                    for index, argument in enumerate(c.args):
                        with m.Case(index):
                            m.d.sync += argument.capture(beat.data, beat.high[index])
                # Values are checked before the payload's length: a load whose tlast
                # comes with its count goes on to the checks too.
                with m.If(final_arg & c.is_run):
                    c.goto(m, "CHECK_RUN")
                with m.Elif(final_arg):
                    c.goto(m, "CHECK_LOAD")
                with m.Elif(beat.last):
                    c.refuse(m, ErrorCode.LENGTH, "HEADER")

    def _load_states(self, m, c):
        """CHECK_LOAD checks the size, LOAD_WAIT the bank, PAYLOAD writes one item per
        ``item_beats`` beats."""
        p = self._params
        beat, take = c.beat, c.take
        with c.state(m, "CHECK_LOAD"):
            count = c.args[0]
            item_beats = Mux(c.loading_weights, p.tile_beats, p.chunk_beats)
            in_use = Mux(c.loading_weights, c.run_weight_bank == c.weight_bank,
                         c.run_act_bank == c.act_bank)
            m.d.sync += [c.items_left.eq(count.value), c.item_addr.eq(0), c.beat_index.eq(0),
                         c.last_item.eq(count.value == 1), c.item_ends.eq(item_beats == 1),
                         c.bank_in_use.eq(in_use)]
            with m.If(count.zero):
                c.refuse_rest(m, ErrorCode.ZERO_SIZE)
            with m.Elif(Mux(c.loading_weights, count.over["weights"], count.over["acts"])):
                c.refuse_rest(m, ErrorCode.CAPACITY)
            with m.Else():
                c.goto(m, "LOAD_WAIT")

        with c.state(m, "LOAD_WAIT"):
            # A bank the sequencer reads: wait for the run to end if its results are
            # requested, else refuse (waiting for a run nobody reads could deadlock).
            # The banks compared in CHECK_LOAD stay put: only a RUN changes the run's.
            in_use = c.bank_in_use
            with m.If(c.pending & in_use):
                c.refuse_rest(m, ErrorCode.BANK_BUSY)
            with m.Elif(c.args_end_last):
                c.refuse(m, ErrorCode.LENGTH, "HEADER")      # no payload at all
            with m.Elif(~(c.sequencer_busy & in_use)):
                c.goto(m, "PAYLOAD")

        with c.state(m, "PAYLOAD"):
            item_beats = Mux(c.loading_weights, p.tile_beats, p.chunk_beats)
            with m.If(take):
                m.d.sync += Array(c.held)[c.beat_index].eq(beat.data)
                with m.If(c.item_ends):
                    m.d.comb += c.item_done.eq(1)
                    m.d.sync += [c.beat_index.eq(0), c.item_addr.eq(c.item_addr + 1),
                                 c.items_left.eq(c.items_left - 1), c.last_item.eq(c.items_left == 2),
                                 c.item_ends.eq(item_beats == 1)]
                    with m.If(c.last_item):
                        with m.If(beat.last):
                            c.goto(m, "HEADER")
                        with m.Else():
                            c.refuse(m, ErrorCode.LENGTH, "DROP")
                    with m.Elif(beat.last):
                        c.refuse(m, ErrorCode.LENGTH, "HEADER")
                with m.Else():
                    m.d.sync += [c.beat_index.eq(c.beat_index + 1),
                                 c.item_ends.eq(c.beat_index == item_beats - 2)]
                    with m.If(beat.last):
                        c.refuse(m, ErrorCode.LENGTH, "HEADER")

    def _run_states(self, m, c):
        """CHECK_RUN checks the sizes and computes the tiling, CHECK_SIZE compares with the
        capacity, CHECK_FIT refuses or hands the run to the sequencer (RUN_WAIT until it is
        idle)."""
        p = self._params
        tokens, k, n = c.args[0], c.args[1], c.args[2]
        # The tiling, from the arguments (they stay put through both check states). Only
        # the bits of an accepted K and N enter the divisions.
        whole_chunks, rest_cols = divide_const(m, k.value, p.cols)
        chunks, last_cols = _split(whole_chunks, rest_cols, p.cols)
        blocks, last_rows = _split(*divide_const(m, n.value, p.rows), p.rows)
        # The capacity rule chunks * blocks <= weight_depth, tokens * chunks <= act_depth
        # without a multiplier: for c >= 1, c * x > D exactly when x > D // c, a constant
        # per c. The two bounds are looked up here and compared in CHECK_SIZE. The tables
        # are indexed by the whole chunks, one table for a K with a partial chunk after
        # them and one without, not by their sum: the lookup then starts from K's bits, not
        # from the end of a carry chain. (One table of twice the size would become a ROM in
        # block RAM, which the iCEBreaker has none left of.)
        whole_index = whole_chunks[:len(c.chunks)]   # exact for every K that passes CHECK_RUN

        def bound(depth):
            tables = [Array(depth // max(whole + partial, 1) for whole in range(2 ** len(c.chunks)))
                      for partial in (0, 1)]
            return Mux(rest_cols != 0, tables[1][whole_index], tables[0][whole_index])
        with c.state(m, "CHECK_RUN"):
            m.d.sync += [c.chunks.eq(chunks), c.blocks.eq(blocks),
                         c.most_blocks.eq(bound(p.weight_depth)),
                         c.most_tokens.eq(bound(p.act_depth))]
            with m.If(~c.args_end_last):
                c.refuse(m, ErrorCode.LENGTH, "DROP")
            with m.Elif(tokens.zero | k.zero | n.zero):
                c.refuse(m, ErrorCode.ZERO_SIZE, "HEADER")
            # K beyond what any bank holds (ceil(K / cols) > max_chunks) is refused here,
            # before `chunks`, sized for max_chunks, could wrap around.
            with m.Elif(tokens.over["run"] | k.over["run"] | n.over["run"]):
                c.refuse(m, ErrorCode.CAPACITY, "HEADER")
            with m.Else():
                c.goto(m, "CHECK_SIZE")

        with c.state(m, "CHECK_SIZE"):
            # The comparisons are registered for CHECK_FIT to act on: comparing and
            # deciding in one cycle was the top's longest path.
            m.d.sync += [c.too_many_blocks.eq(c.blocks > c.most_blocks),
                         c.too_many_tokens.eq(tokens.value > c.most_tokens),
                         c.run.tokens.eq(tokens.value), c.run.chunks.eq(c.chunks),
                         c.run.blocks.eq(c.blocks), c.run.last_cols.eq(last_cols),
                         c.run.last_rows.eq(last_rows), c.run.weight_bank.eq(c.weight_bank),
                         c.run.act_bank.eq(c.act_bank)]
            c.goto(m, "CHECK_FIT")

        with c.state(m, "CHECK_FIT"):
            # `run` is taken whatever the checks decide: only a run handed over replaces
            # the size a pending READ_RESULTS streams (`read`).
            # (A zero `chunks` cannot reach here: K = 0 is refused in CHECK_RUN, and its
            # table entries, the whole banks, would refuse nothing anyway.)
            with m.If(c.too_many_blocks | c.too_many_tokens):
                c.refuse(m, ErrorCode.CAPACITY, "HEADER")
            with m.Elif(c.pending):
                c.refuse(m, ErrorCode.RESULTS_PENDING, "HEADER")
            with m.Elif(~c.sequencer_busy):
                self._start_run(m, c)
            with m.Else():
                c.goto(m, "RUN_WAIT")

        with c.state(m, "RUN_WAIT"):
            with m.If(~c.sequencer_busy):
                self._start_run(m, c)

    def _start_run(self, m, c):
        """Hand ``run`` to the idle sequencer (the strobe next cycle); its results are now
        pending."""
        m.d.sync += self.run_start.eq(1)
        m.d.sync += [c.pending.eq(1), c.run_weight_bank.eq(c.run.weight_bank),
                     c.run_act_bank.eq(c.run.act_bank), c.read.tokens.eq(c.run.tokens),
                     c.read.blocks.eq(c.run.blocks)]
        c.goto(m, "HEADER")

    def _response_states(self, m, c):
        """READ, STATUS and CLEAR wait until no response packet is being sent. The packers'
        start strobes are registers (each fans out to a whole packer), and so is
        ``responding`` as the decoder sees it (the packers' state, far away): a packet counts
        as being sent from the decision on, through the two cycles before it shows."""
        seen, strobed = Signal(), Signal()
        m.d.sync += [seen.eq(self.responding), strobed.eq(self.read_start | self.status_start)]
        responding = seen | strobed | self.read_start | self.status_start
        with c.state(m, "READ"):
            with m.If(~c.pending):
                c.refuse(m, ErrorCode.NO_RESULTS, "HEADER")
            with m.Elif(~responding):
                m.d.sync += [self.read_start.eq(1), c.pending.eq(0)]
                c.goto(m, "HEADER")

        with c.state(m, "STATUS"):
            with m.If(~responding):
                m.d.sync += self.status_start.eq(1)
                c.goto(m, "HEADER")

        with c.state(m, "CLEAR"):
            with m.If(~responding):
                m.d.comb += self.clear.eq(1)
                m.d.sync += c.pending.eq(0)
                c.goto(m, "HEADER")

    def _drop_state(self, m, c):
        """DROP discards a refused command's beats up to ``tlast``."""
        with c.state(m, "DROP"):
            with m.If(c.take & c.beat.last):
                c.goto(m, "HEADER")

    def _drive_writes(self, m, c):
        """An item is written the cycle after its last beat is taken, from registers only
        (its beats, first beat lowest, the strobe, the address): the strobe reaches every
        block RAM of a bank, too far to follow the state logic in the same cycle. A bank
        written this late is still idle: no RUN is parsed that soon after a load."""
        p = self._params
        write_weights, write_acts = Signal(), Signal()
        addr, weight_bank, act_bank = Signal.like(c.item_addr), Signal(), Signal()
        m.d.sync += [write_weights.eq(c.item_done & c.loading_weights),
                     write_acts.eq(c.item_done & ~c.loading_weights),
                     addr.eq(c.item_addr), weight_bank.eq(c.weight_bank), act_bank.eq(c.act_bank)]
        m.d.comb += [
            self.weights.en.eq(write_weights), self.weights.bank.eq(weight_bank),
            self.weights.addr.eq(addr), self.weights.data.eq(Cat(*c.held)[:p.tile_bits]),
            self.acts.en.eq(write_acts), self.acts.bank.eq(act_bank),
            self.acts.addr.eq(addr), self.acts.data.eq(Cat(*c.held)[:p.chunk_bits]),
        ]

    def _latch_errors(self, m, fail_now):
        """Keep the first error and the set of all errors until ``CLEAR``. An error is
        registered first and latched a cycle later (the checks that raise it are long
        enough already); no command can read the status or clear it in between.

        ``CLEAR`` acts through a register too (its decision waits for the packers, far
        away): the errors registered in the ``CLEAR`` cycle are dropped with the rest, and
        one registered a cycle before is latched and then cleared. Either way nothing of
        the ``CLEAR`` cycle or before survives it, and a status read comes later."""
        fail, invalid_weight = Signal(ErrorCode, name="failed"), Signal()
        failed = Signal()                     # fail != NONE, registered alongside
        latched = Signal()                    # error != 0, kept alongside
        cleared = Signal()                    # clear, a cycle later: beside fail / invalid_weight
        m.d.sync += [fail.eq(fail_now), failed.eq(fail_now != ErrorCode.NONE),
                     invalid_weight.eq(self.invalid_weight), cleared.eq(self.clear)]
        with m.If(cleared):
            m.d.sync += [self.error.eq(0), self.errors.eq(0), latched.eq(0)]
        with m.Else():
            with m.If(~latched & (failed | invalid_weight)):
                m.d.sync += [self.error.eq(Mux(failed, fail, ErrorCode.INVALID_WEIGHT)),
                             latched.eq(1)]
            m.d.sync += self.errors.eq(self.errors | failed << fail
                                       | invalid_weight << ErrorCode.INVALID_WEIGHT)
