"""The accelerator's host protocol and geometry: the one definition hardware and host share.

The hardware generators (:mod:`tritforge.hdl.accelerator` and its blocks) and the host side
(:mod:`tritforge.sim.protocol`, the FPGA host driver) both import these names; nothing else
defines an opcode, an error code, a field position or a capacity rule. Pure Python: no
Amaranth, no torch.

Packets
-------
The host link is a pair of AXI4-Stream channels of ``stream_width`` bits (a multiple of 32).
Everything travels as bytes, little-endian, byte ``i`` of a beat in ``tdata[8i+7:8i]``; every
packet is a whole number of beats and ends with ``tlast``.

A command is a *header beat*, then one *argument beat* per argument of its opcode
(:data:`ARGUMENTS`), then the payload (loads only):

* header: ``tdata[7:0]`` opcode, ``tdata[8]`` weight bank, ``tdata[9]`` activation bank; the
  other bits are reserved (write 0; the hardware ignores them);
* argument: an unsigned 32-bit value in ``tdata[31:0]``; the other bits are ignored;
* payload: *items*, each starting on a beat boundary and taking :meth:`AcceleratorParams.beats`
  beats (the unused high bits of an item's last beat are ignored). ``LOAD_WEIGHTS`` items are
  weight tiles (:attr:`AcceleratorParams.tile_bits`), ``LOAD_ACTS`` items are activation chunks
  (:attr:`AcceleratorParams.chunk_bits`).

Responses (``READ_RESULTS``, ``READ_STATUS``) are packets of 32-bit little-endian words,
:attr:`AcceleratorParams.words_per_beat` words per beat.

``READ_RESULTS`` returns, for each row block ``b`` of the last ``RUN`` and each token ``t``,
the ``rows`` sums of outputs ``b*rows .. b*rows+rows-1`` as sign-extended int32 words; each
such group starts on a beat boundary (the high words of its last beat are zero). Outputs
beyond ``N`` in the last row block are zero (their weights are padding).

``READ_STATUS`` returns :data:`STATUS_WORDS` words: word 0 holds the first error since the last
``CLEAR`` in bits ``[7:0]`` and the set of all errors seen (bit ``e`` for :class:`ErrorCode`
``e``) in bits ``[31:16]``; word 1 holds :class:`StatusFlag` bits; then each of
:data:`COUNTERS` as a 64-bit value, low word first.

Ordering and hazards
--------------------
Commands execute in order. ``RUN`` starts the sequencer and returns at once, so the next
commands (typically the loads of the next part into the other banks) proceed while it
computes. Every ``RUN`` must be followed by ``READ_RESULTS`` before the next ``RUN``;
``READ_RESULTS`` streams each row block as soon as it is complete. A load into a bank that a
running ``RUN`` reads waits for the run to finish (when its results are already requested) or
is refused with :attr:`ErrorCode.BANK_BUSY` (when they are not: waiting could deadlock).
``READ_STATUS`` and ``CLEAR`` wait until a result packet in flight has been sent. ``CLEAR``
also abandons a run whose results were never requested. The host must keep draining the
response channel while it sends commands.
"""

import enum
from dataclasses import dataclass

from .encoding import accumulator_bits

__all__ = [
    "Opcode", "ErrorCode", "StatusFlag", "ARGUMENTS", "WEIGHT_FORMATS", "COUNTERS",
    "ARG_BITS", "WORD_BITS", "COUNTER_BITS", "OPCODE_BITS", "WEIGHT_BANK_BIT", "ACT_BANK_BIT",
    "ERROR_MASK_SHIFT", "STATUS_WORDS", "MAX_STREAM_WIDTH", "RESULT_LIMIT_BITS",
    "AcceleratorParams", "check_params",
]

#: Width of an argument (``tdata[31:0]`` of an argument beat).
ARG_BITS = 32
#: Width of a response word (results, status).
WORD_BITS = 32
#: Header beat fields.
OPCODE_BITS = 8
WEIGHT_BANK_BIT = 8
ACT_BANK_BIT = 9
#: Width of each performance counter; sent as two words, low word first.
COUNTER_BITS = 64
#: Bit position of the error set in status word 0.
ERROR_MASK_SHIFT = 16
MAX_STREAM_WIDTH = 1024
#: Results are int32: the accumulators must fit.
RESULT_LIMIT_BITS = 32

WEIGHT_FORMATS = ("2bit", "base3")


class Opcode(enum.IntEnum):
    """Command opcodes (header beat bits ``[7:0]``)."""
    LOAD_WEIGHTS = 0b0000_0001
    LOAD_ACTS = 0b0000_0010
    RUN = 0b0000_0011
    READ_RESULTS = 0b0000_0100
    READ_STATUS = 0b0000_0101
    CLEAR = 0b0000_0110


