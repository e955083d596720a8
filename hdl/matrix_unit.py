# amaranth: UnusedElaboratable=no
# (structure() makes a row's dot-product block only to read it)
"""Ternary matrix unit: ``rows`` ternary dot-product trees over one broadcast activation
vector, each with an accumulator, fed one ``cols``-wide chunk per cycle.

:class:`MatrixUnitBase` holds everything that does not depend on how a lane multiplies:
the chunk/result streams, the pipeline control, the accumulators, the parameter checks
and the port description. :class:`TernaryMatrixUnit` (here) and
:class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit` only supply the per-row dot product.
:meth:`MatrixUnitBase.structure` describes what a unit builds (:class:`MatrixUnitStructure`)
without building it, for the energy estimate.
"""

import collections
import dataclasses

from amaranth.hdl import C, Cat, Const, Module, Shape, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.formats import WEIGHT_CODE_BITS, accumulator_bits
from ..spec.params import ACT_BITS_RANGE
from .ternary_dot import KEEP, DotStructure, Stages, TernaryDot
from .reset import hold_low_in_reset

__all__ = ["MatrixUnitBase", "MatrixUnitStructure", "TernaryMatrixUnit", "describe_shape"]


def describe_shape(shape):
    """JSON-friendly description of a shape or layout, with the bit offset of each field.

    Plain shapes give ``{"width", "signed"}``; a struct adds ``fields`` (each with its
    ``name`` and ``offset``); an array adds ``length`` and ``element`` (element ``k``
    starts at bit ``k * element["width"]``).
    """
    if isinstance(shape, data.StructLayout):
        fields = [{"name": name, "offset": field.offset, **describe_shape(field.shape)}
                  for name, field in shape]
        return {"width": shape.size, "fields": fields}
    if isinstance(shape, data.ArrayLayout):
        return {"width": shape.size, "length": shape.length,
                "element": describe_shape(shape.elem_shape)}
    shape = Shape.cast(shape)
    return {"width": shape.width, "signed": shape.signed}


#: The control bits of the chunk in one pipeline stage.
_Flags = collections.namedtuple("_Flags", ["valid", "first", "last"])


@dataclasses.dataclass(frozen=True)
class MatrixUnitStructure:
    """What a matrix unit builds, as one chunk step (a chunk into all rows) uses it.

    Returned by :meth:`MatrixUnitBase.structure`. Registers are counted as synthesis
    keeps them: a register that drives nothing or holds a constant is left out, so
    :attr:`register_bits` is the unit's flip-flop count.

    Attributes
    ----------
    rows, cols, act_bits, weight_bits, pipeline : int
        The unit's shape (:class:`MatrixUnitBase`); every row is one dot-product block
        over ``cols`` lanes and one accumulator.
    dot : DotStructure
        One row's dot-product block: its adders, multipliers and pipeline registers.
    row_register_bits : int
        Register bits of one row before its accumulator: the block's pipeline registers,
        or for a combinational block the unit's registers on its outputs.
    acc_bits : int
        Width of each row's accumulator and of the adder that loads it.
    control_register_bits : int
        The stage flags (valid, first, last per stage) and the INVALID flag, as
        synthesis keeps them.
    latency : int
        Cycles from a last chunk to its result (the unit's ``latency``).
    shared : DotStructure
        The stage all rows share, built once per unit (the lookup unit's table of
        activation sums): its adders and registers, counted once, not per row. Empty for
        units without one.
    """
    rows: int
    cols: int
    act_bits: int
    weight_bits: int
    pipeline: int
    dot: DotStructure
    row_register_bits: int
    acc_bits: int
    control_register_bits: int
    latency: int
    shared: DotStructure = DotStructure(adder_widths=(), multipliers=(), register_bits=0, latency=0)

    @property
    def adder_widths(self):
        """Widths of one row's dot-product adders (the accumulator's not included)."""
        return self.dot.adder_widths

    @property
    def multipliers(self):
        """Operand widths of one row's multipliers."""
        return self.dot.multipliers

    @property
    def register_bits(self):
        """Every register bit of the unit, all loaded each chunk step."""
        return (self.rows * (self.row_register_bits + self.acc_bits) + self.control_register_bits
                + self.shared.register_bits)

    @property
    def muxes(self):
        """``(inputs, width)`` of one row's table lookups."""
        return self.dot.muxes


def _register_bits(values):
    """Bits of the registers that keep ``values``; a constant makes none worth counting
    (synthesis removes a register that holds one)."""
    return sum(len(Value.cast(value)) for value in values if not isinstance(value, Const))


