"""Simulation throughput of the accelerator top: cycles per second of random layers with random
idle cycles and backpressure, on the 4 x 16 and 8 x 32 tops, three ways:

* ``cocotb-axi``: the cocotbext-axi drivers (Python on every cycle), test ``random_layers``;
* ``cocotb-harness``: batches through the Verilog harness, one awaited trigger per batch,
  test ``bulk_random_layers`` (both run on one build of the harness, whose ports pass
  through to the accelerator for the first);
* ``native``: the same batches on a cocotb-free Verilator build (``sim/native.py``), each
  batch's simulator process running while Python makes the next batch and checks the last.

    python -m benchmarks.throughput                 # Verilator, both tops, + Icarus on 4 x 16
    python -m benchmarks.throughput --no-icarus
    python -m benchmarks.throughput --no-cocotb     # the native way only (no cocotb builds)

cycles/s = simulated cycles / wall time of the test's loop (random layers made, encoded,
simulated and checked, end to end; builds excluded); ``native`` also gives the simulator
alone: cycles / CPU time of its processes (start-up and reset included).
Writes ``build/bench/throughput.json`` (``--out``) and prints a Markdown table.
"""

import json
import os
import time
from pathlib import Path

import click

from benchmarks import machine_environment, write_result
from tritforge.sim.build import ACCELERATOR_TESTBENCH, run_accelerator
from tritforge.sim.native import native_random_layers
from tritforge.spec.params import AcceleratorParams

#: The tops, with buffers small enough that random layers up to twice them get split.
TOPS = {
    "4 x 16": AcceleratorParams(rows=4, cols=16, weight_format="2bit", max_k=256, weight_depth=16,
                                act_depth=32, max_tokens=8, stream_width=32),
    "8 x 32": AcceleratorParams(rows=8, cols=32, weight_format="2bit", max_k=512, weight_depth=32,
                                act_depth=64, max_tokens=16, stream_width=32),
}
#: Layers per way and top: enough for a few seconds each.
LAYERS = {"4 x 16": {"cocotb-axi": 60, "cocotb-harness": 300, "native": 10_000},
          "8 x 32": {"cocotb-axi": 20, "cocotb-harness": 100, "native": 3000}}
#: Layers per native batch (one simulator process each): fewer processes to start.
NATIVE_BATCH_LAYERS = 256
IDLE = [0, 0.2, 0, 0.6]
BACKPRESSURE = [0, 0, 0.6, 0.2]


def cocotb_ways(simulator, top, out, layers):
    """``random_layers`` and ``bulk_random_layers`` on one harness build: their summaries."""
    build = out / f"throughput_{simulator}_{top.replace(' ', '')}"
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    started = time.perf_counter()
    run_accelerator(simulator, TOPS[top], build, ACCELERATOR_TESTBENCH, harness=True, quiet=True,
                    testcase=["random_layers", "bulk_random_layers"],
                    config={"summary": str(summary.resolve()), "seed": 5, "idle": IDLE,
                            "backpressure": BACKPRESSURE, "layers": layers["cocotb-axi"],
                            "bulk_layers": layers["cocotb-harness"]})
    result = json.loads(summary.read_text())
    return {"cocotb-axi": result["random_layers"], "cocotb-harness": result["bulk_random_layers"],
            "build_and_run_s": round(time.perf_counter() - started, 1)}


def row(simulator, top, way, summary):
    point = {"simulator": simulator, "top": top, "way": way, "layers": summary["layers"],
             "cycles": summary["cycles"], "loop_s": summary.get("wall_s", summary["sim_s"])}
    point["cycles_per_s"] = round(point["cycles"] / point["loop_s"])
    if way == "native":
        point["sim_cpu_s"] = summary["sim_s"]
        point["sim_only_cycles_per_s"] = round(summary["cycles"] / summary["sim_s"])
        point["build_s"] = summary["build_s"]
    return point


def table(points):
    lines = ["| simulator | top | way | layers | cycles | loop s | cycles/s | simulator alone (CPU), cycles/s |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for p in points:
        alone = f"{p['sim_only_cycles_per_s']:,}" if "sim_only_cycles_per_s" in p else ""
        lines.append(f"| {p['simulator']} | {p['top']} | {p['way']} | {p['layers']:,} | {p['cycles']:,} | "
                     f"{p['loop_s']:.2f} | {p['cycles_per_s']:,} | {alone} |")
    return "\n".join(lines)


@click.command()
@click.option("--icarus/--no-icarus", default=True, show_default=True,
              help="Also the cocotb ways on Icarus (4 x 16 top only: Icarus runs the 8 x 32 unit at ~70 cycles/s).")
@click.option("--cocotb/--no-cocotb", default=True, show_default=True,
              help="Also the cocotb ways (each top built for cocotb); else the native way only.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(icarus, cocotb, out):
    """Cycles per second of the accelerator's random-layer test, per driving method."""
    out = out.resolve()
    points = []
    for top in TOPS:
        layers = LAYERS[top]
        if cocotb:
            for way, summary in cocotb_ways("verilator", top, out, layers).items():
                if way != "build_and_run_s":
                    points.append(row("verilator", top, way, summary))
        native = native_random_layers(TOPS[top], out / f"throughput_native_{top.replace(' ', '')}",
                                      {"seed": 5, "layers": layers["native"],
                                       "batch_layers": NATIVE_BATCH_LAYERS,
                                       "idle": IDLE, "backpressure": BACKPRESSURE})
        points.append(row("verilator", top, "native", native))
    if icarus and cocotb:
        small = {way: max(n // 10, 10) for way, n in LAYERS["4 x 16"].items()}
        for way, summary in cocotb_ways("icarus", "4 x 16", out, small).items():
            if way != "build_and_run_s":
                points.append(row("icarus", "4 x 16", way, summary))
    print(table(points))
    write_result(out, "throughput.json", {
        "tops": {name: params.to_dict() for name, params in TOPS.items()}, "idle": IDLE,
        "backpressure": BACKPRESSURE, "native_batch_layers": NATIVE_BATCH_LAYERS, "points": points,
        "load_average": os.getloadavg(),
        "environment": machine_environment(("amaranth", "cocotb", "cocotbext-axi", "verilator"))})


if __name__ == "__main__":
    main()
