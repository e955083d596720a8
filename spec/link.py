"""The board link: UART framing between a host and a board, and the weight-store records.

The one definition the board's hardware (:mod:`tritforge.hdl.board`) and the host driver
(:mod:`tritforge.sim.link`, :mod:`tritforge.sim.board`) share. Pure Python: no Amaranth,
no numpy.

A UART (8N1, :attr:`LinkParams.baud_divider` clock cycles per bit) carries *frames*. Every
frame starts with a sync byte and ends with a CRC-16 (:data:`CRC16`, CRC-16/CCITT-FALSE:
polynomial 0x1021, initial value 0xFFFF, no reflection) over the bytes between them, sent
high byte first (then the CRC of the whole frame after the sync byte is the fixed residue 0).

Host to board: a *command frame*::

    HOST_SYNC | flags | seq | length (u16 LE) | payload[length] | crc (u16 BE)

``flags`` bit 0 (:data:`FLAG_START`) starts a session: the board takes ``seq`` as its
expected sequence number and executes the frame, whatever its state (the host's start frame
holds only a ``CLEAR``, which may run twice when the frame is sent again after a lost
``ACK``). Without it, a frame must carry the expected number; the board re-acknowledges
the previous one (a retransmission after a lost ``ACK``) without executing it again.
``length`` is at most :attr:`LinkParams.max_payload`. The board buffers the whole
frame and executes it only when the CRC, the length and the sequence number are right;
otherwise it reports a :data:`Reply.NAK` with a :class:`Nak` reason and executes nothing.
A frame cut short is detected by a gap of :attr:`LinkParams.timeout_bytes` byte times
(:data:`Nak.TRUNCATED`). After any error the board drops bytes until the line has been idle
that long, then sends the ``NAK``.

The payload is a list of *records*, each a 4-byte header ``kind | arg | count (u16 LE)``,
then (store records) a 32-bit little-endian store address, then (data records) the data:

* :data:`Record.STREAM` (``arg`` bit 0: ``tlast`` on the last beat): ``count`` beats of the
  accelerator's command stream, ``bytes_per_beat`` bytes each, little-endian. A command
  packet may span several records and frames;
* :data:`Record.STORE_WRITE`: write ``count`` beats of data to the weight store from the
  address on (one store word is one stream beat);
* :data:`Record.STORE_LOAD` (``arg`` bit 0: the weight bank): ``LOAD_WEIGHTS`` of ``count``
  tiles into that bank with the payload read from the store from the address on (the store
  holds tiles exactly as ``LOAD_WEIGHTS`` payloads do). The board sends the header and the
  count beat itself, then one beat per cycle from the store.

Store records are refused (:data:`Nak.RECORD`, the rest of the frame skipped) inside an open
command packet (after a ``STREAM`` record without ``tlast``): command packets are never
interleaved. So are an unknown kind, a count of 0, a record longer than the frame and an
address range beyond the store.

Board to host: *reply frames*, all ``BOARD_SYNC | kind | seq | body | crc (u16 BE)``:

* ``ACK`` (``seq``: the command frame's; body ``0, 0``): executed (or already executed);
* ``NAK`` (body: :class:`Nak` reason, the sequence number expected);
* ``BOOT`` (``seq`` 0, body ``0, 0``): sent once after every reset: the host's session and
  everything the accelerator held, except the weight store, is gone;
* ``DATA`` (``seq``: counts ``DATA`` frames mod 256): ``data_beats`` beats of the
  accelerator's response stream, then an info byte: bit 7 set if the frame holds the last
  beat of a response packet, bits ``[6:0]`` the beats used (the rest is zero padding).
"""

import dataclasses
import enum

from .errors import ParameterError, check_integer

__all__ = ["HOST_SYNC", "BOARD_SYNC", "FLAG_START", "Reply", "Nak", "Record", "RECORD_HEADER_BYTES",
           "STORE_ADDRESS_BYTES", "COMMAND_OVERHEAD", "CONTROL_BODY_BYTES", "INFO_LAST",
           "LinkParams", "crc16", "CRC16", "bits_per_byte", "MIN_BAUD_DIVIDER", "MAX_BAUD_DIVIDER", "describe"]

