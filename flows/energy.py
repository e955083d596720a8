"""Energy estimate 1: operation counts times a per-operation energy table.

Two parts, both Python (no tools run, no elaboration):

* :class:`EnergyTable` reads a table shipped in ``flows/data/energy_<name>.json``
  (:data:`TABLES`; each file names its source) and interpolates it to any operand width
  and SRAM size (rules below).
* :class:`HardwareModel` counts what one *chunk step* of a matrix unit costs - every adder
  of every row's tree with its real width, the multipliers of the integer unit, the
  accumulators, the pipeline register bits - as the hardware describes itself
  (:meth:`MatrixUnitBase.structure() <tritforge.hdl.matrix_unit.MatrixUnitBase.structure>`,
  computed by the code that builds it), plus the memories of the accelerator around it.
  :func:`workload_energy` multiplies that by the chunk steps of a workload (layer shapes
  as ``(name, out_features, in_features)`` tuples, the format of
  :meth:`ModelShape.linear_shapes() <tritforge.spec.formats.ModelShape.linear_shapes>`) or
  by the accelerator's own ``compute`` counter.

:func:`paper_matmul_energy` is the idealised count of the BitNet b1.58 paper (FP16: one
multiply and one add per MAC; BitNet b1.58: one INT8 add per MAC), kept separate from the
hardware count so that both can be shown side by side.

Interpolation rules (``docs/energy.md``):

* add: linear in the operand width between table points; outside them, proportional to
  the width (a ripple adder is one full adder per bit);
* multiply: linear in ``a_bits * b_bits`` between table points (an array multiplier has
  one partial-product cell per bit pair), proportional outside;
* SRAM access: ``E(bits, size) = E64(size) * bits / 64``, with ``E64`` interpolated
  linearly in ``log(size)`` against ``log(E64)`` (power law between points), extrapolated
  with the nearest segment's exponent; a write costs as much as a read;
* register bit loaded: one 32-bit add divided by 32 (a flip-flop and a full adder have
  about the same transistor count and both switch once per load);
* table lookup (the lookup unit's rows): ``inputs - 1`` two-input multiplexers per bit,
  each :data:`MUX_PER_FULL_ADDER` of a full-adder bit (a 32-bit add divided by 32): Yosys'
  CMOS table counts 12 transistors for a ``$_MUX_``, against 28 for a mirror full adder;
* DRAM: the 64-bit access energy divided by 64 per bit (midpoint of the quoted range).
"""

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

from ..hdl.units import UNIT_CLASSES, unit_structure
from ..spec.errors import ParameterError, ParameterTypeError
from ..spec.formats import MODEL_SHAPES, bits_per_weight, model_shape
from ..spec.params import TERNARY_UNIT_KINDS, AcceleratorParams, check_params

__all__ = ["TABLES", "EnergyTable", "UnitStructure", "MemoryGeometry", "HardwareModel",
           "hardware_model", "load_table", "paper_matmul_energy", "paper_ratio", "workload_energy",
           "parse_workload", "CATEGORIES", "MUX_PER_FULL_ADDER"]

#: Energy tables shipped with the package (``flows/data/energy_<name>.json``).
TABLES = ("horowitz_45nm", "bitnet_7nm")

#: Categories of :func:`workload_energy`, in report order.
CATEGORIES = ("arithmetic", "registers", "onchip_memory", "offchip")

_DRAM_POINTS = ("low", "mid", "high")

#: Energy of a two-input multiplexer bit against a full-adder bit: their transistors in
#: static CMOS (Yosys' ``stat -tech cmos`` cost of ``$_MUX_``, 12, and a 28-transistor
#: mirror full adder). Neither table has a multiplexer; both have adders.
MUX_PER_FULL_ADDER = 12 / 28


def _data_text(filename):
    return resources.files("tritforge.flows").joinpath("data", filename).read_text()


