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
such group starts on a beat boundary (the high words of its last beat are zero).

``READ_STATUS`` returns :attr:`AcceleratorParams.status_words
<tritforge.spec.params.AcceleratorParams.status_words>` words: word 0 holds the first error
since the last ``CLEAR`` in bits ``[7:0]`` and the set of all errors seen (bit ``e`` for
:class:`ErrorCode` ``e``) in bits ``[31:16]``; word 1 holds :class:`StatusFlag` bits; then
(unless ``counter_bits`` is 0) each of :data:`COUNTERS` as a ``counter_bits`` value
zero-extended to ``counter_words`` words, low word first.

:mod:`tritforge.spec.contract` turns these definitions into the full byte-level
specification (``docs/accelerator.md``, section Protocol, is generated from it).

Padding
-------
The hardware does not mask the lanes of the last K-chunk beyond ``K`` or the rows of the
last row block beyond ``N``: it multiplies whatever the tiles and chunks hold. The contract
is that the **weight codes beyond K and beyond N are ZERO** (:attr:`WeightCode.ZERO
<tritforge.spec.formats.WeightCode.ZERO>`, what the packers of :mod:`tritforge.spec.formats`
and :mod:`tritforge.sim.protocol` write). Then the activations beyond ``K`` do not matter (a
ZERO weight adds 0 whatever it multiplies) and the results beyond ``N`` are 0. Any other
code there changes the results.

Ordering and hazards
--------------------
Commands execute in order. ``RUN`` starts the sequencer and returns at once, so the next
commands (typically the loads of the next part into the other banks) proceed while it
computes. Every ``RUN`` must be followed by ``READ_RESULTS`` before the next ``RUN``;
``READ_RESULTS`` streams each row block as soon as it is complete. A load into a bank of the
last ``RUN`` waits for the run to finish when its results are already requested, and is
refused with :attr:`ErrorCode.BANK_BUSY` while they are not (finished or not: waiting could
deadlock).
``READ_STATUS`` and ``CLEAR`` wait until a result packet in flight has been sent. ``CLEAR``
also abandons a run whose results were never requested. The host must keep draining the
response channel while it sends commands.
"""

import dataclasses
import enum

__all__ = [
    "Opcode", "ErrorCode", "StatusFlag", "ARGUMENTS", "COUNTERS", "COUNTER_DESCRIPTIONS", "CHECKS",
    "Check", "ARG_BITS", "WORD_BITS", "MIN_COUNTER_BITS", "MAX_COUNTER_BITS", "OPCODE_BITS",
    "WEIGHT_BANK_BIT", "ACT_BANK_BIT", "ERROR_BITS", "ERROR_MASK_SHIFT", "STATUS_HEADER_WORDS",
    "MAX_STREAM_WIDTH", "RESULT_LIMIT_BITS", "ERROR_SET_BITS", "PROTOCOL_VERSION",
]

#: Version of this protocol, ``"MAJOR.MINOR"``: a new minor version only adds (an opcode, an
#: error code, a counter at the end); anything a host relies on changing is a new major one.
#: It travels in the manifest and the C header of every generated design.
PROTOCOL_VERSION = "1.0"

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
#: Width of the first error in status word 0 (bits ``[7:0]``).
ERROR_BITS = 8
#: Bit position of the error set in status word 0, and its width (one bit per error code).
ERROR_MASK_SHIFT = 16
ERROR_SET_BITS = 16
MAX_STREAM_WIDTH = 1024
#: Results are int32: the accumulators must fit.
RESULT_LIMIT_BITS = 32


def _described(cls, value, description):
    """``__new__`` of the enumerations below: a member is ``value, description``, so what a
    code means is data next to its value (:mod:`.contract` puts it into the docs)."""
    member = int.__new__(cls, value)
    member._value_ = value
    member.description = description
    return member


class Opcode(enum.IntEnum):
    """Command opcodes (header beat bits ``[7:0]``); ``description`` says what each does."""
    __new__ = _described
    LOAD_WEIGHTS = 0b0000_0001, ("Write the `tiles` weight tiles of the payload to addresses 0, 1, ... "
                                 "of weight bank `weight_bank`.")
    LOAD_ACTS = 0b0000_0010, ("Write the `chunks` activation chunks of the payload to addresses 0, 1, "
                              "... of activation bank `act_bank`.")
    RUN = 0b0000_0011, ("Compute `Y[T x N] = X[T x K] . W^T` from weight bank `weight_bank` and "
                        "activation bank `act_bank`. Returns at once; the sequencer starts when idle.")
    READ_RESULTS = 0b0000_0100, ("Send the results of the last accepted `RUN` as one packet, each row "
                                 "block as soon as it is complete.")
    READ_STATUS = 0b0000_0101, "Send the status words as one packet (a snapshot of one cycle)."
    CLEAR = 0b0000_0110, ("Zero the error, the error set and the counters, forget the pending results, "
                          "abandon a run in progress. Memory contents stay.")


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

    The decoder checks a command in the order of :data:`CHECKS` and stops at the first
    failure. A refused command does nothing (except that a load whose payload is too short
    keeps the items received, and one that is too long writes all its items); its remaining
    beats up to ``tlast`` are dropped. The error is latched, nothing else: the commands
    after it execute as usual, ``CLEAR`` or not. ``description`` says what each code means.
    """
    __new__ = _described
    NONE = 0b0000, "No error."
    OPCODE = 0b0001, "Unknown opcode."
    ZERO_SIZE = 0b0010, "A size argument is zero: `T`, `K`, `N` or a load's count."
    CAPACITY = 0b0011, ("A size is over the configured capacity (`AcceleratorParams.check_run`): "
                        "`T > max_tokens`, `K > max_k`, `N > weight_depth * rows`, "
                        "`KC * NB > weight_depth` tiles, `T * KC > act_depth` chunks, or a load's "
                        "count over its bank's depth.")
    LENGTH = 0b0100, "`tlast` came before or after the end the header announces."
    BANK_BUSY = 0b0101, "A load into a bank read by a `RUN` whose results have not been requested."
    RESULTS_PENDING = 0b0110, "`RUN` before the previous `RUN`'s results were requested."
    NO_RESULTS = 0b0111, "`READ_RESULTS` with no `RUN` to read from."
    INVALID_WEIGHT = 0b1000, ("A `RUN` used a tile holding a value that encodes no weight (2-bit "
                              "code 3 of a lane, base-3 byte >= 243); the run went on, with that "
                              "code (the byte's five codes) counting as ZERO.")