HOST_SYNC = 0x5A
BOARD_SYNC = 0xA5
#: Command frame flag: start a session at this frame's sequence number.
FLAG_START = 0b0000_0001
#: Bytes of a record header and of a store address.
RECORD_HEADER_BYTES = 4
STORE_ADDRESS_BYTES = 4
#: Bytes of a command frame around its payload: sync, flags, seq, length, CRC.
COMMAND_OVERHEAD = 7
#: Body bytes of ACK, NAK and BOOT frames.
CONTROL_BODY_BYTES = 2
#: ``DATA`` info byte: the frame ends a response packet.
INFO_LAST = 0x80
#: Fewest clock cycles per UART bit: the receiver samples in the middle of a bit after a
#: two-flip-flop synchronizer (``hdl.uart.MIN_DIVIDER``).
MIN_BAUD_DIVIDER = 4
#: Most clock cycles per UART bit: the bit timer is at most 16 bits wide. At the boards'
#: clocks (16..275 MHz) that still reaches below 1,000 baud; a slower rate (``--baud 1``: a
#: frame gap of minutes, a weight store loaded in days) is a typo, not a link.
MAX_BAUD_DIVIDER = 2**16
#: CRC-16/CCITT-FALSE, as (width, polynomial, initial value).
CRC16 = (16, 0x1021, 0xFFFF)


class Reply(enum.IntEnum):
    """Kinds of the board's reply frames."""
    ACK = 0x01
    NAK = 0x02
    BOOT = 0x03
    DATA = 0x04


class Nak(enum.IntEnum):
    """Why the board refused a command frame (first body byte of a ``NAK``)."""
    CRC = 0x01          #: the CRC does not match
    TRUNCATED = 0x02    #: the line went idle inside the frame
    LENGTH = 0x03       #: length 0 or over ``max_payload``
    SEQUENCE = 0x04     #: not the expected sequence number (second byte: the expected one)
    NOT_SYNCED = 0x05   #: no session since the last reset (send a frame with FLAG_START)
    RECORD = 0x06       #: a bad record; the records before it were executed
    UART = 0x07         #: a UART framing error (no stop bit)


class Record(enum.IntEnum):
    """Record kinds of a command frame's payload."""
    STREAM = 0x01
    STORE_WRITE = 0x02
    STORE_LOAD = 0x03


def bits_per_byte():
    """Bit times of one UART byte (8N1: start, 8 data, stop)."""
    return 10


@dataclasses.dataclass(frozen=True)
class LinkParams:
    """Parameters of a board's host link and weight store, checked.

    Parameters
    ----------
    baud_divider : int
        Clock cycles per UART bit, 4..65536 (clock / baud, rounded).
    max_payload : int
        Largest command frame payload in bytes (the board's frame buffer), 16..65535.
    data_beats : int
        Response beats per ``DATA`` frame, 1..127.
    store_depth : int
        Weight store words (one word per stream beat), >= 1.
    timeout_bytes : int
        Idle byte times that end a frame cut short, >= 2.
    """
    baud_divider: int = 16
    max_payload: int = 1024
    data_beats: int = 16
    store_depth: int = 32768
    timeout_bytes: int = 32

    def __post_init__(self):
        check_integer("baud_divider", self.baud_divider, MIN_BAUD_DIVIDER, MAX_BAUD_DIVIDER)
        check_integer("max_payload", self.max_payload, 16, 0xFFFF)
        check_integer("data_beats", self.data_beats, 1, 0x7F)
        check_integer("store_depth", self.store_depth, 1)
        check_integer("timeout_bytes", self.timeout_bytes, 2)

    @classmethod
    def for_baud(cls, clock_hz, baud, **fields):
        """The parameters of a ``baud`` link on a ``clock_hz`` clock; the divider is rounded
        and refused when the baud rate it gives is off by more than 2 %."""
        if not clock_hz > 0 or not baud > 0:
            raise ParameterError(f"clock and baud rate must be positive, not {clock_hz!r} and {baud!r}")
        divider = round(clock_hz / baud)
        if (not MIN_BAUD_DIVIDER <= divider <= MAX_BAUD_DIVIDER
                or abs(clock_hz / divider - baud) > 0.02 * baud):
            raise ParameterError(
                f"baud rate {baud:g} cannot be made from a {clock_hz / 1e6:g} MHz clock (divider "
                f"{clock_hz / baud:.2f}; need {MIN_BAUD_DIVIDER}..{MAX_BAUD_DIVIDER} within 2 %: "
                f"{clock_hz / MAX_BAUD_DIVIDER:,.0f} to {clock_hz / MIN_BAUD_DIVIDER:,.0f} baud)")
        return cls(baud_divider=divider, **fields)

    @property
    def timeout_cycles(self):
        """Idle cycles that end a frame cut short."""
        return self.timeout_bytes * bits_per_byte() * self.baud_divider

    def reply_bytes(self, kind, bytes_per_beat):
        """Bytes of a reply frame of ``kind`` (:class:`Reply`)."""
        body = self.data_beats * bytes_per_beat + 1 if kind == Reply.DATA else CONTROL_BODY_BYTES
        return 3 + body + 2

    def to_dict(self):
        return dataclasses.asdict(self)


