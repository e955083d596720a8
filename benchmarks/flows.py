"""Estimation-flow benchmarks: energy figures, the zero-weight sweep, the calibration, the cache.

    python -m benchmarks.flows                  # energy tables, zero sweep, cache speed
    python -m benchmarks.flows --calibrate      # + refit the switching model's C per transistor
    python -m benchmarks.flows --compare 8x32   # + the ternary-vs-int table (slow: minutes)

Each part prints a table and writes JSON to ``build/bench/`` (``--out``): ``flows_energy.json``,
``flows_zero_sweep.json``, ``flows_cache.json``, ``flows_calibration.json``,
``flows_compare_<shape>.json``.
"""

import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import click

from tritforge.app.compare import compare, to_markdown
from tritforge.flows.activity import adder_energy
from tritforge.flows.energy import (TABLES, HardwareModel, load_table, paper_ratio, parse_workload,
                                    workload_energy)
from tritforge.flows.flow import FlowConfig, run_flow
from tritforge.flows.switching import SWITCHING_45NM
from tritforge.spec.params import AcceleratorParams, UnitParams

ZERO_SHARES = (0.0, 0.25, 0.5, 0.75, 0.9)


def _write(out, name, payload):
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(payload, indent=2) + "\n")


def energy_tables(out):
    """Paper ratio per table; op-count pJ/MAC of 8x32 units; 2B4T energy per token."""
    params = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=512, act_depth=64,
                               max_tokens=64)
    layers, _ = parse_workload("2b4t")
    results = {}
    print(f"{'table':<15} {'paper ratio':>11} {'kind':<8} {'tokens':>6} "
          f"{'arith':>7} {'regs':>7} {'on-chip':>8} {'off-chip':>9} {'pJ/MAC':>8} {'mJ/token':>9}")
    for name in TABLES:
        table = load_table(name)
        ratio = paper_ratio(table, layers)
        for kind in ("ternary", "int"):
            model = HardwareModel.for_accelerator(params, kind=kind)
            for tokens in (1, 64):
                report = workload_energy(model, layers, table, tokens=tokens)
                per_mac = report["pj_per_mac"]
                results[f"{name}/{kind}/T{tokens}"] = {"paper_ratio": ratio, **report, "layers": None}
                print(f"{name:<15} {ratio:>11.1f} {kind:<8} {tokens:>6} {per_mac['arithmetic']:>7.3f} "
                      f"{per_mac['registers']:>7.3f} {per_mac['onchip_memory']:>8.3f} "
                      f"{per_mac['offchip']:>9.2f} {per_mac['total']:>8.2f} "
                      f"{report['pj_per_token']['total'] / 1e9:>9.3f}")
    _write(out, "flows_energy.json", results)


def zero_sweep(out, cycles=200):
    """Switching energy per MAC of 2x8 units against the share of zero weights."""
    results = []
    print(f"{'kind':<8} {'zeros':>5} {'pJ/MAC':>7} {'logic':>7} {'ff':>7} {'clock':>7} {'s':>5}")
    for kind in ("ternary", "int"):
        for share in ZERO_SHARES:
            cfg = FlowConfig(UnitParams(kind=kind, rows=2, cols=8), steps=("activity",),
                             out_dir=Path("build/flows/zero_sweep") / f"{kind}_{share}",
                             zero_share=share, activity_cycles=cycles)
            start = time.perf_counter()
            report = run_flow(cfg).reports["activity"]
            parts = report["pj_per_mac_by_part"]
            results.append({"kind": kind, "zero_share": share, "pj_per_mac": report["pj_per_mac"],
                            **{f"{part}_pj_per_mac": value for part, value in parts.items()}})
            print(f"{kind:<8} {share:>5.2f} {report['pj_per_mac']:>7.4f} {parts['logic']:>7.4f} "
                  f"{parts['ff']:>7.4f} {parts['clock']:>7.4f} {time.perf_counter() - start:>5.1f}")
    _write(out, "flows_zero_sweep.json", results)


def cache_speed(out):
    """Cold and warm flow (rtl digest, ice40 synthesis) of a 4x16 unit in a fresh cache."""
    folder = Path(tempfile.mkdtemp(prefix="flows-cache-"))
    try:
        cfg = FlowConfig(UnitParams(rows=4, cols=16), steps=("synth_ice40",),
                         out_dir=folder / "out", cache_dir=folder / "cache")
        times = []
        for _ in range(2):
            start = time.perf_counter()
            run_flow(cfg)
            times.append(time.perf_counter() - start)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"4x16 synth_ice40: cold {times[0]:.2f} s, cached {times[1] * 1000:.1f} ms")
    _write(out, "flows_cache.json", {"cold_s": times[0], "cached_s": times[1]})


def refit_calibration(out):
    """Refit C per transistor so that an 8-bit add costs the 45 nm table's 0.03 pJ."""
    unit = dataclasses.replace(SWITCHING_45NM, c_per_transistor_ff=1.0)
    with tempfile.TemporaryDirectory() as folder:
        per_fF = adder_energy(folder, bits=8, cycles=2000, seed=1, model=unit)
    fitted = load_table("horowitz_45nm").add(8) / per_fF
    print(f"8-bit add: {per_fF:.4f} pJ per fF/transistor -> C_t = {fitted:.3f} fF "
          f"(shipped: {SWITCHING_45NM.c_per_transistor_ff} fF)")
    _write(out, "flows_calibration.json", {"pj_per_add_at_1fF": per_fF, "c_per_transistor_ff": fitted})


@click.command()
@click.option("--calibrate", is_flag=True, help="Also refit the switching model's C per transistor.")
@click.option("--compare", "shapes", multiple=True, metavar="ROWSxCOLS",
              help="Also the ternary-vs-int table of this shape (repeatable; minutes).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(calibrate, shapes, out):
    """Estimation-flow benchmarks: energy figures, the zero-weight sweep, the cache."""
    energy_tables(out)
    zero_sweep(out)
    cache_speed(out)
    if calibrate:
        refit_calibration(out)
    for shape in shapes:
        rows, cols = (int(part) for part in shape.split("x"))
        result = compare(rows, cols)
        print(to_markdown(result))
        _write(out, f"flows_compare_{shape}.json", result)


if __name__ == "__main__":
    main()
