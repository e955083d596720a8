"""Generate a design as IP for Verilog users: the Verilog, its contract and the files a SoC
flow wants.

``generate(design, out_dir)`` takes a :class:`~tritforge.spec.params.UnitParams` (any kind of
:data:`~tritforge.hdl.units.UNIT_CLASSES`), an :class:`~tritforge.spec.params.AcceleratorParams`
or a :class:`~tritforge.flows.boards.BoardDesign` (the board top: the accelerator behind its
UART link, :class:`~tritforge.hdl.board.BoardTop`, for a board or portable) and writes, under
``<out_dir>``, for ``name`` = the design's name:

``<name>.v``
    The Verilog (:func:`tritforge.hdl.verilog.convert`: runs as is on Icarus and Verilator).
``<name>.json``
    The manifest, a complete machine-readable contract (:func:`manifest`, validated against
    the JSON Schema ``flows/data/ip_manifest.schema.json``): every port with its direction,
    width and meaning; every payload field with its bit offset, signedness and meaning; the
    encodings as tables; latency and throughput; the reset contract; for the accelerator
    top its whole host protocol (:func:`tritforge.spec.contract.describe`, with the
    protocol's version); for the board top also the link protocol
    (:func:`tritforge.spec.link.describe`: UART, frames, CRC, records, replies, sizes), the
    clock frequency and the board (PLL parameters, weight store, vendor primitives).
``<name>.h``
    A C header for firmware (:func:`c_header`): sizes of this configuration, field
    positions, weight codes and, for the top, opcodes, error codes, status words and flags;
    for the board top the link's constants (``TF_UART_*``) and a CRC function.
``<name>_wrapper.sv``
    Matrix units only: a SystemVerilog wrapper with one port per payload field
    (:func:`sv_wrapper`). The top's ports are already AXI4-Stream signals under their own
    names.
``<name>.core``
    A FuseSoC (CAPI2) core file naming these files, with a Verilator ``lint`` target
    (:func:`fusesoc_core`; none when the Verilog instantiates vendor primitives: the
    iCEBreaker's SPRAM store).

Every output is made from the manifest, and the manifest from the design's parameters, the
built component and :mod:`tritforge.spec` (the one definition of codes and protocol).
"""

import json
import logging
import re
from importlib import metadata, resources
from pathlib import Path

from amaranth.lib import wiring

from ..hdl import verilog
from ..hdl.weight_store import SPRAMWeightStore
from ..hdl.matrix_unit import describe_shape
from ..hdl.units import build
from ..spec import link as link_spec
from ..spec.contract import describe, weight_of
from ..spec.formats import WEIGHT_CODE_BITS, WeightCode
from ..spec.io import write_json, write_text_atomic
from ..spec.params import AcceleratorParams, UnitParams
from ..spec.protocol import PROTOCOL_VERSION
from .boards import BOARDS, BoardDesign

__all__ = ["MANIFEST_FORMAT", "MANIFEST_VERSION", "manifest_schema", "manifest", "c_header",
           "sv_wrapper", "fusesoc_core", "generate"]

logger = logging.getLogger(__name__)

#: Name and version of the manifest format (the schema's ``format`` and ``format_version``).
MANIFEST_FORMAT = "tritforge-ip-manifest"
MANIFEST_VERSION = 2
#: The file of the manifest's JSON Schema, in this package's ``data`` folder.
SCHEMA_FILE = "ip_manifest.schema.json"

_CLOCK = {"name": "clk", "edge": "rising"}
_RESET_TEXT = (
    "`rst` is synchronous and active high; hold it for at least one rising edge of `clk`. "
    "While it is high, from its first cycle on (before the first edge), every `ready` and "
    "`valid` output listed here is low: no transfer completes on any stream and nothing is "
    "offered; an item offered to the design during reset is not taken (it is still "
    "offered after reset), an item the design was offering is dropped. The state after "
    "reset is given in `after`.")