def crc16(data, crc=CRC16[2]):
    """CRC-16/CCITT-FALSE of ``data`` (bytes), continuing from ``crc``."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ CRC16[1]) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


_REPLY_MEANINGS = {
    Reply.ACK: "the command frame `seq` was executed (or had been: a retransmission); body 0, 0",
    Reply.NAK: "the command frame was refused, nothing of it executed (RECORD: the records before "
               "the bad one were); body: the reason (`naks`), the sequence number expected",
    Reply.BOOT: "sent once after every reset, `seq` 0, body 0, 0: the session and everything the "
                "accelerator held, except the weight store, are gone",
    Reply.DATA: "`data_beats` beats of the accelerator's response stream, then an info byte "
                "(`data_info`); `seq` counts DATA frames mod 256 from reset",
}
_NAK_MEANINGS = {
    Nak.CRC: "the CRC does not match", Nak.TRUNCATED: "the line went idle inside the frame",
    Nak.LENGTH: "length 0 or over `sizes.max_payload`",
    Nak.SEQUENCE: "not the expected sequence number (second body byte: the expected one)",
    Nak.NOT_SYNCED: "no session since the last reset (send a frame with the START flag)",
    Nak.RECORD: "a bad record: unknown kind, count 0, longer than the frame, beyond the store, or a "
                "store record inside an open command packet; the records before it were executed",
    Nak.UART: "a UART framing error (no stop bit)",
}
_RECORD_MEANINGS = {
    Record.STREAM: ("`count` beats of the accelerator's command stream, `bytes_per_beat` bytes each, "
                    "little-endian; `arg` bit 0: tlast on the last beat"),
    Record.STORE_WRITE: ("a 4-byte little-endian store address, then `count` beats written to the "
                         "weight store from that address on; `arg` 0"),
    Record.STORE_LOAD: ("a 4-byte little-endian store address: LOAD_WEIGHTS of `count` tiles into weight "
                        "bank `arg` bit 0, the tiles read from the store from that address on"),
}


def describe(link, bytes_per_beat):
    """The link protocol of a board with ``link`` (:class:`LinkParams`) carrying a command
    stream of ``bytes_per_beat``-byte beats, as a JSON-ready dict (the module docstring as
    data): UART format, frame layouts, CRC, flags, record kinds, replies, NAK reasons,
    sequence rules and sizes."""
    if not isinstance(link, LinkParams):
        raise TypeError(f"link must be a LinkParams, not {link!r}")
    check_integer("bytes_per_beat", bytes_per_beat, 1)
    width, polynomial, initial = CRC16

    def field(name, offset, size, meaning, **extra):
        return {"name": name, "offset": offset, "bytes": size, "meaning": meaning, **extra}
    return {
        "uart": {"format": "8N1", "bits_per_byte": bits_per_byte(), "bit_order": "lsb-first",
                 "idle": 1, "baud_divider": link.baud_divider,
                 "meaning": "a start bit (0), 8 data bits least significant first, a stop bit (1), "
                            "each `baud_divider` clock cycles long"},
        "host_sync": HOST_SYNC,
        "board_sync": BOARD_SYNC,
        "crc": {"name": "CRC-16/CCITT-FALSE", "width": width, "polynomial": polynomial, "initial": initial,
                "reflected": False, "xor_out": 0, "check": crc16(b"123456789"), "byte_order": "big-endian",
                "covers": "every byte after the sync byte up to the CRC (the CRC over those bytes and "
                          "the CRC itself is 0)"},
        "command_frame": [
            field("sync", 0, 1, "host_sync"),
            field("flags", 1, 1, "bit 0: START (`flags`); other bits 0"),
            field("seq", 2, 1, "the sequence number (`sequence`)"),
            field("length", 3, 2, "payload bytes, little-endian, 1..`sizes.max_payload`"),
            field("payload", 5, None, "`length` bytes of records (`records`)"),
            field("crc", None, 2, "CRC of flags..payload (`crc`), high byte first; at offset 5 + length"),
        ],
        "command_overhead": COMMAND_OVERHEAD,
        "flags": [{"name": "START", "bit": FLAG_START.bit_length() - 1,
                   "meaning": "start a session: the board takes `seq` as its expected number and "
                              "executes the frame whatever its state"}],
        "sequence": ("Without START a frame must carry the expected number, which then advances by 1 "
                     "mod 256; the frame before it is re-acknowledged (ACK) without executing it "
                     "again; any other number gets NAK SEQUENCE. After a reset (BOOT) frames are "
                     "refused (NAK NOT_SYNCED) until one with START."),
        "records": {
            "header": [field("kind", 0, 1, "`records.kinds`"), field("arg", 1, 1, "per kind"),
                       field("count", 2, 2, "beats (STREAM, STORE_WRITE) or tiles (STORE_LOAD), "
                                            "little-endian, >= 1")],
            "header_bytes": RECORD_HEADER_BYTES,
            "store_address_bytes": STORE_ADDRESS_BYTES,
            "kinds": [{"name": kind.name, "value": int(kind), "meaning": _RECORD_MEANINGS[kind]}
                      for kind in Record],
        },
        "reply_frame": [
            field("sync", 0, 1, "board_sync"), field("kind", 1, 1, "`replies`"),
            field("seq", 2, 1, "per kind (`replies`)"),
            field("body", 3, None, "per kind: `bytes` - 5 bytes"),
            field("crc", None, 2, "CRC of kind..body (`crc`), high byte first"),
        ],
        "replies": [{"name": kind.name, "value": int(kind), "bytes": link.reply_bytes(kind, bytes_per_beat),
                     "meaning": _REPLY_MEANINGS[kind]} for kind in Reply],
        "naks": [{"name": reason.name, "value": int(reason), "meaning": _NAK_MEANINGS[reason]}
                 for reason in Nak],
        "data_info": {"last": INFO_LAST, "beats_mask": INFO_LAST - 1,
                      "meaning": "bit 7: the frame holds the last beat of a response packet; bits "
                                 "[6:0]: the beats used (the rest of the body is zero padding)"},
        "errors": ("after any error the board drops bytes until the line has been idle for "
                   "`sizes.timeout_bytes` byte times, then sends the NAK; a frame cut short is "
                   "detected by such a gap (NAK TRUNCATED)"),
        "sizes": {"bytes_per_beat": bytes_per_beat, "max_payload": link.max_payload,
                  "data_beats": link.data_beats, "store_depth": link.store_depth,
                  "store_word_bytes": bytes_per_beat, "timeout_bytes": link.timeout_bytes,
                  "timeout_cycles": link.timeout_cycles, "control_body_bytes": CONTROL_BODY_BYTES},
    }
