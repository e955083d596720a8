# amaranth: UnusedElaboratable=no
"""Energy estimate 2: switching activity of a real workload on the synthesized gates.

How a number comes about (``docs/energy.md`` has the assumptions and their sources):

1. **Workload.** A stream of chunks for a matrix unit: int8 activations and weights drawn
   from a clipped normal distribution (absmax-quantized tensors are roughly normal and
   span about four standard deviations), a chosen share of the weights set to zero, one
   chunk every cycle, dot products four chunks long (:mod:`tritforge.flows.stimulus`).
   The weights of the ternary unit are -1, 0, +1.
2. **RTL simulation.** Amaranth's simulator runs the unit on that stream and writes a
   VCD (:func:`simulate_rtl`). :func:`tritforge.flows.vcdtrace.read_vcd` (pyvcd) samples
   every top-level port at each rising clock edge and counts the RTL signals' bit toggles.
3. **Mapping onto the netlist.** The unit is synthesized with Yosys' generic ``synth``
   (the gates :mod:`tritforge.flows.synth` counts transistors of; :func:`synthesize_netlist`)
   and the port values read from the VCD are replayed on that gate netlist by a
   zero-delay, cycle-based simulator (:class:`GateNetlist`). Every cell output's toggles
   are counted, and the netlist's outputs must equal the RTL's outputs in the VCD at every
   cycle - a failed check raises, so a wrong mapping cannot go unnoticed.
4. **Energy.** Toggles times the cells' transistor counts times a capacitance per
   transistor, plus the flip-flops' clock inputs (:mod:`tritforge.flows.switching`,
   calibrated by :func:`adder_energy`).

Zero-delay simulation counts one toggle per functional change: glitches in the adders'
carry chains are not seen, so the figures are a lower bound for a real chip.
"""

import dataclasses
import json
import logging
import random
from pathlib import Path

import numpy as np
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from .stimulus import make_workload
from .switching import CMOS_TRANSISTORS, FLIP_FLOP, SWITCHING_45NM, switching_energy
from .synth import PREPARE_COMMANDS, find_yosys, run_tool
from .vcdtrace import read_vcd

__all__ = ["RTL_SCOPE", "GateNetlist", "simulate_rtl", "synthesize_netlist",
           "estimate_activity", "estimate_design_activity", "adder_energy"]

logger = logging.getLogger(__name__)

#: Scope of the design in a VCD of Amaranth's ``Simulator.write_vcd``.
RTL_SCOPE = ("bench", "top")

#: Logic function of each combinational cell on numpy bool arrays (Yosys ``simcells.v``).
_GATES = {
    "$_BUF_": lambda a, b, c, d, s: a,
    "$_NOT_": lambda a, b, c, d, s: ~a,
    "$_AND_": lambda a, b, c, d, s: a & b,
    "$_NAND_": lambda a, b, c, d, s: ~(a & b),
    "$_OR_": lambda a, b, c, d, s: a | b,
    "$_NOR_": lambda a, b, c, d, s: ~(a | b),
    "$_XOR_": lambda a, b, c, d, s: a ^ b,
    "$_XNOR_": lambda a, b, c, d, s: ~(a ^ b),
    "$_ANDNOT_": lambda a, b, c, d, s: a & ~b,
    "$_ORNOT_": lambda a, b, c, d, s: a | ~b,
    "$_MUX_": lambda a, b, c, d, s: np.where(s, b, a),
    "$_NMUX_": lambda a, b, c, d, s: ~np.where(s, b, a),
    "$_AOI3_": lambda a, b, c, d, s: ~((a & b) | c),
    "$_OAI3_": lambda a, b, c, d, s: ~((a | b) & c),
    "$_AOI4_": lambda a, b, c, d, s: ~((a & b) | (c & d)),
    "$_OAI4_": lambda a, b, c, d, s: ~((a | b) & (c | d)),
}


# --- 2. RTL simulation --------------------------------------------------------------------------

def _weight_code(kind, weight):
    # WeightCode: code = w + 1 (hdl.encoding); the int unit takes the value itself.
    return weight + 1 if kind == "ternary" else weight


def simulate_rtl(unit, kind, chunks, vcd_path):
    """Run ``unit`` (a matrix unit of ``kind``) on ``chunks``, one per cycle, writing a VCD.

    The output is always ready, so the unit takes a chunk every cycle.
    """
    sim = Simulator(unit)
    sim.add_clock(1e-6)

    layout = unit.chunk_layout()

    async def bench(ctx):
        ctx.set(unit.i.valid, 1)
        ctx.set(unit.o.ready, 1)
        for chunk in chunks:
            # One set per chunk: every set makes the simulator settle the whole design.
            weights = [[_weight_code(kind, w) for w in row] for row in chunk["weights"]]
            ctx.set(unit.i.payload, layout.const({"act": chunk["act"], "weights": weights,
                                                   "first": chunk["first"], "last": chunk["last"]}))
            await ctx.tick()

    sim.add_testbench(bench)
    with sim.write_vcd(str(vcd_path)):
        sim.run()