#: Argument beats of each opcode, in order.
ARGUMENTS = {
    Opcode.LOAD_WEIGHTS: ("tiles",),
    Opcode.LOAD_ACTS: ("chunks",),
    Opcode.RUN: ("tokens", "k", "n"),
    Opcode.READ_RESULTS: (),
    Opcode.READ_STATUS: (),
    Opcode.CLEAR: (),
}


class ErrorCode(enum.IntEnum):
    """Sticky error codes; the first one since ``CLEAR`` is reported (status word 0).

    The decoder checks a command in this order and stops at the first failure: opcode,
    length of the argument part, argument values (zero, then capacity), sequencing, then the
    payload length. A refused command does nothing; its remaining beats up to ``tlast`` are
    dropped. A load whose payload is too short keeps the items received.
    """
    NONE = 0b0000
    #: Unknown opcode.
    OPCODE = 0b0001
    #: A size argument is zero.
    ZERO_SIZE = 0b0010
    #: A size is over the configured capacity (see :meth:`AcceleratorParams.check_run`).
    CAPACITY = 0b0011
    #: ``tlast`` came before or after the end the header announces.
    LENGTH = 0b0100
    #: A load into a bank read by a ``RUN`` whose results have not been requested.
    BANK_BUSY = 0b0101
    #: ``RUN`` before the previous ``RUN``'s results were requested.
    RESULTS_PENDING = 0b0110
    #: ``READ_RESULTS`` with no ``RUN`` to read from.
    NO_RESULTS = 0b0111
    #: A weight byte or code that encodes no weight (base-3 byte >= 243, 2-bit code 3) was
    #: met by a ``RUN``; it contributed zero.
    INVALID_WEIGHT = 0b1000


class StatusFlag(enum.IntFlag):
    """Status word 1."""
    #: The sequencer is executing a ``RUN``.
    RUNNING = 0b0001
    #: A ``RUN`` has been accepted and its results not yet requested.
    RESULTS_PENDING = 0b0010
    #: A ``READ_RESULTS`` packet is being sent.
    STREAMING = 0b0100


