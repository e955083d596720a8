"""Command decoder: parses host commands from the input stream, loads the banks, dispatches."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import (ACT_BANK_BIT, ARG_BITS, ARGUMENTS, ERROR_SET_BITS, OPCODE_BITS,
                             WEIGHT_BANK_BIT, ErrorCode, Opcode)
from .activation_buffer import chunk_layout
from .arith import times_const
from .banked_memory import write_signature
from .sequencer import max_chunks, run_layout

__all__ = ["beat_layout", "read_layout", "CommandDecoder"]


def beat_layout(width):
    """One AXI4-Stream beat: ``data`` (``tdata``) and ``last`` (``tlast``)."""
    return StructLayout({"data": width, "last": 1})


def read_layout(params):
    """What the result packer needs to stream a run's results."""
    return StructLayout({"tokens": range(params.max_tokens + 1),
                         "blocks": range(params.weight_depth + 1)})


class CommandDecoder(wiring.Component):
    """Parses the command stream (:mod:`tritforge.spec.protocol`) and executes each command.

    Loads are written to the banks at stream rate (one beat per cycle; an item is written
    in the cycle its last beat arrives). ``RUN`` is checked in two cycles after its last
    argument, then handed to the sequencer as soon as it is idle; the decoder goes on with
    the next command meanwhile. ``READ_RESULTS`` and ``READ_STATUS`` are handed to the
    packers once no response is being sent; ``CLEAR`` waits for the same and then pulses
    ``clear`` (the accelerator resets its datapath, counters, the error and the pending
    results with it). Errors follow :class:`~tritforge.spec.protocol.ErrorCode`: the command
    is refused, its remaining beats up to ``tlast`` are dropped one per cycle.

    The ``RUN`` checks use no multiplier (no DSP block): the capacity rule
    ``chunks * blocks <= weight_depth``, ``tokens * chunks <= act_depth`` compares ``blocks``
    and ``tokens`` with constant tables of ``depth // chunks``, and ``last_cols``,
    ``last_rows`` subtract ``(chunks - 1) * cols``, ``(blocks - 1) * rows`` built by shifts
    and adds (:func:`~tritforge.hdl.arith.times_const`).

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
        Start strobe to the sequencer (issued only while ``sequencer_busy`` is low).
    sequencer_busy : ``In(1)``
    read_start : ``Out(1)``, read : ``Out(read_layout(params))``
        Start strobe to the result packer (issued only while ``responding`` is low).
    status_start : ``Out(1)``
        Start strobe to the status packer (issued only while ``responding`` is low).
    responding : ``In(1)``
        A response packet is being sent.
    clear : ``Out(1)``
        ``CLEAR`` strobe.
    invalid_weight : ``In(1)``
        Raises :attr:`ErrorCode.INVALID_WEIGHT`.
    error : ``Out(8)``
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
            "error": Out(8),
            "errors": Out(ERROR_SET_BITS),
            "results_pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        beat = self.s.payload
        take = self.s.valid & self.s.ready

        opcode = Signal(OPCODE_BITS)
        weight_bank, act_bank = Signal(), Signal()
        args = Array(Signal(ARG_BITS, name=f"arg{i}") for i in range(3))
        arg_index = Signal(range(3))
        args_end_last = Signal()            # tlast came with the final argument
        fail = Signal(ErrorCode)            # error raised by the current command this cycle

        # RUN bookkeeping: the accepted run, its banks, whether its results are requested.
        run = Signal(run_layout(p))
        run_weight_bank, run_act_bank = Signal(), Signal()
        pending = Signal()
        m.d.comb += [self.run.eq(run), self.results_pending.eq(pending),
                     self.read.tokens.eq(run.tokens), self.read.blocks.eq(run.blocks)]

        loading_weights = opcode == Opcode.LOAD_WEIGHTS
        items_left = Signal(range(max(p.weight_depth, p.act_depth) + 1))
        item_addr = Signal(range(max(p.weight_depth, p.act_depth)))
        beat_index = Signal(range(max(p.tile_beats, p.chunk_beats)))
        item_beats = Mux(loading_weights, p.tile_beats, p.chunk_beats)
        held = [Signal(p.stream_width, name=f"held{i}")
                for i in range(max(p.tile_beats, p.chunk_beats) - 1)]
        self._drive_writes(m, held, weight_bank, act_bank, item_addr, loading_weights)
        item_done = Signal()

        chunks = Signal(range(max_chunks(p) + 1))
        blocks = Signal(range(p.weight_depth + 1))
        tokens, k, n = args[0], args[1], args[2]

        with m.FSM():
            with m.State("HEADER"):
                m.d.comb += self.s.ready.eq(1)
                with m.If(take):
                    m.d.sync += [opcode.eq(beat.data[:OPCODE_BITS]), arg_index.eq(0),
                                 weight_bank.eq(beat.data[WEIGHT_BANK_BIT]),
                                 act_bank.eq(beat.data[ACT_BANK_BIT])]
                    with m.Switch(beat.data[:OPCODE_BITS]):
                        with m.Case(Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS, Opcode.RUN):
                            with m.If(beat.last):
                                m.d.comb += fail.eq(ErrorCode.LENGTH)
                            with m.Else():
                                m.next = "ARGS"
                        for op, state in ((Opcode.READ_RESULTS, "READ"), (Opcode.READ_STATUS, "STATUS"),
                                          (Opcode.CLEAR, "CLEAR")):
                            with m.Case(op):
                                with m.If(beat.last):
                                    m.next = state
                                with m.Else():
                                    m.d.comb += fail.eq(ErrorCode.LENGTH)
                                    m.next = "DROP"
                        with m.Default():
                            m.d.comb += fail.eq(ErrorCode.OPCODE)
                            with m.If(~beat.last):
                                m.next = "DROP"

            with m.State("ARGS"):
                m.d.comb += self.s.ready.eq(1)
                final_arg = arg_index == Mux(opcode == Opcode.RUN, len(ARGUMENTS[Opcode.RUN]) - 1, 0)
                with m.If(take):
                    m.d.sync += [args[arg_index].eq(beat.data[:ARG_BITS]), arg_index.eq(arg_index + 1),
                                 args_end_last.eq(beat.last)]
                    with m.If(final_arg & (opcode == Opcode.RUN)):
                        m.next = "CHECK_RUN"
                    with m.Elif(beat.last):
                        m.d.comb += fail.eq(ErrorCode.LENGTH)
                        m.next = "HEADER"
                    with m.Elif(final_arg):
                        m.next = "CHECK_LOAD"

            with m.State("CHECK_LOAD"):
                depth = Mux(loading_weights, p.weight_depth, p.act_depth)
                m.d.sync += [items_left.eq(args[0]), item_addr.eq(0), beat_index.eq(0)]
                with m.If(args[0] == 0):
                    m.d.comb += fail.eq(ErrorCode.ZERO_SIZE)
                    m.next = "DROP"
                with m.Elif(args[0] > depth):
                    m.d.comb += fail.eq(ErrorCode.CAPACITY)
                    m.next = "DROP"
                with m.Else():
                    m.next = "LOAD_WAIT"

            with m.State("LOAD_WAIT"):
                in_use = Mux(loading_weights, run_weight_bank == weight_bank, run_act_bank == act_bank)
                with m.If(pending & in_use):
                    m.d.comb += fail.eq(ErrorCode.BANK_BUSY)
                    m.next = "DROP"
                with m.Elif(~(self.sequencer_busy & in_use)):
                    m.next = "PAYLOAD"

            with m.State("PAYLOAD"):
                m.d.comb += self.s.ready.eq(1)
                with m.If(take):
                    with m.If(beat_index == item_beats - 1):
                        m.d.comb += item_done.eq(1)
                        m.d.sync += [beat_index.eq(0), item_addr.eq(item_addr + 1),
                                     items_left.eq(items_left - 1)]
                        with m.If(items_left == 1):
                            with m.If(beat.last):
                                m.next = "HEADER"
                            with m.Else():
                                m.d.comb += fail.eq(ErrorCode.LENGTH)
                                m.next = "DROP"
                        with m.Elif(beat.last):
                            m.d.comb += fail.eq(ErrorCode.LENGTH)
                            m.next = "HEADER"
                    with m.Else():
                        m.d.sync += beat_index.eq(beat_index + 1)
                        if held:
                            m.d.sync += Array(held)[beat_index].eq(beat.data)
                        with m.If(beat.last):
                            m.d.comb += fail.eq(ErrorCode.LENGTH)
                            m.next = "HEADER"

            with m.State("CHECK_RUN"):
                k_max_bits = len(Signal(range(p.max_k + 1)))
                n_max_bits = len(Signal(range(p.weight_depth * p.rows + 1)))
                m.d.sync += [chunks.eq((k[:k_max_bits] + (p.cols - 1)) // p.cols),
                             blocks.eq((n[:n_max_bits] + (p.rows - 1)) // p.rows)]
                with m.If(~args_end_last):
                    m.d.comb += fail.eq(ErrorCode.LENGTH)
                    m.next = "DROP"
                with m.Elif((tokens == 0) | (k == 0) | (n == 0)):
                    m.d.comb += fail.eq(ErrorCode.ZERO_SIZE)
                    m.next = "HEADER"
                # K beyond what any bank holds (ceil(K / cols) > max_chunks) is refused here,
                # before `chunks`, sized for max_chunks, could wrap around.
                with m.Elif((tokens > p.max_tokens) | (k > min(p.max_k, max_chunks(p) * p.cols))
                            | (n > p.weight_depth * p.rows)):
                    m.d.comb += fail.eq(ErrorCode.CAPACITY)
                    m.next = "HEADER"
                with m.Else():
                    m.next = "CHECK_SIZE"

            with m.State("CHECK_SIZE"):
                # chunks * blocks > weight_depth and tokens * chunks > act_depth, without a
                # multiplier: for c >= 1, c * x > D exactly when x > D // c (a constant per c).
                chunk_values = range(2 ** len(chunks))
                tiles_over = blocks > Array(p.weight_depth // max(c, 1) for c in chunk_values)[chunks]
                acts_over = tokens > Array(p.act_depth // max(c, 1) for c in chunk_values)[chunks]
                with m.If((chunks != 0) & (tiles_over | acts_over)):
                    m.d.comb += fail.eq(ErrorCode.CAPACITY)
                    m.next = "HEADER"
                with m.Elif(pending):
                    m.d.comb += fail.eq(ErrorCode.RESULTS_PENDING)
                    m.next = "HEADER"
                with m.Else():
                    # Only an accepted RUN replaces `run`: the pending READ_RESULTS of the
                    # previous one takes its size from there.
                    m.d.sync += [
                        run.tokens.eq(tokens), run.chunks.eq(chunks), run.blocks.eq(blocks),
                        run.last_cols.eq(k - times_const(chunks - 1, p.cols)),
                        run.last_rows.eq(n - times_const(blocks - 1, p.rows)),
                        run.weight_bank.eq(weight_bank), run.act_bank.eq(act_bank),
                    ]
                    m.next = "RUN_WAIT"

            with m.State("RUN_WAIT"):
                with m.If(~self.sequencer_busy):
                    m.d.comb += self.run_start.eq(1)
                    m.d.sync += [pending.eq(1), run_weight_bank.eq(run.weight_bank),
                                 run_act_bank.eq(run.act_bank)]
                    m.next = "HEADER"

            with m.State("READ"):
                with m.If(~pending):
                    m.d.comb += fail.eq(ErrorCode.NO_RESULTS)
                    m.next = "HEADER"
                with m.Elif(~self.responding):
                    m.d.comb += self.read_start.eq(1)
                    m.d.sync += pending.eq(0)
                    m.next = "HEADER"

            with m.State("STATUS"):
                with m.If(~self.responding):
                    m.d.comb += self.status_start.eq(1)
                    m.next = "HEADER"

            with m.State("CLEAR"):
                with m.If(~self.responding):
                    m.d.comb += self.clear.eq(1)
                    m.d.sync += pending.eq(0)
                    m.next = "HEADER"

            with m.State("DROP"):
                m.d.comb += self.s.ready.eq(1)
                with m.If(take & beat.last):
                    m.next = "HEADER"

        m.d.comb += [self.weights.en.eq(item_done & loading_weights),
                     self.acts.en.eq(item_done & ~loading_weights)]
        self._latch_errors(m, fail)
        return m

    def _drive_writes(self, m, held, weight_bank, act_bank, item_addr, loading_weights):
        """An item is the held beats plus the beat arriving now, first beat lowest."""
        p = self._params
        weights_item = Cat(*held[:p.tile_beats - 1], self.s.payload.data)
        acts_item = Cat(*held[:p.chunk_beats - 1], self.s.payload.data)
        m.d.comb += [
            self.weights.bank.eq(weight_bank), self.weights.addr.eq(item_addr),
            self.weights.data.eq(weights_item[:p.tile_bits]),
            self.acts.bank.eq(act_bank), self.acts.addr.eq(item_addr),
            self.acts.data.eq(acts_item[:p.chunk_bits]),
        ]

    def _latch_errors(self, m, fail):
        """Keep the first error and the set of all errors until ``CLEAR``."""
        raised = Signal(ErrorCode)
        m.d.comb += raised.eq(Mux(fail != ErrorCode.NONE, fail,
                                  Mux(self.invalid_weight, ErrorCode.INVALID_WEIGHT, ErrorCode.NONE)))
        with m.If(self.clear):
            m.d.sync += [self.error.eq(0), self.errors.eq(0)]
        with m.Else():
            with m.If((self.error == 0) & (raised != ErrorCode.NONE)):
                m.d.sync += self.error.eq(raised)
            m.d.sync += self.errors.eq(self.errors | (fail != ErrorCode.NONE) << fail
                                       | self.invalid_weight << ErrorCode.INVALID_WEIGHT)
