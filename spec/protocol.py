"""The accelerator's host protocol and geometry: the one definition hardware and host share.

The hardware generators (:mod:`tritforge.hdl.accelerator` and its blocks) and the host side
(:mod:`tritforge.sim.protocol`, the FPGA host driver) both import these names; nothing else
defines an opcode, an error code or a field position (the geometry and the capacity rule are
:class:`~tritforge.spec.params.AcceleratorParams`). Pure Python: no Amaranth, no torch.

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
* payload: *items*, each starting on a beat boundary and taking
  :meth:`AcceleratorParams.beats <tritforge.spec.params.AcceleratorParams.beats>` beats (the
  unused high bits of an item's last beat are ignored). ``LOAD_WEIGHTS`` items are weight
  tiles (``tile_bits``), ``LOAD_ACTS`` items are activation chunks (``chunk_bits``).

Responses (``READ_RESULTS``, ``READ_STATUS``) are packets of 32-bit little-endian words,
:attr:`~tritforge.spec.params.AcceleratorParams.words_per_beat` words per beat.

``READ_RESULTS`` returns, for each row block ``b`` of the last ``RUN`` and each token ``t``,
the ``rows`` sums of outputs ``b*rows .. b*rows+rows-1`` as sign-extended int32 words; each
such group starts on a beat boundary (the high words of its last beat are zero). Outputs
beyond ``N`` in the last row block are zero (their weights are padding).

``READ_STATUS`` returns :attr:`AcceleratorParams.status_words
<tritforge.spec.params.AcceleratorParams.status_words>` words: word 0 holds the first error
since the last ``CLEAR`` in bits ``[7:0]`` and the set of all errors seen (bit ``e`` for
:class:`ErrorCode` ``e``) in bits ``[31:16]``; word 1 holds :class:`StatusFlag` bits; then
(unless ``counter_bits`` is 0) each of :data:`COUNTERS` as a ``counter_bits`` value
zero-extended to ``counter_words`` words, low word first.

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

__all__ = [
    "Opcode", "ErrorCode", "StatusFlag", "ARGUMENTS", "COUNTERS",
    "ARG_BITS", "WORD_BITS", "MIN_COUNTER_BITS", "MAX_COUNTER_BITS", "OPCODE_BITS",
    "WEIGHT_BANK_BIT", "ACT_BANK_BIT", "ERROR_MASK_SHIFT", "STATUS_HEADER_WORDS", "MAX_STREAM_WIDTH", "RESULT_LIMIT_BITS", "ERROR_SET_BITS",
]

#: Width of an argument (``tdata[31:0]`` of an argument beat).
ARG_BITS = 32
#: Width of a response word (results, status).
WORD_BITS = 32
#: Header beat fields.
OPCODE_BITS = 8
WEIGHT_BANK_BIT = 8
ACT_BANK_BIT = 9
#: Widths a performance counter may have (``AcceleratorParams.counter_bits``; 0: none).
MIN_COUNTER_BITS, MAX_COUNTER_BITS = 16, 64
#: Status words before the counters: the error word and the flag word.
STATUS_HEADER_WORDS = 2
#: Bit position of the error set in status word 0, and its width (one bit per error code).
ERROR_MASK_SHIFT = 16
ERROR_SET_BITS = 16
MAX_STREAM_WIDTH = 1024
#: Results are int32: the accumulators must fit.
RESULT_LIMIT_BITS = 32


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
    #: A size is over the configured capacity (see :meth:`~tritforge.spec.params.AcceleratorParams.check_run`).
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
