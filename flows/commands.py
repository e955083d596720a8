"""Click commands of the estimation flows: ``tritforge synth`` and ``tritforge energy``.

Both take the design from ``--config FILE`` (JSON or TOML, the fields of
:class:`~tritforge.flows.flow.DesignConfig`, in TOML optionally under ``[design]``) and/or
inline options (``--kind``, ``--rows``, ...), which override the file. They print a table,
write ``<out>/<command>.json`` and ``<out>/<command>.csv`` plus one JSON report per flow
step, and show a progress bar while tools run. A failed tool ends the command with the
tool's own last log lines and the log's path.
"""

import csv
import dataclasses
import json
import sys
from pathlib import Path

import click

from .flow import KINDS, DesignConfig, FlowConfig, run_flow
from .synth import TARGETS
from .timing import DEVICES

__all__ = ["synth_command", "energy_command", "design_options", "design_from_options",
           "output_options"]

_DESIGN_OPTIONS = (
    ("kind", click.Choice(KINDS), "Matrix unit kind, or the whole accelerator."),
    ("rows", int, "Output rows M."),
    ("cols", int, "Lanes N per chunk."),
    ("act_bits", int, "Activation width."),
    ("max_k", int, "Longest dot product without overflow."),
    ("pipeline", int, "Tree levels per pipeline register (0: combinational trees)."),
    ("weight_bits", int, "Weight width of the int kind."),
    ("weight_depth", int, "Accelerator: tiles per weight bank."),
    ("act_depth", int, "Accelerator: chunks per activation bank."),
    ("max_tokens", int, "Accelerator: tokens per RUN."),
)


def design_options(command):
    """Add ``--config`` and one option per design parameter to a click command."""
    for name, kind, help_text in reversed(_DESIGN_OPTIONS):
        command = click.option(f"--{name.replace('_', '-')}", name, type=kind, default=None,
                               help=f"{help_text} Overrides --config.")(command)
    return click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                        default=None, help="Design parameters: a .json or .toml file.")(command)


def design_from_options(config_path, options):
    """The :class:`DesignConfig` of a ``--config`` file updated by the inline options given."""
    fields = {}
    if config_path is not None:
        fields = dataclasses.asdict(DesignConfig.from_file(config_path))
    fields.update({name: value for name, value in options.items() if value is not None})
    return DesignConfig.from_mapping(fields)


def output_options(default_out):
    """``-o/--out``, ``--no-cache`` and ``--cache-dir`` of a flow command."""
    def decorate(command):
        command = click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                               help="Cache folder [default: $TRITFORGE_CACHE or "
                                    "~/.cache/tritforge/flows].")(command)
        command = click.option("--no-cache", is_flag=True,
                               help="Run every tool again, ignoring cached results.")(command)
        return click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
                            default=default_out, show_default=True,
                            help="Output folder (reports, JSON, CSV).")(command)
    return decorate


