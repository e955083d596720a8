"""Design parameters: one frozen, validated object per design, passed as itself.

* :class:`UnitParams` - a matrix unit: the ternary adder-tree unit, the ternary table-lookup
  unit or the INT8 baseline (``kind`` ``"ternary"`` / ``"lookup"`` / ``"int"``);
* :class:`AcceleratorParams` - the accelerator top: its ternary matrix unit (adder tree or
  lookup, ``unit_kind``), memories and AXI4-Stream link, with the geometry the host protocol
  derives from them.

Each is checked once, in its constructor; the hardware (``Accelerator(params)``,
:func:`tritforge.hdl.build`), the flows, the simulators and the command line take the object
itself. Both serialise one way: :meth:`to_dict` (with ``kind``) and :func:`design_from_dict`,
or :func:`load_design` for a JSON/TOML file. Every field carries its help text in its
metadata, from which the command line makes its options, and the two classes share one set
of defaults for the fields they have in common. Pure Python: no Amaranth, no torch.
"""

import dataclasses
import json
import tomllib
from pathlib import Path

from .errors import ParameterError, ParameterTypeError, check_integer
from .formats import WEIGHT_FORMATS, accumulator_bits, packed_row_bytes
from .protocol import (COUNTERS, MAX_COUNTER_BITS, MAX_STREAM_WIDTH, MIN_COUNTER_BITS, RESULT_LIMIT_BITS,
                       STATUS_HEADER_WORDS, WORD_BITS, ErrorCode)

__all__ = ["UNIT_KINDS", "TERNARY_UNIT_KINDS", "DESIGN_KINDS", "GROUP_RANGE", "DEFAULT_GROUP", "ACT_BITS_RANGE", "MAX_LANES", "MAX_MEMORY_BITS", "MAX_UNIT_ACC_BITS",
           "UnitParams", "AcceleratorParams", "design_from_dict", "load_design", "check_params"]

#: Matrix unit kinds: the adder tree, the table-lookup unit, the INT8 baseline.
UNIT_KINDS = ("ternary", "lookup", "int")
#: The unit kinds with ternary weights: the ones an accelerator can hold.
TERNARY_UNIT_KINDS = ("ternary", "lookup")
#: Activations per table of the lookup unit.
GROUP_RANGE = range(1, 6)
#: The lookup unit's default group: the smallest unit of groups 2..5 (iCE40 and ECP5 LUT4,
#: docs/matrix_unit.md).
DEFAULT_GROUP = 2
#: Every design a flow or command can build: the units and the accelerator top.
DESIGN_KINDS = (*UNIT_KINDS, "accelerator")
#: Signed activation (and integer weight) widths the hardware accepts.
ACT_BITS_RANGE = range(2, 17)

# Sizes that cannot be built are refused here, before any tool runs (a typo such as
# ``--rows 99999999`` would otherwise elaborate and synthesize until killed). The limits are a
# few times the largest device the flows build for, the ECP5 LFE5U-85F (~84k LUT4, 208 x 18 Kbit
# = 3.7 Mbit of block RAM), and leave room for the largest configurations the performance model
# prices (64 x 128 lanes, ~9.5 Mbit of buffers).
#: Most MAC lanes (rows x cols): 16,384 ternary lanes at ~20 LUT4 each (iCE40/ECP5, 8-bit
#: activations, docs/comparison.md) need ~330k LUT4, four times the LFE5U-85F.
MAX_LANES = 16_384
#: Most on-chip memory bits of an accelerator (its weight, activation and accumulator
#: buffers): 32 Mbit, nine times the LFE5U-85F's block RAM.
MAX_MEMORY_BITS = 32 * 2**20
#: Widest accumulator of a matrix unit alone (``max_k`` at ``act_bits``): 64 bits hold a dot
#: product of 2**47 terms of 16 bits; a wider one is a typo, not a design.
MAX_UNIT_ACC_BITS = 64
#: iCE40/ECP5 LUT4s per lane and activation bit of the ternary unit (~20 per lane at 8 bits,
#: docs/comparison.md): the estimate an oversized design is refused with.
_LUT4_PER_LANE_BIT = 2.5