class MatrixUnitBase(wiring.Component):
    """Stream control and accumulators shared by the matrix units.

    A subclass supplies the weight shape, the smallest safe accumulator width and one
    dot-product block per row (:meth:`_make_dot`); see :class:`TernaryMatrixUnit` for
    the ports, protocol and latency, which are the same for every subclass.

    Pipeline control: every register of the unit (dot-product trees, flags,
    accumulators) advances together when ``advance = ~o.valid | o.ready``, and
    ``i.ready = advance`` (both gated by the reset, below). Valid bits travel with the data, so gaps and backpressure
    lose or duplicate nothing, and ``o.valid`` depends only on registers, never on
    ``o.ready``. The result is the accumulator plus the chunk in the last stage, added
    combinationally, so the accumulator never has to hold a result and start the next
    product in the same cycle: it is cleared by a synchronous reset (free in an FPGA
    flip-flop) when the last chunk leaves or a ``first`` chunk is about to arrive.
    """

    def __init__(self, rows, cols, act_bits, max_k, acc_bits, pipeline, weight_shape):
        self._rows = check_integer("rows", rows, 1)
        self._cols = check_integer("cols", cols, 1)
        self._act_bits = check_integer("act_bits", act_bits, ACT_BITS_RANGE.start,
                                       ACT_BITS_RANGE.stop - 1)
        self._max_k = check_integer("max_k", max_k, 1)
        self._pipeline = check_integer("pipeline", pipeline, 0)
        required = self._required_acc_bits()
        self._acc_bits = required if acc_bits is None else check_integer(
            "acc_bits", acc_bits, required)
        self._weight_shape = weight_shape
        self._dot_latency = self._dot_latency_for()
        # With a combinational tree the unit registers the tree output: the result
        # must come from registers so that o.valid never depends on i.
        self._latency = max(self._dot_latency, 1)
        super().__init__({
            "i": In(stream.Signature(self.chunk_layout())),
            "o": Out(stream.Signature(self.result_layout())),
        })

    rows = property(lambda self: self._rows, doc="Output rows M (dot products per chunk).")
    cols = property(lambda self: self._cols, doc="Lanes N per chunk.")
    act_bits = property(lambda self: self._act_bits, doc="Activation width (signed).")
    max_k = property(lambda self: self._max_k, doc="Longest dot product without overflow.")
    acc_bits = property(lambda self: self._acc_bits, doc="Accumulator width (signed).")
    pipeline = property(lambda self: self._pipeline, doc="Tree levels per register.")
    latency = property(lambda self: self._latency,
                       doc="Cycles from accepting a product's last chunk to ``o.valid``.")
    weight_bits = property(lambda self: Shape.cast(self._weight_shape).width,
                           doc="Width of one weight (2 for a ternary weight code).")

    def chunk_layout(self):
        """Payload layout of ``i``: one chunk of a dot product for every row."""
        return data.StructLayout({
            "act": data.ArrayLayout(signed(self._act_bits), self._cols),
            "weights": data.ArrayLayout(data.ArrayLayout(self._weight_shape, self._row_weights()),
                                        self._rows),
            "first": 1,
            "last": 1,
        })

    def result_layout(self):
        """Payload layout of ``o``: one finished dot product per row."""
        return data.StructLayout({
            "acc": data.ArrayLayout(signed(self._acc_bits), self._rows),
            "invalid": 1,
        })

    def chunks(self, k):
        """Chunks that carry a dot product of length ``k``: ``ceil(k / cols)``."""
        return -(-k // self._cols)

    def verilog_ports(self):
        """Explicit ports for :func:`amaranth.back.verilog.convert`: ``(name, signal, None)``.

        The stream signals under Amaranth's flattened names (``i__payload``,
        ``i__valid``, ``i__ready``, ``o__payload``, ...). The converter adds the ``sync``
        domain's ``clk`` and ``rst`` (rising edge; synchronous, active-high reset).
        """
        return [("__".join(path), Value.cast(value), None)
                for path, _, value in self.signature.flatten(self)]

    def describe_ports(self):
        """The ports of :meth:`verilog_ports`: name, direction, width and, for payloads,
        the layout with each field's bit offset (:func:`describe_shape`)."""
        ports = [
            {"name": "clk", "direction": "input", "width": 1},
            {"name": "rst", "direction": "input", "width": 1},
        ]
        for path, member, _ in self.signature.flatten(self):
            ports.append({
                "name": "__".join(path),
                "direction": "input" if member.flow == wiring.In else "output",
                **describe_shape(member.shape),
            })
        return ports

    def structure(self):
        """What this unit builds, as :meth:`elaborate` builds it, without a Module.

        Returns
        -------
        MatrixUnitStructure
            One row's dot-product block from its own ``structure()``; the registers the
            unit adds around it from the same methods :meth:`elaborate` calls. Cheap: no
            elaboration, one row's block is made to read its ports.
        """
        dot = self._make_dot()
        dot_structure = dot.structure()
        if dot.latency:
            row_bits = dot_structure.register_bits
        else:
            # _build_row registers a combinational block's outputs.
            row_bits = _register_bits(self._row_outputs(dot))
        # valid, first and last per stage (_flag_pipeline), but nothing reads the last
        # stage's first (only its valid and last), so synthesis removes that register.
        flags = len(_Flags._fields) * self._latency - 1
        # seen_invalid of elaborate: a constant 0 (removed) when the rows have no flag.
        invalid = _register_bits([self._dot_invalid(dot)])
        return MatrixUnitStructure(
            rows=self._rows, cols=self._cols, act_bits=self._act_bits, weight_bits=self.weight_bits,
            pipeline=self._pipeline, dot=dot_structure, row_register_bits=row_bits,
            acc_bits=self._acc_bits, control_register_bits=flags + invalid, latency=self._latency,
            shared=self._shared_structure())

    def _required_acc_bits(self):
        raise NotImplementedError

    def _row_weights(self):
        """Weight fields of one row in a chunk: ``cols`` (one weight per lane)."""
        return self._cols

    def _shared_stage(self, m, advance):
        """Build the stage every row shares; what each row's block takes in (its
        :meth:`_row_input` port). Default: no stage, the rows take the activations."""
        return self.i.payload.act

    def _shared_structure(self):
        """The :class:`DotStructure` of :meth:`_shared_stage` (default: nothing)."""
        return MatrixUnitStructure.shared

    def _row_input(self, dot):
        """The port of a row's block that takes :meth:`_shared_stage`'s value."""
        return dot.act

    def _dot_latency_for(self):
        """Latency of the blocks :meth:`_make_dot` makes (known before making one)."""
        raise NotImplementedError

    def _make_dot(self):
        """A new dot-product block for one row (``act``/``weights``/``en`` ports, a
        ``latency`` and an ``addends()`` method)."""
        raise NotImplementedError

    def _dot_invalid(self, dot):
        """The row's INVALID flag; units without weight codes have none."""
        return C(0)

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        result_valid = Signal()
        # The pipeline runs on the ungated `result_valid`: the reset gate is on the outputs only.
        m.d.comb += [advance.eq(~result_valid | self.o.ready),
                     self.i.ready.eq(advance),
                     self.o.valid.eq(result_valid)]

        shared = self._shared_stage(m, advance)
        rows = [self._build_row(m, row, advance, shared) for row in range(self._rows)]
        flags = self._flag_pipeline(m, advance)
        arriving, leaving = flags[-2], flags[-1]

        chunk_invalid = Cat(*(invalid for _, invalid in rows)).any()
        seen_invalid = Signal()
        # The last chunk leaves with its result; a first chunk arriving starts afresh
        # (dropping an unfinished product rather than mixing it into the next one).
        clear = (leaving.valid & leaving.last) | (arriving.valid & arriving.first)
        m.d.comb += [result_valid.eq(leaving.valid & leaving.last),
                     self.o.payload.invalid.eq(seen_invalid | chunk_invalid)]
        with m.If(advance & clear):
            m.d.sync += seen_invalid.eq(0)
        with m.Elif(advance & leaving.valid):
            m.d.sync += seen_invalid.eq(self.o.payload.invalid)

        for row, (addends, _) in enumerate(rows):
            self._accumulate(m, row, addends, clear=advance & clear,
                             take=advance & leaving.valid)
        hold_low_in_reset(m, self.i.ready, self.o.valid)
        return m

    def _build_row(self, m, row, advance, shared):
        """One row's dot product: its addends and INVALID flag at the last stage."""
        dot = self._make_dot()
        assert dot.latency == self._dot_latency
        m.submodules[f"row{row}"] = dot
        m.d.comb += [self._row_input(dot).eq(shared), dot.weights.eq(self.i.payload.weights[row])]
        values = self._row_outputs(dot)
        if dot.latency:
            m.d.comb += dot.en.eq(advance)
        else:
            values = Stages(m, 1, advance).end_level(values)
        return values[:-1], values[-1]

    def _row_outputs(self, dot):
        """What a row hands to its accumulator: the block's addends and INVALID flag."""
        return dot.addends() + [self._dot_invalid(dot)]

    def _flag_pipeline(self, m, advance):
        """(valid, first, last) of the chunk at each stage: index 0 is the input."""
        payload = self.i.payload
        stages = [_Flags(self.i.valid, payload.first, payload.last)]
        for index in range(1, self._latency + 1):
            flags = _Flags(Signal(name=f"stage{index}_valid"),
                           Signal(name=f"stage{index}_first", reset_less=True),
                           Signal(name=f"stage{index}_last", reset_less=True))
            with m.If(advance):
                m.d.sync += [flags.valid.eq(stages[-1].valid), flags.first.eq(stages[-1].first),
                             flags.last.eq(stages[-1].last)]
            stages.append(flags)
        return stages

    def _accumulate(self, m, row, addends, *, clear, take):
        """Accumulator of one row; ``o.payload.acc[row]`` is it plus the leaving chunk."""
        acc = Signal(signed(self._acc_bits), name=f"acc{row}")
        total = Signal(signed(self._acc_bits), name=f"acc{row}_next", attrs=KEEP)
        expression = acc
        for addend in addends:
            expression = expression + addend
        m.d.comb += [total.eq(expression), self.o.payload.acc[row].eq(total)]
        with m.If(clear):
            m.d.sync += acc.eq(0)
        with m.Elif(take):
            m.d.sync += acc.eq(total)

class TernaryMatrixUnit(MatrixUnitBase):
    """``rows`` ternary dot products of one broadcast activation chunk, accumulated over
    the chunks of dot products up to ``max_k`` long.

    Each row is a :class:`~tritforge.hdl.ternary_dot.TernaryDot` (``raw``: its last
    correction rides the accumulator adder's carry-in) and an ``acc_bits`` accumulator.

    Parameters
    ----------
    rows : int
        M, dot products computed in parallel (>= 1).
    cols : int
        N, lanes per chunk (>= 1).
    act_bits : int
        Activation width (signed), 2..16.
    max_k : int
        Longest dot product K the accumulators hold without overflow (>= 1).
    acc_bits : int or None
        Accumulator width; default and minimum ``accumulator_bits(max_k, act_bits)``.
    pipeline : int
        Register the trees every ``pipeline`` adder levels (>= 0; 0: combinational
        trees, then the unit registers the tree outputs).

    Members
    -------
    i : ``In(stream.Signature(StructLayout(...)))``
        One chunk per transfer, payload fields:

        * ``act`` - ``ArrayLayout(signed(act_bits), cols)``, shared by all rows;
        * ``weights`` - ``ArrayLayout(ArrayLayout(unsigned(2), cols), rows)``:
          ``weights[r][c]`` (a :class:`~tritforge.spec.formats.WeightCode`) multiplies
          ``act[c]`` for row ``r``;
        * ``first`` / ``last`` - first and last chunk of a dot product (both set for a
          single-chunk product).

        A dot product of length K is ``ceil(K / cols)`` chunks; the sender pads a partial
        last chunk with ZERO codes.
    o : ``Out(stream.Signature(StructLayout(...)))``
        One result per dot product, sent with its ``last`` chunk: ``acc`` -
        ``ArrayLayout(signed(acc_bits), rows)``; ``invalid`` - an INVALID code was seen in
        some chunk of the product (INVALID lanes contribute 0).

    Protocol
    --------
    ``amaranth.lib.stream`` valid/ready on both sides. A chunk is accepted every cycle
    in which the result is not stalled (``i.ready = ~o.valid | o.ready``); any pattern
    of input gaps and output backpressure gives the same results. The accumulators
    restart after every ``last`` chunk and at every ``first`` chunk; a product
    interrupted by a ``first`` chunk before its ``last`` is dropped. Products longer than
    ``max_k`` wrap around.

    Reset
    -----
    ``rst`` (synchronous, active high) empties the pipeline and clears the accumulators.
    While it is high, from its first cycle on, ``i.ready`` and ``o.valid`` are low: no
    chunk is taken and no result is offered (a result in flight is dropped, a chunk
    offered then is not lost: it is still offered after reset). After reset the unit is
    empty and takes a chunk in the first cycle ``rst`` is low.

    Attributes
    ----------
    latency : int
        Cycles from accepting a ``last`` chunk to ``o.valid`` (output not stalled):
        ``max(1, ceil(levels / pipeline))`` with ``levels = ceil(log2(cols))`` adder
        levels (the tree registers every ``pipeline`` levels and at its output); 1 when
        ``pipeline`` is 0. E.g. 32 columns: 5 with ``pipeline=1``, 3 with 2, 1 with 0.

    Raises
    ------
    TypeError, ValueError
        If a parameter has the wrong type or is out of range (message names it).
    """

    def __init__(self, rows, cols, act_bits=8, max_k=4096, acc_bits=None, pipeline=1):
        super().__init__(rows, cols, act_bits, max_k, acc_bits, pipeline,
                         unsigned(WEIGHT_CODE_BITS))

    @staticmethod
    def latency_for(cols, pipeline):
        """The :attr:`latency` of a unit with these parameters, without building one."""
        return max(TernaryDot.latency_for(cols, pipeline, raw=True), 1)

    def _required_acc_bits(self):
        return accumulator_bits(self._max_k, self._act_bits)

    def _dot_latency_for(self):
        return TernaryDot.latency_for(self._cols, self._pipeline, raw=True)

    def _make_dot(self):
        return TernaryDot(self._cols, self._act_bits, self._pipeline, raw=True)

    def _dot_invalid(self, dot):
        return dot.invalid
