# amaranth: UnusedElaboratable=no
"""Energy estimate 2: switching activity of a real workload on the synthesized gates.

How a number comes about (``docs/energy.md`` has the assumptions and their sources):

1. **Workload.** One chunk per cycle of random int8 activations and weights with a chosen
   share of zero weights (:func:`tritforge.flows.stimulus.make_workload`).
2. **RTL simulation.** Amaranth's simulator runs the matrix unit on that stream and writes
   a VCD (:func:`simulate_rtl`).
3. **Gate-level simulation.** The unit is synthesized with Yosys' generic ``synth`` (the
   gates :mod:`tritforge.flows.synth` counts transistors of), the port values read from
   the RTL's VCD (:func:`tritforge.flows.vcdtrace.read_vcd`) drive that netlist on Icarus
   Verilog, and every cell output's toggles are counted in its VCD
   (:mod:`tritforge.flows.netlist`). The netlist's outputs must equal the RTL's at every
   cycle - a failed check raises, so a wrong mapping cannot go unnoticed.
4. **Energy.** Toggles times the cells' transistor counts times a capacitance per
   transistor, plus the flip-flops' clock inputs (:mod:`tritforge.flows.switching`,
   calibrated by :func:`adder_energy`).

Both simulations count one toggle per functional change per cycle: glitches in the adders'
carry chains are not seen, so the figures are a lower bound for a real chip.
"""

import contextlib
import dataclasses
import random
import re
import sys
from pathlib import Path

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from ..hdl.chunk_stream import StreamDriver
from ..hdl.units import UNIT_CLASSES
from ..spec.formats import WeightCode
from ..spec.params import TERNARY_UNIT_KINDS, UNIT_KINDS
from .netlist import check_outputs, replay, synthesize_netlist, toggles_by_cell
from .stimulus import make_workload
from .switching import SWITCHING_45NM, switching_energy
from .vcdtrace import read_vcd

__all__ = ["RTL_SCOPE", "simulate_rtl", "gate_activity", "estimate_activity", "adder_energy"]

