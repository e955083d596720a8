# amaranth: UnusedElaboratable=no
# (structure() makes a row's dot-product block only to read it)
"""Conventional integer matrix unit: the INT8 x INT8 baseline the ternary unit is
compared with (area, energy). Same streams, control and accumulators as
:class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit` (both are
:class:`~tritforge.hdl.matrix_unit.MatrixUnitBase`); each lane really multiplies.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from .matrix_unit import MatrixUnitBase
from .ternary_dot import KEEP, DotStructure, Stages, TreeNode, adder_tree, plan_tree
from .ternary_dot import pipeline_registers, stage_register_bits, tree_depth

__all__ = ["IntMatrixUnit"]

#: Weight widths the integer unit accepts.
WEIGHT_BITS_RANGE = range(2, 17)


def _product_range(act_bits, weight_bits):
    """Smallest and largest product of a signed ``act_bits`` and ``weight_bits`` pair."""
    a_lo, a_hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    w_lo, w_hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
    corners = [a * w for a in (a_lo, a_hi) for w in (w_lo, w_hi)]
    return min(corners), max(corners)


def _product_node(act_bits, weight_bits):
    """A leaf of the tree (no value yet): one lane's product, as wide as its range."""
    return TreeNode(None, *_product_range(act_bits, weight_bits))


class _IntDot(wiring.Component):
    """Dot product of ``lanes`` signed activations and signed weights: multipliers and
    a balanced adder tree. The multipliers are the first level of logic; registers
    follow every ``pipeline`` levels and the output, like
    :class:`~tritforge.hdl.ternary_dot.TernaryDot`.

    Members: ``act``, ``weights`` (``In(ArrayLayout(signed(.), lanes))``), ``sum``
    (``Out(signed(.))``, exact) and, when ``latency > 0``, the clock enable ``en``.
    :meth:`structure` describes what :meth:`elaborate` builds.
    """

    def __init__(self, lanes, act_bits, weight_bits, pipeline):
        self._lanes, self._act_bits, self._weight_bits = lanes, act_bits, weight_bits
        self._pipeline = pipeline
        self._latency = self.latency_for(lanes, pipeline)
        lo, hi = _product_range(act_bits, weight_bits)
        members = {
            "act": In(data.ArrayLayout(signed(act_bits), lanes)),
            "weights": In(data.ArrayLayout(signed(weight_bits), lanes)),
            "sum": Out(range(lanes * lo, lanes * hi + 1)),
        }
        if self._latency:
            members["en"] = In(1)
        super().__init__(members)

    latency = property(lambda self: self._latency)

    @staticmethod
    def latency_for(lanes, pipeline):
        """Register stages for ``lanes`` lanes: the multiplier level plus the adder tree."""
        return pipeline_registers(1 + tree_depth(lanes), pipeline)

    def addends(self):
        return [self.sum]

    def structure(self):
        """The :class:`~tritforge.hdl.ternary_dot.DotStructure` of this block, from the
        plan :meth:`elaborate` emits (no Module)."""
        product = _product_node(self._act_bits, self._weight_bits)
        plan = plan_tree([product] * self._lanes)
        # The multipliers are the first level of logic, the tree's levels follow.
        level_bits = [self._lanes * product.shape.width, *plan.level_bits]
        return DotStructure(adder_widths=plan.adder_widths,
                            multipliers=((self._act_bits, self._weight_bits),) * self._lanes,
                            register_bits=stage_register_bits(level_bits, self._pipeline),
                            latency=self._latency)

    def elaborate(self, platform):
        m = Module()
        stages = Stages(m, self._pipeline, self.en if self._latency else None)
        leaf = _product_node(self._act_bits, self._weight_bits)
        products = []
        for lane in range(self._lanes):
            product = Signal(leaf.shape, name=f"product{lane}", attrs=KEEP)
            m.d.comb += product.eq(self.act[lane] * self.weights[lane])
            products.append(product)
        products = stages.end_level(products)
        root, _ = adder_tree(m, [TreeNode(p, leaf.lo, leaf.hi) for p in products],
                             stages=stages)
        (total,) = stages.close([root.value])
        m.d.comb += self.sum.eq(total)
        assert stages.registers == self._latency
        assert stages.bits == self.structure().register_bits
        return m


class IntMatrixUnit(MatrixUnitBase):
    """``rows`` integer dot products of one broadcast activation chunk, accumulated over
    chunks: the multiplying baseline for :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`.

    Ports, protocol and the meaning of ``first``/``last`` are those of
    :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`, except:

    * ``i.payload.weights`` is ``ArrayLayout(ArrayLayout(signed(weight_bits), cols), rows)``
      (plain two's-complement weights; the sender pads a partial chunk with zeros);
    * ``o.payload.invalid`` is always 0 (every weight value is valid).

    Parameters
    ----------
    rows, cols, act_bits, max_k, pipeline
        As for :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`.
    weight_bits : int
        Weight width (signed), 2..16.
    acc_bits : int or None
        Accumulator width; default and minimum: the signed width of
        ``max_k * 2**(act_bits-1) * 2**(weight_bits-1)``.

    Attributes
    ----------
    latency : int
        Cycles from accepting a ``last`` chunk to ``o.valid``:
        ``max(1, ceil((1 + ceil(log2(cols))) / pipeline))`` (the multiplier is the first
        level), 1 when ``pipeline`` is 0.

    Raises
    ------
    TypeError, ValueError
        If a parameter has the wrong type or is out of range (message names it).
    """

    def __init__(self, rows, cols, act_bits=8, weight_bits=8, max_k=4096, acc_bits=None,
                 pipeline=1):
        self._weight_bits = check_integer("weight_bits", weight_bits,
                                          WEIGHT_BITS_RANGE.start, WEIGHT_BITS_RANGE.stop - 1)
        super().__init__(rows, cols, act_bits, max_k, acc_bits, pipeline, signed(weight_bits))

    @staticmethod
    def latency_for(cols, pipeline):
        """The :attr:`latency` of a unit with these parameters, without building one."""
        return max(_IntDot.latency_for(cols, pipeline), 1)

    def _required_acc_bits(self):
        largest = max(abs(bound) for bound in _product_range(self._act_bits, self._weight_bits))
        return (self._max_k * largest).bit_length() + 1

    def _dot_latency_for(self):
        return _IntDot.latency_for(self._cols, self._pipeline)

    def _make_dot(self):
        return _IntDot(self._cols, self._act_bits, self._weight_bits, self._pipeline)