_RESET_AFTER = {
    "unit": ("Empty: no product in flight, accumulators cleared. The unit takes a chunk in the "
             "first cycle `rst` is low; the next chunk must be a `first` one."),
    "accelerator": ("Idle: no error, no pending results, counters zero, no response in flight; "
                    "the memories keep their contents. The decoder takes a header beat from the "
                    "first cycle `rst` is low; the counters count from that cycle."),
    "board": ("The accelerator idle as after its own reset, the weight store keeping its contents, "
              "no link session (frames without START get NAK NOT_SYNCED), `tx` idle (high). The "
              "board then sends one BOOT frame (`link.replies`); bytes on `rx` during reset are "
              "not received."),
}
_BOARD_RESET_TEXT = (
    "`rst` is synchronous and active high; hold it for at least one rising edge of `clk`. It "
    "resets everything but the memory contents (the accelerator's memories and the weight "
    "store); `tx` is high (idle) from the first rising edge with `rst` high. The board has no "
    "handshake ports: its only inputs are `rx` and `rst`.")

_UNIT_PORTS = {
    "clk": "Clock: every register and transfer acts on its rising edge.",
    "rst": "Reset, synchronous, active high (see `reset`).",
    "i__valid": "The sender offers a chunk (`i__payload`).",
    "i__ready": "The unit takes the offered chunk in this cycle (a transfer: `i__valid` and "
                "`i__ready` high at a rising edge of `clk`).",
    "i__payload": "One chunk: `cols` activations and `rows x cols` weights of one step along K, "
                  "with the `first`/`last` marks of its dot product.",
    "o__valid": "The unit offers a result (`o__payload`); it stays offered, unchanged, until "
                "taken.",
    "o__ready": "The receiver takes the offered result in this cycle.",
    "o__payload": "One result: the `rows` dot products of the product just finished.",
}
_UNIT_FIELDS = {
    "act": ("Activations, lane `c` at `offset + c * element.width`: the two's complement of the "
            "activation at K index `chunk * cols + c` (chunk 0 is the `first` chunk). Shared by "
            "all rows."),
    "weights": ("Weights, element `[r][c]` at `offset + (r * cols + c) * weight width`: the "
                "weight of row `r` that multiplies lane `c` of `act`; its encoding is "
                "`encodings.weight`. Lanes beyond the product's length K (in its last chunk) "
                "must hold a zero weight (`encodings.weight.zero`); their activations then do "
                "not matter."),
    "first": "1 on the first chunk of a dot product: the accumulators start from 0.",
    "last": ("1 on the last chunk of a dot product: its result leaves `latency` cycles after "
             "this chunk is taken (output not stalled). Both set: a one-chunk product."),
    "acc": ("The dot product of each row, element `r` at `offset + r * element.width`, two's "
            "complement; see `unit.accumulator` for its range and wrap-around."),
    "invalid": ("One flag for the whole result (all rows): 1 when some weight of some chunk of "
                "this product was a code that encodes no weight (`encodings.weight`); such a "
                "lane added 0. Always 0 for units whose weights are plain integers."),
}
_TOP_PORTS = {
    "clk": _UNIT_PORTS["clk"],
    "rst": _UNIT_PORTS["rst"],
    "s_axis_tdata": "Command channel (AXI4-Stream slave) data: header, argument and payload beats "
                    "(`protocol`).",
    "s_axis_tvalid": "Command channel: the host offers a beat.",
    "s_axis_tready": "Command channel: the accelerator takes the beat in this cycle.",
    "s_axis_tlast": "Command channel: the last beat of a command packet.",
    "m_axis_tdata": "Response channel (AXI4-Stream master) data: 32-bit little-endian words, "
                    "`protocol.link.words_per_beat` per beat.",
    "m_axis_tvalid": "Response channel: the accelerator offers a beat.",
    "m_axis_tready": "Response channel: the host takes the beat in this cycle.",
    "m_axis_tlast": "Response channel: the last beat of a response packet.",
    "busy": "The sequencer executes a `RUN` (the `RUNNING` status flag).",
    "error": "An error is latched (status word 0 nonzero) until `CLEAR` or reset.",
}
_BOARD_PORTS = {
    "clk": _UNIT_PORTS["clk"] + " Its frequency is `clock.mhz` (the UART's `baud_divider` is for it).",
    "rst": _UNIT_PORTS["rst"],
    "rx": "UART from the host (idle high, `link.uart`): command frames (`link.command_frame`).",
    "tx": "UART to the host (idle high, `link.uart`): reply frames (`link.reply_frame`).",
    "busy": _TOP_PORTS["busy"],
    "error": _TOP_PORTS["error"],
}


