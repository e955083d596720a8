"""Stimulus and scoreboard for the matrix units' streams, whichever simulator runs them.

One valid/ready driver for :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit` and
:class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit`, shared by the Amaranth tests, the
cocotb testbench (:mod:`tritforge.sim.tb_matrix_unit`) and the activity workload:

* :class:`Product` - one dot product per row, as the unit takes it: activations ``[K]`` and
  weights ``[rows][K]`` (:class:`~tritforge.spec.formats.WeightCode` values for the ternary
  unit, signed integers for the int unit);
* :func:`product_chunks` / :func:`stream_chunks` - the chunks that carry products: ``cols``
  lanes each, the last one padded (activation 0, weight :func:`zero_weight`), ``first`` on
  the first chunk and ``last`` on the last of every product;
* :func:`product_lengths`, :func:`random_product`, :func:`random_products` - random
  products of a unit, always including the edge lengths;
* :class:`StreamDriver` - the cycle-level decisions and bookkeeping: what to drive on
  ``i.valid``, ``i.payload`` and ``o.ready`` each cycle, which chunks were accepted and which
  results received, and when, and the check that a stalled result stays put;
* :func:`check_results` - the scoreboard: received results against expected ones, the first
  mismatch reported with its product, row, cycle, inputs, expected and got values.

Pure Python: payloads are packed and decoded with the unit's own layouts
(:meth:`~tritforge.hdl.matrix_unit.MatrixUnitBase.chunk_layout`, ``result_layout``), so the
stimulus cannot disagree with the hardware about bit positions. No simulator is imported;
a simulator's loop only sets and reads the signals and waits for the clock edge. Expected
values come from the caller (the golden model is not a dependency of ``hdl``).
"""

import collections
import dataclasses
import math
import random
from collections.abc import Mapping, Sequence

from amaranth.hdl import Shape, Value

from ..spec.errors import ParameterError, ParameterTypeError, check_integer
from ..spec.formats import WeightCode
from .matrix_unit import MatrixUnitBase, TernaryMatrixUnit

__all__ = ["Product", "Drive", "Result", "StreamCheckError", "StreamDriver", "zero_weight",
           "product_chunks", "stream_chunks", "product_lengths", "random_product",
           "random_products", "check_results"]

#: The keys of a chunk (the fields of the unit's ``chunk_layout()``).
CHUNK_KEYS = ("act", "weights", "first", "last")

#: What the driver asks the simulator to drive in one cycle; ``None``: keep driving the
#: previous value (a simulator write can cost a full settle of the design).
Drive = collections.namedtuple("Drive", ["valid", "payload", "ready"])

#: A result received: the cycle of its ``o`` handshake, ``acc`` per row, the INVALID flag.
Result = collections.namedtuple("Result", ["cycle", "acc", "invalid"])


class StreamCheckError(AssertionError):
    """The hardware broke the stream's contract or gave a wrong result (a test failure)."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_unit(unit):
    if not isinstance(unit, MatrixUnitBase):
        raise ParameterTypeError(f"unit must be a matrix unit (TernaryMatrixUnit or IntMatrixUnit), "
                                 f"not {unit!r}")
    return unit


def _check_probability(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ParameterTypeError(f"{name} must be a probability in [0, 1), not {value!r}")
    if not 0 <= value < 1:
        raise ParameterError(f"{name} must be a probability in [0, 1), not {value!r}")
    return value


def _check_rng(rng):
    if not isinstance(rng, random.Random):
        raise ParameterTypeError(f"rng must be a random.Random, not {rng!r}")
    return rng


def _shape_range(shape):
    """The integers a plain shape holds, as a range."""
    shape = Shape.cast(shape)
    if shape.signed:
        return range(-(1 << (shape.width - 1)), 1 << (shape.width - 1))
    return range(1 << shape.width)


def _lane_ranges(unit):
    """The values an activation and a weight of ``unit``'s chunks hold, as ranges."""
    layout = unit.chunk_layout()
    return (_shape_range(layout["act"].shape.elem_shape),
            _shape_range(layout["weights"].shape.elem_shape.elem_shape))


