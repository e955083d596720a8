"""Reply transmitter: control replies and the accelerator's responses as reply frames."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.wiring import In, Out

from ..spec.errors import ParameterTypeError
from ..spec.link import BOARD_SYNC, INFO_LAST, LinkParams, Reply
from ..spec.params import check_params
from .command_decoder import beat_layout
from .frame_receiver import reply_layout
from .reset import hold_low_in_reset

__all__ = ["ReplyTransmitter"]


class ReplyTransmitter(wiring.Component):
    """Sends reply frames (:mod:`tritforge.spec.link`) as bytes for the UART.

    After reset it sends one ``BOOT`` frame. Then, between frames, a control reply waiting on
    ``reply`` goes first, else a ``DATA`` frame starts when a response beat waits on ``i``:
    it carries ``data_beats`` beats, fewer when a packet ends (the rest zero padding,
    sent at once), and the info byte. A frame is never interrupted: a control reply waits
    for the ``DATA`` frame in progress, which waits for the accelerator's next beats (they
    always come: a response packet, once started, needs nothing from the host).

    Protocol: ``o`` offers one byte at a time; a beat is taken from ``i`` when its first
    byte is due. ``reply`` is taken when its frame starts.

    Reset: the ``BOOT`` frame pending, ``DATA`` sequence number 0; ``o.valid``, ``reply.ready``
    and ``i.ready`` are low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    params : AcceleratorParams
    link : LinkParams

    Members
    -------
    reply : ``In(stream.Signature(reply_layout()))``
        Control replies (``ACK``, ``NAK``).
    i : ``In(stream.Signature(beat_layout(stream_width)))``
        The accelerator's response beats.
    o : ``Out(stream.Signature(8))``
        Bytes to send.
    """

    def __init__(self, params, link):
        self._params = p = check_params(params)
        if not isinstance(link, LinkParams):
            raise ParameterTypeError(f"link must be a LinkParams, not {link!r}")
        self._link = link
        super().__init__({"reply": In(stream.Signature(reply_layout())),
                          "i": In(stream.Signature(beat_layout(p.stream_width))),
                          "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        p, link = self._params, self._link
        m.submodules.crc = crc = catalog.CRC16_CCITT_FALSE(8).create()
        booted = Signal()
        fields = Signal(8 * 4)              # kind, seq, a0, a1 of a control frame
        data_seq = Signal(8)
        index = Signal(range(max(5, p.bytes_per_beat)))
        beats = Signal(range(link.data_beats + 1))
        used = Signal(range(link.data_beats + 1))
        ended = Signal()
        shift = Signal(p.stream_width)
        sent = self.o.valid & self.o.ready
        m.d.comb += crc.data.eq(self.o.payload)

        def offer(value, covered=True):
            m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(value), crc.valid.eq(sent & covered)]

        def header(bytes_after_sync, then):
            """The sync byte (starting the CRC), then ``fields`` low byte first."""
            with m.If(index == 0):
                m.d.comb += crc.start.eq(1)
                offer(BOARD_SYNC, covered=False)
            with m.Else():
                offer(fields[:8])
            with m.If(sent):
                m.d.sync += index.eq(index + 1)
                with m.If(index != 0):
                    m.d.sync += fields.eq(fields >> 8)
                with m.If(index == bytes_after_sync):
                    m.d.sync += index.eq(0)
                    m.next = then

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~booted):
                    m.d.sync += [booted.eq(1), fields.eq(Reply.BOOT)]
                    m.next = "CONTROL"
                with m.Elif(self.reply.valid):
                    m.d.comb += self.reply.ready.eq(1)
                    m.d.sync += fields.eq(self.reply.payload.as_value())
                    m.next = "CONTROL"
                with m.Elif(self.i.valid):
                    m.d.sync += [fields.eq(Reply.DATA | (data_seq << 8)), beats.eq(0), used.eq(0),
                                 ended.eq(0)]
                    m.next = "DATA_HEAD"
            with m.State("CONTROL"):
                header(4, "CRC_HIGH")
            with m.State("DATA_HEAD"):
                header(2, "FETCH")
            with m.State("FETCH"):
                with m.If(ended):
                    m.d.sync += shift.eq(0)
                    m.next = "BEAT"
                with m.Elif(self.i.valid):
                    m.d.comb += self.i.ready.eq(1)
                    m.d.sync += [shift.eq(self.i.payload.data), used.eq(used + 1),
                                 ended.eq(self.i.payload.last)]
                    m.next = "BEAT"
            with m.State("BEAT"):
                offer(shift[:8])
                with m.If(sent):
                    m.d.sync += [shift.eq(shift >> 8), index.eq(index + 1)]
                    with m.If(index == p.bytes_per_beat - 1):
                        m.d.sync += [index.eq(0), beats.eq(beats + 1)]
                        m.next = "FETCH"
                        with m.If(beats == link.data_beats - 1):
                            m.next = "INFO"
            with m.State("INFO"):
                offer(Mux(ended, INFO_LAST, 0) | used)
                with m.If(sent):
                    m.d.sync += data_seq.eq(data_seq + 1)
                    m.next = "CRC_HIGH"
            with m.State("CRC_HIGH"):
                offer(crc.crc[8:], covered=False)
                with m.If(sent):
                    m.next = "CRC_LOW"
            with m.State("CRC_LOW"):
                offer(crc.crc[:8], covered=False)
                with m.If(sent):
                    m.next = "IDLE"
        hold_low_in_reset(m, self.o.valid, self.reply.ready, self.i.ready)
        return m