def _interpolate(points, x, power):
    """Piecewise linear in ``x**power`` through ``points`` ({x: y}); outside, ``y ~ x**power``."""
    xs = sorted(points)
    if x <= xs[0]:
        return points[xs[0]] * (x / xs[0]) ** power
    if x >= xs[-1]:
        return points[xs[-1]] * (x / xs[-1]) ** power
    for lo, hi in zip(xs, xs[1:]):
        if lo <= x <= hi:
            t = (x ** power - lo ** power) / (hi ** power - lo ** power)
            return points[lo] + t * (points[hi] - points[lo])
    raise AssertionError("unreachable")


def _interpolate_loglog(points, x):
    """Power law between the neighbouring ``points``; the nearest segment's outside them."""
    xs = sorted(points)
    if len(xs) == 1:
        return points[xs[0]]
    segment = 0
    while segment < len(xs) - 2 and x > xs[segment + 1]:
        segment += 1
    lo, hi = xs[segment], xs[segment + 1]
    exponent = math.log(points[hi] / points[lo]) / math.log(hi / lo)
    return points[lo] * (x / lo) ** exponent


@dataclasses.dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ) of one technology, with interpolation to other sizes.

    Attributes
    ----------
    name, node, source : str
        Identifier, technology node and the publication the numbers come from.
    add_pj, mult_pj : dict of int to float
        Integer add and multiply energy by operand width.
    float_pj : dict
        ``{"fp16": {"add": .., "mult": ..}, ...}``.
    sram_read_64bit_pj : dict of int to float
        Energy of a 64-bit SRAM read by array size in bytes.
    dram_64bit_pj : dict
        ``{"low": .., "high": ..}`` per 64 bits.
    """
    name: str
    node: str
    source: str
    add_pj: dict
    mult_pj: dict
    float_pj: dict
    sram_read_64bit_pj: dict
    dram_64bit_pj: dict
    notes: tuple = ()

    def add(self, bits):
        """Energy of one ``bits``-wide integer add."""
        return _interpolate(self.add_pj, _positive("bits", bits), 1)

    def mult(self, a_bits, b_bits=None):
        """Energy of one ``a_bits`` x ``b_bits`` integer multiply (square if ``b_bits`` is None)."""
        b_bits = a_bits if b_bits is None else b_bits
        # Linear in a*b: interpolate in width**2 at the geometric-mean width.
        width = math.sqrt(_positive("a_bits", a_bits) * _positive("b_bits", b_bits))
        return _interpolate(self.mult_pj, width, 2)

    def float_op(self, fmt, op):
        """Energy of one floating-point ``op`` (``"add"``/``"mult"``) in ``fmt`` (``"fp16"``...)."""
        if fmt not in self.float_pj or op not in self.float_pj[fmt]:
            known = ", ".join(f"{f}.{o}" for f in self.float_pj for o in self.float_pj[f])
            raise ValueError(f"float operation must be one of {known}, not {fmt}.{op}")
        return self.float_pj[fmt][op]

    def register_bit(self):
        """Energy of loading one register bit: a 32-bit add divided by 32 (module docstring)."""
        return self.add(32) / 32

    def mux(self, inputs, bits):
        """Energy of one ``bits``-wide selection among ``inputs`` values: ``inputs - 1``
        two-input multiplexers per bit, each :data:`MUX_PER_FULL_ADDER` of a full-adder bit
        (a 32-bit add divided by 32; module docstring)."""
        return (_positive("inputs", inputs) - 1) * _positive("bits", bits) * MUX_PER_FULL_ADDER * self.add(32) / 32

    def sram(self, bits, macro_bytes):
        """Energy of reading or writing ``bits`` bits of an SRAM of ``macro_bytes`` bytes."""
        per_64 = _interpolate_loglog(self.sram_read_64bit_pj, _positive("macro_bytes", macro_bytes))
        return per_64 * bits / 64

    def dram_bits(self, bits, point="mid"):
        """Energy of moving ``bits`` bits to or from DRAM at the ``low``/``mid``/``high`` figure."""
        if point not in _DRAM_POINTS:
            raise ValueError(f"dram point must be one of {', '.join(_DRAM_POINTS)}, not {point!r}")
        low, high = self.dram_64bit_pj["low"], self.dram_64bit_pj["high"]
        per_64 = {"low": low, "mid": (low + high) / 2, "high": high}[point]
        return per_64 * bits / 64

    def describe(self):
        """JSON-ready summary (name, node, source, notes)."""
        return {"name": self.name, "node": self.node, "source": self.source, "notes": list(self.notes)}


def _positive(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number, not {value!r}")
    return value


def _int_keys(mapping):
    return {int(key): float(value) for key, value in mapping.items()}


def load_table(name, _loading=()):
    """The energy table ``name`` (one of :data:`TABLES`) or a JSON file of the same format.

    A table may take its memory figures from another (``"memory_from"``), as the 7 nm table
    does (the BitNet papers give arithmetic energies only).

    Raises
    ------
    ParameterError
        If ``name`` is neither a known table nor an existing file, or the file is not a table.
    """
    if name in _loading:
        raise ParameterError(f"energy table {name!r} takes its memory_from itself, in a loop")
    if name in TABLES:
        return _table(json.loads(_data_text(f"energy_{name}.json")), (*_loading, name))
    if not Path(name).is_file():
        raise ParameterError(f"energy table must be one of {', '.join(TABLES)} or a JSON file, not {name!r}")
    try:
        return _table(json.loads(Path(name).read_text()), (*_loading, name))
    except json.JSONDecodeError as error:
        raise ParameterError(f"{name}: energy table is not JSON: {error}") from None
    except KeyError as error:
        raise ParameterError(f"{name}: energy table has no {error} field") from None
    except ParameterError:
        raise
    except (TypeError, ValueError, AttributeError) as error:
        raise ParameterError(f"{name}: not an energy table: {error}") from None


def _table(fields, loading):
    """The :class:`EnergyTable` of a table file's fields (:func:`load_table`; ``loading``: the
    tables being loaded, which ``memory_from`` must not name again)."""
    notes = []
    if "memory_from" in fields:
        memory = load_table(fields["memory_from"], loading)
        fields["sram_read_64bit_pj"] = memory.sram_read_64bit_pj
        fields["dram_64bit_pj"] = memory.dram_64bit_pj
        notes.append(fields.get("memory_note", f"memory energies from {memory.name}"))
    notes += [fields[key] for key in ("sram_note", "dram_note") if key in fields]
    return EnergyTable(
        name=fields["name"], node=fields["node"], source=fields["source"],
        add_pj=_int_keys(fields["add_pj"]), mult_pj=_int_keys(fields["mult_pj"]),
        float_pj=fields["float_pj"], sram_read_64bit_pj=_int_keys(fields["sram_read_64bit_pj"]),
        dram_64bit_pj=dict(fields["dram_64bit_pj"]), notes=tuple(notes))


# --- the paper's idealised count -------------------------------------------------------------

#: Operations per MAC of the schemes the BitNet b1.58 paper compares (its energy figure):
#: FP16 LLaMA multiplies and adds in FP16; BitNet b1.58 only adds, in INT8.
_PAPER_SCHEMES = {
    "fp16": (("float", "fp16", "mult"), ("float", "fp16", "add")),
    "fp32": (("float", "fp32", "mult"), ("float", "fp32", "add")),
    "int8": (("mult", 8), ("add", 32)),
    "bitnet_b158": (("add", 8),),
}


def _op_energy(table, op):
    if op[0] == "float":
        return table.float_op(op[1], op[2])
    return table.add(op[1]) if op[0] == "add" else table.mult(op[1])


def paper_matmul_energy(scheme, table, macs):
    """Arithmetic energy (pJ) of ``macs`` multiply-accumulates counted as the paper does.

    ``scheme`` is ``"fp16"``, ``"fp32"`` (multiply + add per MAC), ``"int8"`` (INT8 multiply,
    INT32 accumulate) or ``"bitnet_b158"`` (one INT8 add per MAC).
    """
    if scheme not in _PAPER_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(_PAPER_SCHEMES)}, not {scheme!r}")
    return macs * sum(_op_energy(table, op) for op in _PAPER_SCHEMES[scheme])


def paper_ratio(table, layers, tokens=1, baseline="fp16", scheme="bitnet_b158"):
    """Ratio of the baseline's to the scheme's matmul arithmetic energy over ``layers``."""
    macs = sum(tokens * out_features * in_features for _, out_features, in_features in layers)
    return paper_matmul_energy(baseline, table, macs) / paper_matmul_energy(scheme, table, macs)


# --- what the hardware does per chunk --------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class UnitStructure:
    """What one chunk step of a matrix unit computes and stores, as the hardware says.

    Made from a unit (:meth:`of`) or its parameters (:meth:`from_params`); every count
    comes from the unit's own :meth:`~tritforge.hdl.matrix_unit.MatrixUnitBase.structure`.

    Attributes
    ----------
    kind : str
        ``"ternary"``, ``"lookup"`` or ``"int"``.
    rows, cols, act_bits, weight_bits, acc_bits, pipeline : int
        The unit's parameters (``weight_bits`` 2 for ternary codes).
    adder_widths : tuple of int
        Widths of the adders of one row's dot product (tree only).
    multipliers : tuple of (int, int)
        Operand widths of one row's multipliers (empty for ternary).
    register_bits : int
        Flip-flops of the whole unit loaded every chunk step: pipeline registers of all
        rows, the unit's stage flags, accumulators (and the ternary INVALID flag), and the
        lookup unit's shared table.
    latency : int
        Cycles from a last chunk to its result (as the hardware's ``latency``).
    muxes : tuple of (int, int)
        ``(inputs, width)`` of one row's table lookups (the lookup unit).
    shared_adder_widths : tuple of int
        Widths of the adders computed once per chunk step for all rows (the lookup unit's
        tables).
    """
    kind: str
    rows: int
    cols: int
    act_bits: int
    weight_bits: int
    acc_bits: int
    pipeline: int
    adder_widths: tuple
    multipliers: tuple
    register_bits: int
    latency: int
    muxes: tuple = ()
    shared_adder_widths: tuple = ()

    @classmethod
    def of(cls, unit):
        """The structure of ``unit``, a matrix unit (e.g. from
        :func:`~tritforge.hdl.units.build_unit`), as its own ``structure()`` gives it.

        Raises
        ------
        ParameterTypeError
            If ``unit`` is not one of :data:`~tritforge.hdl.units.UNIT_CLASSES`.
        """
        return cls._from_hardware(_kind_of(unit), unit.structure())

    @classmethod
    def from_params(cls, params, *, weight_format="codes"):
        """The structure of the unit :func:`~tritforge.hdl.units.build_unit` builds for
        ``params`` (a :class:`~tritforge.spec.params.UnitParams`; ``weight_format`` as
        there), in milliseconds (:func:`~tritforge.hdl.units.unit_structure`)."""
        hardware = unit_structure(params, weight_format=weight_format)
        return cls._from_hardware(params.kind, hardware)

    @classmethod
    def _from_hardware(cls, kind, hardware):
        return cls(kind=kind, rows=hardware.rows, cols=hardware.cols, act_bits=hardware.act_bits,
                   weight_bits=hardware.weight_bits, acc_bits=hardware.acc_bits,
                   pipeline=hardware.pipeline, adder_widths=hardware.adder_widths,
                   multipliers=hardware.multipliers, register_bits=hardware.register_bits,
                   latency=hardware.latency, muxes=hardware.muxes,
                   shared_adder_widths=hardware.shared.adder_widths)

    @property
    def lanes(self):
        """MAC lanes: ``rows * cols``."""
        return self.rows * self.cols

    def chunk_energy(self, table):
        """``{"arithmetic": pJ, "registers": pJ}`` of one chunk step (all rows)."""
        tree = sum(table.add(width) for width in self.adder_widths)
        products = sum(table.mult(a, b) for a, b in self.multipliers)
        lookups = sum(table.mux(inputs, width) for inputs, width in self.muxes)
        accumulate = table.add(self.acc_bits)
        shared = sum(table.add(width) for width in self.shared_adder_widths)
        return {"arithmetic": self.rows * (tree + products + lookups + accumulate) + shared,
                "registers": self.register_bits * table.register_bit()}

    def describe(self):
        """JSON-ready counts per chunk step."""
        return {"kind": self.kind, "rows": self.rows, "cols": self.cols, "act_bits": self.act_bits,
                "acc_bits": self.acc_bits, "adders_per_row": len(self.adder_widths),
                "adder_widths": _histogram(self.adder_widths),
                "multipliers_per_row": len(self.multipliers), "register_bits": self.register_bits,
                "lookups_per_row": len(self.muxes), "shared_adders": len(self.shared_adder_widths)}


def _kind_of(unit):
    """The kind of :data:`~tritforge.hdl.units.UNIT_CLASSES` ``unit`` is."""
    for kind, unit_class in UNIT_CLASSES.items():
        if type(unit) is unit_class:       # a lookup unit is a TernaryMatrixUnit too
            return kind
    names = ", ".join(unit_class.__name__ for unit_class in UNIT_CLASSES.values())
    raise ParameterTypeError(f"unit must be a matrix unit ({names}), not {unit!r}")


def _histogram(values):
    counts = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return dict(sorted(counts.items(), key=lambda item: int(item[0])))


@dataclasses.dataclass(frozen=True)
class MemoryGeometry:
    """Word widths and depths of the accelerator's three on-chip memories.

    Each memory is one SRAM macro of ``words * word_bits`` bits (both banks or halves).
    """
    weight_word_bits: int
    weight_words: int
    act_word_bits: int
    act_words: int
    acc_word_bits: int
    acc_words: int
    weight_bits_per_weight: float

    @classmethod
    def from_params(cls, params, kind="ternary", weight_bits=8):
        """The memories of :class:`~tritforge.hdl.accelerator.Accelerator` for ``params``
        (an :class:`~tritforge.spec.params.AcceleratorParams`). ``kind="int"``: the same
        accelerator holding ``weight_bits``-bit weights (the baseline's memories)."""
        if kind in TERNARY_UNIT_KINDS:
            tile_bits = params.tile_bits
            per_weight = bits_per_weight(params.weight_format)
        else:
            tile_bits = params.rows * params.cols * weight_bits
            per_weight = weight_bits
        # Two banks of each memory; the accumulator buffer holds two row blocks of tokens.
        return cls(weight_word_bits=tile_bits, weight_words=2 * params.weight_depth,
                   act_word_bits=params.chunk_bits, act_words=2 * params.act_depth,
                   acc_word_bits=params.rows * params.acc_bits, acc_words=2 * params.max_tokens,
                   weight_bits_per_weight=per_weight)

    def macro_bytes(self, memory):
        """Size in bytes of ``memory`` (``"weight"``, ``"act"``, ``"acc"``)."""
        return getattr(self, f"{memory}_word_bits") * getattr(self, f"{memory}_words") / 8


@dataclasses.dataclass(frozen=True)
class HardwareModel:
    """A matrix unit, optionally with the accelerator's memories around it.

    ``memory`` None: the unit alone (arithmetic and registers). ``buffer_acc_bits`` None:
    the unit's own accumulators sum whole dot products (a standalone unit, ``max_k`` deep);
    else the accelerator's accumulator buffer of that width sums the unit's per-chunk sums.
    """
    unit: UnitStructure
    memory: MemoryGeometry = None
    buffer_acc_bits: int = None

    @classmethod
    def for_accelerator(cls, params, kind="ternary", weight_bits=8):
        """The accelerator of ``params``: its unit sums one chunk (``max_k = cols``), the
        accumulator buffer sums the chunks in ``params.acc_bits``. ``kind="ternary"``: its own
        ternary unit (the adder tree or the lookup unit, ``params.unit_kind``); ``"int"``: the
        same accelerator around an :class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit` of
        ``weight_bits``-bit weights (the baseline; ``weight_bits`` applies to it only)."""
        unit = check_params(params).unit
        if kind not in ("ternary", "int"):
            raise ParameterError(f"kind must be one of ternary, int, not {kind!r}")
        if kind == "int":
            unit = dataclasses.replace(unit, kind=kind, weight_bits=weight_bits, group=None)
        weights = "base3" if kind != "int" and params.unit_reads_bytes else "codes"
        return cls(UnitStructure.from_params(unit, weight_format=weights),
                   MemoryGeometry.from_params(params, kind, weight_bits), params.acc_bits)

    def chunk_energy(self, table):
        """Energy by category of one chunk step (one chunk into the unit, all rows)."""
        energy = dict(self.unit.chunk_energy(table), onchip_memory=0.0, offchip=0.0)
        mem = self.memory
        if mem is None:
            return energy
        # Each chunk step reads a weight tile and an activation chunk.
        energy["onchip_memory"] = (table.sram(mem.weight_word_bits, mem.macro_bytes("weight"))
                                   + table.sram(mem.act_word_bits, mem.macro_bytes("act")))
        if self.buffer_acc_bits is not None:
            # The accelerator's unit sums one chunk; the accumulator buffer adds it to the
            # token's sum: read, add, write one word.
            energy["arithmetic"] += self.unit.rows * table.add(self.buffer_acc_bits)
            energy["onchip_memory"] += 2 * table.sram(mem.acc_word_bits, mem.macro_bytes("acc"))
        return energy


def hardware_model(design):
    """The :class:`HardwareModel` of a design's parameters: an accelerator with its memories,
    or a matrix unit with the memories of an accelerator of its shape around it."""
    if isinstance(design, AcceleratorParams):
        return HardwareModel.for_accelerator(design)
    weight_bits = design.weight_bits or 8
    unit = UnitStructure.from_params(design)
    around = AcceleratorParams(rows=design.rows, cols=design.cols, act_bits=design.act_bits,
                               max_k=design.max_k, pipeline=design.pipeline)
    return HardwareModel(unit, MemoryGeometry.from_params(around, design.kind, weight_bits))


def _ceil_div(a, b):
    return -(-a // b)


def _layer_traffic(model, table, tokens, out_features, in_features, dram):
    """Once-per-layer energy: memory writes and reads outside the chunk steps, off-chip bytes.

    Assumes the layer is loaded once (weights and activations each cross the link once, the
    int32 results once): the ideal the host driver reaches when the layer fits the buffers.
    """
    unit, mem = model.unit, model.memory
    if mem is None:
        return {"onchip_memory": 0.0, "offchip": 0.0, "offchip_bits": 0}
    chunks, blocks = _ceil_div(in_features, unit.cols), _ceil_div(out_features, unit.rows)
    writes = (chunks * blocks * table.sram(mem.weight_word_bits, mem.macro_bytes("weight"))
              + tokens * chunks * table.sram(mem.act_word_bits, mem.macro_bytes("act")))
    drains = tokens * blocks * table.sram(mem.acc_word_bits, mem.macro_bytes("acc"))
    bits = (out_features * in_features * mem.weight_bits_per_weight
            + tokens * in_features * unit.act_bits + tokens * out_features * 32)
    return {"onchip_memory": writes + drains, "offchip": table.dram_bits(bits, dram),
            "offchip_bits": bits}


def workload_energy(model, layers, table, *, tokens=1, counters=None, dram="mid"):
    """Energy of running ``layers`` for ``tokens`` tokens on ``model``.

    Parameters
    ----------
    model : HardwareModel
    layers : iterable of (str, int, int)
        ``(name, out_features, in_features)`` of each matrix multiplication, e.g.
        :meth:`tritforge.spec.formats.ModelShape.linear_shapes`.
    table : EnergyTable
    tokens : int
        Tokens processed together (``T`` of each ``RUN``).
    counters : dict or None
        Performance counters of the run (``compute``, ``macs``; names of
        :data:`tritforge.spec.protocol.COUNTERS`), e.g. read with ``READ_STATUS`` or from the
        cycle model. ``compute`` then replaces the chunk steps derived from the shapes.
    dram : str
        ``"low"``, ``"mid"`` or ``"high"`` DRAM energy.

    Returns
    -------
    dict
        ``macs``, ``chunk_steps``, ``energy_pj`` (by :data:`CATEGORIES` and ``total``),
        ``pj_per_mac`` and ``pj_per_token`` (same keys), ``offchip_bytes``, ``layers``
        (per layer ``name``, ``macs``, ``chunk_steps``, ``energy_pj``).

    Raises
    ------
    ValueError
        If a layer shape or ``tokens`` is not positive, or ``counters`` disagree with the
        workload's MAC count.
    """
    tokens = _check_count("tokens", tokens)
    unit = model.unit
    per_chunk = model.chunk_energy(table)
    rows, totals = [], dict.fromkeys(CATEGORIES, 0.0)
    offchip_bits = 0
    for name, out_features, in_features in layers:
        _check_count(f"out_features of {name}", out_features)
        _check_count(f"in_features of {name}", in_features)
        steps = tokens * _ceil_div(in_features, unit.cols) * _ceil_div(out_features, unit.rows)
        traffic = _layer_traffic(model, table, tokens, out_features, in_features, dram)
        energy = {category: steps * per_chunk[category] for category in CATEGORIES}
        energy["onchip_memory"] += traffic["onchip_memory"]
        energy["offchip"] += traffic["offchip"]
        offchip_bits += traffic["offchip_bits"]
        rows.append({"name": name, "macs": tokens * out_features * in_features,
                     "chunk_steps": steps, "energy_pj": energy})
        for category in CATEGORIES:
            totals[category] += energy[category]
    if not rows:
        raise ValueError("workload must have at least one layer")
    macs = sum(row["macs"] for row in rows)
    steps = sum(row["chunk_steps"] for row in rows)
    if counters is not None:
        steps = _steps_from_counters(counters, macs, steps, per_chunk, totals)
    totals["total"] = sum(totals[category] for category in CATEGORIES)
    return {
        "table": table.name, "tokens": tokens, "macs": macs, "chunk_steps": steps,
        "utilization": macs / (steps * unit.lanes),
        "energy_pj": totals,
        "pj_per_mac": {key: value / macs for key, value in totals.items()},
        "pj_per_token": {key: value / tokens for key, value in totals.items()},
        "offchip_bytes": offchip_bits / 8,
        "layers": rows,
    }


def _steps_from_counters(counters, macs, steps, per_chunk, totals):
    """Replace the shape-derived chunk steps by the counted ones (``compute``)."""
    if counters.get("macs", macs) != macs:
        raise ValueError(f"counters report {counters['macs']} MACs but the workload has {macs}")
    counted = _check_count("counters['compute']", counters["compute"])
    for category in ("arithmetic", "registers"):
        totals[category] += (counted - steps) * per_chunk[category]
    return counted


def _check_count(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


# --- workloads -------------------------------------------------------------------------------

def parse_workload(text):
    """Layer shapes and token count of a workload given as text.

    ``OUTxIN`` or ``OUTxINxT<tokens>`` (one layer, e.g. ``2048x2048xT8``), or
    ``<preset>`` / ``<preset>xT<tokens>`` (a model of
    :data:`~tritforge.spec.formats.MODEL_SHAPES`, e.g. ``2b4t``).

    Returns
    -------
    (list of (str, int, int), int)

    Raises
    ------
    ParameterError
        If ``text`` is neither form.
    """
    head, _, tail = text.rpartition("xT")
    tokens = 1
    if head and tail.isdigit() and int(tail) > 0:
        text, tokens = head, int(tail)
    parts = text.split("x")
    if len(parts) == 2 and all(part.isdigit() and int(part) > 0 for part in parts):
        return [(f"layer_{parts[0]}x{parts[1]}", int(parts[0]), int(parts[1]))], tokens
    if text in MODEL_SHAPES:
        return model_shape(text).linear_shapes(), tokens
    raise ParameterError(f"workload must be OUTxIN[xT<tokens>] or a model preset "
                         f"({', '.join(MODEL_SHAPES)})[xT<tokens>], not {text!r}")