def manifest_schema():
    """The JSON Schema of the manifest (a dict), shipped as ``flows/data/ip_manifest.schema.json``."""
    return json.loads(resources.files(__package__).joinpath("data", SCHEMA_FILE).read_text())


def _files(design):
    name = design.name
    files = {"verilog": f"{name}.v", "manifest": f"{name}.json", "c_header": f"{name}.h",
             "fusesoc_core": f"{name}.core"}
    if isinstance(design, UnitParams):
        files["sv_wrapper"] = f"{name}_wrapper.sv"
    return files


def _ports(component, meanings):
    """Every Verilog port of ``component`` (``clk``, ``rst``, then its signature flattened
    under Amaranth's names) with direction, width, field layout and meaning."""
    ports = [{"name": "clk", "direction": "input", "width": 1, "signed": False},
             {"name": "rst", "direction": "input", "width": 1, "signed": False}]
    for path, member, _ in component.signature.flatten(component):
        ports.append({"name": "__".join(path),
                      "direction": "input" if member.flow == wiring.In else "output",
                      **describe_shape(member.shape)})
    for port in ports:
        port["meaning"] = meanings.get(port["name"], f"see the docstring of {type(component).__name__}")
        for field in port.get("fields", ()):
            field["meaning"] = _UNIT_FIELDS.get(field["name"],
                                                f"see the docstring of {type(component).__name__}")
    return ports


def _weight_encoding(element):
    """The weight encoding of a unit whose weight element is ``element`` (a described shape):
    2-bit unsigned codes (:class:`~tritforge.spec.formats.WeightCode`) or plain integers."""
    if not element["signed"] and element["width"] == WEIGHT_CODE_BITS:
        return {"kind": "code", "width": WEIGHT_CODE_BITS, "zero": int(WeightCode.ZERO),
                "codes": [{"name": code.name, "code": int(code), "weight": weight_of(code)}
                          for code in WeightCode],
                "invalid": "a code with weight null adds 0 and sets `invalid` in the result"}
    return {"kind": "twos_complement", "width": element["width"], "signed": element["signed"],
            "zero": 0}


def _leaf(shape):
    while "element" in shape:
        shape = shape["element"]
    return shape


def _unit_sections(params, unit, ports):
    payload = {port["name"]: port for port in ports}
    chunk = {field["name"]: field for field in payload["i__payload"]["fields"]}
    acc_bits = unit.acc_bits
    weight = _weight_encoding(_leaf(chunk["weights"]))
    return {
        "encodings": {"weight": weight},
        "timing": {
            "latency": unit.latency,
            "latency_meaning": "cycles from taking the `last` chunk of a product to `o__valid` "
                               "(output not stalled)",
            "chunks_per_cycle": 1,
            "throughput": "one chunk per cycle in every cycle the result is not stalled "
                          "(`i__ready = !o__valid || o__ready`, reset aside); gaps and "
                          "backpressure change no result",
            "results_per_product": 1,
        },
        "unit": {
            "rows": params.rows, "cols": params.cols, "act_bits": params.act_bits,
            "weight_bits": _leaf(chunk["weights"])["width"],
            "chunks_for_k": "ceil(K / cols)",
            "lane_order": "lane `c` of chunk `j` is K index `j * cols + c`",
            "padding": "lanes beyond K in the last chunk hold zero weights (`encodings.weight.zero`)",
            "accumulator": {
                "bits": acc_bits, "signed": True,
                "min": -(1 << (acc_bits - 1)), "max": (1 << (acc_bits - 1)) - 1,
                "exact_up_to_k": params.max_k,
                "wraps": (f"a sum outside [min, max] wraps modulo 2**{acc_bits} (two's "
                          f"complement); every product of K <= exact_up_to_k stays inside"),
            },
            "restart": ("the accumulators restart after every `last` chunk and at every `first` "
                        "chunk: a product cut by a `first` chunk before its `last` is dropped"),
        },
    }


def _accelerator_sections(params):
    protocol = describe(params)
    return {
        "encodings": {"weight": _weight_encoding({"signed": False, "width": WEIGHT_CODE_BITS})},
        "timing": {
            "latency": protocol["unit_latency"],
            "latency_meaning": "the matrix unit's latency `L` (a RUN keeps the sequencer busy "
                               "for 2 + F + L cycles, F its chunk steps)",
            "chunks_per_cycle": 1,
            "throughput": "one beat per cycle on each channel; one chunk step (rows x cols MACs) "
                          "per cycle while a RUN runs",
            "beats_per_cycle": 1,
        },
        "protocol": protocol,
    }


