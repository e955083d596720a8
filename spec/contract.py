"""The accelerator's host contract, as data and as Markdown: every byte on the link.

:func:`describe` gives the protocol of one :class:`~.params.AcceleratorParams` as a JSON-ready
dict (for the manifest of a generated top and for host code in any language);
:func:`render_markdown` gives the specification for every configuration, the section that
``docs/accelerator.md`` holds between ``<!-- begin generated: protocol -->`` and
``<!-- end generated: protocol -->``. Both read the one definition (:mod:`.protocol`,
:mod:`.params`, :mod:`.formats`), so neither can drift from the hardware and the host code,
which import the same names::

    python -m tritforge.spec.contract --write docs/accelerator.md   # rewrite the block
    python -m tritforge.spec.contract --check docs/accelerator.md   # exit 1 if it differs
    python -m tritforge.spec.contract --json [--config design.toml] # describe(params)

The matrix unit's latency is here as a pure formula (:func:`unit_latency`); the hardware's
own (``TernaryMatrixUnit.latency_for``) is tested to agree with it. Pure Python.
"""

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from .formats import BASE3_LIMIT, TRITS_PER_BYTE, WEIGHT_CODE_BITS, WEIGHT_FORMATS, WeightCode
from .io import write_text_atomic
from .params import AcceleratorParams, check_params, load_design
from .protocol import (ACT_BANK_BIT, ARG_BITS, ARGUMENTS, CHECKS, COUNTER_DESCRIPTIONS, COUNTERS,
                       ERROR_BITS, ERROR_MASK_SHIFT, ERROR_SET_BITS, MAX_COUNTER_BITS, MAX_STREAM_WIDTH,
                       MIN_COUNTER_BITS, OPCODE_BITS, PROTOCOL_VERSION, STATUS_HEADER_WORDS, WEIGHT_BANK_BIT,
                       WORD_BITS, ErrorCode, Opcode, StatusFlag)

__all__ = ["BLOCK", "WORKED_EXAMPLE", "EXAMPLE_CONFIGS", "ARGUMENT_RULES", "RUN_RULES", "DIGIT_BASES", "Field",
           "Argument", "unit_latency", "accelerator_unit_latency", "header_fields", "status_words_layout",
           "weight_of", "check_of", "describe",
           "render_markdown", "block_of", "replace_block", "main"]

#: Name of the generated block in ``docs/accelerator.md``.
BLOCK = "protocol"
#: The configuration of the docs' worked byte-level example (:mod:`tritforge.sim.contract_example`).
WORKED_EXAMPLE = AcceleratorParams(rows=2, cols=4, max_k=64, weight_depth=8, act_depth=8, max_tokens=4)
#: Configurations whose sizes the Markdown lists: the default, a test geometry, the measured
#: one and the worked example.
EXAMPLE_CONFIGS = (
    AcceleratorParams(),
    AcceleratorParams(rows=3, cols=10, weight_format="base3", stream_width=64),
    AcceleratorParams(rows=8, cols=32, stream_width=256, weight_depth=512, act_depth=4096, max_tokens=64),
    WORKED_EXAMPLE,
)
LATENCY_COLS = (4, 8, 10, 16, 32, 64, 128, 256)
LATENCY_PIPELINES = (0, 1, 2, 3, 4)