#: Scope of the design in a VCD of Amaranth's ``Simulator.write_vcd``.
RTL_SCOPE = ("bench", "top")

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@contextlib.contextmanager
def _any_integer_length():
    """Lift Python's 4,300-digit limit on int-to-decimal conversion: Amaranth's simulator
    writes each signal's mask as a decimal literal, and a signal of more than about 14,000
    bits (the tables of a g = 5 lookup unit at 64 columns) passes it."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def _simulate(design, testbench, vcd_path):
    """Run ``testbench`` on ``design`` with a clock, writing every signal to a VCD."""
    with _any_integer_length():
        sim = Simulator(design)
        sim.add_clock(1e-6)
        sim.add_testbench(testbench)
        with sim.write_vcd(str(vcd_path)):
            sim.run()


def _weight_code(kind, weight):
    # The ternary unit takes the weight's 2-bit code, the int unit the value itself.
    return WeightCode.of(weight) if kind in TERNARY_UNIT_KINDS else weight


def simulate_rtl(unit, kind, chunks, vcd_path):
    """Run ``unit`` (a matrix unit of ``kind``) on ``chunks``, writing a VCD; return the
    :class:`~tritforge.hdl.chunk_stream.StreamDriver` that drove it.

    No gaps and no backpressure: the unit takes a chunk every cycle, then drains its
    pipeline (``latency`` more cycles, whose toggles belong to the work too).
    """
    as_taken = [dict(chunk, weights=[[_weight_code(kind, w) for w in row] for row in chunk["weights"]])
                for chunk in chunks]
    driver = StreamDriver(unit, as_taken, tail=0)
    _simulate(unit, driver.amaranth_testbench, vcd_path)
    return driver


def gate_activity(design, top_name, rtl_vcd, workdir, model=SWITCHING_45NM):
    """Replay the RTL simulation ``rtl_vcd`` of ``design`` on its generic gate netlist.

    Parameters
    ----------
    design : amaranth.lib.wiring.Component
        The simulated design (elaborated again for synthesis).
    top_name : str
        Module name of the netlist.
    rtl_vcd : path-like
        VCD of ``design`` with the design in :data:`RTL_SCOPE`.
    workdir : path-like
        Folder for the Yosys and Icarus files.
    model : SwitchingModel

    Returns
    -------
    (dict, VcdTrace)
        :func:`~tritforge.flows.switching.switching_energy` figures plus ``cycles``,
        ``transistors`` (Yosys' estimate), ``transistors_from_cells``
        (:data:`~tritforge.flows.switching.CMOS_TRANSISTORS` summed: must agree),
        ``flip_flops`` and ``cells``; and the RTL trace.

    Raises
    ------
    ValueError
        If a port of the netlist is not in the VCD.
    RuntimeError
        If the netlist's outputs differ from the RTL's.
    SynthesisError
        If Yosys or Icarus Verilog fails.
    """
    folder = Path(workdir)
    netlist, transistors = synthesize_netlist(design, top_name, folder)
    rtl = read_vcd(rtl_vcd, scope=RTL_SCOPE, sample=netlist.ports)
    gates = replay(netlist, folder / "netlist.v", rtl.samples, folder)
    check_outputs(rtl, gates)
    energy = switching_energy(toggles_by_cell(netlist, gates), netlist.flip_flops, rtl.cycles, model)
    return {**energy, "cycles": rtl.cycles, "transistors": transistors,
            "transistors_from_cells": netlist.transistors(), "flip_flops": netlist.flip_flops,
            "cells": sum(netlist.cell_counts.values())}, rtl


def _check_unit(unit, kind, name):
    if kind not in UNIT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(UNIT_KINDS)}, not {kind!r}")
    expected = UNIT_CLASSES[kind]
    if not isinstance(unit, expected):
        raise ValueError(f"unit must be a {expected.__name__} for kind {kind!r}, "
                         f"not {type(unit).__name__}")
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"name must be a Verilog identifier (letters, digits, _), not {name!r}")


def estimate_activity(unit, kind, name, *, workdir, zero_share=1 / 3, cycles=200, seed=1,
                      model=SWITCHING_45NM):
    """Dynamic energy per MAC of a matrix unit on a random workload (module docstring).

    Parameters
    ----------
    unit : TernaryMatrixUnit or IntMatrixUnit
        A built matrix unit; it is elaborated twice (simulation and synthesis).
    kind : str
        ``"ternary"`` or ``"int"``, matching ``unit``.
    name : str
        Module name of the synthesized netlist.
    workdir : path-like
        Folder for ``rtl.vcd`` and ``netlist/`` (the Yosys and Icarus files).
    zero_share : float
        Share of zero weights.
    cycles : int
        Chunks simulated, one per cycle (the pipeline then drains for ``latency`` cycles).
    seed : int
        Seed of the workload.
    model : SwitchingModel

    Returns
    -------
    dict
        ``pj_per_mac`` (total), ``pj_per_mac_by_part`` (logic, ff, clock), the figures of
        :func:`gate_activity`, ``macs``, ``rtl_toggles_per_cycle`` (all RTL signal bits)
        and ``input_toggles_per_cycle`` (the ``i`` payload), ``zero_share``, ``seed``,
        ``model``.

    Raises
    ------
    ValueError
        If ``kind``, ``unit``, ``name``, ``zero_share`` or ``cycles`` is wrong.
    RuntimeError
        If the gate netlist's outputs differ from the RTL's.
    SynthesisError
        If Yosys or Icarus Verilog fails.
    """
    _check_unit(unit, kind, name)
    chunks = make_workload(kind, unit.rows, unit.cols, cycles, zero_share=zero_share, seed=seed)
    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    driver = simulate_rtl(unit, kind, chunks, folder / "rtl.vcd")
    result, rtl = gate_activity(unit, name, folder / "rtl.vcd", folder / "netlist", model)
    macs = len(driver.accepted) * unit.rows * unit.cols
    parts = {part: result[f"{part}_pj"] / macs for part in ("logic", "ff", "clock")}
    return {
        **result, "macs": macs, "zero_share": zero_share, "seed": seed,
        "pj_per_mac": result["total_pj"] / macs, "pj_per_mac_by_part": parts,
        "rtl_toggles_per_cycle": rtl.total_toggles() / rtl.cycles,
        "input_toggles_per_cycle": rtl.total_toggles(["i__payload"]) / rtl.cycles,
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
    compare with an energy table's add (:data:`~tritforge.flows.switching.SWITCHING_45NM`
    is fitted on it, with the defaults).

    Raises
    ------
    ValueError
        If ``bits`` is not positive or ``cycles`` is below 2.
    """
    if not isinstance(bits, int) or bits < 1:
        raise ValueError(f"bits must be a positive integer, not {bits!r}")
    if not isinstance(cycles, int) or cycles < 2:
        raise ValueError(f"cycles must be an integer of at least 2, not {cycles!r}")
    rng = random.Random(seed)
    adder = _RegisteredAdder(bits)

    async def bench(ctx):
        for _ in range(cycles):
            ctx.set(adder.a, rng.getrandbits(bits))
            ctx.set(adder.b, rng.getrandbits(bits))
            await ctx.tick()

    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    _simulate(adder, bench, folder / "rtl.vcd")
    result, _ = gate_activity(adder, "adder", folder / "rtl.vcd", folder / "netlist", model)
    # Toggles are counted between consecutive cycles: one add per cycle after the first.
    return result["logic_pj"] / (result["cycles"] - 1)
