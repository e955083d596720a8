"""A multiplier-free ternary dot product: one balanced adder tree over ``lanes`` lanes.

Also home of the pipelined adder-tree builder (:func:`adder_tree`), its plan
(:func:`plan_tree`: every adder's width and every register's bits without building a
Module; the builder walks the same plan), the blocks' description of themselves
(:class:`DotStructure`) and the parameter checks (:func:`check_integer`) that the matrix
units share.

Why the tree is built the way it is. Exact 32-lane, 8-bit dot product, combinational,
iCE40 LUT4 per lane after Yosys 0.70 ``synth_ice40`` (``benchmarks/matrix_unit.py
--alternatives``; ``docs/matrix_unit.md`` has the table):

=====================================================  ===========
scheme                                                 LUT4/lane
=====================================================  ===========
``Mux(w, a, -a, 0)`` leaves, plain adder tree           42.5
sum the +1 lanes and the -1 lanes, subtract once         48.8
``a ^ neg`` leaves, ``+neg`` as carry-ins, plain tree    29.7
``a ^ neg`` leaves, popcount of ``neg`` added once       31.9
``a ^ neg`` leaves, carry-ins, every adder ``keep``      19.0
complement domain, carry-in = code bit (this block)      18.5
=====================================================  ===========

* A ternary product needs no multiplier, but a true negation per lane is a 9-bit adder.
  ``-a == ~a + 1``: a leaf picks ``a``, ``~a`` or ``0`` with one LUT3 per bit and leaves
  the ``+1`` to a 1-bit carry-in of a tree adder, written ``x + y + c``, which Yosys
  maps to one ``$alu`` with carry-in: free. N leaves have N-1 adders for N corrections;
  the last one goes to the consumer (the matrix unit's accumulator carry-in).
* Yosys ``alumacc`` merges a chain of additions into one ``$macc`` and builds it from
  LUTs instead of carry chains (29.7 above). Every adder output is therefore a wire with
  the ``keep`` attribute, which keeps each adder a carry chain.
* The correction bit must be a plain code bit, else it costs a LUT per lane. With
  ``code = w + 1``, ``code[1]`` is set exactly for POS and INVALID, so the tree works in
  the *complement domain*: it sums ``u + c = -(w*a)`` with ``c = code[1]`` (NEG: ``a``;
  ZERO: ``0``; POS: ``~a``; INVALID: ``-1``, adding 0) and its root is ``-dot - c_last``.
  The root adder alone is not kept, so Yosys folds the final inversion ``~root`` into its
  sum LUTs for free (a kept wire in between costs a LUT per bit: 20.06 instead of 19.31
  LUT4/lane for the whole 4x16 matrix unit), and ``dot == ~root + ~c_last``.
* The INVALID flag is an OR over ``code[0] & code[1]`` of all lanes. Left to ABC it got
  entangled with the leaf logic at about twice its size; the lane pairs are kept as
  separate wires (one LUT4 per two lanes).
"""

import dataclasses
import math

from amaranth.hdl import Cat, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.formats import WEIGHT_CODE_BITS, WeightCode
from ..spec.params import ACT_BITS_RANGE

__all__ = ["TernaryDot", "ACT_BITS_RANGE", "KEEP", "DotStructure", "Stages", "TreeNode",
           "TreePlan", "adder_tree", "any_flag", "check_integer", "pipeline_registers", "plan_tree",
           "stage_register_bits", "tree_depth"]

# The correction bit of a lane is code bit 1: it must be set exactly for the codes whose
# complement-domain leaf value is one below the wanted value (POS: ~a = -a - 1; INVALID:
# -1, which must add up to 0). Pinned here because the leaf logic relies on it.
_CARRY_BIT = 1
assert all(bool((code >> _CARRY_BIT) & 1) == (code in (WeightCode.POS, WeightCode.INVALID))
           for code in WeightCode)