def _field(default, help_text, **extra):
    """A dataclass field with its command-line help (and ``choices``) in the metadata."""
    return dataclasses.field(default=default, metadata={"help": help_text, **extra})


def _check_choice(name, value, choices):
    if not isinstance(value, str):
        raise ParameterTypeError(f"{name} must be a string, not {value!r}")
    if value not in choices:
        raise ParameterError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _check_group(params, kind):
    """The lookup unit's ``group`` (default :data:`DEFAULT_GROUP`); refused for other kinds."""
    if kind == "lookup":
        group = DEFAULT_GROUP if params.group is None else params.group
        object.__setattr__(params, "group", check_integer("group", group, GROUP_RANGE.start,
                                                          GROUP_RANGE.stop - 1))
    elif params.group is not None:
        raise ParameterError(f"group applies to the lookup unit only, not to {kind!r}")


def _check_unit_fields(params):
    for name in ("rows", "cols", "max_k"):
        check_integer(name, getattr(params, name), 1)
    check_integer("act_bits", params.act_bits, ACT_BITS_RANGE.start, ACT_BITS_RANGE.stop - 1)
    check_integer("pipeline", params.pipeline, 0)
    if params.lanes > MAX_LANES:
        raise ParameterError(
            f"rows x cols = {params.rows:,} x {params.cols:,} = {params.lanes:,} MAC lanes needs "
            f"~{params.lanes * params.act_bits * _LUT4_PER_LANE_BIT:,.0f} LUT4; the largest accepted is "
            f"{MAX_LANES:,} lanes (~4x the largest FPGA the flows build for, the ECP5-85F)")


def _check_memory(params, bits):
    """Refuse an accelerator whose buffers need more than :data:`MAX_MEMORY_BITS`."""
    if bits > MAX_MEMORY_BITS:
        raise ParameterError(
            f"the buffers of rows x cols = {params.rows:,} x {params.cols:,}, weight_depth "
            f"{params.weight_depth:,}, act_depth {params.act_depth:,} and max_tokens {params.max_tokens:,} "
            f"need {bits:,} bits of memory; the largest accepted is {MAX_MEMORY_BITS:,} "
            f"(~9x the block RAM of the largest FPGA the flows build for, the ECP5-85F)")


class _Design:
    """What every design's parameters offer: kind, name, lanes, one serialisation."""

    @property
    def lanes(self):
        """MAC lanes of the matrix unit: ``rows * cols``."""
        return self.rows * self.cols

    def to_dict(self):
        """The parameters as a JSON-ready dict, ``kind`` first (:func:`design_from_dict`
        reads it back); fields that do not apply to the kind are left out."""
        fields = {name: value for name, value in dataclasses.asdict(self).items() if value is not None}
        return {"kind": self.kind, **fields}