def _run_with_progress(cfg):
    """Run the flow with a rich progress bar (one tick per step)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    # On stderr, and only on a terminal: piped output stays the table and the paths.
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(cfg.design.name, total=len(cfg.steps))

        def on_step(name, index, count, report):
            if report is None:
                progress.update(task, description=f"{cfg.design.name}: {name}")
            else:
                progress.advance(task)
        return run_flow(cfg, on_step=on_step)


def _write_outputs(out_dir, stem, rows, payload):
    """``<out>/<stem>.json`` (``payload``) and ``<out>/<stem>.csv`` (``rows``: dicts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    with open(out / f"{stem}.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out / f"{stem}.json", out / f"{stem}.csv"


def _print_table(title, rows):
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title)
    # Piped output has no terminal width: give the table room rather than cut its headers.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    for column in rows[0]:
        table.add_column(column, justify="left" if column in ("step", "metric", "category") else "right")
    for row in rows:
        table.add_row(*(_format(value) for value in row.values()))
    console.print(table)


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _tool_errors(function):
    """Show a failed tool's message (its last log lines and the log path) without a traceback."""
    import functools
    from .synth import SynthesisError

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (SynthesisError, ValueError, TypeError, OSError) as error:
            raise click.ClickException(str(error)) from None
    return wrapper


def synth_rows(state):
    """One table row per synthesis or timing report of a flow."""
    rows = []
    for step, report in state.reports.items():
        derived = report.get("derived", {})
        luts = None if report.get("target") == "generic" else report.get("logic_luts")
        rows.append({
            "step": step, "lut4": luts, "ff": report.get("ff"), "dsp": report.get("dsp"),
            "bram": report.get("bram"), "transistors": report.get("transistors"),
            "lut4/lane": derived.get("logic_luts_per_lane"),
            "tr/lane": derived.get("transistors_per_lane"),
            "fmax": report.get("fmax_mhz"), "cached": report.get("cached"),
        })
    return rows


@click.command("synth")
@design_options
@click.option("--target", "targets", type=click.Choice(sorted(TARGETS)), multiple=True,
              default=("ice40",), show_default=True, help="Synthesis target (repeatable).")
@click.option("--timing/--no-timing", default=False, show_default=True,
              help="Also place and route on the FPGA targets (ice40, ecp5) for Fmax.")
@click.option("--clock-mhz", type=float, default=100.0, show_default=True,
              help="Clock constraint of place and route.")
@output_options("build/synth")
@_tool_errors
def synth_command(config_path, targets, timing, clock_mhz, out_dir, no_cache, cache_dir, **options):
    """Synthesize a matrix unit or the accelerator: cells, LUT4s, DSPs, transistors, Fmax."""
    design = design_from_options(config_path, options)
    steps = [f"synth_{target.replace('-', '_')}" for target in targets]
    if timing:
        steps += [f"timing_{target}" for target in targets if target in DEVICES]
    cfg = FlowConfig(design, steps=tuple(steps), out_dir=Path(out_dir) / design.name,
                     cache_dir=cache_dir, no_cache=no_cache, clock_mhz=clock_mhz)
    state = _run_with_progress(cfg)
    rows = synth_rows(state)
    _print_table(f"{design.name} ({design.lanes} lanes)", rows)
    for path in _write_outputs(cfg.out_dir, "synth", rows, {"design": design.to_dict(),
                                                            "reports": state.reports}):
        click.echo(path)


def energy_rows(report):
    """One row per category: pJ per MAC, pJ per token, share of the total."""
    total = report["energy_pj"]["total"]
    return [{"category": category, "pj_per_mac": report["pj_per_mac"][category],
             "uj_per_token": report["pj_per_token"][category] / 1e6,
             "share": report["energy_pj"][category] / total}
            for category in (*report["energy_pj"],)]


@click.command("energy")
@design_options
@click.option("--workload", default="2048x2048xT1", show_default=True,
              help="OUTxIN[xT<tokens>] (one layer) or a model preset (2b4t, 700M, 1.3B, 3B, "
                   "tiny)[xT<tokens>].")
@click.option("--table", "energy_table", default="horowitz_45nm", show_default=True,
              help="Energy table: horowitz_45nm, bitnet_7nm, or a JSON file.")
@click.option("--activity/--no-activity", default=False, show_default=True,
              help="Also estimate switching energy per MAC from an RTL simulation (units only).")
@click.option("--zero-share", type=float, default=1 / 3, show_default=True,
              help="Share of zero weights in the switching-activity workload.")
@click.option("--cycles", type=int, default=200, show_default=True,
              help="Cycles of the switching-activity simulation.")
@output_options("build/energy")
@_tool_errors
def energy_command(config_path, workload, energy_table, activity, zero_share, cycles, out_dir,
                   no_cache, cache_dir, **options):
    """Energy per MAC and per token of a workload, split into arithmetic, registers, on-chip
    memory and off-chip traffic."""
    design = design_from_options(config_path, options)
    steps = ("energy", "activity") if activity else ("energy",)
    cfg = FlowConfig(design, steps=steps, out_dir=Path(out_dir) / design.name, cache_dir=cache_dir,
                     no_cache=no_cache, energy_table=energy_table, workload=workload,
                     zero_share=zero_share, activity_cycles=cycles)
    state = _run_with_progress(cfg)
    report = state.reports["energy"]
    rows = energy_rows(report)
    if activity:
        switching = state.reports["activity"]
        rows.append({"category": f"switching (unit, {zero_share:.0%} zeros)",
                     "pj_per_mac": switching["pj_per_mac"], "uj_per_token": None, "share": None})
    _print_table(f"{design.name}, {workload}, {report['table']['name']}: {report['macs']:.3g} MACs",
                 rows)
    for path in _write_outputs(cfg.out_dir, "energy", rows, {"design": design.to_dict(),
                                                             "reports": state.reports}):
        click.echo(path)
