"""Host side of the board link: frames, records, retries, and a driver transport over a UART.

Pure Python (no numpy, torch, Amaranth or cocotb): the same code talks to a board through
pyserial (:mod:`tritforge.sim.board`) and to the board top's RTL through cocotbext-uart
(:mod:`tritforge.sim.cocotb_uart`). The format is :mod:`tritforge.spec.link`.

Layers, bottom up:

* :class:`ByteChannel`: moves bytes (a serial port, a simulated UART);
* the codec: :func:`command_frame`, the record builders, :class:`ReplyParser`;
* :class:`FramedLink`: sends records in command frames, one at a time, waits for each
  frame's ``ACK``, retransmits after a ``NAK`` for a damaged frame or a silence, gathers the
  ``DATA`` frames into response packets and notices a reset of the board (``BOOT``);
* :class:`LinkTransport`: the :class:`~tritforge.sim.driver.Transport` of the driver: the
  command packets it is given and the weight-store records go out together when the driver
  waits for a response.
"""

import abc
import collections
import dataclasses
import logging

from ..spec.errors import TritforgeError
from ..spec.link import (BOARD_SYNC, FLAG_START, HOST_SYNC, INFO_LAST,
                         RECORD_HEADER_BYTES, STORE_ADDRESS_BYTES, LinkParams, Nak, Record, Reply,
                         crc16)
from ..spec.params import check_params
from .driver import Transport

__all__ = ["LinkError", "BoardReset", "ByteChannel", "command_frame", "stream_records",
           "store_write_records", "store_load_record", "pack_frames", "ReplyFrame", "ReplyParser",
           "FramedLink", "LinkTransport"]

logger = logging.getLogger(__name__)

#: A damaged or unanswered frame is sent again this many times before giving up.
RETRIES = 4
#: Silence of the board (byte times) after which a frame counts as lost.
REPLY_TIMEOUT_BYTES = 4000


class LinkError(TritforgeError, RuntimeError):
    """The link failed: the board does not answer, or keeps refusing a frame."""


class BoardReset(LinkError):
    """The board was reset: everything the accelerator held is gone (the weight store stays)."""


class ByteChannel(abc.ABC):
    """Moves bytes to and from a board."""

    @abc.abstractmethod
    async def write(self, data):
        """Send ``data`` (bytes)."""

    @abc.abstractmethod
    async def read(self, timeout_bytes):
        """Bytes received (at least one), or ``b""`` after ``timeout_bytes`` byte times of
        silence."""

    def now(self):
        """The board's clock cycle, when known (simulation), else ``None``."""
        return None


# --- codec ----------------------------------------------------------------------------------

def command_frame(seq, payload, *, start=False):
    """A command frame: sync, flags, ``seq``, length, ``payload``, CRC."""
    if not 0 < len(payload) <= 0xFFFF:
        raise ValueError(f"a frame payload has 1..65535 bytes, not {len(payload)}")
    body = bytes([FLAG_START if start else 0, seq & 0xFF]) + len(payload).to_bytes(2, "little") + payload
    return bytes([HOST_SYNC]) + body + crc16(body).to_bytes(2, "big")


def _record(kind, arg, count, address=None, data=b""):
    header = bytes([kind, arg]) + count.to_bytes(2, "little")
    if address is not None:
        header += address.to_bytes(STORE_ADDRESS_BYTES, "little")
    return header + data


def stream_records(params, packet, max_payload):
    """Records carrying the command ``packet`` (whole beats), each fitting a frame of
    ``max_payload`` bytes; ``tlast`` on the packet's last beat."""
    size = params.bytes_per_beat
    if not packet or len(packet) % size:
        raise ValueError(f"a packet is a whole number of {size}-byte beats, not {len(packet)} bytes")
    per_record = _beats_per_record(params, max_payload, RECORD_HEADER_BYTES)
    beats = len(packet) // size
    records = []
    for first in range(0, beats, per_record):
        count = min(per_record, beats - first)
        last = first + count == beats
        records.append(_record(Record.STREAM, int(last), count,
                               data=packet[first * size:(first + count) * size]))
    return records


def store_write_records(params, address, data, max_payload):
    """Records writing ``data`` (whole beats) to the weight store from word ``address``."""
    size = params.bytes_per_beat
    if len(data) % size:
        raise ValueError(f"store data is a whole number of {size}-byte words, not {len(data)} bytes")
    per_record = _beats_per_record(params, max_payload, RECORD_HEADER_BYTES + STORE_ADDRESS_BYTES)
    words = len(data) // size
    return [_record(Record.STORE_WRITE, 0, min(per_record, words - first), address + first,
                    data[first * size:(first + per_record) * size])
            for first in range(0, words, per_record)]


def store_load_record(bank, address, tiles):
    """The record that loads ``tiles`` tiles from the store at ``address`` into ``bank``."""
    return _record(Record.STORE_LOAD, bank, tiles, address)