def _board_sections(design, store):
    """The board top: the accelerator's sections, the link protocol (:func:`tritforge.spec.link.describe`),
    the clock, the board (PLL, weight store, vendor primitives)."""
    params, link = design.params, design.link
    sections = _accelerator_sections(params)
    sections["timing"]["throughput"] = (
        f"the UART: one byte per {link_spec.bits_per_byte()} x baud_divider = "
        f"{link_spec.bits_per_byte() * link.baud_divider} cycles each way; inside, one beat per cycle "
        f"and one chunk step (rows x cols MACs) per cycle while a RUN runs")
    pll = design.pll
    spram = isinstance(store, SPRAMWeightStore)
    board = {
        "name": design.board or "portable",
        "family": None if design.board is None else BOARDS[design.board].family,
        "pll": None if pll is None else {
            "primitive": pll.primitive, "input_mhz": pll.input_mhz, "output_mhz": pll.output_mhz,
            "dividers": pll.dividers, "oscillator": BOARDS[design.board].oscillator,
            "meaning": "not in the Verilog: the PLL that makes `clk` on this board (flows/boards.py "
                       "BoardWrapper instantiates it, holding `rst` until it locks)"},
        "store": {"kind": "SB_SPRAM256KA" if spram else "memory", "depth": link.store_depth,
                  "width": params.stream_width},
        "vendor_primitives": ["SB_SPRAM256KA"] if spram else [],
    }
    return {**sections, "link": link_spec.describe(link, params.bytes_per_beat), "board": board}


def manifest(design, component=None):
    """The manifest of ``design`` (a dict, see the module docstring); ``component`` is the
    design's built component (built here when not given)."""
    component = _build(design) if component is None else component
    if isinstance(design, BoardDesign):
        ports = _ports(component, _BOARD_PORTS)
        return {**_head(design), "parameters": design.to_dict(), "clock": {**_CLOCK, "mhz": design.frequency_mhz},
                "reset": _reset(_BOARD_RESET_TEXT, [], "board", high_during_reset=["tx"]), "ports": ports,
                **_board_sections(design, component.store)}
    is_top = isinstance(design, AcceleratorParams)
    ports = _ports(component, _TOP_PORTS if is_top else _UNIT_PORTS)
    handshakes = [p["name"] for p in ports if p["direction"] == "output"
                  and re.search(r"(^|_)t?(valid|ready)$", p["name"])]
    description = {
        **_head(design),
        "parameters": design.to_dict() if is_top else {**design.to_dict(), "acc_bits": component.acc_bits},
        "clock": _CLOCK,
        "reset": _reset(_RESET_TEXT, handshakes, "accelerator" if is_top else "unit"),
        "ports": ports,
    }
    if is_top:
        description.update(_accelerator_sections(design))
    else:
        description.update(_unit_sections(design, component, ports))
        # The names of earlier manifests, kept for their readers.
        description.update(latency=component.latency, accumulator_bits=component.acc_bits)
    return description


def _head(design):
    """The manifest's identification: format, names, files, generator, protocol version."""
    return {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "name": design.name,
            "kind": design.kind, "top": design.name, "files": _files(design),
            "generator": {"tritforge": _version("tritforge"), "amaranth": _version("amaranth")},
            "protocol_version": PROTOCOL_VERSION}


def _reset(behaviour, low_during_reset, after, **extra):
    return {"name": "rst", "synchronous": True, "active": "high", "min_cycles": 1, "behaviour": behaviour,
            "low_during_reset": low_during_reset, **extra, "after": _RESET_AFTER[after]}


def _build(design):
    return design.build() if isinstance(design, BoardDesign) else build(design)


# --- C header ------------------------------------------------------------------------------

def _macro(*parts):
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(str(part) for part in parts).upper()).strip("_")


def _define(name, value, comment=None):
    text = f"#define {name} {value}"
    return f"{text}  /* {comment.replace('*/', '* /')} */" if comment else text


def _c_number(value):
    return f"{value}u" if value >= 0 else f"({value})"