#: Attributes of an adder's output wire that stop Yosys' ``alumacc`` from merging the
#: adder with its neighbours into one ``$macc`` (module docstring).
KEEP = {"keep": 1}


@dataclasses.dataclass(frozen=True)
class TreeNode:
    """A value in an adder tree with its exact range and its pending carry-ins.

    ``lo``/``hi`` bound the value (both included), so every adder is exactly as wide as
    its result needs. ``carries`` are 1-bit addends from the node's own lanes that no
    adder has taken yet: each adder above takes one as its carry-in, which keeps the
    carry next to the lanes it belongs to.
    """
    value: object
    lo: int
    hi: int
    carries: tuple = ()

    @property
    def shape(self):
        return Shape.cast(range(self.lo, self.hi + 1))


class Stages:
    """Counts levels of logic and registers the values travelling through them.

    A register stage ends every ``pipeline`` levels and, if the last level did not end
    one, after the last level (:meth:`close`): ``ceil(levels / pipeline)`` stages, so a
    pipelined block always has registered outputs. ``pipeline == 0``: no registers.

    Attributes
    ----------
    levels, registers : int
        Levels ended and register stages made so far.
    bits : int
        Register bits made so far (a block's ``structure()`` must predict them).
    registered : list of list
        The registers of each stage, in the order the values were given: what a formal
        proof states its invariants on (``flows.properties``).
    """

    def __init__(self, m, pipeline, en):
        self._m, self._pipeline, self._en = m, pipeline, en
        self.levels = 0
        self.registers = 0
        self.bits = 0
        self.registered = []

    def end_level(self, values):
        """Close one level of logic: return ``values``, registered if a stage ends here."""
        self.levels += 1
        if self._pipeline == 0 or self.levels % self._pipeline:
            return values
        return self._register_all(values)

    def close(self, values):
        """After the last level: register ``values`` unless that level already did."""
        if self._pipeline == 0 or self.levels % self._pipeline == 0:
            return values
        return self._register_all(values)

    def _register_all(self, values):
        self.registers += 1
        registers = [self._register(value) for value in values]
        self.registered.append(registers)
        return registers

    def _register(self, value):
        # Data registers need no reset: only the valid bits travelling beside them do.
        register = Signal(Shape.cast(value.shape()), reset_less=True,
                          name=f"stage{self.registers}")
        with self._m.If(self._en):
            self._m.d.sync += register.eq(value)
        self.bits += register.shape().width
        return register


class _StageBits(Stages):
    """:class:`Stages` deciding over bit counts instead of values, building nothing."""

    def __init__(self, pipeline):
        super().__init__(None, pipeline, None)

    def _register(self, bits):
        self.bits += bits
        return bits


def stage_register_bits(level_bits, pipeline, *, start=0, close=True):
    """Register bits :class:`Stages` makes in a block of ``len(level_bits)`` levels.

    ``level_bits[i]`` is the width of all values leaving level ``i``; the block closes
    with the last level's values, as every block here does (``close=False``: a stage that
    others continue, which does not). ``start``: levels already counted before the block
    (a block that continues another's pipeline). The same code as :class:`Stages` decides
    where the registers go, so the count cannot drift from it.
    """
    stages = _StageBits(check_integer("pipeline", pipeline, 0))
    stages.levels = start
    for bits in level_bits:
        stages.end_level([bits])
    if close:
        stages.close(list(level_bits[-1:]))
    return stages.bits


def _sum_node(x, y):
    """The node ``x + y`` (no value yet) and the pending carry it takes as carry-in.

    The one width rule of the tree: the sum is exactly as wide as its range, which the
    carry-in (if any) raises by one; the operands' other carries stay pending above.
    """
    carries = x.carries + y.carries
    carry_in = carries[:1]
    return TreeNode(None, x.lo + y.lo, x.hi + y.hi + len(carry_in), carries[1:]), carry_in


