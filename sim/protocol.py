"""Host side of the accelerator protocol: encode commands, tile and pack layers, decode responses.

Pure Python and numpy (no torch, no Amaranth, no cocotb), shared by the cocotb testbenches
and the FPGA host driver. The numbers (opcodes, fields) come from
:mod:`tritforge.spec.protocol` and the weight packing from :mod:`tritforge.spec.formats`;
this module turns them into bytes and back. Arrays may be numpy arrays or CPU torch tensors.

Every function takes the accelerator's :class:`~tritforge.spec.params.AcceleratorParams`:
a packet's layout depends on the stream width and the tile shape.
"""

from dataclasses import dataclass

import numpy as np

from ..spec.formats import pack_weights
from ..spec.params import check_params
from ..spec.protocol import (ACT_BANK_BIT, ARG_BITS, ARGUMENTS, COUNTERS, ERROR_BITS,
                             ERROR_MASK_SHIFT, STATUS_HEADER_WORDS, WEIGHT_BANK_BIT, WORD_BITS,
                             ErrorCode, Opcode, StatusFlag)

__all__ = [
    "ProtocolError", "Status", "encode_command", "load_weights", "load_acts", "run",
    "read_results", "read_status", "clear", "pack_tiles", "pack_chunks", "decode_results",
    "decode_status", "result_packet_bytes",
]

_WORD_BYTES = WORD_BITS // 8
_ALL_FLAGS = sum(StatusFlag)


class ProtocolError(ValueError):
    """A response that does not have the shape the protocol defines."""


# --- commands -------------------------------------------------------------------------------

def encode_command(params, opcode, args=(), items=(), *, weight_bank=0, act_bank=0):
    """One command packet: header beat, one beat per argument, then the payload items.

    ``items`` are byte strings, each padded to whole beats (items start on beat boundaries).
    Raises ``ValueError`` when the arguments do not match the opcode or do not fit 32 bits.
    """
    check_params(params)
    opcode = Opcode(opcode)
    if len(args) != len(ARGUMENTS[opcode]):
        raise ValueError(f"{opcode.name} takes {len(ARGUMENTS[opcode])} arguments "
                         f"({', '.join(ARGUMENTS[opcode]) or 'none'}), not {len(args)}")
    for name, value in zip(ARGUMENTS[opcode], args):
        if not isinstance(value, (int, np.integer)) or not 0 <= value < 2 ** ARG_BITS:
            raise ValueError(f"argument {name} must be an integer in 0..2**{ARG_BITS}-1, not {value!r}")
    for name, bank in (("weight_bank", weight_bank), ("act_bank", act_bank)):
        if bank not in (0, 1):
            raise ValueError(f"{name} must be 0 or 1, not {bank!r}")
    header = int(opcode) | weight_bank << WEIGHT_BANK_BIT | act_bank << ACT_BANK_BIT
    beats = [_beat(params, header.to_bytes(4, "little"))]
    beats += [_beat(params, int(value).to_bytes(4, "little")) for value in args]
    size = params.bytes_per_beat
    # Items of whole beats (most of them) need no padding.
    beats += [item if item and len(item) % size == 0 else _beat(params, item) for item in items]
    return b"".join(beats)


def load_weights(params, bank, tiles):
    """``LOAD_WEIGHTS`` of packed ``tiles`` (byte strings, :func:`pack_tiles`) into ``bank``."""
    return encode_command(params, Opcode.LOAD_WEIGHTS, (len(tiles),), tiles, weight_bank=bank)


def load_acts(params, bank, chunks):
    """``LOAD_ACTS`` of packed ``chunks`` (byte strings, :func:`pack_chunks`) into ``bank``."""
    return encode_command(params, Opcode.LOAD_ACTS, (len(chunks),), chunks, act_bank=bank)


def run(params, tokens, k, n, *, weight_bank, act_bank):
    """``RUN``: ``Y[tokens x n] = X[tokens x k] . W^T`` from the given banks."""
    return encode_command(params, Opcode.RUN, (tokens, k, n), weight_bank=weight_bank,
                          act_bank=act_bank)


def read_results(params):
    return encode_command(params, Opcode.READ_RESULTS)


def read_status(params):
    return encode_command(params, Opcode.READ_STATUS)


def clear(params):
    return encode_command(params, Opcode.CLEAR)


# --- layers ---------------------------------------------------------------------------------

def pack_tiles(params, w_t):
    """The weight tiles of ``w_t`` ``[N, K]`` in sequencer order: row block, then K-chunk.

    Tile ``(b, kc)`` holds rows ``b*rows ..`` and columns ``kc*cols ..``, zero-padded, each
    row packed in ``params.weight_format`` (:func:`tritforge.spec.formats.pack_weights`).
    Returns a list of ``chunks(K) * row_blocks(N)`` byte strings of
    ``rows * weight_row_bytes`` bytes.
    """
    check_params(params)
    w_t = np.asarray(w_t)
    if w_t.ndim != 2 or 0 in w_t.shape:
        raise ValueError(f"w_t must be a non-empty [N, K] matrix, not shape {w_t.shape}")
    n, k = w_t.shape
    blocks, chunks = params.row_blocks(n), params.chunks(k)
    padded = np.zeros((blocks * params.rows, chunks * params.cols), dtype=np.int8)
    padded[:n, :k] = w_t
    # One pack_weights call for every tile row (rows x chunks, cols each), then tiles in order.
    rows = pack_weights(padded.reshape(blocks * params.rows * chunks, params.cols), params.weight_format)
    tiles = rows.reshape(blocks, params.rows, chunks, -1).transpose(0, 2, 1, 3)
    return [tile.tobytes() for tile in tiles.reshape(blocks * chunks, -1)]