@dataclasses.dataclass(frozen=True)
class UnitParams(_Design):
    """Parameters of a matrix unit, checked.

    Parameters
    ----------
    kind : str
        ``"ternary"`` (:class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit`), ``"lookup"``
        (:class:`~tritforge.hdl.lookup_matrix_unit.LookupMatrixUnit`) or ``"int"``
        (:class:`~tritforge.hdl.int_matrix_unit.IntMatrixUnit`).
    rows, cols : int
        Output rows M (dot products per chunk) and lanes N per chunk, >= 1.
    act_bits : int
        Signed activation width, 2..16.
    max_k : int
        Longest dot product the accumulators hold without overflow, >= 1.
    pipeline : int
        Adder-tree levels per pipeline register, >= 0 (0: combinational trees).
    weight_bits : int or None
        Weight width of the ``int`` unit, 2..16 (default 8); ``None`` for the others.
    group : int or None
        Activations per table of the ``lookup`` unit, 1..5 (default :data:`DEFAULT_GROUP`);
        ``None`` for the others.

    Raises
    ------
    ParameterTypeError, ParameterError
        A parameter of the wrong kind or out of range; the message names it.
    """
    kind: str = _field("ternary", "Matrix unit kind (ternary adder tree, lookup or int), or the whole accelerator.")
    rows: int = _field(4, "Output rows M (dot products per chunk).")
    cols: int = _field(16, "Lanes N per chunk.")
    act_bits: int = _field(8, "Signed activation width, 2..16.")
    max_k: int = _field(4096, "Longest dot product without overflow (the accelerator: one RUN's K).")
    pipeline: int = _field(1, "Adder-tree levels per pipeline register (0: combinational trees).")
    weight_bits: int = _field(None, "Weight width of the int unit, 2..16 [default: 8].")
    group: int = _field(None, f"Activations per table of the lookup unit, 1..5 [default: {DEFAULT_GROUP}].")

    def __post_init__(self):
        _check_choice("kind", self.kind, UNIT_KINDS)
        _check_unit_fields(self)
        _check_group(self, self.kind)
        if self.kind == "int":
            weight_bits = 8 if self.weight_bits is None else self.weight_bits
            object.__setattr__(self, "weight_bits", check_integer(
                "weight_bits", weight_bits, ACT_BITS_RANGE.start, ACT_BITS_RANGE.stop - 1))
        elif self.weight_bits is not None:
            raise ParameterError(f"weight_bits applies to the int unit only, not to "
                                 f"{self.kind!r} (its weights are 2-bit codes)")
        acc_bits = accumulator_bits(self.max_k, self.act_bits + (self.weight_bits - 1 if self.kind == "int" else 0))
        if acc_bits > MAX_UNIT_ACC_BITS:
            raise ParameterError(f"max_k = {self.max_k:,} needs {acc_bits}-bit accumulators; the widest "
                                 f"accepted is {MAX_UNIT_ACC_BITS} bits")

    @property
    def name(self):
        """Module, file and folder name, e.g. ``ternary_r8_c32_a8_k4096_p1``."""
        weights = f"_w{self.weight_bits}" if self.kind == "int" else ""
        group = f"_g{self.group}" if self.kind == "lookup" else ""
        return (f"{self.kind}{group}_r{self.rows}_c{self.cols}_a{self.act_bits}{weights}"
                f"_k{self.max_k}_p{self.pipeline}")


