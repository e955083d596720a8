# amaranth: UnusedElaboratable=no
# (structure() makes a row's lookup block only to read it)
"""Table-lookup ternary matrix unit: the T-MAC / TeLLMe scheme against the adder tree.

For each group of ``g`` consecutive activations of a chunk, a table holds the sum
``sum(t[i] * a[i])`` for every ternary weight pattern ``t``; the table is computed once
per chunk and shared by all rows. Each row then *looks up* one sum per group, selected by
its weights, and adds ``ceil(cols / g)`` looked-up sums in a balanced adder tree instead
of ``cols`` lanes.

How it is built (:class:`LookupMatrixUnit` has the parameters):

* **Table, shared, per chunk.** Only the *canonical* half is computed: the patterns whose
  highest nonzero trit is ``+1`` (``(3**g - 1) / 2`` sums; the others are their
  negations). Sub-tables over lane spans merge pairwise, like an adder tree over the
  group's lanes: a pattern of the merged span is ``right + left`` or ``right - left`` of
  two canonical sub-sums (one adder each, a sum and a difference share nothing), so the
  table has ``ceil(log2(g))`` adder levels and no negation. With ``symmetric=False`` a
  last level negates every canonical sum (the full table, ``3**g - 1`` nonzero sums).
  The table lives in registers: it changes with every chunk (one per cycle), so LUT RAM
  or block RAM, written one entry per cycle, could not keep up.
* **Lookup, per row and group.** A multiplexer tree keyed by the 2-bit weight codes,
  highest lane first (``code[0]`` picks ZERO, else ``code[1]`` picks POS or NEG: INVALID
  selects like ZERO, contributing 0); no base-3 index arithmetic. ``symmetric``: the
  sign ``s`` of the highest nonzero weight flips the other lanes' ``code[1]``, the tree
  selects among the canonical sums only, and the result is ``x ^ s`` with ``s`` as a
  pending carry of the adder tree (``-x == ~x + 1``: the TernaryDot trick), so the
  negation costs no adder.
* **base-3 bytes** (``weight_format="base3"``, ``g = 5``): a row's weights are the packed
  bytes themselves, ``byte = sum(code[i] * 3**i)``, used directly as table indices: with
  ``v = byte - 121`` (the balanced-ternary value of the five trits), ``v > 0`` is the
  canonical half, ``|v|`` indexes it and ``v < 0`` is the sign (two 8-bit subtractors per
  lookup, no decoder); bytes 243..255 select 0 and flag INVALID. Lanes past ``cols`` in
  the last byte multiply nothing (their trits are ignored).
* **Adder tree, per row**, over the looked-up sums: :func:`~.ternary_dot.adder_tree`,
  carries and all; the last pending carry rides the accumulator's adder.

Pipelining: one :class:`~.ternary_dot.Stages` count runs through the table's levels, the
lookup (one level) and the row's tree: a register every ``pipeline`` levels and at the
end. Table registers are shared; while the table passes its registers, each row delays
its weights by as many (``2 * cols`` bits per row and stage).
"""

import dataclasses
import itertools

from amaranth.hdl import Array, C, Cat, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.formats import BASE3_LIMIT, TRITS_PER_BYTE, WEIGHT_CODE_BITS, WeightCode
from ..spec.params import DEFAULT_GROUP, GROUP_RANGE
from .matrix_unit import TernaryMatrixUnit
from .ternary_dot import (KEEP, DotStructure, Stages, TreeNode, adder_tree, any_flag, plan_tree,
                          stage_register_bits, tree_depth)

__all__ = ["LookupMatrixUnit", "GROUP_RANGE", "LOOKUP_WEIGHT_FORMATS"]

#: How a lookup unit's rows take their weights: 2-bit codes, or base-3 bytes (``g = 5``).
LOOKUP_WEIGHT_FORMATS = ("codes", "base3")
#: Byte of the all-zero five-trit pattern: ``sum(WeightCode.ZERO * 3**i)``.
_BASE3_ZERO = sum(int(WeightCode.ZERO) * 3 ** i for i in range(TRITS_PER_BYTE))


def _canonical(pattern):
    """The highest nonzero trit of ``pattern`` is +1 (the half the table stores)."""
    top = [t for t in pattern if t]
    return bool(top) and top[-1] == 1