def unit_latency(cols, pipeline, *, group=None, base3_bytes=False):
    """Cycles from a chunk entering the matrix unit to its sums: ``L``.

    The adder tree over ``cols`` lanes has ``ceil(log2(cols))`` levels with a register after
    every ``pipeline`` of them and at the end, ``ceil(levels / pipeline)`` registers; with
    ``pipeline`` 0 (or one lane) the unit still registers its output, so ``L`` is at least 1.

    The lookup unit (``group`` not ``None``) has ``ceil(log2(min(group, cols)))`` table
    levels (one more when it reads base-3 bytes, ``base3_bytes``, and ``cols`` is not a
    multiple of 5: its last byte's table negates), one lookup level, then the tree over
    ``ceil(cols / group)`` sums; registers as above.
    """
    levels = _depth(cols)
    if group is not None:
        levels = _depth(min(group, cols)) + (1 if base3_bytes and cols % group else 0) + 1 \
            + _depth(-(-cols // group))
    registers = -(-levels // pipeline) if pipeline else 0
    return max(registers, 1)


def _depth(leaves):
    """Adder levels of a balanced tree over ``leaves`` values."""
    return math.ceil(math.log2(leaves)) if leaves > 1 else 0


def accelerator_unit_latency(params):
    """:func:`unit_latency` of the matrix unit of :class:`~.params.AcceleratorParams` ``params``."""
    group = params.group if params.unit_kind == "lookup" else None
    return unit_latency(params.cols, params.pipeline, group=group, base3_bytes=params.unit_reads_bytes)


# --- the layout, as data both outputs read --------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Field:
    """Bits ``[msb:lsb]`` of a beat or word; ``msb`` ``None``: up to the top of the beat."""
    name: str
    lsb: int
    msb: int | None
    meaning: str


def header_fields():
    """The fields of a command's header beat, reserved gaps included, low bits first."""
    fields = [Field("opcode", 0, OPCODE_BITS - 1, "an `Opcode` value"),
              Field("weight_bank", WEIGHT_BANK_BIT, WEIGHT_BANK_BIT,
                    "weight bank, 0 or 1 (`LOAD_WEIGHTS`, `RUN`; ignored by the others)"),
              Field("act_bank", ACT_BANK_BIT, ACT_BANK_BIT,
                    "activation bank, 0 or 1 (`LOAD_ACTS`, `RUN`; ignored by the others)")]
    return _with_reserved(sorted(fields, key=lambda field: field.lsb))


def _with_reserved(fields):
    """``fields`` with a reserved field in every gap and above the last one."""
    complete, next_bit = [], 0
    for field in fields:
        if field.lsb > next_bit:
            complete.append(_reserved(next_bit, field.lsb - 1))
        complete.append(field)
        next_bit = field.msb + 1
    return complete + [_reserved(next_bit, None)]


def _reserved(lsb, msb):
    return Field("reserved", lsb, msb, "write 0; ignored")


@dataclasses.dataclass(frozen=True)
class Argument:
    """An argument beat: what it is, and its valid values ``1 .. limit(params)``."""
    name: str
    meaning: str
    limit_rule: str
    limit: Callable

    def valid(self, params):
        return [1, self.limit(params)]


#: Every argument of :data:`ARGUMENTS`, by name.
ARGUMENT_RULES = {argument.name: argument for argument in (
    Argument("tiles", "weight tiles in the payload", "weight_depth", lambda p: p.weight_depth),
    Argument("chunks", "activation chunks in the payload", "act_depth", lambda p: p.act_depth),
    Argument("tokens", "`T`: tokens (rows of `X`)", "max_tokens", lambda p: p.max_tokens),
    Argument("k", "`K`: inputs (columns of `X` and `W`)", "max_k", lambda p: p.max_k),
    Argument("n", "`N`: outputs (rows of `W`)", "weight_depth * rows", lambda p: p.weight_depth * p.rows),
)}
#: What a ``RUN`` needs besides each argument's range (else ``CAPACITY``).
RUN_RULES = (
    ("KC * NB <= weight_depth", "its tiles fit one weight bank"),
    ("T * KC <= act_depth", "its chunks fit one activation bank"),
)
#: Header fields each opcode reads, its payload item and its response.
BANK_FIELDS = {Opcode.LOAD_WEIGHTS: ("weight_bank",), Opcode.LOAD_ACTS: ("act_bank",),
               Opcode.RUN: ("weight_bank", "act_bank")}
PAYLOADS = {Opcode.LOAD_WEIGHTS: "tile", Opcode.LOAD_ACTS: "chunk"}
RESPONSES = {Opcode.READ_RESULTS: "results", Opcode.READ_STATUS: "status"}
ITEM_NAMES = {"tile": "weight tile", "chunk": "activation chunk"}


def weight_of(code):
    """The weight a :class:`WeightCode` stands for (``code = w + 1``), ``None`` for ``INVALID``."""
    return None if code == WeightCode.INVALID else int(code) - 1


def status_words_layout(counter_words):
    """``(first word, words, field)`` of the status response with ``counter_words`` words per
    counter; ``field`` is a :class:`Field` of the word (all of it for a counter)."""
    flag_bits = max(_bit(flag) for flag in StatusFlag) + 1
    layout = [
        (0, 1, Field("error", 0, ERROR_BITS - 1,
                     "the first error since reset or `CLEAR`: an `ErrorCode` (0: none)")),
        (0, 1, Field("zero", ERROR_BITS, ERROR_MASK_SHIFT - 1, "0")),
        (0, 1, Field("errors", ERROR_MASK_SHIFT, ERROR_MASK_SHIFT + ERROR_SET_BITS - 1,
                     f"the error set: bit `{ERROR_MASK_SHIFT} + e` is 1 when `ErrorCode` `e` happened "
                     f"since reset or `CLEAR` (bit {ERROR_MASK_SHIFT}, `NONE`, is always 0)")),
        (1, 1, Field("flags", 0, flag_bits - 1, "the `StatusFlag` bits (below)")),
        (1, 1, Field("zero", flag_bits, WORD_BITS - 1, "0")),
    ]
    for index, name in enumerate(COUNTERS if counter_words else ()):
        first = STATUS_HEADER_WORDS + index * counter_words
        layout.append((first, counter_words, Field(name, 0, WORD_BITS * counter_words - 1,
                                                   f"counter `{name}`, low word first")))
    return layout


#: When the errors that no check of a command raises happen.
RAISED_OTHERWISE = {ErrorCode.NONE: "—", ErrorCode.INVALID_WEIGHT: "while a `RUN` runs"}


def check_of(error):
    """The :data:`CHECKS` steps that raise ``error``, or when it happens otherwise."""
    steps = [check.name for check in CHECKS if error in check.errors]
    return " / ".join(steps) or RAISED_OTHERWISE[error]


# --- describe(params) ---------------------------------------------------------------------

def describe(params):
    """The protocol of an accelerator built with ``params``, as a JSON-ready dict.

    Every number is the one for these parameters: bit fields, the valid range of every
    argument, the sizes of items and responses in bits and beats, the word of every status
    field, the error, flag and counter tables, the unit's latency.
    """
    check_params(params)
    return {
        "version": PROTOCOL_VERSION,
        "params": params.to_dict(),
        "link": {"stream_width": params.stream_width, "bytes_per_beat": params.bytes_per_beat,
                 "words_per_beat": params.words_per_beat, "byte_order": "little-endian",
                 "argument_bits": ARG_BITS, "word_bits": WORD_BITS},
        "header": [_field_dict(field, params.stream_width) for field in header_fields()],
        "opcodes": [_describe_opcode(params, opcode) for opcode in Opcode],
        "run_rules": [rule for rule, _ in RUN_RULES],
        "items": _describe_items(params),
        "weight_codes": [{"name": code.name, "code": int(code), "weight": weight_of(code)}
                         for code in WeightCode],
        "results": {"group_words": params.rows, "group_beats": params.group_beats},
        "status": _describe_status(params),
        "errors": [{"name": error.name, "code": int(error), "meaning": error.description,
                    "check": check_of(error)} for error in ErrorCode],
        "checks": [{"name": check.name, "errors": [error.name for error in check.errors],
                    "rule": check.rule} for check in CHECKS],
        "flags": [{"name": flag.name, "bit": _bit(flag), "meaning": flag.description}
                  for flag in StatusFlag],
        "unit_latency": accelerator_unit_latency(params),
    }


def _field_dict(field, top_bits):
    msb = top_bits - 1 if field.msb is None else field.msb
    return {"name": field.name, "lsb": field.lsb, "msb": msb, "meaning": field.meaning}


def _bit(flag):
    return int(flag).bit_length() - 1


def _describe_opcode(params, opcode):
    return {
        "name": opcode.name, "value": int(opcode), "meaning": opcode.description,
        "header_fields": list(BANK_FIELDS.get(opcode, ())),
        "arguments": [{"beat": beat, "name": name, "meaning": ARGUMENT_RULES[name].meaning,
                       "valid": ARGUMENT_RULES[name].valid(params)}
                      for beat, name in enumerate(ARGUMENTS[opcode], 1)],
        "payload": PAYLOADS.get(opcode),
        "response": RESPONSES.get(opcode),
    }


#: The digit base of each weight format: byte ``j`` of a packed row is
#: ``sum(code[d*j + i] * base**i for i < d)``, ``d`` its weights per byte.
DIGIT_BASES = {"2bit": 1 << WEIGHT_CODE_BITS, "base3": 3}


def _describe_items(params):
    per_byte = WEIGHT_FORMATS[params.weight_format]
    return {
        "tile": {"bits": params.tile_bits, "beats": params.tile_beats, "format": params.weight_format,
                 "row_bytes": params.weight_row_bytes, "weights_per_byte": per_byte,
                 "digit_base": DIGIT_BASES[params.weight_format],
                 "layout": ("row r (output b*rows + r of row block b) is bytes r*row_bytes .. "
                            "r*row_bytes + row_bytes - 1 of the tile, byte i in tile bits [8i+7:8i]; "
                            f"row byte j = sum(code[{per_byte}*j + i] * digit_base**i for i < "
                            f"{per_byte}), code[c] the weight code of lane c (input kc*cols + c), "
                            "ZERO codes beyond cols")},
        "chunk": {"bits": params.chunk_bits, "beats": params.chunk_beats, "lanes": params.cols,
                  "lane_bits": params.act_bits,
                  "layout": "lane c (input kc*cols + c) in bits [c*lane_bits + lane_bits-1 : "
                            "c*lane_bits], two's complement"},
    }


def _describe_status(params):
    return {
        "words": params.status_words, "beats": params.status_beats,
        "counter_bits": params.counter_bits, "counter_words": params.counter_words,
        "fields": [{"word": word, "words": words, **_field_dict(field, WORD_BITS)}
                   for word, words, field in status_words_layout(params.counter_words)],
        "counters": [{"name": name, "meaning": COUNTER_DESCRIPTIONS[name]}
                     for name in (COUNTERS if params.counter_words else ())],
    }


# --- Markdown -----------------------------------------------------------------------------

def render_markdown():
    """The protocol specification for every configuration, as Markdown (the docs' block)."""
    sections = [_notation(), _beats(), _commands(), _items(), _weights(), _padding(), _results(),
                _status(), _counters(), _errors(), _ordering(), _timing(), _sizes()]
    return "\n\n".join(sections) + "\n"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _bits(field, top="W"):
    msb = f"{top}-1" if field.msb is None else field.msb
    return f"`[{field.lsb}]`" if msb == field.lsb else f"`[{msb}:{field.lsb}]`"


def _code(name):
    return f"`{name}`"


def _notation():
    return (
        "<!-- generated by `python -m tritforge.spec.contract --write docs/accelerator.md` from "
        "spec/protocol.py, spec/params.py and spec/formats.py: edit those, not this block -->\n\n"
        "Names are the fields of `AcceleratorParams` (`rows`, `cols`, `act_bits`, `stream_width`, "
        "...); `W` is `stream_width`. A `RUN` of `T` tokens, `K` inputs and `N` outputs has "
        "`KC = ceil(K / cols)` K-chunks, `NB = ceil(N / rows)` row blocks and `F = T * KC * NB` "
        "chunk steps; `Y[T x N] = X[T x K] . W^T`.")


def _beats():
    header = _table(["bits", "field", "meaning"],
                    [(_bits(field), _code(field.name) if field.name != "reserved" else "reserved",
                      field.meaning) for field in header_fields()])
    return (
        "### Beats and packets\n\n"
        f"Both channels are AXI4-Stream with `tdata` of `W` bits (a multiple of {WORD_BITS}, at most "
        f"{MAX_STREAM_WIDTH}), `tvalid`, `tready` and `tlast`; there is no `tkeep`, `tstrb`, `tid`, "
        "`tdest` or `tuser`. Byte `i` of a beat is `tdata[8i+7:8i]` (a link that moves bytes sends "
        "byte 0 first); values of several bytes are little-endian. A packet is a whole number of "
        "beats and only its last beat has `tlast`. A beat moves in a cycle in which `tvalid` and "
        "`tready` are high: the accelerator holds `s_axis_tready` low while it checks a command or "
        "waits (for a bank, the sequencer or the response channel), and the host may hold "
        "`m_axis_tready` low.\n\n"
        "A command packet is a header beat, one argument beat per argument of its opcode, then "
        "(loads only) the payload items. Only `READ_RESULTS` and `READ_STATUS` are answered, "
        "one packet each, in command order; nothing else is sent on `m_axis` (a refused "
        "`READ_RESULTS` or `READ_STATUS` sends nothing). A response packet is a sequence of "
        f"{WORD_BITS}-bit words, `W/{WORD_BITS}` per beat, word `j` of a beat in "
        f"`tdata[{WORD_BITS}j+{WORD_BITS - 1}:{WORD_BITS}j]`.\n\n"
        f"Header beat:\n\n{header}\n\n"
        f"Argument beat: `tdata[{ARG_BITS - 1}:0]` is an unsigned {ARG_BITS}-bit value; "
        f"`tdata[W-1:{ARG_BITS}]` is reserved (write 0; ignored).")


def _commands():
    commands = _table(
        ["opcode", "value", "what it does", "header fields", "argument beats", "payload", "response"],
        [(_code(op.name), f"`{int(op):#04x}`", op.description,
          ", ".join(map(_code, BANK_FIELDS.get(op, ()))) or "—",
          ", ".join(map(_code, ARGUMENTS[op])) or "—",
          f"`{ARGUMENTS[op][0]}` {ITEM_NAMES[PAYLOADS[op]]}s" if op in PAYLOADS else "—",
          f"{RESPONSES[op]} packet" if op in RESPONSES else "—")
         for op in Opcode])
    arguments = _table(
        ["opcode", "beat", "argument", "meaning", "valid values"],
        [(_code(op.name), beat, _code(name), ARGUMENT_RULES[name].meaning,
          f"1 .. `{ARGUMENT_RULES[name].limit_rule}`")
         for op in Opcode for beat, name in enumerate(ARGUMENTS[op], 1)])
    joint = "; ".join(f"`{rule}` ({why})" for rule, why in RUN_RULES)
    return (
        f"### Commands\n\n{commands}\n\n"
        "Arguments follow the header, one beat each, in this order. An argument of 0 is refused "
        f"with `ZERO_SIZE`, one above its range with `CAPACITY`:\n\n{arguments}\n\n"
        f"A `RUN` must also fit the banks, else `CAPACITY`: {joint}.")


def _items():
    row_bytes = ", ".join(f"`ceil(cols / {per_byte})` for `{name}`"
                          for name, per_byte in WEIGHT_FORMATS.items())
    rows = [
        (ITEM_NAMES["tile"], "`LOAD_WEIGHTS`",
         f"`tile_bits = rows * row_bytes * 8`; `row_bytes` = {row_bytes}",
         "`ceil(tile_bits / W)`"),
        (ITEM_NAMES["chunk"], "`LOAD_ACTS`", "`chunk_bits = cols * act_bits`", "`ceil(chunk_bits / W)`"),
    ]
    return (
        "### Payload items\n\n"
        f"{_table(['item', 'payload of', 'bits', 'beats'], rows)}\n\n"
        "Every item starts on a beat boundary: bit `j` of an item is bit `j mod W` of its beat "
        "`floor(j / W)`, so byte `i` of an item is byte `i mod (W/8)` of its beat "
        "`floor(i / (W/8))`. The bits of an item's last beat beyond the item are ignored (write 0).\n\n"
        "A load writes its items to addresses 0, 1, 2, ... of its bank. A `RUN` reads the tile of "
        "row block `b` and K-chunk `kc` at address `b*KC + kc`, and the chunk of token `t` and "
        "K-chunk `kc` at address `t*KC + kc`: `LOAD_WEIGHTS` sends the `NB * KC` tiles of a layer "
        "row block by row block (`kc` fastest), `LOAD_ACTS` its `T * KC` chunks token by token.")


def _weights():
    codes = _table(
        ["weight", "code", "`2bit`: the code's 2 bits", "`base3`: trit"],
        [(_weight_text(code), _code(code.name), f"`{int(code):#0{WEIGHT_CODE_BITS + 2}b}`",
          int(code) if weight_of(code) is not None else "—") for code in WeightCode])
    per_2bit = WEIGHT_FORMATS["2bit"]
    return (
        "### Weight tiles and activation chunks\n\n"
        f"Weight codes (`WeightCode`, `code = w + 1`):\n\n{codes}\n\n"
        "**Weight tile** at address `b*KC + kc`: `rows` rows of `row_bytes` bytes. Row `r` is "
        "bytes `r*row_bytes .. r*row_bytes + row_bytes - 1` of the tile and holds output "
        "`n = b*rows + r`; lane `c` (`0 .. cols-1`) of a row holds the weight `W[n, k]` of input "
        "`k = kc*cols + c`, which multiplies lane `c` of each activation chunk.\n\n"
        f"* `2bit`: lane `c` is the code in bits `[{WEIGHT_CODE_BITS}*(c mod {per_2bit})+1 : "
        f"{WEIGHT_CODE_BITS}*(c mod {per_2bit})]` of the row's byte `floor(c / {per_2bit})`: the "
        "lowest lane in the least significant bits. Code `0b11` (`INVALID`) counts as ZERO and "
        "raises `INVALID_WEIGHT`.\n"
        f"* `base3`: the row's byte `j` is `sum(code[{TRITS_PER_BYTE}j + i] * 3**i for i in "
        f"0..{TRITS_PER_BYTE - 1})`: lane `{TRITS_PER_BYTE}j` is the least significant trit. Bytes "
        f"{BASE3_LIMIT}..255 encode no weights: their {TRITS_PER_BYTE} lanes count as ZERO and "
        "raise `INVALID_WEIGHT`.\n"
        "* The code places of a row's last byte beyond lane `cols - 1` hold ZERO codes (the "
        "packers' padding; `2bit` ignores them, in `base3` they are part of the byte's value).\n\n"
        "`INVALID_WEIGHT` is raised when a `RUN` uses the tile, not when it is loaded.\n\n"
        "**Activation chunk** at address `t*KC + kc`: `cols` lanes, lane `c` in bits "
        "`[c*act_bits + act_bits-1 : c*act_bits]`, the `act_bits`-bit two's complement of "
        "`X[t, kc*cols + c]` (the lowest lane in the least significant bits).")


def _weight_text(code):
    weight = weight_of(code)
    return "—" if weight is None else f"{weight:+d}" if weight else "0"


def _padding():
    return (
        "### Padding\n\n"
        "The last K-chunk has lanes beyond `K` when `cols` does not divide `K`, and the last row "
        "block has rows beyond `N` when `rows` does not divide `N`. The hardware does not mask "
        "them (the `RUN`'s sizes only count `macs`): the unit multiplies whatever the tile and "
        "the chunk hold. The contract:\n\n"
        "* **the weight codes of lanes beyond `K` and of rows beyond `N` are ZERO** (`0b01`; the "
        "packers `spec.formats.pack_weights` and `sim.protocol.pack_tiles` write nothing else);\n"
        "* then the activations of lanes beyond `K` do not matter (a ZERO weight adds 0 whatever "
        "it multiplies; the packers write 0), and\n"
        "* the results of rows beyond `N` are 0.\n\n"
        "A nonzero weight there adds its products to the results: the host must not send one.")


def _results():
    return (
        "### Results packet (`READ_RESULTS`)\n\n"
        "For each row block `b = 0 .. NB-1` of the last accepted `RUN`, for each token "
        "`t = 0 .. T-1`: a group of `rows` words, word `r` the result `Y[t, b*rows + r]` as a "
        f"sign-extended int{WORD_BITS} (the accumulators never exceed {WORD_BITS} bits). Each group "
        f"starts on a beat boundary and takes `ceil(rows * {WORD_BITS} / W)` beats; the words of its "
        "last beat after word `rows - 1` are 0. The packet has `NB * T * ceil(rows * "
        f"{WORD_BITS} / W)` beats, `tlast` on the last one. Words of rows beyond `N` are 0 (see "
        "Padding). Each row block is sent as soon as it is complete, so the packet may start "
        "while the run still computes.")


def _status():
    rows = [(word, _bits(field), field.meaning) for word, _, field in status_words_layout(0)]
    rows.append(("`2 + i*w .. 2 + i*w + w-1`", "all", "counter `i` of the table below, "
                 "`counter_bits` wide, zero-extended to `w` words, low word first"))
    sizes = _table(["`counter_bits`", "`w` (`counter_words`)", "status words (`status_words`)"],
                   [(bits, _params_with(counter_bits=value).counter_words,
                     _params_with(counter_bits=value).status_words)
                    for bits, value in (("0", 0), (f"{MIN_COUNTER_BITS}..{WORD_BITS}", WORD_BITS),
                                        (f"{WORD_BITS + 1}..{MAX_COUNTER_BITS}", MAX_COUNTER_BITS))])
    flags = _table(["bit", "value", "flag", "meaning"],
                   [(_bit(flag), f"`{int(flag):#x}`", _code(flag.name), flag.description)
                    for flag in StatusFlag])
    return (
        "### Status packet (`READ_STATUS`)\n\n"
        f"`status_words` words, word `i` in bits `[{WORD_BITS}*i + {WORD_BITS - 1} : {WORD_BITS}*i]` "
        f"of the packet (beat `floor(i / (W/{WORD_BITS}))`); the rest of the last beat is 0; "
        f"`ceil(status_words * {WORD_BITS} / W)` beats, `tlast` on the last one.\n\n"
        f"{_table(['word', 'bits', 'content'], rows)}\n\n{sizes}\n\n"
        f"Status flags (word 1):\n\n{flags}")


def _params_with(**fields):
    return dataclasses.replace(AcceleratorParams(), **fields)


def _counters():
    words = {w: _counter_words(w) for w in (1, 2)}
    table = _table(["i", "counter", "counts", "words (`w` = 1)", "words (`w` = 2)"],
                   [(index, _code(name), COUNTER_DESCRIPTIONS[name], words[1][name], words[2][name])
                    for index, name in enumerate(COUNTERS)])
    return (
        f"### Performance counters\n\n{table}\n\n"
        "Each counter is `counter_bits` wide and wraps modulo `2**counter_bits`; with "
        "`counter_bits` 0 there are none. Control overhead is `busy - compute - stall_out`.\n\n"
        "**Counting window.** Reset and `CLEAR` zero the counters; `READ_STATUS` copies them "
        "(and the error and flag words) in its snapshot cycle. A header beat accepted (`tvalid` "
        "and `tready` high) in cycle `h` is parsed in cycle `h + 1` (the decoder's input "
        "register). `READ_STATUS` and `CLEAR` act in cycle `h + 3` (their strobes are registers), "
        "or, when a response packet is being sent then, three cycles after that packet's last "
        "beat: `READ_STATUS` takes its snapshot, `CLEAR` zeroes the counters. The counters count "
        "the cycles strictly between the two: with the `CLEAR` header accepted in cycle `a`, the "
        "`READ_STATUS` header in cycle `b` and no response in flight at either, "
        "`cycles = b - a - 1`; after a reset, counting starts with the first cycle in which "
        "`rst` is low (`cycles = b + 3`).")


def _counter_words(counter_words):
    """Counter name -> its status words, as text."""
    return {field.name: ", ".join(str(first + i) for i in range(count))
            for first, count, field in status_words_layout(counter_words) if first >= STATUS_HEADER_WORDS}


def _errors():
    table = _table(["code", "error", "meaning", "check"],
                   [(int(error), _code(error.name), error.description, check_of(error))
                    for error in ErrorCode])
    steps = "\n".join(f"{index}. **{check.name}** ({', '.join(_code(e.name) for e in check.errors)}): "
                      f"{check.rule}" for index, check in enumerate(CHECKS, 1))
    return (
        f"### Errors\n\n{table}\n\n"
        "The decoder checks a command in this order and stops at the first failure:\n\n"
        f"{steps}\n\n"
        "A refused command does nothing, except that a load refused for its payload length "
        "keeps the items it received (a short payload) or all its items (a long one). Its "
        "remaining beats up to `tlast` are dropped, one per cycle; a command refused on a beat "
        "with `tlast` drops nothing. `INVALID_WEIGHT` refuses nothing: the run goes on.\n\n"
        "**Sticky:** the first error (word 0 `[7:0]`) and the error set (word 0 `[31:16]`), "
        "and the top's `error` output, until `CLEAR` or reset; nothing else. The decoder "
        "keeps no error state: **the commands after an error execute as usual, without `CLEAR`** "
        "(a refused `RUN` leaves the previous run's pending results in place; a refused load "
        "leaves the bank as described above).")


def _ordering():
    return (
        "### Ordering and hazards\n\n"
        "Commands execute in order. `RUN` hands over to the sequencer and returns at once, so the "
        "next commands (typically the loads of the next part into the other banks) proceed while "
        "it computes. Every `RUN` must be followed by its `READ_RESULTS` before the next `RUN` "
        "(else `RESULTS_PENDING`). A load into a bank of the last accepted `RUN` is refused with "
        "`BANK_BUSY` while that run's results are not requested, finished or not (waiting could "
        "deadlock); once they are requested, it waits until the run has finished. `READ_RESULTS`, "
        "`READ_STATUS` and `CLEAR` wait until a response packet in flight has been sent; "
        "`CLEAR` also abandons a run in progress or never read. The host must keep draining "
        "`m_axis` while it sends: a run whose results cannot leave stops the sequencer, and "
        "then the commands that wait for it.")


def _timing():
    latency = _table(["`cols`"] + [f"`pipeline` {p}" for p in LATENCY_PIPELINES],
                     [[cols] + [unit_latency(cols, p) for p in LATENCY_PIPELINES] for cols in LATENCY_COLS])
    return (
        "### Run timing\n\n"
        "The matrix unit takes a chunk step per cycle and returns its sums `L` cycles later: "
        "`L = max(1, ceil(ceil(log2(cols)) / pipeline))`, and `L = 1` for `pipeline` 0 (the "
        "unit registers its output). `L` for common geometries:\n\n"
        f"{latency}\n\n"
        "A `RUN` keeps the sequencer busy (`busy` counter, `RUNNING` flag) for `2 + F + L` "
        "cycles: one to read the first tile, one chunk step per cycle with no gap between "
        "tiles, tokens or row blocks (`compute` counts `F`), the unit's latency, and one to "
        "see the last result leave (a register); plus a "
        "cycle for each cycle a row block's first chunk waits for its half of the "
        "accumulator buffer, which the results of the row block two before it hold until "
        "they are read out (`stall_out`; only row blocks of fewer than about `L + 3` chunk "
        "steps, or a slow output link, make it wait). The command decoder sees the sequencer "
        "idle a cycle late and hands a `RUN` over a cycle after deciding (both through "
        "registers), so two runs back to back leave three idle cycles between their busy "
        "periods: a run costs `2 + L` cycles of control overhead and three of hand-over, "
        "nothing per tile, token or row block.\n\n"
        "The cycle model (`sim/perf_model.py`) reproduces every counter exactly for any "
        "configuration when the host keeps the command stream full and reads the responses "
        "at once (tested against the RTL on random configurations); with idle cycles on "
        "`s_axis` or backpressure on `m_axis` its figures are lower bounds, and it says so "
        "(`model_layer(..., link_stalls=True)` returns `exact = False`).")


def _sizes():
    rows = []
    for params in EXAMPLE_CONFIGS:
        d = describe(params)
        items, status = d["items"], d["status"]
        name = (f"{params.rows} x {params.cols}, {params.weight_format}, act_bits {params.act_bits}, "
                f"W {params.stream_width}, pipeline {params.pipeline}")
        rows.append((name, items["tile"]["bits"], items["tile"]["beats"], items["chunk"]["bits"],
                     items["chunk"]["beats"], d["results"]["group_beats"], status["words"],
                     status["beats"], d["unit_latency"]))
    table = _table(["configuration", "tile bits", "tile beats", "chunk bits", "chunk beats",
                    "result group beats", "status words", "status beats", "`L`"], rows)
    return (
        "### Sizes of some configurations\n\n"
        "With the default `counter_bits` (64). `python -m tritforge.spec.contract --json "
        f"--config design.toml` prints all of this section's numbers for a design.\n\n{table}")


# --- the block in the docs ------------------------------------------------------------------

def _markers(name):
    return f"<!-- begin generated: {name} -->\n", f"<!-- end generated: {name} -->"


def block_of(text, name=BLOCK):
    """The content of the generated block ``name`` of a document, or ``ValueError``."""
    begin, end = _markers(name)
    if text.count(begin) != 1 or text.count(end) != 1 or text.index(begin) > text.index(end):
        raise ValueError(f"the document must hold one block {begin.strip()} ... {end}")
    return text[text.index(begin) + len(begin):text.index(end)]


def replace_block(text, content, name=BLOCK):
    """``text`` with the content of its generated block ``name`` replaced by ``content``."""
    block_of(text, name)
    begin, end = _markers(name)
    return text[:text.index(begin) + len(begin)] + content + text[text.index(end):]


def main(argv=None):
    """``--write DOC``, ``--check DOC`` or ``--json`` (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m tritforge.spec.contract",
                                     description="The accelerator's host protocol, as Markdown or JSON.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="DOC", type=Path, help="rewrite the generated block of DOC")
    action.add_argument("--check", metavar="DOC", type=Path, help="exit 1 if DOC's block is not current")
    action.add_argument("--json", action="store_true", help="print describe(params) as JSON")
    parser.add_argument("--config", type=Path, help="design file for --json (default: the defaults)")
    args = parser.parse_args(argv)
    if args.json:
        params = load_design(args.config) if args.config else AcceleratorParams()
        print(json.dumps(describe(params), indent=2))
        return 0
    doc = args.write or args.check
    text = doc.read_text()
    current = replace_block(text, render_markdown())
    if args.write:
        write_text_atomic(doc, current)
        return 0
    if current != text:
        print(f"{doc}: the generated block '{BLOCK}' is out of date; run "
              f"python -m tritforge.spec.contract --write {doc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