def _inverted_node(node):
    """The node ``~node`` (no value yet): ``~x == -x - 1`` swaps and shifts the range."""
    return dataclasses.replace(node, value=None, lo=~node.hi, hi=~node.lo)


def _walk_tree(leaves, *, add, invert, end_level, invert_root):
    """The shape of every adder tree here: the one walk that plans and emits it.

    Nodes pair up left to right, level by level; an odd node passes up unchanged.
    ``add(x, y, keep)`` makes the node ``x + y`` (``keep``: the root adder of an inverted
    tree is not kept, see :func:`adder_tree`), ``invert(node)`` its inversion and
    ``end_level(nodes)`` returns the nodes the next level starts from. Returns the root.
    """
    nodes = list(leaves)
    if invert_root and len(nodes) == 1:
        nodes = [invert(nodes[0])]
    while len(nodes) > 1:
        last_level = len(nodes) == 2
        paired = [add(nodes[k], nodes[k + 1], not (last_level and invert_root))
                  for k in range(0, len(nodes) - 1, 2)]
        nodes = paired + nodes[len(paired) * 2:]
        if last_level and invert_root:
            nodes = [invert(nodes[0])]
        nodes = end_level(nodes)
    return nodes[0]


@dataclasses.dataclass(frozen=True)
class TreePlan:
    """What :func:`adder_tree` builds over some leaves, computed without building it.

    Attributes
    ----------
    adders : tuple of TreeNode
        The result of every adder, in build order (before a root inversion).
    levels : tuple of tuple of TreeNode
        The nodes leaving each level: what a pipeline register after it holds.
    root : TreeNode
        The root, as :func:`adder_tree` returns it (inverted with ``invert_root``).
    """
    adders: tuple
    levels: tuple
    root: TreeNode

    @property
    def adder_widths(self):
        """Width of every adder, in build order."""
        return tuple(node.shape.width for node in self.adders)

    @property
    def level_bits(self):
        """Bits leaving each level: node values and their pending 1-bit carries."""
        return tuple(sum(node.shape.width + len(node.carries) for node in nodes)
                     for nodes in self.levels)


def plan_tree(leaves, *, invert_root=False):
    """The :class:`TreePlan` of ``adder_tree(m, leaves, invert_root=invert_root)``.

    Only the leaves' ranges and pending carries matter: their values (and the carries'
    values) may be ``None``. Pure Python, no Module: cheap enough for any unit size.
    """
    adders, levels = [], []

    def add(x, y, keep):
        node, _ = _sum_node(x, y)
        adders.append(node)
        return node

    def end_level(nodes):
        levels.append(tuple(nodes))
        return nodes

    root = _walk_tree(leaves, add=add, invert=_inverted_node, end_level=end_level,
                      invert_root=invert_root)
    return TreePlan(tuple(adders), tuple(levels), root)


def _add(m, x, y, keep=True):
    """One adder of the tree: ``x + y`` plus one pending carry as the carry-in."""
    total, carry_in = _sum_node(x, y)
    expression = x.value + y.value
    if carry_in:
        expression = expression + carry_in[0]
    result = Signal(total.shape, attrs=KEEP if keep else {})
    m.d.comb += result.eq(expression)
    return dataclasses.replace(total, value=result)


def _register_nodes(stages, nodes, riders):
    """End a level: register nodes' values and pending carries, and the riders."""
    flat = [n.value for n in nodes] + [c for n in nodes for c in n.carries] + list(riders)
    flat = stages.end_level(flat)
    values, rest = flat[:len(nodes)], flat[len(nodes):]
    registered = []
    for node, value in zip(nodes, values):
        count = len(node.carries)
        registered.append(dataclasses.replace(node, value=value, carries=tuple(rest[:count])))
        rest = rest[count:]
    return registered, rest


