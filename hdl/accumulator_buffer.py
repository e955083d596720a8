"""Accumulator buffer: sums the matrix unit's per-chunk results over K, two row blocks deep."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.data import ArrayLayout, StructLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .reset import hold_low_in_reset

__all__ = ["HALVES", "partial_layout", "drain_signature", "AccumulatorBuffer"]

#: Row blocks the buffer holds: one fills while the other drains.
HALVES = 2


def partial_layout(rows, partial_bits, max_tokens):
    """One update: the unit's ``rows`` partial sums for one token and one K-chunk.

    ``init``: first chunk of the row block (overwrite instead of add). ``last``: the final
    update of the row block (its last chunk for its last token): the block is complete.
    """
    return StructLayout({"partial": ArrayLayout(signed(partial_bits), rows),
                         "token": range(max_tokens), "init": 1, "last": 1})


def drain_signature(rows, acc_bits, max_tokens):
    """Drain port, from the reader's side.

    ``ready``: the oldest complete row block is available. ``en`` reads token ``addr`` of it
    (``data`` from the next cycle on, held while ``en`` is low). ``release`` hands the block's
    space back (after the last read was issued; the data of reads already issued stays valid).
    """
    return wiring.Signature({"ready": In(1), "addr": Out(range(max_tokens)), "en": Out(1),
                             "data": In(ArrayLayout(signed(acc_bits), rows)),
                             "release": Out(1)})


class AccumulatorBuffer(wiring.Component):
    """Two row blocks of ``max_tokens x rows`` accumulators in block RAM, read-modify-write.

    The matrix unit gives one chunk's partial sums per token; this block adds them up over
    the K-chunks: ``acc[token] = (init ? 0 : acc[token]) + partial``. The RAM holds two
    halves (row blocks) used in turn: updates go to the *fill* half until an update with
    ``last`` completes it; the drain port then reads it while the next block fills the other
    half. The sender claims a half for each row block before it sends the block's first
    update (``claim`` while ``can_claim``): a half is claimable from its release by the
    drain on, so a claimed half never holds unread results and takes every update. (An
    update is also accepted only while its half is not full, ``i.ready``: with claims, that
    never holds an update back.)

    Pipeline: an accepted update reads its accumulator (cycle 0), adds its partial sums
    (cycle 1) and writes the sum (cycle 2); its half is full for the drain from cycle 3 when
    the update is the block's last. An update whose word is still in flight (updated in one
    of the two cycles before) takes the newer sum from a register instead of the RAM's:
    back-to-back updates of one token (T = 1) need no stall. Throughput one update per
    cycle.

    Reset: both halves empty and unclaimed; while ``rst`` is high, from its first cycle,
    ``i.ready`` and ``drain.ready`` are low (no update taken, no block offered).

    Parameters
    ----------
    rows : int
        Accumulators per token.
    partial_bits : int
        Signed width of the unit's partial sums.
    acc_bits : int
        Signed width of the accumulators (>= ``partial_bits``).
    max_tokens : int
        Tokens per half.

    Members
    -------
    i : ``In(stream.Signature(partial_layout(rows, partial_bits, max_tokens)))``
    drain : ``In(drain_signature(rows, acc_bits, max_tokens))``
    claim : ``In(1)``
        Strobe: the next row block takes the next half (allowed while ``can_claim``).
    can_claim : ``Out(1)``
        The next half is free (from registers only).
    """

    def __init__(self, rows, partial_bits, acc_bits, max_tokens):
        for name, value in (("rows", rows), ("partial_bits", partial_bits),
                            ("acc_bits", acc_bits), ("max_tokens", max_tokens)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        if acc_bits < partial_bits:
            raise ValueError(f"acc_bits must be at least partial_bits ({partial_bits}), "
                             f"not {acc_bits!r}")
        self._rows, self._acc_bits, self._max_tokens = rows, acc_bits, max_tokens
        super().__init__({
            "i": In(stream.Signature(partial_layout(rows, partial_bits, max_tokens))),
            "drain": In(drain_signature(rows, acc_bits, max_tokens)),
            "claim": In(1),
            "can_claim": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # Read ports: asynchronous, each with its register here, so that Yosys merges the
        # register into the block RAM with `no_rw_check`: no logic for a read meeting a
        # write of its word. The drain reads only complete halves, which nothing writes;
        # the update port forwards the word being written itself (below).
        shape = ArrayLayout(signed(self._acc_bits), self._rows)
        m.submodules.mem = mem = Memory(shape=shape, depth=HALVES * self._max_tokens, init=[],
                                        attrs={"no_rw_check": 1})
        write = mem.write_port()
        update, drain = mem.read_port(domain="comb"), mem.read_port(domain="comb")
        update_data = Signal(shape, reset_less=True)
        drain_data = Signal(shape, reset_less=True)

        full = Signal(HALVES)
        fill_half = Signal(range(HALVES))
        drain_half = Signal(range(HALVES))

        # Cycle 0: accept an update into the fill half and read its accumulator.
        room = ~full.bit_select(fill_half, 1)
        accept = self.i.valid & room
        m.d.comb += [
            self.i.ready.eq(room),
            update.addr.eq(self._address(fill_half, self.i.payload.token)),
        ]
        # Cycle 1 (`adding`): add the partial sums to the word read; cycle 2 (`writing`):
        # write the sum, registered in between (the RAM's output, the adder's carry chain
        # and the RAM's write setup do not fit in one cycle together).
        adding, writing = Signal(self.i.payload.shape()), Signal(self.i.payload.shape())
        adding_valid, writing_valid = Signal(), Signal()
        adding_addr, writing_addr = Signal.like(update.addr), Signal.like(update.addr)
        adding_half, writing_half = Signal.like(fill_half), Signal.like(fill_half)
        total = Signal(shape, reset_less=True)          # the sum `writing` writes
        # A word read in cycle 0 is stale when an update still in flight has its address:
        # the one in cycle 1 (its sum is in `total` a cycle later) or the one writing now
        # (its sum is in `written` a cycle later). The newer one wins.
        written = Signal(shape, reset_less=True)
        from_adding, from_writing = Signal(), Signal()
        m.d.sync += [adding_valid.eq(accept), writing_valid.eq(adding_valid),
                     writing.eq(adding), writing_addr.eq(adding_addr), writing_half.eq(adding_half)]
        with m.If(accept):
            m.d.sync += [adding.eq(self.i.payload), adding_addr.eq(update.addr),
                         adding_half.eq(fill_half), update_data.eq(update.data),
                         from_adding.eq(adding_valid & (adding_addr == update.addr)),
                         from_writing.eq(writing_valid & (writing_addr == update.addr))]
            with m.If(self.i.payload.last):
                m.d.sync += fill_half.eq(fill_half + 1)

        with m.If(adding_valid):
            for r in range(self._rows):
                base = Mux(adding.init, 0, Mux(from_adding, total[r],
                                               Mux(from_writing, written[r], update_data[r])))
                m.d.sync += total[r].eq(base + adding.partial[r])

        # Cycle 2: write the sum; a block's last update marks its half full.
        m.d.comb += [write.addr.eq(writing_addr), write.en.eq(writing_valid), write.data.eq(total)]
        with m.If(writing_valid):
            m.d.sync += written.eq(total)

        set_full = Signal(HALVES)
        clear_full = Signal(HALVES)
        full_next, drain_half_next = Signal(HALVES), Signal.like(drain_half)
        with m.If(writing_valid & writing.last):
            m.d.comb += set_full.eq(1 << writing_half)
        with m.If(self.drain.release):
            m.d.comb += clear_full.eq(1 << drain_half)
        m.d.comb += [full_next.eq((full | set_full) & ~clear_full),
                     drain_half_next.eq(drain_half + self.drain.release)]
        # The drain's `ready` is a register of its own, from the next state: the reader's
        # fetch decision, which fans out to its whole read path, starts from registers only.
        drain_ready = Signal()
        m.d.sync += [full.eq(full_next), drain_half.eq(drain_half_next),
                     drain_ready.eq(full_next.bit_select(drain_half_next, 1))]

        # Claims: a half is claimed for a row block before its first update, free again
        # when the drain releases it.
        # `can_claim` is a register of its own, computed from the next state, so that the
        # sender's stall decision starts from registers only.
        claimed = Signal(HALVES)
        claim_half = Signal(range(HALVES))
        can_claim = Signal(init=1)
        set_claimed = Signal(HALVES)
        claimed_next, half_next = Signal(HALVES), Signal(range(HALVES))
        with m.If(self.claim):
            m.d.comb += set_claimed.eq(1 << claim_half)
        m.d.comb += [claimed_next.eq((claimed | set_claimed) & ~clear_full),
                     half_next.eq(claim_half + self.claim), self.can_claim.eq(can_claim)]
        m.d.sync += [claimed.eq(claimed_next), claim_half.eq(half_next),
                     can_claim.eq(~claimed_next.bit_select(half_next, 1))]

        m.d.comb += [
            self.drain.ready.eq(drain_ready),
            drain.addr.eq(self._address(drain_half, self.drain.addr)),
            self.drain.data.eq(drain_data),
        ]
        with m.If(self.drain.en):
            m.d.sync += drain_data.eq(drain.data)
        hold_low_in_reset(m, self.i.ready, self.drain.ready)
        return m

    def _address(self, half, token):
        return Mux(half, token + self._max_tokens, token)