def _int_row(name, values):
    """``values`` as a tuple of integers, else a type error naming ``name``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise ParameterTypeError(f"{name} must be a sequence of integers, not {values!r}")
    for index, value in enumerate(values):
        if not _is_int(value):
            raise ParameterTypeError(f"{name}[{index}] must be an integer, not {value!r}")
    return tuple(int(value) for value in values)


@dataclasses.dataclass(frozen=True)
class Product:
    """One dot product per row, as a matrix unit takes it.

    Parameters
    ----------
    act : sequence of int
        The K activations (K >= 1), shared by every row.
    weights : sequence of sequences of int
        One row of K weights per unit row: :class:`~tritforge.spec.formats.WeightCode`
        values for the ternary unit, signed integers for the int unit. ``weights[r][k]``
        multiplies ``act[k]`` in row ``r``.

    Both are stored as tuples of ``int``. Their ranges are checked against a unit when the
    product is chunked (:func:`product_chunks`) and its chunks packed (:class:`StreamDriver`).

    Raises
    ------
    TypeError
        If ``act`` or a weight row is not a sequence of integers.
    ValueError
        If ``act`` is empty, ``weights`` has no row, or a row's length is not K.
    """
    act: tuple
    weights: tuple

    def __post_init__(self):
        act = _int_row("act", self.act)
        if not act:
            raise ParameterError("act must hold at least one activation (K >= 1), not ()")
        if isinstance(self.weights, (str, bytes)) or not isinstance(self.weights, Sequence):
            raise ParameterTypeError(f"weights must be a sequence of rows, not {self.weights!r}")
        if not self.weights:
            raise ParameterError("weights must hold at least one row, not ()")
        weights = tuple(_int_row(f"weights[{row}]", values) for row, values in enumerate(self.weights))
        for row, values in enumerate(weights):
            if len(values) != len(act):
                raise ParameterError(f"weights[{row}] must hold K = {len(act)} weights like act, "
                                     f"not {len(values)}")
        object.__setattr__(self, "act", act)
        object.__setattr__(self, "weights", weights)

    @property
    def k(self):
        """K, the length of the dot products."""
        return len(self.act)


def zero_weight(unit):
    """The weight that contributes nothing, which pads a partial last chunk:
    ``WeightCode.ZERO`` for a ternary unit, 0 for an int unit."""
    return int(WeightCode.ZERO) if isinstance(_check_unit(unit), TernaryMatrixUnit) else 0


def product_chunks(unit, product):
    """The chunks that carry ``product`` into ``unit``, in order.

    Returns
    -------
    list of dict
        ``unit.chunks(K)`` chunks ``{"act", "weights", "first", "last"}`` (the fields of
        ``unit.chunk_layout()``): ``act`` ``cols`` activations, ``weights`` ``rows`` lists
        of ``cols`` weights; lanes past K hold activation 0 and weight
        :func:`zero_weight`; ``first`` is set on the first chunk, ``last`` on the last
        (both on a single chunk).

    Raises
    ------
    TypeError
        If ``unit`` is not a matrix unit or ``product`` not a :class:`Product`.
    ValueError
        If the product's row count is not the unit's.
    """
    _check_unit(unit)
    if not isinstance(product, Product):
        raise ParameterTypeError(f"product must be a Product, not {product!r}")
    if len(product.weights) != unit.rows:
        raise ParameterError(f"product must have one weight row per unit row ({unit.rows}), "
                             f"not {len(product.weights)}")
    cols, k, count = unit.cols, product.k, unit.chunks(product.k)
    pad = [0] * (count * cols - k)
    act = list(product.act) + pad
    zero = zero_weight(unit)
    weights = [list(row) + [zero] * len(pad) for row in product.weights]
    return [{"act": act[start:start + cols],
             "weights": [row[start:start + cols] for row in weights],
             "first": index == 0, "last": index == count - 1}
            for index, start in enumerate(range(0, count * cols, cols))]


def stream_chunks(unit, products):
    """The chunks of ``products`` one after the other (:func:`product_chunks`)."""
    return [chunk for product in products for chunk in product_chunks(unit, product)]


def product_lengths(unit, rng, count):
    """``count`` dot-product lengths for ``unit``: first the edge lengths 1, ``cols``,
    ``3 * cols`` and ``max_k`` (each at most ``max_k``), then random lengths in
    ``1..max_k``; fewer than four: the first ``count`` edges."""
    _check_unit(unit)
    _check_rng(rng)
    check_integer("count", count, 0)
    edges = [1, min(unit.cols, unit.max_k), min(3 * unit.cols, unit.max_k), unit.max_k]
    return (edges + [rng.randint(1, unit.max_k) for _ in range(count - len(edges))])[:count]


def random_product(unit, rng, k, *, invalid_share=0.0):
    """A random :class:`Product` of length ``k`` for ``unit``.

    Activations are uniform over the signed ``act_bits`` range; weights uniform over NEG,
    ZERO and POS codes for a ternary unit (an INVALID code with probability
    ``invalid_share``), over the signed ``weight_bits`` range for an int unit.

    Raises
    ------
    ValueError
        If ``k < 1``, or ``invalid_share`` is not in [0, 1) or is set for an int unit.
    """
    _check_unit(unit)
    _check_rng(rng)
    check_integer("k", k, 1)
    _check_probability("invalid_share", invalid_share)
    act_range, weight_range = _lane_ranges(unit)
    act = [rng.randrange(act_range.start, act_range.stop) for _ in range(k)]
    if isinstance(unit, TernaryMatrixUnit):
        codes = (int(WeightCode.NEG), int(WeightCode.ZERO), int(WeightCode.POS))
        invalid = int(WeightCode.INVALID)
        weights = [[invalid if invalid_share and rng.random() < invalid_share else rng.choice(codes)
                    for _ in range(k)] for _ in range(unit.rows)]
    else:
        if invalid_share:
            raise ParameterError(f"invalid_share applies to a ternary unit only (an int unit has "
                                 f"no INVALID code), not {invalid_share!r}")
        weights = [[rng.randrange(weight_range.start, weight_range.stop) for _ in range(k)]
                   for _ in range(unit.rows)]
    return Product(act, weights)


def random_products(unit, rng, count, *, invalid_share=0.0):
    """``count`` random products of the lengths :func:`product_lengths` gives."""
    return [random_product(unit, rng, k, invalid_share=invalid_share)
            for k in product_lengths(unit, rng, count)]


class StreamDriver:
    """Cycle-level valid/ready driver and monitor of a matrix unit's ``i`` and ``o`` streams.

    Each cycle the simulator's loop calls :meth:`drive` and drives what it returns, then
    feeds the handshake signals as they are just before the rising clock edge to
    :meth:`sample`, then waits for the edge; until :attr:`finished`. An Amaranth loop is
    :meth:`amaranth_testbench`; a cocotb loop drives after the falling edge and samples in
    the read-only phase.

    Protocol
    --------
    The valid/ready rules of ``amaranth.lib.stream`` (those of AXI4-Stream), as the unit
    states them (:class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`):

    * A chunk is offered by raising ``i.valid`` with its payload; it is accepted in a cycle
      with ``i.valid`` and ``i.ready`` high. Once raised, ``i.valid`` stays high and the
      payload stays put until the chunk is accepted.
    * Before offering each chunk, the driver idles for a random number of cycles: each
      cycle with probability ``gap`` (geometric gaps; none with ``gap = 0``). While idle,
      ``i.valid`` is low and ``i.payload`` holds random bits if ``garbage`` is set, else the
      last value driven.
    * ``o.ready`` is low with probability ``stall`` each cycle, whether or not a result is
      waiting; it is high in the tail (below).
    * A result is received in a cycle with ``o.valid`` and ``o.ready`` high.

    Guarantees
    ----------
    * The chunks go in exactly in the given order, each once; :attr:`accepted` holds the
      cycle of each chunk's acceptance, :attr:`results` every result received, in order, with
      its cycle (cycles count from 0, the first :meth:`drive`).
    * A result seen with ``o.valid`` high and ``o.ready`` low must be there, with the same
      payload bits, in the next cycle; otherwise :meth:`sample` raises
      :class:`StreamCheckError`.
    * After every chunk is accepted and as many results as chunks with ``last`` set
      (:attr:`expected_results`) are received, the driver keeps ``o.ready`` high for
      ``tail`` more cycles so that an extra (e.g. duplicated) result is recorded too; then
      :attr:`finished` is true. Extra results are left to :func:`check_results` to report.
    * With ``gap = 0`` and ``stall = 0`` the driver draws nothing from ``rng`` (it may be
      ``None``) and offers a chunk every cycle.
    * The run is bounded: :meth:`drive` raises :class:`StreamCheckError` after ``timeout``
      cycles.

    Parameters
    ----------
    unit : MatrixUnitBase
        The unit whose streams are driven (its layouts pack and decode the payloads).
    chunks : sequence of dict
        Chunks ``{"act", "weights", "first", "last"}`` as :func:`product_chunks` makes
        them: ``cols`` activations, ``rows`` lists of ``cols`` weights, values in the
        unit's ranges.
    rng : random.Random or None
        Source of every random decision (seed it for a reproducible run); ``None`` only
        when ``gap``, ``stall`` and ``garbage`` are all off.
    gap, stall : float
        Probabilities in [0, 1) of an idle input cycle before a chunk and of ``o.ready``
        low in a cycle.
    garbage : bool
        Random payload bits while ``i.valid`` is low in a gap.
    tail : int or None
        Cycles watched for extra results at the end (default ``unit.latency + 3``).
    timeout : int or None
        Cycle limit (default generous: ``100 + 10 * latency`` plus 20 cycles per chunk
        scaled by ``1 / ((1 - gap) * (1 - stall))``).

    Raises
    ------
    TypeError, ValueError
        A parameter or a chunk of the wrong type or out of range (the message names it).
    """

    def __init__(self, unit, chunks, rng=None, *, gap=0.0, stall=0.0, garbage=False, tail=None,
                 timeout=None):
        self.unit = _check_unit(unit)
        self._gap = _check_probability("gap", gap)
        self._stall = _check_probability("stall", stall)
        if not isinstance(garbage, bool):
            raise ParameterTypeError(f"garbage must be a bool, not {garbage!r}")
        self._garbage = garbage
        if rng is None and (gap or stall or garbage):
            raise ParameterError("rng must be a random.Random when gap, stall or garbage is set, "
                                 "not None")
        self._rng = rng if rng is None else _check_rng(rng)
        if isinstance(chunks, (str, bytes, Mapping)) or not isinstance(chunks, Sequence):
            raise ParameterTypeError(f"chunks must be a sequence of chunk dicts, not {chunks!r}")
        self._chunk_layout, self._result_layout = unit.chunk_layout(), unit.result_layout()
        self._ranges = _lane_ranges(unit)
        self._packed = [self._pack(index, chunk) for index, chunk in enumerate(chunks)]
        self.expected_results = sum(bool(chunk["last"]) for chunk in chunks)
        self.tail = unit.latency + 3 if tail is None else check_integer("tail", tail, 0)
        if timeout is None:
            per_chunk = 20 / ((1 - gap) * (1 - stall))
            timeout = 100 + 10 * unit.latency + math.ceil(per_chunk * len(chunks))
        self.timeout = check_integer("timeout", timeout, 1)
        #: Cycle of each accepted chunk, in order.
        self.accepted = []
        #: Every :class:`Result` received, in order.
        self.results = []
        #: Cycles completed (sampled) so far.
        self.cycle = 0
        self._offering = False
        self._driven = Drive(None, None, None)
        self._stalled = None
        self._tail_left = None
        self._sampling = False
        self._update_tail()

    # --- the per-cycle interface ----------------------------------------------------------
    @property
    def finished(self):
        """Every chunk accepted, the expected results received and the tail watched."""
        return self._tail_left == 0

    def drive(self):
        """This cycle's :class:`Drive`: ``valid`` and ``ready`` (bool), ``payload`` (the packed
        chunk or garbage bits, int); a field is ``None`` when its value is the one driven in
        the previous cycle (the first cycle gives ``valid`` and ``ready``).

        Raises
        ------
        StreamCheckError
            After ``timeout`` cycles.
        RuntimeError
            If called twice without :meth:`sample`, or after :attr:`finished`.
        """
        if self._sampling:
            raise RuntimeError("drive() was called twice: sample() the cycle first")
        if self.finished:
            raise RuntimeError("drive() after the stream finished")
        if self.cycle >= self.timeout:
            raise StreamCheckError(
                f"timeout after {self.timeout} cycles: {len(self.accepted)} of {len(self._packed)} "
                f"chunks accepted, {len(self.results)} of {self.expected_results} results received")
        payload = self._driven.payload
        if not self._offering and len(self.accepted) < len(self._packed):
            if self._gap and self._rng.random() < self._gap:
                if self._garbage:
                    payload = self._rng.getrandbits(self._chunk_layout.size)
            else:
                self._offering = True
                payload = self._packed[len(self.accepted)]
        if self._tail_left is not None or not self._stall:
            ready = True
        else:
            ready = self._rng.random() >= self._stall
        now = Drive(self._offering, payload, ready)
        drive = Drive(*(None if new == old else new for new, old in zip(now, self._driven)))
        self._driven = now
        self._sampling = True
        return drive

    def sample(self, i_ready, o_valid, o_payload):
        """Record this cycle's handshakes, as sampled just before the rising clock edge.

        Parameters
        ----------
        i_ready, o_valid : bool or int
        o_payload : int or None
            The packed result bits (``o.payload``); looked at only when ``o_valid`` is set.

        Raises
        ------
        StreamCheckError
            If the result stalled in the previous cycle changed or went away.
        RuntimeError
            If called without :meth:`drive` first.
        """
        if not self._sampling:
            raise RuntimeError("sample() without drive(): drive() the cycle first")
        self._sampling = False
        cycle = self.cycle
        if self._offering and i_ready:
            self.accepted.append(cycle)
            self._offering = False
        if o_valid and not _is_int(o_payload):
            raise ParameterTypeError(f"o_payload must be the result bits (int) when o_valid is set, "
                                     f"not {o_payload!r}")
        if self._stalled is not None and (not o_valid or o_payload != self._stalled):
            now = self._decode(o_payload) if o_valid else "no result"
            raise StreamCheckError(f"cycle {cycle}: a stalled result changed from "
                                   f"{self._decode(self._stalled)} to {now}")
        self._stalled = None
        if o_valid and self._driven.ready:
            self.results.append(Result(cycle, *self._decode(o_payload)))
        elif o_valid:
            self._stalled = o_payload
        self.cycle += 1
        if self._tail_left is not None:
            self._tail_left -= 1
        self._update_tail()

    async def amaranth_testbench(self, ctx):
        """The loop for Amaranth's simulator: ``sim.add_testbench(driver.amaranth_testbench)``
        (``ctx`` is its testbench context; the unit must be the simulated design or in it)."""
        unit = self.unit
        i_payload, o_payload = Value.cast(unit.i.payload), Value.cast(unit.o.payload)
        while not self.finished:
            valid, payload, ready = self.drive()
            for signal, value in ((i_payload, payload), (unit.i.valid, valid), (unit.o.ready, ready)):
                if value is not None:
                    ctx.set(signal, value)
            o_valid = ctx.get(unit.o.valid)
            self.sample(ctx.get(unit.i.ready), o_valid, ctx.get(o_payload) if o_valid else None)
            await ctx.tick()

    # --- helpers -------------------------------------------------------------------------
    def _update_tail(self):
        if (self._tail_left is None and len(self.accepted) == len(self._packed)
                and len(self.results) >= self.expected_results):
            self._tail_left = self.tail

    def _decode(self, bits):
        """``(acc list, invalid)`` of the packed result ``bits``."""
        result = self._result_layout.from_bits(bits)
        return [int(acc) for acc in result.acc], bool(result.invalid)

    def _pack(self, index, chunk):
        """The payload bits of chunk ``index``, after checking its shape and value ranges."""
        unit, where = self.unit, f"chunk {index}"
        if not isinstance(chunk, Mapping):
            raise ParameterTypeError(f"{where} must be a dict with keys {', '.join(CHUNK_KEYS)}, "
                                     f"not {chunk!r}")
        if sorted(chunk) != sorted(CHUNK_KEYS):
            raise ParameterError(f"{where} must have the keys {', '.join(CHUNK_KEYS)}, "
                                 f"not {', '.join(map(str, chunk))}")
        act_range, weight_range = self._ranges
        rows = chunk["weights"]
        if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence) or len(rows) != unit.rows:
            raise ParameterError(f"{where}: weights must be {unit.rows} rows (unit rows), not {rows!r}")
        # A row holds a weight per lane, or (a base-3 lookup unit) a byte per five lanes.
        row_length = self._chunk_layout["weights"].shape.elem_shape.length
        for name, values, allowed, length in [("act", chunk["act"], act_range, unit.cols)] + [
                (f"weights[{row}]", values, weight_range, row_length) for row, values in enumerate(rows)]:
            values = _int_row(f"{where}: {name}", values)
            if len(values) != length:
                what = "unit cols" if length == unit.cols else "the unit's weights per row"
                raise ParameterError(f"{where}: {name} must hold {length} values ({what}), "
                                     f"not {len(values)}")
            for lane, value in enumerate(values):
                if value not in allowed:
                    raise ParameterError(f"{where}: {name}[{lane}] = {value} is outside the unit's "
                                         f"range {allowed.start}..{allowed.stop - 1}")
        return self._chunk_layout.const({key: chunk[key] for key in CHUNK_KEYS}).as_value().value


def check_results(products, expected, results):
    """Scoreboard: assert that ``results`` are ``expected``, product by product.

    Parameters
    ----------
    products : sequence of Product
        The products sent, in order (for the report).
    expected : sequence of (list of int, bool)
        Per product the expected ``acc`` per row and INVALID flag (from the golden model).
    results : sequence of Result
        What the hardware gave (:attr:`StreamDriver.results`).

    Returns
    -------
    int
        The number of results checked (``len(products)``).

    Raises
    ------
    StreamCheckError
        At the first difference: the product's index and K, the row, the result's cycle,
        the product's inputs, the expected and the received values; or a missing or extra
        result.
    ValueError
        If ``expected`` does not have one entry per product.
    """
    if len(expected) != len(products):
        raise ParameterError(f"expected must hold one (acc, invalid) per product ({len(products)}), "
                             f"not {len(expected)}")
    for index, (product, (want_acc, want_invalid)) in enumerate(zip(products, expected)):
        where = f"product {index} (K={product.k})"
        if index >= len(results):
            raise StreamCheckError(f"{len(results)} results for {len(products)} products: "
                                   f"{where} got none")
        cycle, got_acc, got_invalid = results[index]
        if len(want_acc) != len(got_acc):
            raise ParameterError(f"expected[{index}] must hold one acc per row ({len(got_acc)}), "
                                 f"not {len(want_acc)}")
        for row, (want, got) in enumerate(zip(want_acc, got_acc)):
            if want != got:
                raise StreamCheckError(
                    f"{where}, row {row}, result at cycle {cycle}: expected {want}, got {got}\n"
                    f"  act     = {list(product.act)}\n  weights = {list(product.weights[row])}")
        if bool(want_invalid) != bool(got_invalid):
            raise StreamCheckError(
                f"{where}, result at cycle {cycle}: expected invalid={bool(want_invalid)}, "
                f"got {bool(got_invalid)}\n  weights = {[list(row) for row in product.weights]}")
    if len(results) > len(products):
        raise StreamCheckError(f"{len(results)} results for {len(products)} products: an extra "
                               f"result {results[len(products)].acc} at cycle "
                               f"{results[len(products)].cycle}")
    return len(results)