# --- 3. the gate netlist ------------------------------------------------------------------------

def synthesize_netlist(design, top_name, workdir):
    """Generic gate netlist of ``design`` as ``flows.synth`` builds it, plus its JSON.

    Writes ``design.il``, ``activity.ys``, ``yosys.log``, ``stat.json`` and ``netlist.json``
    into ``workdir``.

    Returns
    -------
    (Path, dict)
        The netlist JSON and Yosys' ``stat`` of it (``estimated_num_transistors``...).
    """
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "design.il").write_text(rtlil.convert(design, name=top_name))
    # The generic script of flows.synth (same netlist, same transistor count) + write_json.
    script = ["read_rtlil design.il", f"hierarchy -check -top {top_name}", *PREPARE_COMMANDS,
              f"synth -flatten -top {top_name}", "dfflegalize -cell $_DFF_P_ 01", "opt_clean",
              "tee -q -o stat.json stat -json -tech cmos", "write_json netlist.json"]
    (folder / "activity.ys").write_text("\n".join(script) + "\n")
    run_tool(folder, [find_yosys(), "-q", "-l", "yosys.log", "-s", "activity.ys"], "yosys.log")
    stat = json.loads((folder / "stat.json").read_text())["design"]
    return folder / "netlist.json", stat


class GateNetlist:
    """A Yosys generic netlist (``write_json``), levelized for a cycle-based simulation.

    Nets are numbered as in the JSON; two extra nets hold the constants 0 and 1. The
    combinational cells are grouped by logic level and type, so a cycle is a few numpy
    operations per level.

    Raises
    ------
    ValueError
        If the netlist has a cell type outside :data:`_GATES` and the ``$_DFF_P_`` flip-flop,
        or a combinational loop.
    """

    def __init__(self, netlist, top):
        module = netlist["modules"][top]
        cells = list(module["cells"].values())
        bits = [bit for cell in cells for conn in cell["connections"].values() for bit in conn]
        bits += [bit for port in module["ports"].values() for bit in port["bits"]]
        numbers = [bit for bit in bits if isinstance(bit, int)]
        self.zero = max(numbers, default=1) + 1
        self.one = self.zero + 1
        self.nets = self.one + 1
        self.ports = {name: (port["direction"], [self._net(b) for b in port["bits"]])
                      for name, port in module["ports"].items()}
        self.cell_counts = {}
        for cell in cells:
            self.cell_counts[cell["type"]] = self.cell_counts.get(cell["type"], 0) + 1
        unknown = sorted(set(self.cell_counts) - set(_GATES) - {FLIP_FLOP})
        if unknown:
            raise ValueError(f"netlist cell types must be Yosys generic gates or {FLIP_FLOP}, "
                             f"not {', '.join(unknown)}")
        flops = [c for c in cells if c["type"] == FLIP_FLOP]
        self.ff_d = np.array([self._net(c["connections"]["D"][0]) for c in flops], dtype=np.int64)
        self.ff_q = np.array([self._net(c["connections"]["Q"][0]) for c in flops], dtype=np.int64)
        self.init = self._initial_values(module)
        self.groups = self._levelize([c for c in cells if c["type"] != FLIP_FLOP])
        # The type of the cell driving each net: what one toggle of that net charges.
        self.driver_type = {self._net(cell["connections"]["Q" if cell["type"] == FLIP_FLOP else "Y"][0]):
                            cell["type"] for cell in cells}

    @classmethod
    def from_file(cls, path, top):
        return cls(json.loads(Path(path).read_text()), top)

    @property
    def flip_flops(self):
        return len(self.ff_q)

    def transistors(self):
        """Sum of :data:`CMOS_TRANSISTORS` over the cells."""
        return sum(CMOS_TRANSISTORS[kind] * count for kind, count in self.cell_counts.items())

    def toggles_by_cell(self, toggles):
        """Output toggles of the cells of each type, ``{cell type: toggles}``, from the
        per-net ``toggles`` of :meth:`run`."""
        by_type = dict.fromkeys(self.cell_counts, 0)
        for net, kind in self.driver_type.items():
            by_type[kind] += int(toggles[net])
        return by_type

    def _net(self, bit):
        if isinstance(bit, int):
            return bit
        return self.one if bit == "1" else self.zero  # "0", "x", "z"

    def _initial_values(self, module):
        values = np.zeros(self.nets, dtype=bool)
        for net in module["netnames"].values():
            init = net.get("attributes", {}).get("init")
            if isinstance(init, str) and len(init) == len(net["bits"]):
                for bit, value in zip(net["bits"], reversed(init)):
                    if isinstance(bit, int):
                        values[bit] = value == "1"
        values[self.one] = True
        return values

    def _levelize(self, cells):
        """``[[(type, inputs[A,B,C,D,S], outputs)], ...]`` level by level (Kahn's order)."""
        driver = {}
        for index, cell in enumerate(cells):
            driver[self._net(cell["connections"]["Y"][0])] = index
        inputs = [[self._net(cell["connections"][pin][0]) if pin in cell["connections"] else self.zero
                   for pin in "ABCDS"] for cell in cells]
        level = [None] * len(cells)

        def level_of(index, stack=()):
            # Iterative depth-first evaluation (designs are deep: no recursion limit issues).
            todo = [index]
            while todo:
                current = todo[-1]
                if level[current] is not None:
                    todo.pop()
                    continue
                waiting = [driver[net] for net in inputs[current]
                           if net in driver and level[driver[net]] is None]
                if not waiting:
                    level[current] = 1 + max((level[driver[net]] for net in inputs[current]
                                              if net in driver), default=0)
                    todo.pop()
                elif len(todo) > len(cells):
                    raise ValueError("netlist has a combinational loop")
                else:
                    todo.extend(waiting)
            return level[index]

        for index in range(len(cells)):
            level_of(index)
        groups = {}
        for index, cell in enumerate(cells):
            groups.setdefault((level[index], cell["type"]), []).append(index)
        ordered = []
        for (lvl, kind), members in sorted(groups.items()):
            ins = np.array([inputs[i] for i in members], dtype=np.int64).T
            outs = np.array([self._net(cells[i]["connections"]["Y"][0]) for i in members],
                            dtype=np.int64)
            ordered.append((_GATES[kind], ins, outs))
        return ordered

    def port_bits(self, value, nets):
        """Bool array of the low ``len(nets)`` bits of ``value``."""
        return np.array([(value >> k) & 1 for k in range(len(nets))], dtype=bool)

    def run(self, inputs, cycles):
        """Simulate ``cycles`` cycles; ``inputs[name][cycle]`` gives each input port's value.

        Returns
        -------
        (numpy.ndarray, dict)
            Toggles of every net summed over the cycles, counted between the settled values
            of consecutive cycles (the first cycle against the reset state), and each output
            port's value per cycle.
        """
        values = self.init.copy()
        previous = values.copy()
        toggles = np.zeros(self.nets, dtype=np.int64)
        outputs = {name: [] for name, (direction, _) in self.ports.items() if direction == "output"}
        settled = False
        for cycle in range(cycles):
            for name, (direction, nets) in self.ports.items():
                if direction == "input":
                    values[nets] = self.port_bits(inputs[name][cycle], nets)
            for function, ins, outs in self.groups:
                a, b, c, d, s = (values[row] for row in ins)
                values[outs] = function(a, b, c, d, s)
            if settled:
                toggles += values != previous
            settled = True
            previous[:] = values
            for name in outputs:
                bits = values[self.ports[name][1]]
                outputs[name].append(int(sum(1 << k for k, bit in enumerate(bits) if bit)))
            values[self.ff_q] = values[self.ff_d]
        return toggles, outputs


