"""Store streamer: a ``LOAD_WEIGHTS`` command packet whose payload comes from the weight store."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.params import check_params
from ..spec.protocol import WEIGHT_BANK_BIT, Opcode
from .command_decoder import beat_layout
from .weight_store import store_signature
from .reset import hold_low_in_reset

__all__ = ["StoreStreamer", "COUNT_BITS"]

#: Width of a tile count (a record's ``count``).
COUNT_BITS = 16


class StoreStreamer(wiring.Component):
    """Expands ``(bank, address, tiles)`` into the accelerator's ``LOAD_WEIGHTS`` packet.

    The packet is a header beat (opcode ``LOAD_WEIGHTS``, the bank), the count beat
    (``tiles``) and ``tiles * tile_beats`` payload beats read from the store from
    ``address`` on, ``last`` on the final one: the same packet the host would send, with
    the payload resident on the board.

    Protocol: ``start`` (honoured while not ``busy``) samples ``bank``, ``address`` and
    ``tiles`` (>= 1; the caller checks the range fits the store). The header is offered the
    next cycle; then one beat per cycle while ``o.ready`` (the store's read latency is
    hidden: each read is issued in the cycle the previous beat is taken). ``busy`` falls
    the cycle after the last beat was taken. The streamer drives the store port only while
    busy (``store.en`` low otherwise).

    Reset: idle; ``o.valid`` is low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    params : AcceleratorParams
        Stream width and tile size.
    depth : int
        Words of the store.

    Members
    -------
    start : ``In(1)``
    bank : ``In(1)``
    address : ``In(range(depth))``
    tiles : ``In(16)``
    busy : ``Out(1)``
    store : ``Out(store_signature(stream_width, depth))``
        The store's port (this block is its master).
    o : ``Out(stream.Signature(beat_layout(stream_width)))``
        The ``LOAD_WEIGHTS`` packet.
    """

    def __init__(self, params, depth):
        self._params = p = check_params(params)
        self._depth = check_integer("depth", depth, 1)
        super().__init__({
            "start": In(1), "bank": In(1), "address": In(range(depth)), "tiles": In(COUNT_BITS),
            "busy": Out(1), "store": Out(store_signature(p.stream_width, depth)),
            "o": Out(stream.Signature(beat_layout(p.stream_width))),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        bank = Signal()
        tiles = Signal(COUNT_BITS)
        address = Signal(range(self._depth))
        remaining = Signal(COUNT_BITS + p.tile_beats.bit_length())   # reads still to issue
        more = Signal()               # remaining != 0, from a register: it gates the store's enable
        beat_valid = Signal()
        beat_last = Signal()
        header = Opcode.LOAD_WEIGHTS | (bank << WEIGHT_BANK_BIT)
        m.d.comb += self.store.addr.eq(address)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [bank.eq(self.bank), tiles.eq(self.tiles), address.eq(self.address),
                                 remaining.eq(self.tiles * p.tile_beats), more.eq(1)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(1), self.o.payload.data.eq(header)]
                with m.If(self.o.ready):
                    m.next = "COUNT"
            with m.State("COUNT"):
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(1), self.o.payload.data.eq(tiles)]
                with m.If(self.o.ready):    # the first read goes out as the count beat leaves
                    m.d.comb += self.store.en.eq(1)
                    m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1),
                                 more.eq(remaining != 1), beat_valid.eq(1), beat_last.eq(remaining == 1)]
                    m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                advance = ~beat_valid | self.o.ready
                m.d.comb += [self.busy.eq(1), self.o.valid.eq(beat_valid),
                             self.o.payload.data.eq(self.store.rdata),
                             self.o.payload.last.eq(beat_last),
                             self.store.en.eq(advance & more)]
                with m.If(advance):
                    with m.If(more):
                        m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1),
                                     more.eq(remaining != 1), beat_valid.eq(1),
                                     beat_last.eq(remaining == 1)]
                    with m.Else():
                        m.d.sync += beat_valid.eq(0)
                        m.next = "IDLE"
        hold_low_in_reset(m, self.o.valid)
        return m
