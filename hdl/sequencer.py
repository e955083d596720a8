"""Weight-stationary sequencer: tiles one ``RUN`` onto the matrix unit."""

from amaranth.hdl import Array, Cat, Module, Mux, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.params import check_params
from .accumulator_buffer import partial_layout
from .activation_buffer import chunk_layout
from .arith import times_small
from .banked_memory import read_signature
from .nested_counter import NestedCounter
from .weight_memory import decoded_tile_layout
from .reset import hold_low_in_reset

__all__ = ["max_chunks", "run_layout", "Sequencer"]


def max_chunks(params):
    """Most K-chunks one ``RUN`` can have under ``params``."""
    return min(params.chunks(params.max_k), params.weight_depth, params.act_depth)


def run_layout(params):
    """A checked ``RUN``, as the command decoder hands it to the sequencer.

    ``chunks = ceil(K / cols)``, ``blocks = ceil(N / rows)``; ``last_cols`` (``last_rows``)
    is the number of real inputs (outputs) in the last chunk (row block), used to count MACs.
    """
    return StructLayout({
        "tokens": range(params.max_tokens + 1),
        "chunks": range(max_chunks(params) + 1),
        "blocks": range(params.weight_depth + 1),
        "last_cols": range(params.cols + 1),
        "last_rows": range(params.rows + 1),
        "weight_bank": 1,
        "act_bank": 1,
    })


def tag_layout(params):
    """What the accumulator buffer needs of a chunk: its token, whether it is the first chunk
    (``init``) and the last update (``last``) of its row block's token walk, whether it is the
    run's last (``final``); ``valid``: the unit takes it."""
    return StructLayout({"valid": 1, "token": range(params.max_tokens), "init": 1, "last": 1,
                         "final": 1})