def adder_tree(m, leaves, *, stages, riders=(), invert_root=False):
    """Emit a balanced adder tree into ``m``; every level goes through ``stages``.

    The tree is the one :func:`plan_tree` describes (both walk it with the same code).

    Parameters
    ----------
    m : Module
    leaves : list of TreeNode
    stages : Stages
        Counts the levels and inserts the pipeline registers; the caller may add levels
        after the root and must call ``stages.close`` at the end.
    riders : list of Value
        Values that travel beside the tree through the same registers (flags).
    invert_root : bool
        Return ``~root`` instead of the root, with its pending carries inverted too
        (``~(v + c) + 1 == ~v + ~c``). The root adder is then not kept, so that Yosys
        folds the inversion into the root adder's sum LUTs (free on iCE40, where an
        inverter behind a kept wire costs a LUT per bit).

    Returns
    -------
    (TreeNode, list of Value)
        The root (its ``carries`` are the ones left over; with ``invert_root`` its value
        is inverted and ``lo``/``hi`` describe the inverted value) and the riders.
    """
    riders = list(riders)

    def end_level(nodes):
        nonlocal riders
        nodes, riders = _register_nodes(stages, nodes, riders)
        return nodes

    root = _walk_tree(leaves, add=lambda x, y, keep: _add(m, x, y, keep),
                      invert=lambda node: _inverted(m, node), end_level=end_level,
                      invert_root=invert_root)
    return root, riders


def _inverted(m, node):
    # The pending carries are inverted too, before the level's register: ~(v + c) + 1 is
    # ~v + ~c, so a consumer adds the registered ~c straight into its carry chain (on
    # iCE40 an inverter behind the register would cost a LUT level on the accumulator's path).
    inverted = _inverted_node(node)
    value = Signal(inverted.shape)
    carries = [Signal(name=f"carry{index}_inverted") for index in range(len(node.carries))]
    m.d.comb += [value.eq(~node.value), *(inv.eq(~carry) for inv, carry in zip(carries, node.carries))]
    return dataclasses.replace(inverted, value=value, carries=tuple(carries))


@dataclasses.dataclass(frozen=True)
class DotStructure:
    """What one dot-product block builds: the hardware's own description of itself.

    Returned by the blocks' ``structure()`` (:meth:`TernaryDot.structure`), computed
    from the plan their ``elaborate`` emits (:func:`plan_tree`, :class:`Stages`) without
    building a Module; ``elaborate`` checks the register count against it.

    Attributes
    ----------
    adder_widths : tuple of int
        Width of every adder, in build order.
    multipliers : tuple of (int, int)
        Operand widths of every multiplier (empty for a ternary block).
    register_bits : int
        Pipeline register bits: every value, pending carry and rider (flag) a stage
        register holds. A block with ``latency`` 0 has none.
    latency : int
        Register stages from input to output.
    muxes : tuple of (int, int)
        ``(inputs, width)`` of every table lookup (a ``width``-bit multiplexer over
        ``inputs`` values, i.e. ``inputs - 1`` two-input multiplexers per bit); empty but
        for the lookup unit's rows
        (:class:`~tritforge.hdl.lookup_matrix_unit.LookupMatrixUnit`).
    """
    adder_widths: tuple
    multipliers: tuple
    register_bits: int
    latency: int
    muxes: tuple = ()


def tree_depth(lanes):
    """Number of adder levels of a balanced tree over ``lanes`` leaves."""
    return math.ceil(math.log2(lanes)) if lanes > 1 else 0