def _field_defines(prefix, shape, offset=0):
    """Offset, width (and array length) defines of a described shape, fields recursively."""
    lines = [_define(f"{prefix}_OFFSET", offset), _define(f"{prefix}_WIDTH", shape["width"])]
    if "length" in shape:
        lines += [_define(f"{prefix}_LENGTH", shape["length"])]
        lines += _field_defines(f"{prefix}_ELEM", shape["element"])[1:]
    for field in shape.get("fields", ()):
        lines += _field_defines(_macro(prefix, field["name"]), field, field["offset"])
    return lines


def c_header(description, prefix="TF"):
    """A C99 header of the manifest ``description`` for firmware: the sizes of this
    configuration, the ports' field positions, the weight codes and, for the top, the host
    protocol (opcodes, header fields, argument counts and limits, error codes, status words
    and flags, counters) and a helper that builds a header beat's low 32 bits."""
    guard = _macro(description["name"], "H")
    lines = [f"/* {description['name']}: generated by tritforge {description['generator']['tritforge']} "
             f"from its manifest (protocol version {description['protocol_version']}). Do not edit. */",
             f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", "",
             _define(_macro(prefix, "PROTOCOL_VERSION"), f'"{description["protocol_version"]}"'),
             _define(_macro(prefix, "MANIFEST_VERSION"), description["format_version"]), "",
             "/* Parameters of this configuration. */"]
    lines += [_define(_macro(prefix, name), _c_number(value)) for name, value in description["parameters"].items()
              if isinstance(value, int)]
    lines += [_define(_macro(prefix, "LATENCY"), description["timing"]["latency"]), "",
              "/* Ports: width; payload fields: bit offset and width (arrays: length, element width). */"]
    for port in description["ports"]:
        lines += [_define(_macro(prefix, "PORT", port["name"], "WIDTH"), port["width"])]
        if "fields" in port:
            lines += _field_defines(_macro(prefix, port["name"]), port)[2:]
    weight = description["encodings"]["weight"]
    if weight["kind"] == "code":
        lines += ["", "/* Weight codes (code = weight + 1). */"]
        lines += [_define(_macro(prefix, "WEIGHT", code["name"]), _c_number(code["code"]))
                  for code in weight["codes"]]
    if "protocol" in description:
        lines += _protocol_defines(description["protocol"], prefix)
    if "link" in description:
        lines += _link_defines(description["link"], prefix)
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _protocol_defines(protocol, prefix):
    link, status = protocol["link"], protocol["status"]
    lines = ["", "/* Link. */"]
    lines += [_define(_macro(prefix, "LINK", name), value) for name, value in link.items() if isinstance(value, int)]
    lines += ["", "/* Header beat fields: bit position and width. */"]
    for field in protocol["header"]:
        if field["name"] != "reserved":
            lines += [_define(_macro(prefix, "HEADER", field["name"], "LSB"), field["lsb"]),
                      _define(_macro(prefix, "HEADER", field["name"], "BITS"), field["msb"] - field["lsb"] + 1)]
    lines += ["", "/* Opcodes, their argument beats and the valid range of each argument. */"]
    for opcode in protocol["opcodes"]:
        lines += [_define(_macro(prefix, "OP", opcode["name"]), f"0x{opcode['value']:02x}u", opcode["meaning"]),
                  _define(_macro(prefix, "OP", opcode["name"], "ARGS"), len(opcode["arguments"]))]
        for argument in opcode["arguments"]:
            lines += [_define(_macro(prefix, "ARG", opcode["name"], argument["name"], "BEAT"), argument["beat"]),
                      _define(_macro(prefix, "ARG", opcode["name"], argument["name"], "MAX"),
                              _c_number(argument["valid"][1]))]
    lines += ["", "/* Payload items and responses. */"]
    for item, sizes in protocol["items"].items():
        lines += [_define(_macro(prefix, item, name), _c_number(value)) for name, value in sizes.items()
                  if isinstance(value, int)]
    lines += [_define(_macro(prefix, "RESULT", name), value) for name, value in protocol["results"].items()]
    lines += [_define(_macro(prefix, "STATUS", name), value) for name, value in status.items()
              if isinstance(value, int)]
    lines += ["", "/* Error codes (status word 0, bits [7:0]; the error set: bit 16 + code). */"]
    lines += [_define(_macro(prefix, "ERR", error["name"]), _c_number(error["code"]), error["meaning"])
              for error in protocol["errors"]]
    lines += ["", "/* Status flags (status word 1). */"]
    lines += [_define(_macro(prefix, "FLAG", flag["name"]), f"(1u << {flag['bit']})", flag["meaning"])
              for flag in protocol["flags"]]
    lines += ["", "/* Status words: first word, words, and the field's bits within it. */"]
    for field in status["fields"]:
        if field["name"] == "zero":
            continue
        name = _macro(prefix, "STATUS", field["name"])
        lines += [_define(f"{name}_WORD", field["word"]), _define(f"{name}_WORDS", field["words"]),
                  _define(f"{name}_LSB", field["lsb"]), _define(f"{name}_BITS", field["msb"] - field["lsb"] + 1)]
    header = {field["name"]: field for field in protocol["header"]}
    lines += ["", "/* The low 32 bits of a header beat (the rest of the beat is 0). */",
              f"static inline uint32_t {prefix.lower()}_header(uint32_t opcode, uint32_t weight_bank, "
              "uint32_t act_bank)", "{",
              f"    return (opcode << {header['opcode']['lsb']}) | ((weight_bank & 1u) << "
              f"{header['weight_bank']['lsb']}) | ((act_bank & 1u) << {header['act_bank']['lsb']});", "}"]
    return lines