def pack_chunks(params, x_q):
    """The activation chunks of ``x_q`` ``[T, K]`` in buffer order: token, then K-chunk.

    Chunk ``(t, kc)`` holds activations ``kc*cols ..`` of token ``t`` (zero-padded), each as
    ``act_bits`` two's-complement bits, activation ``c`` at bit ``c * act_bits``.
    """
    check_params(params)
    x = np.asarray(x_q, dtype=np.int64)
    if x.ndim != 2 or 0 in x.shape:
        raise ValueError(f"x_q must be a non-empty [T, K] matrix, not shape {x.shape}")
    low, high = -2 ** (params.act_bits - 1), 2 ** (params.act_bits - 1) - 1
    if x.min() < low or x.max() > high:
        raise ValueError(f"x_q must hold {params.act_bits}-bit values in {low}..{high}, "
                         f"found [{x.min()}, {x.max()}]")
    tokens, k = x.shape
    chunks = params.chunks(k)
    padded = np.zeros((tokens, chunks * params.cols), dtype=np.int64)
    padded[:, :k] = x
    values = padded.reshape(tokens * chunks, params.cols) & (2 ** params.act_bits - 1)
    if params.act_bits == 8:
        data, size = values.astype(np.uint8).tobytes(), params.cols
        return [data[start:start + size] for start in range(0, len(data), size)]
    nbytes = -(-params.chunk_bits // 8)
    shifts = [c * params.act_bits for c in range(params.cols)]
    return [sum(int(v) << s for v, s in zip(row, shifts)).to_bytes(nbytes, "little") for row in values]


# --- responses ------------------------------------------------------------------------------

def result_packet_bytes(params, tokens, n):
    """Length of the ``READ_RESULTS`` packet of a ``RUN`` of ``tokens x n`` outputs."""
    return params.row_blocks(n) * tokens * params.group_beats * params.bytes_per_beat


def decode_results(params, packet, tokens, n):
    """int32 ``[tokens, n]`` from a ``READ_RESULTS`` packet; :class:`ProtocolError` if its
    length is not the one the run's shape gives."""
    check_params(params)
    expected = result_packet_bytes(params, tokens, n)
    if len(packet) != expected:
        raise ProtocolError(f"result packet of {len(packet)} bytes, expected {expected} for "
                            f"{tokens} tokens x {n} outputs")
    blocks = params.row_blocks(n)
    group_words = params.group_beats * params.words_per_beat
    words = np.frombuffer(bytes(packet), dtype="<i4").reshape(blocks, tokens, group_words)
    values = words[:, :, :params.rows].transpose(1, 0, 2).reshape(tokens, blocks * params.rows)
    return values[:, :n].astype(np.int32)


@dataclass(frozen=True)
class Status:
    """A decoded ``READ_STATUS`` packet."""
    error: ErrorCode
    errors: frozenset
    flags: StatusFlag
    counters: dict

    @property
    def overhead(self):
        """Busy cycles neither computing nor stalled on the output: control overhead."""
        c = self.counters
        return c["busy"] - c["compute"] - c["stall_out"]


def decode_status(params, packet):
    """:class:`Status` from a ``READ_STATUS`` packet; :class:`ProtocolError` for a packet of
    the wrong length, an unknown error code, a reserved bit or an undefined flag set, a first
    error that is not in the error set, or a counter wider than ``counter_bits``."""
    check_params(params)
    expected = params.status_beats * params.bytes_per_beat
    if len(packet) != expected:
        raise ProtocolError(f"status packet of {len(packet)} bytes, expected {expected}")
    words = [int.from_bytes(packet[i * _WORD_BYTES:(i + 1) * _WORD_BYTES], "little")
             for i in range(params.status_words)]
    mask = words[0] >> ERROR_MASK_SHIFT
    if words[0] >> ERROR_BITS & ((1 << ERROR_MASK_SHIFT - ERROR_BITS) - 1) or mask & 1:
        raise ProtocolError(f"status word 0 = {words[0]:#010x} has reserved bits set")
    try:
        error = ErrorCode(words[0] & ((1 << ERROR_BITS) - 1))
        errors = frozenset(ErrorCode(code) for code in range(16) if mask >> code & 1)
    except ValueError as exc:
        raise ProtocolError(f"status word 0 = {words[0]:#010x} holds an unknown error code") from exc
    # The first error is one of the set, and there is a first error whenever the set has one.
    if (error != ErrorCode.NONE) != bool(errors) or (error and error not in errors):
        raise ProtocolError(f"status word 0 = {words[0]:#010x}: first error {error.name} does not "
                            f"match the error set {sorted(e.name for e in errors)}")
    if words[1] & ~_ALL_FLAGS:
        raise ProtocolError(f"status word 1 = {words[1]:#010x} has undefined flag bits set")
    per_counter = params.counter_words
    counters = {}
    for index, name in enumerate(COUNTERS if per_counter else ()):
        first = STATUS_HEADER_WORDS + index * per_counter
        parts = words[first:first + per_counter]
        counters[name] = sum(word << (WORD_BITS * i) for i, word in enumerate(parts))
        if counters[name] >> params.counter_bits:
            raise ProtocolError(f"counter {name} = {counters[name]:#x} is wider than "
                                f"counter_bits = {params.counter_bits}")
    return Status(error, errors, StatusFlag(words[1]), counters)


def _beat(params, data):
    """``data`` padded with zeros to whole beats."""
    size = params.bytes_per_beat
    return bytes(data) + bytes(-len(data) % size) if data else bytes(size)


