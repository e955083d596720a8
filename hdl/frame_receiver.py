"""Frame receiver: command frames from the UART into a buffer, checked before they execute."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.data import StructLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.link import FLAG_START, HOST_SYNC, LinkParams, Nak, Reply
from ..spec.errors import ParameterTypeError
from .reset import hold_low_in_reset

__all__ = ["FrameReceiver", "reply_layout", "LENGTH_BITS"]

#: Width of a frame's length field.
LENGTH_BITS = 16


def reply_layout():
    """A control reply frame's fields (:data:`~tritforge.spec.link.Reply` ``ACK``, ``NAK``,
    ``BOOT``): kind, sequence number, two body bytes."""
    return StructLayout({"kind": 8, "seq": 8, "a0": 8, "a1": 8})


class FrameReceiver(wiring.Component):
    """Receives command frames (:mod:`tritforge.spec.link`), buffers their payload and hands a
    frame to the executor only when its length, CRC and sequence number are right.

    Protocol. Bytes arrive on ``i`` (always taken). A frame starts at a ``HOST_SYNC`` byte
    (other bytes between frames are ignored); its payload goes to the frame buffer at
    addresses 0, 1, ...; the cycle after its last CRC byte the frame is checked:

    * a bad CRC, a length of 0 or over ``max_payload``, or a UART framing error: bytes are
      dropped until the line has been idle for ``timeout_cycles``, then a ``NAK`` is sent;
    * the line idle for ``timeout_cycles`` inside a frame: ``NAK TRUNCATED``;
    * no session since reset and no ``FLAG_START``: ``NAK NOT_SYNCED``; the previous
      sequence number again: ``ACK`` (executed already); another unexpected one:
      ``NAK SEQUENCE`` with the expected one;
    * otherwise ``execute`` rises with the payload ``length``; the frame buffer is then
      the executor's (``buf_*``) until ``done``, with ``failed`` when a record was bad: an
      ``ACK``, or a ``NAK RECORD``, follows, and the next sequence number is expected.

    Each reply is offered on ``reply`` until taken; bytes arriving meanwhile, or during
    execution, are dropped (the host waits for the reply of each frame).

    Reset: no session, hunting for a sync byte; ``i.ready`` and ``reply.valid`` are low while
    ``rst`` is high, from its first cycle.

    Parameters
    ----------
    link : LinkParams

    Members
    -------
    i : ``In(stream.Signature(8))``
        Received bytes.
    rx_idle : ``In(1)``
        The UART is between bytes (timeouts count only then).
    uart_error : ``In(1)``
        Strobe: a byte had no stop bit.
    execute : ``Out(1)``
        A checked frame waits for execution (until ``done``).
    length : ``Out(16)``
        Its payload length.
    done, failed : ``In(1)``
        The executor finished the frame (strobe), and whether a record was bad.
    buf_addr : ``In(range(max_payload))``
    buf_en : ``In(1)``
    buf_data : ``Out(8)``
        Frame buffer read port: ``buf_data`` is the byte at ``buf_addr`` the cycle after
        ``buf_en``, held while ``buf_en`` is low.
    reply : ``Out(stream.Signature(reply_layout()))``
        Control replies for the transmitter.
    """

    def __init__(self, link):
        if not isinstance(link, LinkParams):
            raise ParameterTypeError(f"link must be a LinkParams, not {link!r}")
        self._link = link
        super().__init__({
            "i": In(stream.Signature(8)), "rx_idle": In(1), "uart_error": In(1),
            "execute": Out(1), "length": Out(LENGTH_BITS), "done": In(1), "failed": In(1),
            "buf_addr": In(range(link.max_payload)), "buf_en": In(1), "buf_data": Out(8),
            "reply": Out(stream.Signature(reply_layout())),
        })

    def elaborate(self, platform):
        m = Module()
        link = self._link
        m.submodules.crc = crc = catalog.CRC16_CCITT_FALSE(8).create()
        m.submodules.buffer = buffer = Memory(shape=8, depth=link.max_payload, init=[])
        write = buffer.write_port()
        read = buffer.read_port(transparent_for=())
        m.d.comb += [read.addr.eq(self.buf_addr), read.en.eq(self.buf_en), self.buf_data.eq(read.data)]

        byte = self.i.valid
        data = self.i.payload
        replying = Signal()
        m.d.comb += [self.i.ready.eq(1), crc.data.eq(data),
                     self.reply.valid.eq(replying)]
        fields = Signal(32)                 # flags, seq, length (low byte first)
        flags, seq = fields[:8], fields[8:16]
        m.d.comb += self.length.eq(fields[16:])
        expected = Signal(8)
        synced = Signal()
        position = Signal(range(link.max_payload + 1))
        left = Signal(LENGTH_BITS)          # payload bytes after the current one (no adder on the exit)
        header = Signal(range(4))
        reason = Signal(8)
        idle = Signal(range(link.timeout_cycles + 1))
        timed_out = idle == link.timeout_cycles
        with m.If(byte | ~self.rx_idle):
            m.d.sync += idle.eq(0)
        with m.Elif(~timed_out):
            m.d.sync += idle.eq(idle + 1)

        def send_reply(kind, a0=0, a1=None):
            m.d.sync += [self.reply.payload.kind.eq(kind), self.reply.payload.seq.eq(seq),
                         self.reply.payload.a0.eq(a0),
                         self.reply.payload.a1.eq(expected if a1 is None else a1),
                         replying.eq(1)]
            m.next = "REPLY"

        def drain(why):
            m.d.sync += reason.eq(why)
            m.next = "DRAIN"

        def end_of_frame_checks():
            """In a state inside a frame: a frame cut short, or a byte without its stop bit,
            ends it (last in the state: these override its own next state)."""
            with m.If(self.uart_error):
                drain(Nak.UART)
            with m.Elif(timed_out):
                send_reply(Reply.NAK, Nak.TRUNCATED)

        with m.FSM():
            with m.State("HUNT"):
                m.d.sync += [fields.eq(0), header.eq(0), position.eq(0)]
                with m.If(byte & (data == HOST_SYNC)):
                    m.d.comb += crc.start.eq(1)
                    m.next = "HEADER"
            with m.State("HEADER"):             # flags, seq, length: shifted in
                with m.If(byte):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [header.eq(header + 1), fields.eq((data << 24) | (fields >> 8))]
                    with m.If(header == 3):
                        length = (data << 8) | fields[24:]      # not yet shifted down
                        with m.If((length == 0) | (length > link.max_payload)):
                            drain(Nak.LENGTH)
                        with m.Else():
                            m.d.sync += left.eq(length - 1)
                            m.next = "PAYLOAD"
                end_of_frame_checks()
            with m.State("PAYLOAD"):
                m.d.comb += [write.addr.eq(position), write.data.eq(data), write.en.eq(byte)]
                with m.If(byte):
                    m.d.comb += crc.valid.eq(1)
                    m.d.sync += [position.eq(position + 1), left.eq(left - 1)]
                    with m.If(left == 0):
                        m.next = "CRC_HIGH"
                end_of_frame_checks()
            with m.State("CRC_HIGH"):
                with m.If(byte):
                    m.d.comb += crc.valid.eq(1)
                    m.next = "CRC_LOW"
                end_of_frame_checks()
            with m.State("CRC_LOW"):
                with m.If(byte):
                    m.d.comb += crc.valid.eq(1)
                    m.next = "CHECK"
                end_of_frame_checks()
            with m.State("CHECK"):
                with m.If(~crc.match_detected):
                    drain(Nak.CRC)
                with m.Elif(flags & FLAG_START):
                    m.d.sync += [synced.eq(1), expected.eq(seq)]
                    m.next = "EXECUTE"
                with m.Elif(~synced):
                    send_reply(Reply.NAK, Nak.NOT_SYNCED)
                with m.Elif(seq == expected):
                    m.next = "EXECUTE"
                with m.Elif(seq == (expected - 1)[:8]):
                    send_reply(Reply.ACK, 0, 0)
                with m.Else():
                    send_reply(Reply.NAK, Nak.SEQUENCE)
            with m.State("EXECUTE"):
                m.d.comb += self.execute.eq(1)
                with m.If(self.done):
                    m.d.sync += expected.eq(expected + 1)
                    with m.If(self.failed):
                        send_reply(Reply.NAK, Nak.RECORD, seq + 1)
                    with m.Else():
                        send_reply(Reply.ACK, 0, 0)
            with m.State("DRAIN"):
                with m.If(timed_out):
                    send_reply(Reply.NAK, reason)
            with m.State("REPLY"):
                with m.If(self.reply.ready):
                    m.d.sync += replying.eq(0)
                    m.next = "HUNT"
        hold_low_in_reset(m, self.i.ready, self.reply.valid)
        return m