# --- 4. estimate ----------------------------------------------------------------------------------

def _check_replay(trace, outputs, skip):
    """The netlist's outputs must be the RTL's at every cycle (after ``skip`` warm-up cycles)."""
    for name, values in outputs.items():
        if name not in trace.samples:
            raise ValueError(f"output port {name!r} of the netlist is not in the VCD")
        rtl = trace.samples[name]
        for cycle in range(skip, len(values)):
            if values[cycle] != rtl[cycle]:
                raise RuntimeError(f"gate netlist disagrees with the RTL simulation on {name} "
                                   f"at cycle {cycle}: {values[cycle]:#x} != {rtl[cycle]:#x}")


def estimate_design_activity(design, top_name, trace, workdir, model=SWITCHING_45NM):
    """Replay ``trace`` (a :class:`~tritforge.flows.vcdtrace.VcdTrace` of ``design``) on its
    generic gate netlist.

    Returns
    -------
    dict
        :func:`~tritforge.flows.switching.switching_energy` figures plus ``cycles``, ``transistors`` (Yosys' estimate),
        ``transistors_from_cells`` (:data:`CMOS_TRANSISTORS` summed: must agree),
        ``flip_flops`` and ``cells``.
    """
    path, stat = synthesize_netlist(design, top_name, workdir)
    netlist = GateNetlist.from_file(path, top_name)
    cycles = trace.cycles
    missing = [name for name, (direction, _) in netlist.ports.items()
               if direction == "input" and name not in trace.samples]
    if missing:
        raise ValueError(f"input port {', '.join(missing)} of the netlist is not in the VCD")
    toggles, outputs = netlist.run(trace.samples, cycles)
    _check_replay(trace, outputs, skip=0)
    energy = switching_energy(netlist.toggles_by_cell(toggles), netlist.flip_flops, cycles, model)
    transistors = int(str(stat.get("estimated_num_transistors", "0")).rstrip("+"))
    return {**energy, "cycles": cycles, "transistors": transistors,
            "transistors_from_cells": netlist.transistors(), "flip_flops": netlist.flip_flops,
            "cells": sum(netlist.cell_counts.values())}


