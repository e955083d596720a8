"""Frame executor: the records of a checked command frame, one after the other."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import ParameterTypeError
from ..spec.link import LinkParams, Record
from ..spec.params import check_params
from .command_decoder import beat_layout
from .frame_receiver import LENGTH_BITS
from .store_streamer import COUNT_BITS
from .weight_store import store_signature
from .reset import hold_low_in_reset

__all__ = ["FrameExecutor"]

#: Bytes of a little-endian store address in a record.
_ADDRESS_BYTES = 4


class FrameExecutor(wiring.Component):
    """Executes the records of a frame (:mod:`tritforge.spec.link`) from the frame buffer.

    ``STREAM`` records become command beats on ``o`` (``last`` as the record says);
    ``STORE_WRITE`` records write their beats to the store; ``STORE_LOAD`` records start the
    :class:`~tritforge.hdl.store_streamer.StoreStreamer` and wait until it has sent its
    packet. A store record inside an open command packet, an unknown kind, a count of 0, a
    record longer than the frame or beyond the store fails the frame: ``done`` with
    ``failed``, the rest skipped.

    Protocol: ``execute`` (a level, from the receiver) starts the frame of ``length`` bytes;
    ``done`` strobes when it is over (``failed`` with it). The buffer is read one byte per
    cycle (``buf_data`` the cycle after ``buf_en``): a ``STREAM`` or ``STORE_WRITE`` beat
    every ``bytes_per_beat + 1`` cycles at most. Whether a command packet is open carries
    over from one frame to the next.

    Reset: idle, no packet open; ``o.valid`` is low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    params : AcceleratorParams
    link : LinkParams

    Members
    -------
    execute : ``In(1)``
    length : ``In(16)``
    done, failed : ``Out(1)``
    buf_addr : ``Out(range(max_payload))``
    buf_en : ``Out(1)``
    buf_data : ``In(8)``
        The frame buffer's read port.
    o : ``Out(stream.Signature(beat_layout(stream_width)))``
        Command beats for the accelerator.
    store : ``Out(store_signature(stream_width, store_depth))``
        Writes to the weight store.
    load_start : ``Out(1)``
    load_bank : ``Out(1)``
    load_address : ``Out(range(store_depth))``
    load_tiles : ``Out(16)``
    load_busy : ``In(1)``
        The store streamer's command (see :class:`~tritforge.hdl.store_streamer.StoreStreamer`).
    """

    def __init__(self, params, link):
        self._params = p = check_params(params)
        if not isinstance(link, LinkParams):
            raise ParameterTypeError(f"link must be a LinkParams, not {link!r}")
        self._link = link
        depth = link.store_depth
        super().__init__({
            "execute": In(1), "length": In(LENGTH_BITS), "done": Out(1), "failed": Out(1),
            "buf_addr": Out(range(link.max_payload)), "buf_en": Out(1), "buf_data": In(8),
            "o": Out(stream.Signature(beat_layout(p.stream_width))),
            "store": Out(store_signature(p.stream_width, depth)),
            "load_start": Out(1), "load_bank": Out(1), "load_address": Out(range(depth)),
            "load_tiles": Out(COUNT_BITS), "load_busy": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        p, link = self._params, self._link
        width = p.stream_width
        # Byte fetch: `have` says buf_data holds the byte at position - 1.
        position = Signal(LENGTH_BITS)
        have = Signal()
        take = Signal()
        fetch = take | ~have
        more = position != self.length
        m.d.comb += [self.buf_addr.eq(position), self.buf_en.eq(fetch & more)]
        byte = self.buf_data

        header = Signal(32)              # kind, arg, count: shifted in low byte first
        kind, arg = header[:8], header[8:16]
        count = Signal(COUNT_BITS)
        address = Signal(8 * _ADDRESS_BYTES)
        index = Signal(range(max(4, p.bytes_per_beat)))
        beat = Signal(width)
        packet_open = Signal()
        end = Signal(max(link.store_depth.bit_length(), COUNT_BITS + p.tile_beats.bit_length()) + 1)
        outside = Signal()
        exhausted = ~have & ~more

        def collect(on_full, bytes_needed):
            """Take a byte when there is one; after ``bytes_needed`` call ``on_full``."""
            with m.If(have):
                m.d.comb += take.eq(1)
                m.d.sync += index.eq(index + 1)
                with m.If(index == bytes_needed - 1):
                    m.d.sync += index.eq(0)
                    on_full()
            with m.Elif(exhausted):
                m.next = "FAIL"

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.buf_en.eq(0)
                m.d.sync += [position.eq(0), have.eq(0), index.eq(0)]
                with m.If(self.execute):
                    m.next = "RECORD"
            with m.State("RECORD"):
                def header_done():
                    m.next = "DECODE"
                with m.If(have):
                    m.d.sync += header.eq((byte << 24) | (header >> 8))
                with m.If(~have & exhausted & (index == 0)):
                    m.next = "FINISH"           # the frame ends between records
                with m.Else():
                    collect(header_done, 4)
            with m.State("DECODE"):
                m.d.sync += count.eq(header[16:])
                with m.If(header[16:] == 0):
                    m.next = "FAIL"
                with m.Elif(kind == Record.STREAM):
                    m.next = "BEAT"
                with m.Elif(((kind == Record.STORE_WRITE) | (kind == Record.STORE_LOAD)) & ~packet_open):
                    m.next = "ADDRESS"
                with m.Else():
                    m.next = "FAIL"
            with m.State("ADDRESS"):
                def address_done():
                    m.next = "RANGE"
                with m.If(have):
                    m.d.sync += address.eq((byte << (8 * _ADDRESS_BYTES - 8)) | (address >> 8))
                collect(address_done, _ADDRESS_BYTES)
            with m.State("RANGE"):
                # Over two cycles (the end of the range, then the comparison): a 32-bit sum
                # and a comparison in one cycle would limit the clock.
                beats = Signal(COUNT_BITS + p.tile_beats.bit_length())
                m.d.comb += beats.eq(count)
                with m.If(kind == Record.STORE_LOAD):
                    m.d.comb += beats.eq(count * p.tile_beats)
                m.d.sync += [end.eq(address[:len(end) - 1] + beats),
                             outside.eq(address[len(end) - 1:] != 0)]
                m.next = "RANGE_CHECK"
            with m.State("RANGE_CHECK"):
                with m.If(outside | (end > link.store_depth)):
                    m.next = "FAIL"
                with m.Elif(kind == Record.STORE_WRITE):
                    m.next = "BEAT"
                with m.Else():
                    m.next = "LOAD"
            with m.State("BEAT"):
                def beat_done():
                    with m.If(kind == Record.STORE_WRITE):
                        m.next = "WRITE"
                    with m.Else():
                        m.next = "OFFER"
                with m.If(have):
                    m.d.sync += beat.eq((byte << (width - 8)) | (beat >> 8))
                collect(beat_done, p.bytes_per_beat)
            with m.State("OFFER"):
                last = count == 1
                m.d.comb += [self.o.valid.eq(1), self.o.payload.data.eq(beat),
                             self.o.payload.last.eq(last & arg[0])]
                with m.If(self.o.ready):
                    m.d.sync += count.eq(count - 1)
                    m.next = "BEAT"
                    with m.If(last):
                        m.d.sync += packet_open.eq(~arg[0])
                        m.next = "RECORD"
            with m.State("WRITE"):
                m.d.comb += [self.store.en.eq(1), self.store.we.eq(1), self.store.addr.eq(address),
                             self.store.wdata.eq(beat)]
                m.d.sync += [count.eq(count - 1), address.eq(address + 1)]
                m.next = "BEAT"
                with m.If(count == 1):
                    m.next = "RECORD"
            with m.State("LOAD"):
                m.d.comb += [self.load_start.eq(1), self.load_bank.eq(arg[0]),
                             self.load_address.eq(address), self.load_tiles.eq(count)]
                m.next = "LOADING"
            with m.State("LOADING"):
                with m.If(~self.load_busy):
                    m.next = "RECORD"
            with m.State("FINISH"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
            with m.State("FAIL"):
                m.d.comb += [self.done.eq(1), self.failed.eq(1)]
                m.next = "IDLE"

        with m.If(self.buf_en):
            m.d.sync += [position.eq(position + 1), have.eq(1)]
        with m.Elif(take):
            m.d.sync += have.eq(0)
        hold_low_in_reset(m, self.o.valid)
        return m