def _link_defines(link, prefix):
    """The board's UART link (``<prefix>_UART_*``) and a CRC function made from its parameters."""
    name = lambda *parts: _macro(prefix, "UART", *parts)  # noqa: E731
    crc = link["crc"]
    lines = ["", "/* Board link (UART 8N1): sync bytes, frame layout, CRC, records, replies, NAK reasons, sizes. */",
             _define(name("BAUD_DIVIDER"), link["uart"]["baud_divider"], "clock cycles per bit"),
             _define(name("BITS_PER_BYTE"), link["uart"]["bits_per_byte"]),
             _define(name("HOST_SYNC"), f"0x{link['host_sync']:02x}u"),
             _define(name("BOARD_SYNC"), f"0x{link['board_sync']:02x}u"),
             _define(name("COMMAND_OVERHEAD"), link["command_overhead"])]
    lines += [_define(name("FLAG", flag["name"]), f"(1u << {flag['bit']})", flag["meaning"]) for flag in link["flags"]]
    for frame in ("command_frame", "reply_frame"):
        lines += [_define(name(frame.split("_")[0], field["name"], "OFFSET"), field["offset"])
                  for field in link[frame] if field["offset"] is not None]
    lines += [_define(name("CRC_POLYNOMIAL"), f"0x{crc['polynomial']:04x}u"),
              _define(name("CRC_INITIAL"), f"0x{crc['initial']:04x}u"),
              _define(name("CRC_CHECK"), f"0x{crc['check']:04x}u", 'the CRC of "123456789"'),
              _define(name("RECORD_HEADER_BYTES"), link["records"]["header_bytes"]),
              _define(name("STORE_ADDRESS_BYTES"), link["records"]["store_address_bytes"])]
    lines += [_define(name("RECORD", kind["name"]), f"0x{kind['value']:02x}u") for kind in link["records"]["kinds"]]
    for reply in link["replies"]:
        lines += [_define(name("REPLY", reply["name"]), f"0x{reply['value']:02x}u"),
                  _define(name("REPLY", reply["name"], "BYTES"), reply["bytes"])]
    lines += [_define(name("NAK", nak["name"]), f"0x{nak['value']:02x}u", nak["meaning"]) for nak in link["naks"]]
    lines += [_define(name("INFO_LAST"), f"0x{link['data_info']['last']:02x}u"),
              _define(name("INFO_BEATS_MASK"), f"0x{link['data_info']['beats_mask']:02x}u")]
    lines += [_define(name(size), _c_number(value)) for size, value in link["sizes"].items()]
    function = f"{prefix.lower()}_uart_crc16"
    lines += ["", f"/* {crc['name']} of `length` bytes, continuing from `crc` (start: {name('CRC_INITIAL')}). */",
              f"static inline uint16_t {function}(uint16_t crc, const uint8_t *data, unsigned long length)",
              "{", "    while (length--) {", "        crc ^= (uint16_t)(*data++ << 8);",
              "        for (int bit = 0; bit < 8; bit++)",
              f"            crc = (uint16_t)((crc & 0x8000u) ? (uint16_t)(crc << 1) ^ {name('CRC_POLYNOMIAL')} : (uint16_t)(crc << 1));",
              "    }", "    return crc;", "}"]
    return lines