def estimate_activity(design, *, workdir, zero_share=1 / 3, cycles=200, seed=1,
                      model=SWITCHING_45NM):
    """Dynamic energy per MAC of a matrix unit on a random workload (module docstring).

    Parameters
    ----------
    design : tritforge.flows.flow.DesignConfig
        A matrix unit (``kind`` ``"ternary"`` or ``"int"``).
    workdir : path-like
        Folder for the VCD, the netlist and the Yosys files.
    zero_share : float
        Share of zero weights.
    cycles : int
        Cycles simulated (one chunk each).
    seed : int
        Seed of the workload.
    model : SwitchingModel

    Returns
    -------
    dict
        ``pj_per_mac`` (total), ``pj_per_mac_by_part`` (logic, ff, clock), the figures of
        :func:`estimate_design_activity`, ``macs``, ``rtl_toggles_per_cycle`` (all RTL
        signal bits) and ``input_toggles_per_cycle`` (the ``i`` payload), ``zero_share``,
        ``model``.
    """
    if design.kind not in ("ternary", "int"):
        raise ValueError(f"design kind must be ternary or int, not {design.kind!r}")
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    chunks = make_workload(design.kind, design.rows, design.cols, cycles,
                           zero_share=zero_share, seed=seed)
    vcd = folder / "rtl.vcd"
    simulate_rtl(design.build(), design.kind, chunks, vcd)
    trace = read_vcd(vcd, scope=RTL_SCOPE)
    result = estimate_design_activity(design.build(), design.name, trace, folder / "netlist", model)
    macs = trace.cycles * design.rows * design.cols
    parts = {part: result[f"{part}_pj"] / macs for part in ("logic", "ff", "clock")}
    return {
        **result, "macs": macs, "zero_share": zero_share, "seed": seed,
        "pj_per_mac": result["total_pj"] / macs, "pj_per_mac_by_part": parts,
        "rtl_toggles_per_cycle": trace.total_toggles() / trace.cycles,
        "input_toggles_per_cycle": trace.total_toggles(["i__payload"]) / trace.cycles,
        "model": dataclasses.asdict(model),
    }


# --- calibration --------------------------------------------------------------------------------

class _RegisteredAdder(wiring.Component):
    """``y = a' + b'`` of the registered inputs: the adder alone is combinational."""

    def __init__(self, bits):
        self._bits = bits
        super().__init__({"a": In(bits), "b": In(bits), "y": Out(bits + 1)})

    def elaborate(self, platform):
        m = Module()
        # Names unlike the ports': Amaranth's VCD writer renames a port that an internal
        # signal shares its name with, and the replay reads ports by name.
        a, b = Signal(self._bits, name="a_reg"), Signal(self._bits, name="b_reg")
        m.d.sync += [a.eq(self.a), b.eq(self.b)]
        m.d.comb += self.y.eq(a + b)
        return m


def adder_energy(workdir, *, bits=8, cycles=2000, seed=1, model=SWITCHING_45NM):
    """Switching energy (pJ) of one ``bits``-wide add with uniformly random operands.

    Only the adder's gates count (not the input registers nor the clock): the figure to
    compare with an energy table's add (:data:`~tritforge.flows.switching.SWITCHING_45NM` is
    fitted on it).
    """
    rng = random.Random(seed)
    adder = _RegisteredAdder(bits)
    sim = Simulator(adder)
    sim.add_clock(1e-6)

    async def bench(ctx):
        for _ in range(cycles):
            ctx.set(adder.a, rng.getrandbits(bits))
            ctx.set(adder.b, rng.getrandbits(bits))
            await ctx.tick()

    sim.add_testbench(bench)
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    with sim.write_vcd(str(folder / "adder.vcd")):
        sim.run()
    trace = read_vcd(folder / "adder.vcd", scope=RTL_SCOPE)
    result = estimate_design_activity(_RegisteredAdder(bits), "adder", trace, folder, model)
    # The first cycle's adds see the registers' reset values: one add per later cycle.
    return result["logic_pj"] / (result["cycles"] - 1)
