"""Accelerator benchmarks: cycles of a 2048 x 2048 BitLinear layer, by class, for T = 1, 8,
64 tokens and stream widths 32 and 256, from the RTL (Verilator) and the cycle model.

    python -m benchmarks.accelerator                 # RTL for every point (~10 min), + model
    python -m benchmarks.accelerator --model-only    # the cycle model alone (instant)
    python -m benchmarks.accelerator --tokens 1 8    # a subset of the points

Every RTL point also runs the model and records whether the counters agree cycle for cycle
(they must: ``tests/test_rtl_perf_model.py``). Writes ``build/bench/accelerator.json``
(``--out``) and prints a Markdown table for ``docs/accelerator.md``.
"""

import dataclasses
import json
import time
from pathlib import Path

import click

from benchmarks import machine_environment
from tritforge.spec.params import AcceleratorParams
from tritforge.sim.build import ACCELERATOR_TESTBENCH, run_accelerator
from tritforge.sim.perf_model import model_layer, unit_latency

LAYER = (2048, 2048)          # (K, N)
TOKENS = (1, 8, 64)
WIDTHS = (32, 256)
#: The measured configuration: an 8 x 32 unit (256 MACs per cycle), 512 tiles per weight
#: bank (a 64-row slice of a 2048-wide layer), activation banks for 64 tokens of K = 2048.
MEASURED = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=512, act_depth=4096,
                             max_tokens=64, stream_width=32)


def environment():
    return machine_environment(("amaranth", "cocotb", "cocotbext-axi", "verilator"))


def modeled(params, tokens):
    """The model's numbers for one point."""
    timing = model_layer(params, tokens, *LAYER)
    return {"total": timing.total, "compute": timing.compute, "wait_in": timing.wait_in,
            "wait_out": timing.wait_out, "overhead": timing.overhead, "runs": timing.runs,
            "counters": timing.counters}


def simulated(params, tokens_list, out):
    """RTL counters of the layer for each ``tokens`` (one Verilator build per width)."""
    build = out / f"accelerator_rtl_w{params.stream_width}_{params.weight_format}"
    summary = build / "summary.json"
    summary.unlink(missing_ok=True)
    start = time.perf_counter()
    run_accelerator("verilator", params, build, ACCELERATOR_TESTBENCH, testcase="perf_layers",
                    config={"summary": str(summary.resolve()),
                            "perf_shapes": [[tokens, *LAYER] for tokens in tokens_list]})
    wall = time.perf_counter() - start
    layers = json.loads(summary.read_text())["perf_layers"]["layers"]
    return {layer["shape"][0]: layer["counters"] for layer in layers}, wall


def measure(params, tokens_list, out, simulate):
    rows = []
    rtl, wall = simulated(params, tokens_list, out) if simulate else ({}, None)
    for tokens in tokens_list:
        model = modeled(params, tokens)
        row = {"format": params.weight_format, "stream_width": params.stream_width,
               "tokens": tokens, **{k: v for k, v in model.items() if k != "counters"},
               "source": "model"}
        if tokens in rtl:
            row["source"] = "rtl"
            row["rtl_counters"] = rtl[tokens]
            row["model_agrees"] = rtl[tokens] == model["counters"]
        rows.append(row)
    return rows, wall


def table(rows):
    """Markdown table: cycles and the split in percent of the total."""
    lines = ["| T | width | format | total cycles | compute | wait input | wait output | "
             "control overhead | runs | source |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        pct = {k: 100 * r[k] / r["total"] for k in ("compute", "wait_in", "wait_out", "overhead")}
        source = r["source"] + (" (= model)" if r.get("model_agrees") else "")
        lines.append(f"| {r['tokens']} | {r['stream_width']} | {r['format']} | {r['total']:,} | "
                     f"{pct['compute']:.1f} % | {pct['wait_in']:.1f} % | {pct['wait_out']:.2f} % | "
                     f"{pct['overhead']:.2f} % | {r['runs']} | {source} |")
    return "\n".join(lines)


@click.command()
@click.option("--model-only", is_flag=True, help="Skip the RTL simulations.")
@click.option("--tokens", type=int, multiple=True, default=TOKENS, show_default=True,
              help="Tokens per layer (repeatable).")
@click.option("--widths", type=int, multiple=True, default=WIDTHS, show_default=True,
              help="Stream widths (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(model_only, tokens, widths, out):
    """The 2048 x 2048 layer on the accelerator: cycle model against the RTL counters."""
    out.mkdir(parents=True, exist_ok=True)
    rows, walls = [], {}
    for width in widths:
        params = dataclasses.replace(MEASURED, stream_width=width)
        measured, wall = measure(params, list(tokens), out, not model_only)
        rows += measured
        walls[width] = wall
        base3 = dataclasses.replace(params, weight_format="base3")
        rows += measure(base3, list(tokens), out, False)[0]
    rows.sort(key=lambda r: (r["format"], r["tokens"], r["stream_width"]))
    print(table(rows))
    result = {"layer": {"k": LAYER[0], "n": LAYER[1]}, "params": MEASURED.to_dict(),
              "unit_latency": unit_latency(MEASURED), "rtl_wall_s": walls, "points": rows,
              "environment": environment()}
    path = out / "accelerator.json"
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    if any(r.get("model_agrees") is False for r in rows):
        raise click.ClickException("the cycle model disagrees with the RTL counters")


if __name__ == "__main__":
    main()