# --- SystemVerilog wrapper ----------------------------------------------------------------

def _sv_port(stream, field, direction):
    """The declaration of one field port and the generate block connecting it."""
    leaf, dims = field, []
    while "element" in leaf:
        dims.append(leaf["length"])
        leaf = leaf["element"]
    if "fields" in leaf:
        raise ValueError(f"field {field['name']!r} is an array of structures: no wrapper port for it")
    name = f"{stream}_{field['name']}"
    signed = " signed" if leaf["signed"] else ""
    vector = f" [{leaf['width'] - 1}:0]" if leaf["width"] > 1 else ""
    unpacked = "".join(f" [{n}]" for n in dims)
    declaration = f"{direction} logic{signed}{vector} {name}{unpacked}"
    indices = [f"i{level}" for level in range(len(dims))]
    flat = "0"
    for index, n in zip(indices, dims):
        flat = f"({flat}) * {n} + {index}" if flat != "0" else index
    position = f"{field['offset']}" + (f" + ({flat}) * {leaf['width']}" if dims else "")
    element = name + "".join(f"[{index}]" for index in indices)
    bits = f"{stream}__payload[{position} +: {leaf['width']}]"
    assign = f"assign {bits} = {element};" if direction == "input" else f"assign {element} = {bits};"
    body = assign
    for level in reversed(range(len(dims))):
        body = (f"for (genvar {indices[level]} = 0; {indices[level]} < {dims[level]}; "
                f"{indices[level]}++) begin : g_{name}_{level}\n    {body.replace(chr(10), chr(10) + '    ')}\nend")
    return declaration, body


def sv_wrapper(description):
    """A SystemVerilog module ``<name>_wrapper`` around a matrix unit: one port per payload
    field (arrays as unpacked arrays of signed or unsigned elements), the handshakes as they
    are, ``clk`` and ``rst``."""
    name = description["name"]
    ports = {port["name"]: port for port in description["ports"]}
    declarations, bodies = ["input  logic clk", "input  logic rst"], []
    wires = []
    for stream in ("i", "o"):
        payload = ports[f"{stream}__payload"]
        flow = payload["direction"]
        for field in payload["fields"]:
            declaration, body = _sv_port(stream, field, flow)
            declarations.append(declaration.replace("input logic", "input  logic"))
            bodies.append(body)
        for handshake in ("valid", "ready"):
            port = ports[f"{stream}__{handshake}"]
            direction = "input " if port["direction"] == "input" else "output"
            declarations.append(f"{direction} logic {stream}_{handshake}")
        wires.append(f"logic [{payload['width'] - 1}:0] {stream}__payload;")
    fields = ", ".join(f"{field['name']}" for field in ports["i__payload"]["fields"])
    instance = ",\n        ".join(
        [".clk(clk)", ".rst(rst)"]
        + [f".{stream}__payload({stream}__payload)" for stream in ("i", "o")]
        + [f".{stream}__{handshake}({stream}_{handshake})" for stream in ("i", "o")
           for handshake in ("valid", "ready")])
    unused = _unused_bits(ports["i__payload"])
    if unused:
        bodies.append("\n".join(f"assign i__payload[{bit}] = 1'b0;" for bit in unused))
    indent = "\n    "
    return (
        f"// {name}_wrapper: {name} with one port per payload field (fields of i: {fields}).\n"
        f"// Generated by tritforge {description['generator']['tritforge']} from {name}.json. Do not edit.\n"
        f"module {name}_wrapper (\n    " + f",{indent}".join(declarations) + "\n);\n"
        + indent[1:] + indent.join(wires) + "\n\n"
        + "\n".join("    " + body.replace("\n", "\n    ") for body in bodies) + "\n\n"
        f"    {name} core (\n        {instance}\n    );\nendmodule\n")


def _unused_bits(payload):
    """Bits of an input payload no field covers (none in today's layouts)."""
    covered = set()
    for field in payload["fields"]:
        covered.update(range(field["offset"], field["offset"] + field["width"]))
    return sorted(set(range(payload["width"])) - covered)