def _negated(pattern):
    return tuple(-t for t in pattern)


def _base3_pattern(byte, lanes):
    """The trits of a base-3 byte's first ``lanes`` lanes (the rest multiply nothing)."""
    return tuple(byte // 3 ** i % 3 - 1 for i in range(lanes))


def _add_node(y, x, subtract):
    """``y + x`` or ``y - x`` (no value yet), exactly as wide as its range."""
    if subtract:
        return TreeNode(None, y.lo - x.hi, y.hi - x.lo)
    return TreeNode(None, y.lo + x.lo, y.hi + x.hi)


@dataclasses.dataclass
class _Table:
    """One group's table: canonical sums by pattern, and the negations built of them."""
    lanes: int
    canonical: dict
    negated: dict

    def entry(self, pattern):
        """The node holding ``sum(t * a)`` for ``pattern``; ``None`` for all zeros."""
        if not any(pattern):
            return None
        if _canonical(pattern):
            return self.canonical[pattern]
        return self.negated[_negated(pattern)]

    def nodes(self):
        return list(self.canonical.values()) + list(self.negated.values())


def _build_tables(acts, needed_negations, *, add, end_level):
    """The tables of every group, level by level: the one walk that plans and emits them.

    ``acts[j]``: the activation nodes of group ``j``'s lanes; ``add(y, x, subtract)``
    makes ``y +- x`` (``x is None``: ``-y``); ``end_level(nodes)`` closes a level over all
    values live after it and returns them (registered or not) in the same order.
    ``needed_negations[j]``: canonical patterns whose negation the lookups need.
    Returns the :class:`_Table` of every group.
    """
    # Every group is a list of sub-tables (lanes, {pattern: node}); a lane starts as {(1,): a}.
    groups = [[(1, {(1,): act}) for act in group] for group in acts]

    def close_level():
        flat = [node for group in groups for _, table in group for node in table.values()]
        flat = iter(end_level(flat))
        for group in groups:
            for _, table in group:
                for pattern in table:
                    table[pattern] = next(flat)

    while any(len(group) > 1 for group in groups):
        for index, group in enumerate(groups):
            merged = []
            for k in range(0, len(group) - 1, 2):
                merged.append(_merge(*group[k], *group[k + 1], add))
            groups[index] = merged + group[len(merged) * 2:]
        close_level()
    tables = [_Table(group[0][0], group[0][1], {}) for group in groups]
    if any(needed_negations):
        for table, needed in zip(tables, needed_negations):
            table.negated = {pattern: add(table.canonical[pattern], None, True)
                             for pattern in sorted(needed)}
        flat = iter(end_level([node for table in tables for node in table.nodes()]))
        for table in tables:
            for nodes in (table.canonical, table.negated):
                for pattern in nodes:
                    nodes[pattern] = next(flat)
    return tables


def _merge(left_lanes, left, right_lanes, right, add):
    """The canonical table of two adjacent spans (``right`` above ``left``)."""
    merged = {pattern + (0,) * right_lanes: node for pattern, node in left.items()}
    for upper, y in right.items():
        merged[(0,) * left_lanes + upper] = y
        for lower, x in left.items():
            merged[lower + upper] = add(y, x, False)
            merged[_negated(lower) + upper] = add(y, x, True)
    return left_lanes + right_lanes, merged


class _Plan:
    """Everything about a lookup unit's tables that does not need a Module: the groups,
    the patterns the lookups read, the table's levels and its nodes' ranges."""

    def __init__(self, cols, act_bits, group, weight_format, symmetric):
        self.cols, self.act_bits, self.group = cols, act_bits, group
        self.base3 = weight_format == "base3"
        self.symmetric = symmetric
        self.spans = [min(group, cols - start) for start in range(0, cols, group)]
        self.needed = [self._needed_negations(lanes) for lanes in self.spans]
        half = 1 << (act_bits - 1)
        acts = [[TreeNode(None, -half, half - 1)] * lanes for lanes in self.spans]
        self.adder_widths = []
        self.level_bits = []

        def add(y, x, subtract):
            node = TreeNode(None, -y.hi, -y.lo) if x is None else _add_node(y, x, subtract)
            self.adder_widths.append(node.shape.width)
            return node

        def end_level(nodes):
            self.level_bits.append(sum(node.shape.width for node in nodes))
            return nodes

        self.tables = _build_tables(acts, self.needed, add=add, end_level=end_level)
        self.levels = len(self.level_bits)

    def _needed_negations(self, lanes):
        """Canonical patterns of a group of ``lanes`` lanes whose negation a lookup reads."""
        if not self.symmetric:
            patterns = itertools.product((-1, 0, 1), repeat=lanes)
        elif self.base3:
            patterns = (_base3_pattern(byte, lanes) for byte in range(_BASE3_ZERO, BASE3_LIMIT))
        else:
            return set()
        return {_negated(p) for p in patterns if any(p) and not _canonical(p)}

    def shared_structure(self, pipeline):
        """The table's adders and registers (its levels are the first of every row)."""
        return DotStructure(adder_widths=tuple(self.adder_widths), multipliers=(),
                            register_bits=stage_register_bits(self.level_bits, pipeline, close=False),
                            latency=self.registers(pipeline))

    def registers(self, pipeline):
        """Register stages inside the table (a stage ends every ``pipeline`` levels)."""
        return self.levels // pipeline if pipeline else 0

    def table_nodes(self):
        """Every table value, in the order of the rows' flat ``table`` port."""
        return [node for table in self.tables for node in table.nodes()]

    def lookup_values(self, j):
        """The patterns group ``j``'s lookup selects among, as its multiplexer's inputs."""
        lanes = self.spans[j]
        if self.base3:
            # Indexed by the byte (or |byte - 121|); the invalid bytes 243..255 select 0 (None).
            first = _BASE3_ZERO if self.symmetric else 0
            return [_base3_pattern(byte, lanes) for byte in range(first, BASE3_LIMIT)] + [None] * (256 - BASE3_LIMIT)
        patterns = itertools.product((-1, 0, 1), repeat=lanes)
        if self.symmetric:
            return [p for p in patterns if not any(p) or _canonical(p)]
        return list(patterns)

    def leaf(self, j):
        """The range of group ``j``'s looked-up sum, as the tree's leaf (value ``None``)."""
        table = self.tables[j]
        nodes = [table.entry(p) for p in self.lookup_values(j) if p is not None]
        lo = min([0] + [node.lo for node in nodes if node is not None])
        hi = max([0] + [node.hi for node in nodes if node is not None])
        if self.symmetric:
            lo, hi = min(lo, ~hi), max(hi, ~lo)
            return TreeNode(None, lo, hi, (None,))
        return TreeNode(None, lo, hi)

    def mux_inputs(self, j):
        """Values group ``j``'s multiplexer selects among (symmetric: plus the sign's)."""
        return len(self.lookup_values(j)) + (1 if self.symmetric else 0)


class _LookupRow(wiring.Component):
    """One row of the lookup unit: a lookup per group and an adder tree over them.

    Members: ``table`` (``In``, the shared tables' values, flat), ``weights`` (``In``, the
    row's codes or base-3 bytes), ``partial`` and, when ``symmetric``, ``carry``
    (``Out``: ``partial + carry`` is the row's dot product), ``invalid`` (``Out(1)``) and,
    when ``latency > 0``, the clock enable ``en``. ``latency`` counts the table's
    registers too (the row delays its weights through as many).
    """

    def __init__(self, plan, pipeline, weight_layout):
        self._plan, self._pipeline = plan, pipeline
        self._weight_layout = weight_layout
        self._latency = LookupMatrixUnit._dot_latency_of(plan, pipeline)
        root = self._tree_plan().root
        members = {
            "table": In(sum(node.shape.width for node in plan.table_nodes())),
            "weights": In(weight_layout),
            "partial": Out(root.shape),
            "invalid": Out(1),
        }
        if plan.symmetric:
            members["carry"] = Out(1)
        if self._latency:
            members["en"] = In(1)
        super().__init__(members)

    latency = property(lambda self: self._latency)

    def addends(self):
        return [self.partial, self.carry] if self._plan.symmetric else [self.partial]

    def _leaves(self):
        return [self._plan.leaf(j) for j in range(len(self._plan.spans))]

    def _tree_plan(self):
        return plan_tree(self._leaves())

    def structure(self):
        """The :class:`~.ternary_dot.DotStructure` of one row: its tree adders (and the
        base-3 index subtractors), its lookups, its registers (weight delay included)."""
        plan, pipeline = self._plan, self._pipeline
        leaves = self._leaves()
        tree = plan_tree(leaves)
        index_adders = (9, 9) * len(plan.spans) if plan.base3 and plan.symmetric else ()
        # The lookup level: the leaves with their pending carries and the INVALID flag;
        # then the tree's levels, the flag riding along.
        level_bits = [sum(leaf.shape.width + len(leaf.carries) for leaf in leaves) + 1]
        level_bits += [bits + 1 for bits in tree.level_bits]
        delay = plan.registers(pipeline) * Shape.cast(self._weight_layout).width
        registers = delay + stage_register_bits(level_bits, pipeline, start=plan.levels)
        muxes = tuple((plan.mux_inputs(j), leaf.shape.width) for j, leaf in enumerate(leaves))
        return DotStructure(adder_widths=index_adders + tree.adder_widths, multipliers=(),
                            register_bits=registers, latency=self._latency, muxes=muxes)

    def elaborate(self, platform):
        m = Module()
        plan, en = self._plan, (self.en if self._latency else None)
        tables = self._unflatten()
        # The weights wait for the table: one register per table stage.
        weights = self.weights
        for index in range(plan.registers(self._pipeline)):
            delayed = Signal(self._weight_layout, reset_less=True, name=f"weights_stage{index + 1}")
            with m.If(en):
                m.d.sync += delayed.eq(weights)
            weights = delayed
        stages = Stages(m, self._pipeline, en)
        stages.levels = plan.levels
        leaves, flags = [], []
        for j, leaf in enumerate(self._leaves()):
            if plan.base3:
                group_weights = weights[j]
            else:
                group_weights = [weights[j * plan.group + k] for k in range(plan.spans[j])]
            value, sign, invalid = self._lookup(m, j, tables[j], group_weights)
            node = Signal(leaf.shape, name=f"lookup{j}")
            m.d.comb += node.eq(value if sign is None else Mux(sign, ~value, value))
            leaves.append(dataclasses.replace(leaf, value=node, carries=() if sign is None else (sign,)))
            flags.append(invalid)
        # The lookup is one level of logic.
        flat = stages.end_level([leaf.value for leaf in leaves] + [c for leaf in leaves for c in leaf.carries]
                                + [any_flag(m, flags)])
        values, carries, invalid = flat[:len(leaves)], flat[len(leaves):-1], flat[-1]
        leaves = [dataclasses.replace(leaf, value=value, carries=tuple(carries[k:k + len(leaf.carries)]))
                  for k, (leaf, value) in enumerate(zip(leaves, values))]
        root, (invalid,) = adder_tree(m, leaves, stages=stages, riders=[invalid])
        outputs = stages.close([root.value, *root.carries, invalid])
        m.d.comb += [self.partial.eq(outputs[0]), self.invalid.eq(outputs[-1])]
        if plan.symmetric:
            m.d.comb += self.carry.eq(outputs[1])
        assert plan.registers(self._pipeline) + stages.registers == self._latency
        assert stages.bits + plan.registers(self._pipeline) * len(self.weights.as_value()) == \
            self.structure().register_bits
        return m

    def _unflatten(self):
        """The shared tables with this row's view of their values (signals of the port)."""
        offset, tables = 0, []
        for table in self._plan.tables:
            views = {}
            for kind, nodes in (("canonical", table.canonical), ("negated", table.negated)):
                views[kind] = {}
                for pattern, node in nodes.items():
                    width = node.shape.width
                    bits = self.table[offset:offset + width]
                    views[kind][pattern] = bits.as_signed() if node.shape.signed else bits
                    offset += width
            tables.append(_Table(table.lanes, views["canonical"], views["negated"]))
        return tables

    def _lookup(self, m, j, table, weights):
        """Group ``j``'s looked-up value, its sign (``None``: not symmetric) and INVALID."""
        plan = self._plan

        def entry(pattern):
            value = None if pattern is None else table.entry(pattern)
            return C(0) if value is None else value

        if plan.base3:
            byte = weights
            invalid = byte >= BASE3_LIMIT
            values = [entry(p) for p in plan.lookup_values(j)]
            if not plan.symmetric:
                return Array(values)[byte], None, invalid
            sign = Signal(name=f"sign{j}")
            index = Signal(range(256 - _BASE3_ZERO), name=f"index{j}")
            m.d.comb += [sign.eq(byte < _BASE3_ZERO),
                         index.eq(Mux(sign, _BASE3_ZERO - byte, byte - _BASE3_ZERO))]
            return Array(values)[index], sign, invalid
        codes = weights
        invalid = Cat(*(code == WeightCode.INVALID for code in codes)).any()
        if not plan.symmetric:
            return self._select(codes, [c[1] for c in codes], entry, len(codes) - 1, (), True), None, invalid
        # The sign of the highest nonzero weight (code[0] low: NEG or POS; code[1] low: NEG).
        sign = Signal(name=f"sign{j}")
        expression = C(0)
        for code in codes:
            expression = Mux(code[0], expression, ~code[1])
        m.d.comb += sign.eq(expression)
        flipped = [Signal(name=f"flip{j}_{k}") for k in range(len(codes))]
        m.d.comb += [flip.eq(code[1] ^ sign) for flip, code in zip(flipped, codes)]
        return self._select(codes, flipped, entry, len(codes) - 1, (), False), sign, invalid

    def _select(self, codes, positive, entry, lane, above, seen):
        """Multiplexer tree from lane ``lane`` down; ``above``: the trits chosen above it;
        ``seen``: a nonzero trit is among them (else this lane's nonzero is the highest,
        +1 after the sign flip)."""
        if lane < 0:
            return entry(above)
        pick = lambda trit, now: self._select(codes, positive, entry, lane - 1, (trit,) + above, now)
        zero = pick(0, seen)
        if not seen:
            return Mux(codes[lane][0], zero, pick(1, True))
        return Mux(codes[lane][0], zero, Mux(positive[lane], pick(1, True), pick(-1, True)))


class LookupMatrixUnit(TernaryMatrixUnit):
    """``rows`` ternary dot products by table lookup: a table of the sums of each group of
    ``group`` activations for every weight pattern, shared by all rows, and per row one
    lookup per group and an adder tree over the looked-up sums (module docstring).

    Streams, protocol, ``first``/``last``, the accumulators, their width and the
    meaning of INVALID codes are those of
    :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`; with
    ``weight_format="base3"`` a row's weights are ``ceil(cols / 5)`` base-3 bytes
    (``i.payload.weights`` is ``ArrayLayout(ArrayLayout(unsigned(8), ceil(cols / 5)),
    rows)``; weight ``c`` is trit ``c % 5`` of byte ``c // 5``, as the accelerator's
    ``base3`` format packs it): a byte 243..255 contributes 0 for its five lanes and sets
    ``invalid``.

    Parameters
    ----------
    rows, cols, act_bits, max_k, acc_bits, pipeline
        As for :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`.
    group : int
        Activations per table, 1..5 (``3**group`` patterns; default
        :data:`~tritforge.spec.params.DEFAULT_GROUP`).
    weight_format : str
        ``"codes"`` (2-bit weight codes) or ``"base3"`` (packed bytes; needs ``group`` 5).
    symmetric : bool
        Store only the canonical half of each table and negate by the sign of the highest
        nonzero weight (default), or the full table.

    Attributes
    ----------
    latency : int
        Cycles from accepting a ``last`` chunk to ``o.valid`` (output not stalled):
        ``max(1, ceil(levels / pipeline))`` with ``levels = ceil(log2(group))`` table
        levels (one more for a full table, or base-3 bytes over a partial last group),
        one lookup level and ``ceil(log2(ceil(cols / group)))`` tree levels; 1 when
        ``pipeline`` is 0 (:meth:`latency_for`).

    Reset: as :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit` (the valid flags and
    the INVALID flag reset; the table, weight-delay and tree registers have no reset).

    Raises
    ------
    TypeError, ValueError
        If a parameter has the wrong type or is out of range (message names it).
    """

    def __init__(self, rows, cols, act_bits=8, max_k=4096, acc_bits=None, pipeline=1,
                 group=DEFAULT_GROUP, weight_format="codes", symmetric=True):
        self._group = check_integer("group", group, GROUP_RANGE.start, GROUP_RANGE.stop - 1)
        if not isinstance(weight_format, str):
            raise TypeError(f"weight_format must be a string, not {weight_format!r}")
        if weight_format not in LOOKUP_WEIGHT_FORMATS:
            raise ValueError(f"weight_format must be one of {', '.join(LOOKUP_WEIGHT_FORMATS)}, "
                             f"not {weight_format!r}")
        if weight_format == "base3" and group != TRITS_PER_BYTE:
            raise ValueError(f"weight_format 'base3' needs group {TRITS_PER_BYTE} (the trits of "
                             f"a byte), not {group!r}")
        if not isinstance(symmetric, bool):
            raise TypeError(f"symmetric must be a bool, not {symmetric!r}")
        self._weight_format, self._symmetric = weight_format, symmetric
        self._plan = None
        shape = unsigned(8) if weight_format == "base3" else unsigned(WEIGHT_CODE_BITS)
        super(TernaryMatrixUnit, self).__init__(rows, cols, act_bits, max_k, acc_bits, pipeline, shape)

    group = property(lambda self: self._group, doc="Activations per table.")
    weight_format = property(lambda self: self._weight_format, doc="``codes`` or ``base3``.")
    symmetric = property(lambda self: self._symmetric, doc="Whether tables store half.")

    @staticmethod
    def latency_for(cols, pipeline, group=DEFAULT_GROUP, weight_format="codes", symmetric=True):
        """The :attr:`latency` of a unit with these parameters, without building one."""
        levels = tree_depth(min(group, cols))
        if not symmetric or (weight_format == "base3" and cols % group):
            levels += 1
        levels += 1 + tree_depth(-(-cols // group))
        return max(-(-levels // pipeline) if pipeline else 0, 1)

    @staticmethod
    def _dot_latency_of(plan, pipeline):
        levels = plan.levels + 1 + tree_depth(len(plan.spans))
        return -(-levels // pipeline) if pipeline else 0

    def _plan_of(self):
        if self._plan is None:
            self._plan = _Plan(self._cols, self._act_bits, self._group, self._weight_format,
                               self._symmetric)
        return self._plan

    def _row_weights(self):
        return len(self._plan_of().spans) if self._weight_format == "base3" else self._cols

    def _dot_latency_for(self):
        return self._dot_latency_of(self._plan_of(), self._pipeline)

    def _make_dot(self):
        layout = data.ArrayLayout(self._weight_shape, self._row_weights())
        return _LookupRow(self._plan_of(), self._pipeline, layout)

    def _row_input(self, dot):
        return dot.table

    def _shared_structure(self):
        return self._plan_of().shared_structure(self._pipeline)

    def _shared_stage(self, m, advance):
        """The tables of the chunk on ``i``, through the table's own pipeline registers."""
        plan = self._plan_of()
        half = 1 << (self._act_bits - 1)
        act = self.i.payload.act
        acts = [[TreeNode(act[start + k], -half, half - 1) for k in range(lanes)]
                for start, lanes in zip(range(0, self._cols, self._group), plan.spans)]
        stages = Stages(m, self._pipeline, advance)

        def add(y, x, subtract):
            node = TreeNode(None, -y.hi, -y.lo) if x is None else _add_node(y, x, subtract)
            value = Signal(node.shape, attrs=KEEP, name="table_sum")
            if x is None:
                m.d.comb += value.eq(-y.value)
            else:
                m.d.comb += value.eq(y.value - x.value if subtract else y.value + x.value)
            return dataclasses.replace(node, value=value)

        def end_level(nodes):
            values = stages.end_level([node.value for node in nodes])
            return [dataclasses.replace(node, value=value) for node, value in zip(nodes, values)]

        tables = _build_tables(acts, plan.needed, add=add, end_level=end_level)
        assert stages.bits == plan.shared_structure(self._pipeline).register_bits
        return Cat(*(node.value for table in tables for node in table.nodes()))