@dataclasses.dataclass(frozen=True)
class AcceleratorParams(_Design):
    """Parameters of an accelerator, checked, with the quantities derived from them.

    Parameters
    ----------
    rows, cols, act_bits, pipeline : int
        The matrix unit (see :class:`UnitParams`).
    max_k : int
        Largest ``K`` of one ``RUN``; sizes the accumulators, which must fit int32.
    weight_format : str
        ``"2bit"`` or ``"base3"`` (:mod:`tritforge.spec.formats`).
    weight_depth : int
        Tiles per weight bank (two banks).
    act_depth : int
        Activation chunks per activation bank (two banks).
    max_tokens : int
        Largest ``T`` of one ``RUN`` (the accumulator buffer holds two row blocks of it).
    stream_width : int
        ``tdata`` width of both AXI4-Stream channels: a multiple of 32, at most 1024.
    counter_bits : int
        Width of each performance counter (they wrap), 16..64, or 0 for none: the status
        response then has its two first words only. Each counter takes
        :attr:`counter_words` status words.
    unit_kind : str
        The matrix unit: ``"ternary"`` (adder tree) or ``"lookup"`` (table lookup; with
        ``group`` 5 and the ``base3`` format it reads the packed bytes as table indices).
    group : int or None
        Activations per table of the ``lookup`` unit, 1..5 (default :data:`DEFAULT_GROUP`).

    Raises
    ------
    ParameterTypeError, ParameterError
        A parameter of the wrong kind or out of range; the message names it, the rule and
        the value.
    """
    rows: int = _field(4, "Output rows M (dot products per chunk).")
    cols: int = _field(16, "Lanes N per chunk.")
    act_bits: int = _field(8, "Signed activation width, 2..16.")
    max_k: int = _field(4096, "Longest dot product without overflow (the accelerator: one RUN's K).")
    pipeline: int = _field(1, "Adder-tree levels per pipeline register (0: combinational trees).")
    weight_format: str = _field("2bit", "Accelerator: packed weight format.",
                                choices=tuple(WEIGHT_FORMATS))
    weight_depth: int = _field(64, "Accelerator: tiles per weight bank.")
    act_depth: int = _field(64, "Accelerator: activation chunks per bank.")
    max_tokens: int = _field(16, "Accelerator: largest T of one RUN.")
    stream_width: int = _field(32, "Accelerator: AXI4-Stream tdata width in bits.")
    counter_bits: int = _field(32, "Accelerator: performance counter width, 16..64 (0: no counters).")
    unit_kind: str = _field("ternary", "Accelerator: its matrix unit (ternary adder tree or lookup).",
                            choices=TERNARY_UNIT_KINDS)
    group: int = _field(None, f"Activations per table of the lookup unit, 1..5 [default: {DEFAULT_GROUP}].")

    kind = "accelerator"

    def __post_init__(self):
        _check_unit_fields(self)
        _check_choice("unit_kind", self.unit_kind, TERNARY_UNIT_KINDS)
        _check_group(self, self.unit_kind)
        for name in ("weight_depth", "act_depth", "max_tokens"):
            check_integer(name, getattr(self, name), 1)
        check_integer("stream_width", self.stream_width, WORD_BITS)
        if self.stream_width % WORD_BITS or self.stream_width > MAX_STREAM_WIDTH:
            raise ParameterError(f"stream_width must be a multiple of {WORD_BITS} in "
                                 f"{WORD_BITS}..{MAX_STREAM_WIDTH}, not {self.stream_width!r}")
        _check_choice("weight_format", self.weight_format, tuple(WEIGHT_FORMATS))
        check_integer("counter_bits", self.counter_bits, 0, MAX_COUNTER_BITS)
        if 0 < self.counter_bits < MIN_COUNTER_BITS:
            raise ParameterError(f"counter_bits must be 0 (no counters) or in {MIN_COUNTER_BITS}.."
                                 f"{MAX_COUNTER_BITS}, not {self.counter_bits!r}")
        if self.max_tokens > self.act_depth:
            raise ParameterError(f"max_tokens must be at most act_depth ({self.act_depth}) so that "
                                 f"every token fits the activation bank, not {self.max_tokens!r}")
        if self.acc_bits > RESULT_LIMIT_BITS:
            raise ParameterError(f"max_k must keep the accumulators within {RESULT_LIMIT_BITS} bits "
                                 f"(results are int32): max_k = {self.max_k} with act_bits = "
                                 f"{self.act_bits} needs {self.acc_bits}")
        _check_memory(self, self.memory_bits)

    @property
    def name(self):
        """Module and folder name, e.g. ``accelerator_r4_c16_a8_k4096_p1_2bit_wd64_ad64_t16_s32_n32``."""
        unit = f"_lookup_g{self.group}" if self.unit_kind == "lookup" else ""
        return (f"accelerator{unit}_r{self.rows}_c{self.cols}_a{self.act_bits}_k{self.max_k}"
                f"_p{self.pipeline}_{self.weight_format}_wd{self.weight_depth}"
                f"_ad{self.act_depth}_t{self.max_tokens}_s{self.stream_width}_n{self.counter_bits}")

    @property
    def unit(self):
        """The matrix unit inside: :attr:`unit_kind`, ``max_k = min(cols, max_k)`` (it sums
        one chunk, of at most ``max_k`` real products; the accumulator buffer sums the chunks
        in :attr:`acc_bits`)."""
        return UnitParams(kind=self.unit_kind, rows=self.rows, cols=self.cols, act_bits=self.act_bits,
                          max_k=self.chunk_products, pipeline=self.pipeline, group=self.group)

    @property
    def unit_reads_bytes(self):
        """The unit takes the weight memory's base-3 bytes as table indices (a lookup unit
        of group 5 over the ``base3`` format): no base-3 decoder in the top."""
        return self.unit_kind == "lookup" and self.group == 5 and self.weight_format == "base3"

    @property
    def memory_bits(self):
        """On-chip buffer bits: two weight banks of ``weight_depth`` tiles, two activation banks
        of ``act_depth`` chunks, the accumulator buffer (two row blocks of ``max_tokens``)."""
        return 2 * (self.weight_depth * self.tile_bits + self.act_depth * self.chunk_bits
                    + self.max_tokens * self.rows * self.acc_bits)

    # --- widths ------------------------------------------------------------------------------
    @property
    def acc_bits(self):
        """Signed width of the accumulator buffer: any sum of ``max_k`` products."""
        return accumulator_bits(self.max_k, self.act_bits)

    @property
    def partial_bits(self):
        """Signed width of the matrix unit's per-chunk sums (of :attr:`chunk_products`)."""
        return accumulator_bits(self.chunk_products, self.act_bits)

    @property
    def chunk_products(self):
        """Most real products in one chunk: ``cols``, or ``max_k`` when a run is shorter
        (padding lanes carry ZERO weights: they add nothing)."""
        return min(self.cols, self.max_k)

    @property
    def weight_row_bytes(self):
        """Bytes of one tile row: the packing of ``cols`` weights."""
        return packed_row_bytes(self.cols, self.weight_format)

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
    def counter_words(self):
        """Status words of one performance counter (low word first)."""
        return -(-self.counter_bits // WORD_BITS)

    @property
    def status_words(self):
        """Words of the ``READ_STATUS`` response: error and flag words, then the counters."""
        return STATUS_HEADER_WORDS + len(COUNTERS) * self.counter_words

    @property
    def status_beats(self):
        return self.beats(self.status_words * WORD_BITS)

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


def design_from_dict(fields):
    """The :class:`UnitParams` or :class:`AcceleratorParams` of a dict (``to_dict`` output, a
    parsed JSON/TOML file); ``kind`` picks the class (default ``"ternary"``).

    Raises
    ------
    ParameterError
        An unknown key for that kind, or a parameter out of range.
    """
    if not isinstance(fields, dict):
        raise ParameterTypeError(f"design parameters must be a mapping, not {fields!r}")
    fields = dict(fields)
    kind = fields.get("kind", "ternary")
    _check_choice("kind", kind, DESIGN_KINDS)
    cls = AcceleratorParams if kind == "accelerator" else UnitParams
    if cls is AcceleratorParams:
        del fields["kind"]
    known = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(fields) - set(known))
    if unknown:
        raise ParameterError(f"unknown parameter {', '.join(map(repr, unknown))} for kind {kind}; "
                             f"known: {', '.join(sorted(known))}")
    return cls(**fields)


def load_design(path):
    """The design of a ``.json`` or ``.toml`` file (:func:`design_from_dict`); in TOML the
    keys may sit at the top level or in a ``[design]`` table.

    Raises
    ------
    ParameterError
        The file is not UTF-8 text, not JSON/TOML or does not parse; its parameters are wrong.
    OSError
        The file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except UnicodeDecodeError as error:
        raise ParameterError(f"{path}: not UTF-8 text ({error})") from None
    try:
        if path.suffix == ".toml":
            fields = tomllib.loads(text)
            fields = fields.get("design", fields)
        elif path.suffix == ".json":
            fields = json.loads(text)
        else:
            raise ParameterError(f"design file must end in .json or .toml, not {path.name!r}")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ParameterError(f"{path}: {error}") from None
    return design_from_dict(fields)


def check_params(params, cls=AcceleratorParams):
    """``params`` if it is a ``cls`` (default :class:`AcceleratorParams`), else a type error."""
    if not isinstance(params, cls):
        article = "an" if cls.__name__[0] in "AEIO" else "a"
        raise ParameterTypeError(f"params must be {article} {cls.__name__}, not {params!r}")
    return params