def _beats_per_record(params, max_payload, header):
    beats = min((max_payload - header) // params.bytes_per_beat, 0xFFFF)
    if beats < 1:
        raise ValueError(f"frames of {max_payload} bytes cannot hold a {params.bytes_per_beat}-byte beat")
    return beats


def pack_frames(records, max_payload):
    """Frame payloads holding ``records`` in order, as few as fit ``max_payload`` each."""
    payloads, current = [], b""
    for record in records:
        if len(record) > max_payload:
            raise ValueError(f"a record of {len(record)} bytes does not fit a {max_payload}-byte frame")
        if len(current) + len(record) > max_payload:
            payloads.append(current)
            current = b""
        current += record
    return payloads + ([current] if current else [])


@dataclasses.dataclass(frozen=True)
class ReplyFrame:
    """A reply frame from the board: :class:`~tritforge.spec.link.Reply` ``kind``, ``seq``
    and its ``body``."""
    kind: Reply
    seq: int
    body: bytes


class ReplyParser:
    """Turns the bytes from the board into :class:`ReplyFrame` s; bytes that do not form a
    frame with a good CRC are skipped (``damaged`` counts them)."""

    def __init__(self, params, link):
        self._sizes = {kind: link.reply_bytes(kind, params.bytes_per_beat) for kind in Reply}
        self._buffer = bytearray()
        self.damaged = 0

    def feed(self, data):
        """The frames completed by ``data``."""
        self._buffer += data
        frames = []
        while True:
            start = self._buffer.find(BOARD_SYNC)
            if start < 0:
                self.damaged += len(self._buffer)
                self._buffer.clear()
                return frames
            self.damaged += start
            del self._buffer[:start]
            if len(self._buffer) < 2:
                return frames
            try:
                size = self._sizes[Reply(self._buffer[1])]
            except ValueError:
                self._skip()
                continue
            if len(self._buffer) < size:
                return frames
            frame = bytes(self._buffer[:size])
            if crc16(frame[1:-2]) != int.from_bytes(frame[-2:], "big"):
                self._skip()
                continue
            del self._buffer[:size]
            frames.append(ReplyFrame(Reply(frame[1]), frame[2], frame[3:-2]))

    def _skip(self):
        """Not a frame at this sync byte: look for the next one."""
        self.damaged += 1
        del self._buffer[:1]

    def clear(self):
        self._buffer.clear()


# --- the protocol engine ---------------------------------------------------------------------

class FramedLink:
    """Reliable command frames and response packets over a :class:`ByteChannel`.

    Parameters
    ----------
    params : AcceleratorParams
    link : LinkParams
        Those of the board.
    channel : ByteChannel
    retries : int
        Retransmissions of a frame (after a ``NAK`` for a damaged or truncated frame, or
        silence) before :class:`LinkError`.
    timeout_bytes : int
        Silence of the board, in byte times, after which a frame counts as lost.

    Attributes
    ----------
    stats : collections.Counter
        ``frames``, ``bytes_out``, ``bytes_in``, ``retransmissions``, ``stale_acks``, and one entry per
        ``NAK`` reason received.
    """

    def __init__(self, params, link, channel, *, retries=RETRIES, timeout_bytes=REPLY_TIMEOUT_BYTES):
        self.params = check_params(params)
        if not isinstance(link, LinkParams):
            raise TypeError(f"link must be a LinkParams, not {link!r}")
        if not isinstance(channel, ByteChannel):
            raise TypeError(f"channel must be a ByteChannel, not {channel!r}")
        self.link = link
        self.channel = channel
        self.retries = retries
        self.timeout_bytes = timeout_bytes
        self.stats = collections.Counter()
        self._parser = ReplyParser(params, link)
        self._packets = collections.deque()
        self._partial = bytearray()
        self._seq = 0
        self._session = False
        self._data_seq = 0

    def resync(self):
        """Forget the session after a :class:`BoardReset`: the next frame starts a new one;
        responses in flight are dropped."""
        self._session = False
        self._seq = 0
        self._data_seq = 0
        self._packets.clear()
        self._partial.clear()
        self._parser.clear()

    async def send_records(self, records):
        """Send ``records`` in as few frames as fit, each acknowledged before the next."""
        for payload in pack_frames(records, self.link.max_payload):
            await self._send_frame(payload)

    async def recv_packet(self):
        """The next response packet (bytes, whole beats)."""
        while not self._packets:
            if await self._receive() is None:
                raise LinkError(f"the board sent nothing for {self.timeout_bytes} byte times while "
                                f"a response was due")
        return self._packets.popleft()

    async def _send_frame(self, payload):
        start = not self._session
        frame = command_frame(self._seq, payload, start=start)
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats["retransmissions"] += 1
            await self.channel.write(frame)
            self.stats["frames"] += 1
            self.stats["bytes_out"] += len(frame)
            reply = await self._await_reply(self._seq)
            if reply is None:
                logger.info("no reply to frame %d (attempt %d)", self._seq, attempt + 1)
                continue
            if reply.kind == Reply.ACK and reply.seq == self._seq:
                # A BOOT from now on is a reset (one sent before is the board's power-up).
                self._session = True
                self._seq = (self._seq + 1) & 0xFF
                return
            reason = Nak(reply.body[0]) if reply.body[0] in set(Nak) else reply.body[0]
            self.stats[f"nak_{getattr(reason, 'name', reason).lower()}"] += 1
            # Damaged on the way (the host never sends a frame over max_payload): again.
            if reason in (Nak.CRC, Nak.TRUNCATED, Nak.LENGTH, Nak.UART):
                logger.info("frame %d refused (%s), sending it again", self._seq, reason.name)
                continue
            if reason == Nak.NOT_SYNCED:
                raise BoardReset("the board was reset (it has no session): the accelerator's state "
                                 "is gone; the weight store stays")
            if reason == Nak.SEQUENCE and reply.body[1] == (self._seq + 1) & 0xFF:
                self._seq = reply.body[1]       # our frame arrived; its ACK did not
                return
            raise LinkError(f"the board refused frame {self._seq}: {getattr(reason, 'name', reason)} "
                            f"(it expects sequence number {reply.body[1]})")
        raise LinkError(f"frame {self._seq} was not acknowledged after {self.retries + 1} attempts "
                        f"(is the board programmed, at this baud rate?)")

    async def _await_reply(self, seq=None):
        """The ``ACK`` or ``NAK`` of the frame just sent (sequence number ``seq``), or ``None``
        after a silence. An ``ACK`` of another frame is stale (the second ``ACK`` of a frame
        sent again after a silence) and skipped: it says nothing about this frame."""
        while True:
            frames = await self._receive()
            if frames is None:
                return None
            for frame in frames:
                if frame.kind == Reply.ACK and seq is not None and frame.seq != seq:
                    self.stats["stale_acks"] += 1
                elif frame.kind in (Reply.ACK, Reply.NAK):
                    return frame

    async def _receive(self):
        """Read what the board sent; file ``DATA`` frames; the frames read, ``None`` after a
        silence (in :meth:`recv_packet`: :class:`LinkError`)."""
        data = await self.channel.read(self.timeout_bytes)
        if not data:
            return None
        self.stats["bytes_in"] += len(data)
        frames = self._parser.feed(data)
        for frame in frames:
            if frame.kind == Reply.BOOT:
                if self._session:
                    raise BoardReset("the board was reset (BOOT): the accelerator's state is gone; "
                                     "the weight store stays")
            elif frame.kind == Reply.DATA:
                self._file_data(frame)
        return frames

    def _file_data(self, frame):
        if frame.seq != self._data_seq:
            raise LinkError(f"response frame {self._data_seq} was lost (got {frame.seq} next): "
                            f"the board does not send responses again")
        self._data_seq = (self._data_seq + 1) & 0xFF
        info = frame.body[-1]
        used = info & ~INFO_LAST
        # 1..data_beats beats, all of them unless the frame ends a packet.
        if not 0 < used <= self.link.data_beats or (used < self.link.data_beats and not info & INFO_LAST):
            raise LinkError(f"response frame {frame.seq} has a bad info byte {info:#04x} "
                            f"({self.link.data_beats} beats per frame)")
        self._partial += frame.body[:used * self.params.bytes_per_beat]
        if info & INFO_LAST:
            self._packets.append(bytes(self._partial))
            self._partial.clear()


class LinkTransport(Transport):
    """The driver's transport over a :class:`FramedLink`.

    Command packets (:meth:`send`) and store records (:meth:`store_write`,
    :meth:`store_load`) are queued and go out, in order and packed into frames, when the
    driver waits for a response (:meth:`recv`) or calls :meth:`flush`.
    """

    def __init__(self, link):
        if not isinstance(link, FramedLink):
            raise TypeError(f"link must be a FramedLink, not {link!r}")
        self.link = link
        self.params = link.params
        self._records = []

    async def send(self, packet):
        self._records += stream_records(self.params, bytes(packet), self.link.link.max_payload)

    def store_write(self, address, data):
        """Queue writing ``data`` (whole words) to the weight store at word ``address``."""
        self._records += store_write_records(self.params, address, bytes(data), self.link.link.max_payload)

    def store_load(self, bank, address, tiles):
        """Queue ``LOAD_WEIGHTS`` of ``tiles`` tiles from the store at ``address`` into ``bank``."""
        self._records.append(store_load_record(bank, address, tiles))

    async def flush(self):
        records, self._records = self._records, []
        await self.link.send_records(records)

    async def recv(self):
        await self.flush()
        return await self.link.recv_packet()

    def now(self):
        return self.link.channel.now()

    def drop(self):
        """Forget queued records (after a reset)."""
        self._records = []