@dataclasses.dataclass(frozen=True)
class Check:
    """One step of the decoder's checks: its ``name``, the ``errors`` it raises (in the order it
    tests them) and the ``rule`` a command must meet to pass it."""
    name: str
    errors: tuple
    rule: str


#: The checks of a command, in the order the decoder makes them; it stops at the first
#: failure. ``INVALID_WEIGHT`` is no check: a ``RUN`` raises it while it runs.
CHECKS = (
    Check("opcode", (ErrorCode.OPCODE,), "The opcode is one of `Opcode`."),
    Check("argument length", (ErrorCode.LENGTH,),
          "`tlast` is on the header of a command without arguments and on `RUN`'s last argument, "
          "and on no earlier beat of a command with arguments."),
    Check("values", (ErrorCode.ZERO_SIZE, ErrorCode.CAPACITY),
          "Every size argument is at least 1, then within the capacity."),
    Check("sequencing", (ErrorCode.BANK_BUSY, ErrorCode.RESULTS_PENDING, ErrorCode.NO_RESULTS),
          "A load's bank is not read by a run whose results are unrequested; `RUN` comes after "
          "the previous run's `READ_RESULTS`; `READ_RESULTS` has a run to read."),
    Check("payload length", (ErrorCode.LENGTH,),
          "A load has a payload, and `tlast` is on the last beat of its last item."),
)


class StatusFlag(enum.IntFlag):
    """Status word 1; ``description`` says what each flag means."""
    __new__ = _described
    RUNNING = 0b0001, "The sequencer is executing a `RUN`."
    RESULTS_PENDING = 0b0010, "A `RUN` has been accepted and its results not yet requested."
    STREAMING = 0b0100, ("A `READ_RESULTS` packet is being sent. Never set in a `READ_STATUS` "
                         "response: the status waits until no other response is being sent.")


#: What each performance counter counts, in status order. All count cycles since reset or
#: ``CLEAR`` except ``macs``; control overhead is ``busy - compute - stall_out``.
COUNTER_DESCRIPTIONS = {
    "cycles": "Every cycle.",
    "busy": "The sequencer executes a `RUN`.",
    "compute": "The matrix unit accepts a chunk.",
    "stall_in": ("The sequencer is idle, waiting for the input link to deliver the next `RUN` "
                 "and its data (`cycles - busy`)."),
    "stall_out": ("The sequencer is busy and no chunk is accepted because the accumulator buffer "
                  "waits for results to be sent."),
    "macs": ("Not cycles: multiply-accumulates of the layers, padding excluded (`T*K*N` per "
             "`RUN`)."),
}
#: Performance counters in status order.
COUNTERS = tuple(COUNTER_DESCRIPTIONS)