def pipeline_registers(levels, pipeline):
    """Register stages of ``levels`` levels of logic under :class:`Stages`' rule."""
    return -(-levels // pipeline) if pipeline else 0


class TernaryDot(wiring.Component):
    """Ternary dot product of ``lanes`` activations with ``lanes`` 2-bit weight codes.

    No multiplier: each lane selects ``a``, ``~a``, ``0`` or ``-1`` (one LUT3 per bit) and
    a 1-bit correction that the tree adders take as carry-ins (module docstring: why).

    Parameters
    ----------
    lanes : int
        Number of lanes, >= 1.
    act_bits : int
        Activation width (signed), 2..16.
    pipeline : int
        Register after every ``pipeline`` adder levels and at the output; 0:
        combinational.
    raw : bool
        ``False``: output the dot product on ``sum``. ``True``: leave out the final
        correction adder and output ``partial`` and ``carry`` instead, for a consumer
        that adds them in an adder it has anyway (the matrix unit's accumulator).

    Members
    -------
    act : ``In(ArrayLayout(signed(act_bits), lanes))``
        Activations.
    weights : ``In(ArrayLayout(unsigned(2), lanes))``
        Weight codes (:class:`~tritforge.spec.formats.WeightCode`); ``weights[k]``
        multiplies ``act[k]``.
    sum : ``Out(signed(accumulator_bits(lanes, act_bits)))``
        Not ``raw``: sum over lanes of ``(code - 1) * act``, INVALID lanes counting 0.
    partial : ``Out(signed(act_bits + ceil(log2(lanes))))``, carry : ``Out(1)``
        ``raw`` only: ``partial + carry`` is the dot product (see :meth:`addends`).
    invalid : ``Out(1)``
        Some lane had code INVALID (that lane contributed 0).
    en : ``In(1)``
        Only when ``latency > 0``. Clock enable of every pipeline register: while low
        the pipeline holds, so a stalled consumer loses nothing.

    Attributes
    ----------
    latency : int
        Clock cycles (with ``en`` high) from ``act``/``weights`` to the outputs:
        ``ceil(levels / pipeline)``, where ``levels`` is ``ceil(log2(lanes))`` adder
        levels plus one for the final correction when not ``raw``; 0 (combinational)
        when ``pipeline`` is 0 or there are no levels (one lane, ``raw``).

    Raises
    ------
    TypeError, ValueError
        If a parameter has the wrong type or is out of range.
    """

    def __init__(self, lanes, act_bits=8, pipeline=0, *, raw=False):
        self._lanes = check_integer("lanes", lanes, 1)
        self._act_bits = check_integer("act_bits", act_bits, ACT_BITS_RANGE.start,
                                       ACT_BITS_RANGE.stop - 1)
        self._pipeline = check_integer("pipeline", pipeline, 0)
        self._raw = bool(raw)
        self._latency = self.latency_for(lanes, pipeline, raw=raw)
        members = {
            "act": In(data.ArrayLayout(signed(act_bits), lanes)),
            "weights": In(data.ArrayLayout(unsigned(WEIGHT_CODE_BITS), lanes)),
            "invalid": Out(1),
        }
        if raw:
            members["partial"] = Out(self._root_shape())
            members["carry"] = Out(1)
        else:
            members["sum"] = Out(self._sum_shape())
        if self._latency:
            members["en"] = In(1)
        super().__init__(members)

    lanes = property(lambda self: self._lanes, doc="Number of lanes.")
    act_bits = property(lambda self: self._act_bits, doc="Activation width.")
    pipeline = property(lambda self: self._pipeline, doc="Adder levels per register.")
    raw = property(lambda self: self._raw, doc="Whether the final correction is left out.")
    latency = property(lambda self: self._latency, doc="Register stages from input to output.")

    @staticmethod
    def latency_for(lanes, pipeline, *, raw=False):
        """The ``latency`` of a block with these parameters, without making one."""
        levels = tree_depth(lanes) + (0 if raw else 1)
        return pipeline_registers(levels, pipeline)

    def _leaf_range(self):
        half = 1 << (self._act_bits - 1)
        return -half, half - 1

    def _leaf_node(self, value=None, carry=None):
        """A leaf of the tree: complement-domain range and one pending correction."""
        lo, hi = self._leaf_range()
        return TreeNode(value, lo, hi, (carry,))

    def _root_shape(self):
        # N leaves in [-half, half-1] plus N-1 carries: [-N*half, N*half - 1], which is
        # also the range of its inversion.
        lo, hi = self._leaf_range()
        return Shape.cast(range(lo * self._lanes, hi * self._lanes + self._lanes))

    def _sum_shape(self):
        # |dot| <= N * half, reached positive by all -half activations with weight -1.
        half = -self._leaf_range()[0]
        return Shape.cast(range(-self._lanes * half, self._lanes * half + 1))

    def structure(self):
        """The :class:`DotStructure` of this block, from the plan :meth:`elaborate` emits.

        Cheap (no Module): one :func:`plan_tree` over ``lanes`` leaves.
        """
        plan = plan_tree([self._leaf_node()] * self._lanes, invert_root=True)
        adders = plan.adder_widths
        # The INVALID flag rides beside the tree through every register (elaborate).
        level_bits = [bits + 1 for bits in plan.level_bits]
        if not self._raw:
            # The final correction is one more adder and one more level.
            width = self._sum_shape().width
            adders += (width,)
            level_bits.append(width + 1)
        return DotStructure(adder_widths=adders, multipliers=(),
                            register_bits=stage_register_bits(level_bits, self._pipeline),
                            latency=self._latency)

    def addends(self):
        """Values whose sum is the dot product: ``[sum]``, or ``[partial, carry]``.

        A consumer adds them in its own adder (``carry`` becomes its carry-in).
        """
        if self._raw:
            return [self.partial, self.carry]
        return [self.sum]

    def _stages(self, m):
        """The :class:`Stages` that places this block's pipeline registers (a subclass may
        keep it, to state invariants on :attr:`Stages.registered`)."""
        return Stages(m, self._pipeline, self.en if self._latency else None)

    def elaborate(self, platform):
        m = Module()
        stages = self._stages(m)
        leaves = [self._leaf(m, k) for k in range(self._lanes)]
        # The tree sums u + c = -(w * a); inverting its root gives ~(-dot - c_last) =
        # dot + c_last - 1, so dot = ~root + ~c_last (the root's carry comes inverted).
        root, (invalid,) = adder_tree(m, leaves, stages=stages, invert_root=True,
                                      riders=[self._any_invalid(m)])
        (carry,) = root.carries       # already inverted: ~c_last
        partial = root.value
        if self._raw:
            partial, carry, invalid = stages.close([partial, carry, invalid])
            m.d.comb += [self.partial.eq(partial), self.carry.eq(carry)]
        else:
            total = Signal(self._sum_shape(), attrs=KEEP)
            m.d.comb += total.eq(partial + carry)
            total, invalid = stages.close(stages.end_level([total, invalid]))
            m.d.comb += self.sum.eq(total)
        m.d.comb += self.invalid.eq(invalid)
        assert stages.registers == self._latency
        assert stages.bits == self.structure().register_bits
        return m

    def _leaf(self, m, lane):
        """Complement-domain leaf: ``u + c == -(w * a)`` with ``c = code[1]``."""
        act, code = self.act[lane], self.weights[lane]
        u = Signal(signed(self._act_bits), name=f"leaf{lane}")
        with m.Switch(code):
            with m.Case(WeightCode.NEG):
                m.d.comb += u.eq(act)
            with m.Case(WeightCode.ZERO):
                m.d.comb += u.eq(0)
            with m.Case(WeightCode.POS):
                m.d.comb += u.eq(~act)
            with m.Case(WeightCode.INVALID):
                m.d.comb += u.eq(-1)
        return self._leaf_node(u, code[_CARRY_BIT])

    def _any_invalid(self, m):
        return any_flag(m, [self.weights[k] == WeightCode.INVALID for k in range(self._lanes)])


def any_flag(m, flags):
    """OR of ``flags``, as kept pairs (one LUT4 per two lanes; module docstring)."""
    pairs = []
    for k in range(0, len(flags), 2):
        pair = Signal(name=f"invalid_pair{k // 2}", attrs=KEEP)
        m.d.comb += pair.eq(Cat(*flags[k:k + 2]).any())
        pairs.append(pair)
    return Cat(*pairs).any()