class Sequencer(wiring.Component):
    """Executes ``Y[T x N] = X[T x K] . W^T`` from the banks, weight-stationary.

    Loop order: for each row block ``b`` (``rows`` outputs), for each K-chunk ``kc``, read
    tile ``b * KC + kc`` once and feed it with chunk ``kc`` of every token ``t`` in turn
    (activation address ``t * KC + kc``); every chunk goes to the unit as its own dot product
    (``first = last = 1``) and the :class:`AccumulatorBuffer` sums the chunks of a token.
    A :class:`NestedCounter` walks this order over the chunks read; each chunk's tag (token,
    first and last update) follows it through a delay line as long as the unit's latency,
    to meet its result for the buffer.
    The unit takes its chunk straight from the two RAMs' output registers: the tile is read
    with the activations of its first token, in the same cycle, and held for its other
    tokens, so a new tile costs no cycle even at T = 1, and no tile register is needed.

    Timing: the first chunk is offered to the unit two cycles after ``start``, then one per
    cycle while the unit accepts; there are no bubbles between tiles, tokens or row blocks, except that a row block's first chunk waits until the accumulator
    buffer has a half for it (``stall_out``). ``busy`` falls the cycle after the unit's last result
    has been handed to the accumulator buffer (the unit's latency after the last chunk).

    Reset: idle; while ``rst`` is high, from its first cycle, ``unit_i.valid`` and
    ``acc.valid`` are low. ``unit_o.ready`` stays tied high (a gate there would put the
    reset into the enable of every register of the unit): the unit's own ``o.valid`` is low
    in reset, so no result moves either.

    Parameters
    ----------
    params : AcceleratorParams
    unit_signature : wiring.Signature
        The matrix unit's signature: ``i`` (chunks in) and ``o`` (sums out) streams.
    unit_latency : int
        The matrix unit's latency (cycles from a chunk taken to its result; at least 1).

    Members
    -------
    start : ``In(1)``
        Strobe, honoured while not ``busy``: execute ``run``.
    run : ``In(run_layout(params))``
        Sampled at ``start``.
    busy : ``Out(1)``
    weights : ``Out(read_signature(weight_depth, decoded_tile_layout(rows, cols, raw_bytes=...)))``
    acts : ``Out(read_signature(act_depth, chunk_layout(cols, act_bits)))``
    unit_i : ``Out(<unit i stream>)``, unit_o : ``In(<unit o stream>)``
        To the matrix unit.
    acc : ``Out(stream.Signature(partial_layout(rows, partial_bits, max_tokens)))``
        To the accumulator buffer; ``partial_bits`` is the width of the unit's sums. Its
        ``ready`` is not looked at: a claimed half takes every update.
    claim : ``Out(1)``, can_claim : ``In(1)``
        The accumulator buffer's half for the next row block: a block's first chunk is
        issued only while ``can_claim``, and claims the half (``claim``) as it is read.
    compute : ``Out(1)``
        A chunk enters the unit this cycle.
    stall_out : ``Out(1)``
        Busy, no chunk entering, because a row block's first chunk waits for a half of the
        accumulator buffer (the results of the block two before it are still being sent).
    macs : ``Out(range(rows * cols + 1))``
        Real (non-padding) multiply-accumulates of the chunk entering this cycle: the tile's
        real rows times real columns, latched with the tile by a shift-and-add over the
        bits of the row count (no multiplier, no DSP block).
    invalid_weight : ``Out(1)``
        A chunk with an invalid weight entered the unit (or the unit flagged one).

    Once elaborated, ``registers`` holds the run's inner registers by name (the walk, its
    ``issuing``, ``offered`` and ``block_start`` flags, the offered chunk's tag, the tag
    delay line ``tags`` and ``done``), for the formal proofs' invariants
    (:mod:`tritforge.flows.properties`).
    """

    def __init__(self, params, unit_signature, unit_latency):
        check_params(params)
        self._params = params
        self._latency = check_integer("unit_latency", unit_latency, 1)
        unit_i = unit_signature.members["i"].signature.flip()  # the unit's In(...) seen from outside
        unit_o = unit_signature.members["o"].signature
        partial_bits = Shape.cast(unit_o.members["payload"].shape["acc"].shape.elem_shape).width
        super().__init__({
            "start": In(1),
            "run": In(run_layout(params)),
            "busy": Out(1),
            "weights": Out(read_signature(params.weight_depth,
                                          decoded_tile_layout(params.rows, params.cols,
                                                              raw_bytes=params.unit_reads_bytes))),
            "acts": Out(read_signature(params.act_depth, chunk_layout(params.cols, params.act_bits))),
            "unit_i": Out(unit_i),
            "unit_o": In(unit_o),
            "acc": Out(stream.Signature(partial_layout(params.rows, partial_bits, params.max_tokens))),
            "claim": Out(1),
            "can_claim": In(1),
            "compute": Out(1),
            "stall_out": Out(1),
            "macs": Out(range(params.rows * params.cols + 1)),
            "invalid_weight": Out(1),
        })

    @property
    def params(self):
        return self._params

    def elaborate(self, platform):
        m = Module()
        self.registers = {}
        run = Signal.like(self.run)
        issue_done, results_done = Signal(), Signal()

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += run.eq(self.run)
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += self.busy.eq(1)
                # With a one-cycle unit the last result can have left by the cycle the last
                # chunk is retired: then the run ends here, without a DRAIN cycle.
                with m.If(issue_done & results_done):
                    m.next = "IDLE"
                with m.Elif(issue_done):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += self.busy.eq(1)
                with m.If(results_done):
                    m.next = "IDLE"
        starting = ~self.busy & self.start

        tag = Signal(tag_layout(self._params))
        self._issue(m, run, starting, issue_done, tag)
        self._collect(m, tag, starting, results_done)
        hold_low_in_reset(m, self.unit_i.valid, self.acc.valid, self.unit_o.ready)
        return m

    def _issue(self, m, run, starting, issue_done, tag):
        """Walk (row block, chunk, token), read tiles and chunks, offer them to the unit;
        ``tag``: what the accumulator buffer needs of the chunk the unit takes this cycle."""
        p = self._params
        walk = self._walk(m, "issue_walk")
        tile_addr = Signal(range(p.weight_depth + 1))
        act_addr = Signal(range(p.act_depth + p.max_tokens * max_chunks(p) + 1))
        issuing = Signal()

        # Stage 2: the chunk offered to the unit, straight from the RAMs' output registers:
        # a chunk read on every advance, a tile on the advance of its first token; a RAM
        # register holds its word until the next read, so the tile stays for the tile's
        # other tokens and nothing moves while the unit stalls.
        offered = Signal()
        tile = self.weights.data
        # The real MACs of a chunk depend only on whether its tile is in the last chunk
        # column and the last row block: the four products are made once per run (a
        # shift-and-add, no multiplier), and a tile only selects one.
        tile_kind = Signal(2)               # (last chunk, last block) of the offered tile
        tile_macs = Array(Signal(range(p.rows * p.cols + 1), name=f"macs_{kind}") for kind in range(4))
        for kind, (rows, cols) in enumerate([(p.rows, p.cols), (p.rows, run.last_cols),
                                             (run.last_rows, p.cols),
                                             (run.last_rows, run.last_cols)]):
            m.d.sync += tile_macs[kind].eq(times_small(rows, cols))
        accepted = offered & self.unit_i.ready
        # A row block's first chunk goes only once the accumulator buffer has a half for
        # the block (`claim`): the buffer then takes every result of the block, so the unit
        # never waits for it (its output's ready is tied high: no stall logic in the unit).
        block_start = Signal()
        held = issuing & block_start & ~self.can_claim
        advance = issuing & (~offered | self.unit_i.ready) & ~held
        m.d.comb += [walk.restart.eq(starting), walk.advance.eq(advance),
                     self.claim.eq(advance & block_start)]
        with m.If(starting):
            m.d.sync += block_start.eq(1)
        with m.Elif(advance):
            m.d.sync += block_start.eq(walk.wrap.chunk)
        # stall_out: the cycles after one in which the block's first chunk was held.
        was_held = Signal()
        m.d.sync += was_held.eq(held)
        m.d.comb += self.stall_out.eq(self.busy & ~self.compute & was_held)

        last_chunk, last_block = walk.last.chunk, walk.last.block
        new_tile = walk.count.token == 0
        m.d.comb += [
            self.unit_i.valid.eq(offered),
            self.unit_i.payload.act.eq(self.acts.data),
            self.unit_i.payload.weights.eq(tile.codes),
            self.unit_i.payload.first.eq(1),
            self.unit_i.payload.last.eq(1),
            self.compute.eq(accepted),
            self.macs.eq(Mux(accepted, tile_macs[tile_kind], 0)),
            self.acts.bank.eq(run.act_bank),
            self.acts.addr.eq(act_addr),
            self.acts.en.eq(advance),
            self.weights.bank.eq(run.weight_bank),
            self.weights.addr.eq(tile_addr),
            self.weights.en.eq(advance & new_tile),
        ]
        with m.If(accepted & ~advance):
            m.d.sync += offered.eq(0)
        with m.If(advance):
            m.d.sync += offered.eq(1)
        # The offered chunk's tag, taken with its read.
        offered_tag = Signal.like(tag)
        last_of_token = walk.last.token & walk.last.chunk
        with m.If(advance):
            m.d.sync += [offered_tag.token.eq(walk.count.token),
                         offered_tag.init.eq(walk.count.chunk == 0),
                         offered_tag.last.eq(last_of_token),
                         offered_tag.final.eq(last_of_token & walk.last.block)]
        m.d.comb += [tag.eq(offered_tag), tag.valid.eq(accepted)]
        self.registers.update(walk=walk, issuing=issuing, offered=offered, block_start=block_start,
                              offered_tag=offered_tag)

        with m.If(starting):
            m.d.sync += [issuing.eq(1), tile_addr.eq(0), act_addr.eq(0)]
        with m.Elif(advance & new_tile):
            m.d.sync += tile_kind.eq(Cat(last_chunk, last_block))

        # Addresses follow the walk: the next token's chunk is `chunks` further on; a new
        # chunk starts again at token 0, a new row block at chunk 0.
        with m.If(advance):
            with m.If(~walk.wrap.token):
                m.d.sync += act_addr.eq(act_addr + run.chunks)
            with m.Elif(~walk.wrap.chunk):
                m.d.sync += [tile_addr.eq(tile_addr + 1), act_addr.eq(walk.count.chunk + 1)]
            with m.Else():
                m.d.sync += [tile_addr.eq(tile_addr + 1), act_addr.eq(0)]
        with m.If(walk.wrap.block):
            m.d.sync += issuing.eq(0)
        m.d.comb += issue_done.eq(~issuing & ~offered)
        m.d.comb += self.invalid_weight.eq(
            (accepted & tile.invalid)
            | (self.unit_o.valid & self.unit_o.payload.invalid))

    def _collect(self, m, tag, starting, results_done):
        """Tag the unit's results for the accumulator buffer: the tag of each chunk taken
        by the unit follows it through a delay line as long as the unit's latency (the unit
        never stalls: its output's ready is tied high)."""
        line = [tag]
        for index in range(self._latency):
            stage = Signal.like(tag, name=f"tag{index + 1}")
            m.d.sync += stage.eq(line[-1])
            line.append(stage)
        leaving = line[-1]
        # `results_done` is a register, set as the last result leaves: the run's end (and
        # `busy`) follows a cycle later, from registers only.
        done = Signal()
        m.d.comb += [
            self.acc.valid.eq(self.unit_o.valid),
            self.unit_o.ready.eq(1),  # the claimed half takes every result
            self.acc.payload.partial.eq(self.unit_o.payload.acc),
            self.acc.payload.token.eq(leaving.token),
            self.acc.payload.init.eq(leaving.init),
            self.acc.payload.last.eq(leaving.last),
            results_done.eq(done),
        ]
        with m.If(starting):
            m.d.sync += done.eq(0)
        with m.If(leaving.valid & leaving.final):
            m.d.sync += done.eq(1)
        self.registers.update(tags=line[1:], done=done)

    def _walk(self, m, name):
        """The (token, chunk, row block) loop indices of ``run``, token innermost, as
        submodule ``name``; the caller drives ``restart`` and ``advance``."""
        p = self._params
        walk = NestedCounter({"token": p.max_tokens, "chunk": max_chunks(p), "block": p.weight_depth})
        m.submodules[name] = walk
        # Taken at restart (start), the cycle `run` is sampled too.
        m.d.comb += [walk.limit.token.eq(self.run.tokens), walk.limit.chunk.eq(self.run.chunks),
                     walk.limit.block.eq(self.run.blocks)]
        return walk