#: Performance counters in status order. All count cycles since reset or ``CLEAR`` except
#: ``macs``. ``cycles``: every cycle. ``busy``: the sequencer executes a ``RUN``.
#: ``compute``: the matrix unit accepts a chunk. ``stall_in``: the sequencer is idle,
#: waiting for the input link to deliver the next ``RUN`` and its data. ``stall_out``: busy,
#: no chunk accepted, because the accumulator buffer waits for results to be sent.
#: ``macs``: multiply-accumulates of the layers (padding excluded: ``T*K*N`` per ``RUN``).
#: Control overhead is ``busy - compute - stall_out``.
COUNTERS = ("cycles", "busy", "compute", "stall_in", "stall_out", "macs")
STATUS_WORDS = 2 + len(COUNTERS) * (COUNTER_BITS // WORD_BITS)


@dataclass(frozen=True)
class AcceleratorParams:
    """Parameters of an accelerator, checked, with the quantities derived from them.

    Parameters
    ----------
    rows, cols : int
        Matrix unit shape: ``rows`` outputs, ``cols`` inputs per chunk.
    act_bits : int
        Signed activation width, 2..16.
    max_k : int
        Largest ``K`` of one ``RUN``; sizes the accumulators, which must fit int32.
    pipeline : int
        The matrix unit's pipeline setting (see ``TernaryMatrixUnit``).
    weight_format : str
        ``"2bit"`` or ``"base3"`` (:mod:`tritforge.golden.packing`).
    weight_depth : int
        Tiles per weight bank (two banks).
    act_depth : int
        Activation chunks per activation bank (two banks).
    max_tokens : int
        Largest ``T`` of one ``RUN`` (the accumulator buffer holds two row blocks of it).
    stream_width : int
        ``tdata`` width of both AXI4-Stream channels: a multiple of 32, at most 1024.

    Raises
    ------
    TypeError
        A parameter of the wrong kind.
    ValueError
        A parameter out of range; the message names it, the rule and the value.
    """
    rows: int = 4
    cols: int = 16
    act_bits: int = 8
    max_k: int = 1024
    pipeline: int = 1
    weight_format: str = "2bit"
    weight_depth: int = 64
    act_depth: int = 64
    max_tokens: int = 16
    stream_width: int = 32

    def __post_init__(self):
        for name in ("rows", "cols", "max_k", "weight_depth", "act_depth", "max_tokens"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_int("act_bits", self.act_bits, minimum=2)
        if self.act_bits > 16:
            raise ValueError(f"act_bits must be an integer in 2..16, not {self.act_bits!r}")
        _check_int("pipeline", self.pipeline, minimum=0)
        _check_int("stream_width", self.stream_width, minimum=WORD_BITS)
        if self.stream_width % WORD_BITS or self.stream_width > MAX_STREAM_WIDTH:
            raise ValueError(f"stream_width must be a multiple of {WORD_BITS} in "
                             f"{WORD_BITS}..{MAX_STREAM_WIDTH}, not {self.stream_width!r}")
        if not isinstance(self.weight_format, str):
            raise TypeError(f"weight_format must be a string, not {self.weight_format!r}")
        if self.weight_format not in WEIGHT_FORMATS:
            raise ValueError(f"weight_format must be one of {', '.join(WEIGHT_FORMATS)}, "
                             f"not {self.weight_format!r}")
        if self.max_tokens > self.act_depth:
            raise ValueError(f"max_tokens must be at most act_depth ({self.act_depth}) so that "
                             f"every token fits the activation bank, not {self.max_tokens!r}")
        if self.acc_bits > RESULT_LIMIT_BITS:
            raise ValueError(f"max_k must keep the accumulators within {RESULT_LIMIT_BITS} bits "
                             f"(results are int32): max_k = {self.max_k} with act_bits = "
                             f"{self.act_bits} needs {self.acc_bits}")

    # --- widths ------------------------------------------------------------------------------
    @property
    def acc_bits(self):
        """Signed width of the accumulator buffer: any sum of ``max_k`` products."""
        return accumulator_bits(self.max_k, self.act_bits)

    @property
    def partial_bits(self):
        """Signed width of the matrix unit's per-chunk sums (it sums ``cols`` products)."""
        return accumulator_bits(self.cols, self.act_bits)

    @property
    def weight_row_bytes(self):
        """Bytes of one tile row: the golden packing of ``cols`` weights."""
        per_byte = 4 if self.weight_format == "2bit" else 5
        return -(-self.cols // per_byte)

    @property
    def tile_bits(self):
        """Bits of one weight tile (one weight-memory word): ``rows`` packed rows."""
        return self.rows * self.weight_row_bytes * 8

    @property
    def chunk_bits(self):
        """Bits of one activation chunk: ``cols`` activations, activation ``c`` at bit
        ``c * act_bits``."""
        return self.cols * self.act_bits

    @property
    def words_per_beat(self):
        return self.stream_width // WORD_BITS

    @property
    def bytes_per_beat(self):
        return self.stream_width // 8

    def beats(self, bits):
        """Beats of one item of ``bits`` bits (items start on beat boundaries)."""
        return -(-bits // self.stream_width)

    @property
    def tile_beats(self):
        return self.beats(self.tile_bits)

    @property
    def chunk_beats(self):
        return self.beats(self.chunk_bits)

    @property
    def group_beats(self):
        """Beats of one result group (``rows`` words of one token and row block)."""
        return self.beats(self.rows * WORD_BITS)

    @property
    def status_beats(self):
        return self.beats(STATUS_WORDS * WORD_BITS)

    # --- shapes ------------------------------------------------------------------------------
    def chunks(self, k):
        """K-chunks of a layer of ``k`` inputs."""
        return -(-k // self.cols)

    def row_blocks(self, n):
        """Row blocks of a layer of ``n`` outputs."""
        return -(-n // self.rows)

    def check_run(self, tokens, k, n):
        """The error a ``RUN`` of this shape gets, :attr:`ErrorCode.NONE` if it fits.

        The hardware applies the same rules: every size at least 1; ``tokens <= max_tokens``,
        ``k <= max_k``, tiles ``chunks(k) * row_blocks(n) <= weight_depth`` and activation
        chunks ``tokens * chunks(k) <= act_depth``.
        """
        if min(tokens, k, n) < 1:
            return ErrorCode.ZERO_SIZE
        if tokens > self.max_tokens or k > self.max_k or n > self.weight_depth * self.rows:
            return ErrorCode.CAPACITY
        if (self.chunks(k) * self.row_blocks(n) > self.weight_depth
                or tokens * self.chunks(k) > self.act_depth):
            return ErrorCode.CAPACITY
        return ErrorCode.NONE


def check_params(params):
    """``params`` if it is an :class:`AcceleratorParams`, else ``TypeError``."""
    if not isinstance(params, AcceleratorParams):
        raise TypeError(f"params must be an AcceleratorParams, not {params!r}")
    return params


def _check_int(name, value, *, minimum):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