# --- FuseSoC core ---------------------------------------------------------------------------

#: The Verilator ``-Wall`` warnings Amaranth's (Yosys') Verilog trips, measured on the unit,
#: the top and the portable board top: implicit width extensions, unused bits of wide payloads
#: and intermediate wires, several modules in one file, registers with an initial value
#: assigned in ``always``, ``case`` without ``default``, a signal named as the module
#: instance around it (``amaranth.lib.crc``'s ``crc`` in the board's frame receiver). Lint
#: fails on any other warning.
LINT_WAIVERS = ("-Wno-WIDTH", "-Wno-UNUSEDSIGNAL", "-Wno-DECLFILENAME", "-Wno-PROCASSINIT",
                "-Wno-CASEINCOMPLETE", "-Wno-VARHIDDEN")


def fusesoc_core(description, version="0.1.0"):
    """A FuseSoC CAPI2 core file for the generated files: a ``default`` target (the design's
    top), a ``wrapper`` target for units and a Verilator ``lint`` target."""
    files = description["files"]
    name = description["name"]
    top = f"{name}_wrapper" if "sv_wrapper" in files else name
    rtl = [f"      - {files['verilog']}: {{file_type: verilogSource}}"]
    if "sv_wrapper" in files:
        rtl.append(f"      - {files['sv_wrapper']}: {{file_type: systemVerilogSource}}")
    waivers = ", ".join(LINT_WAIVERS)
    # A Verilog with vendor primitives (the iCE40 SPRAM) has modules Verilator does not know:
    # no lint target (lint the portable board top instead).
    lint = [] if description.get("board", {}).get("vendor_primitives") else [
        "  lint:",
        "    flow: lint",
        "    filesets: [rtl]",
        f"    toplevel: {top}",
        "    flow_options:",
        "      tool: verilator",
        f"      verilator_options: [-Wall, {waivers}]"]
    return "\n".join([
        "CAPI=2:",
        f"# Generated by tritforge {description['generator']['tritforge']} from {files['manifest']}. Do not edit.",
        f"name: tritforge:ip:{name}:{version}",
        f"description: tritforge {description['kind']} {name} (manifest {files['manifest']}, "
        f"protocol {description['protocol_version']})",
        "",
        "filesets:",
        "  rtl:",
        "    files:",
        *rtl,
        "  sw:",
        "    files:",
        f"      - {files['c_header']}: {{file_type: cSource, is_include_file: true}}",
        f"      - {files['manifest']}: {{file_type: user}}",
        "",
        "targets:",
        "  default:",
        "    filesets: [rtl, sw]",
        f"    toplevel: {top}",
        *lint,
        "",
    ])


# --- generate ---------------------------------------------------------------------------------

def generate(design, out_dir):
    """Write the IP of ``design`` (a :class:`UnitParams`, :class:`AcceleratorParams` or
    :class:`~tritforge.flows.boards.BoardDesign`) under
    ``out_dir`` (created if missing): the files of the module docstring.

    Returns
    -------
    dict
        The manifest, plus ``paths``: each file written, by the key of ``files``.

    Raises
    ------
    TypeError
        ``design`` is not a parameter object.
    OSError
        ``out_dir`` cannot be written (no file is left half-written).
    """
    if not isinstance(design, (UnitParams, AcceleratorParams, BoardDesign)):
        raise TypeError(f"design must be a UnitParams, an AcceleratorParams or a BoardDesign, not {design!r}")
    component = _build(design)
    description = manifest(design, component)
    ports = component.verilog_ports() if isinstance(design, UnitParams) else None
    texts = {"verilog": verilog.convert(component, name=design.name, ports=ports),
             "c_header": c_header(description),
             "fusesoc_core": fusesoc_core(description)}
    if "sv_wrapper" in description["files"]:
        texts["sv_wrapper"] = sv_wrapper(description)
    out = Path(out_dir)
    paths = {key: str(write_text_atomic(out / description["files"][key], text)) for key, text in texts.items()}
    paths["manifest"] = str(write_json(out / description["files"]["manifest"], description))
    logger.info("wrote %s", ", ".join(paths.values()))
    return {**description, "paths": paths}


def _version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
