"""The design commands: ``tritforge generate``, ``synth``, ``energy`` and ``compare``.

A design comes from ``--config FILE`` (JSON or TOML, the fields of
:class:`~tritforge.spec.params.UnitParams` or :class:`~tritforge.spec.params.AcceleratorParams`
with ``kind``, in TOML optionally under ``[design]``) and/or inline options, which override
the file. The inline options are made from the parameter classes' fields
(:func:`design_options`): a new parameter is added in one place, its help and default come
with it. ``synth`` and ``energy`` print a table, write ``<out>/<name>/<command>.json`` and
``.csv`` plus one JSON report per flow step, and show a progress bar while tools run.
"""

import csv
import dataclasses
import io
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..flows.boards import BOARDS, DEFAULT_BAUD, PORTABLE_CLOCK_MHZ, BoardDesign
from ..flows.energy import TABLES
from ..flows.flow import FlowConfig, check_flow, run_flow
from ..flows.generate import generate
from ..flows.synth import TARGETS
from ..flows.timing import CARRY_IN, DEVICES
from ..spec.errors import ParameterError
from ..spec.io import check_writable_folder, write_json, write_text_atomic
from ..spec.params import (DESIGN_KINDS, UNIT_KINDS, AcceleratorParams, UnitParams,
                           design_from_dict, load_design)
from .compare import DEFAULT_STEPS, compare, compared_designs, to_markdown

__all__ = ["design_options", "design_from_options", "output_options", "write_csv", "print_table", "generate_command",
           "synth_command", "energy_command", "compare_command"]

#: Designs every design command can build.
_ALL_DESIGNS = (UnitParams, AcceleratorParams)


def _design_fields(classes):
    """Every field of the parameter ``classes`` by name (the first class's field wins; shared
    fields have the same default, which a test checks)."""
    fields = {}
    for cls in classes:
        for field in dataclasses.fields(cls):
            fields.setdefault(field.name, field)
    return fields


def _option_for(field, classes, extra_kinds=()):
    choices = field.metadata.get("choices")
    if field.name == "kind":
        choices = (*(DESIGN_KINDS if AcceleratorParams in classes else UNIT_KINDS), *extra_kinds)
    kind = click.Choice(choices) if choices else (int if field.type is int else str)
    default = "" if field.default is None else f" [default: {field.default}]"
    return click.option(f"--{field.name.replace('_', '-')}", field.name, type=kind, default=None,
                        help=f"{field.metadata['help']}{default}")


def design_options(classes=_ALL_DESIGNS, extra_kinds=()):
    """Add ``--config`` and one option per parameter of ``classes`` to a click command; the
    command receives ``config_path`` and the parameters (None where not given). ``--kind``
    offers the kinds of ``classes`` and ``extra_kinds``."""
    def decorate(command):
        for field in reversed(list(_design_fields(classes).values())):
            command = _option_for(field, classes, extra_kinds)(command)
        return click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                            help="Design parameters: a .json or .toml file (options override it)."
                            )(command)
    return decorate


def design_from_options(config_path, options, classes=_ALL_DESIGNS):
    """The design of a ``--config`` file updated by the inline options given."""
    fields = load_design(config_path).to_dict() if config_path is not None else {}
    fields.update({name: value for name, value in options.items() if value is not None})
    design = design_from_dict(fields)
    if not isinstance(design, classes):
        raise ParameterError(f"this command builds {' or '.join(c.__name__ for c in classes)}, "
                             f"not kind {design.kind!r}")
    return design


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


def write_csv(path, rows):
    """``rows`` (dicts with the same keys) as a CSV file."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(path, text.getvalue())


def _write_outputs(out_dir, stem, rows, payload):
    """``<out>/<stem>.json`` (``payload``) and ``<out>/<stem>.csv`` (``rows``: dicts)."""
    return (write_json(Path(out_dir) / f"{stem}.json", payload, sort_keys=True),
            write_csv(Path(out_dir) / f"{stem}.csv", rows))


def print_table(title, rows):
    table = Table(title=escape(title))
    # Piped output has no terminal width: give the table room rather than cut its headers.
    console = Console() if sys.stdout.isatty() else Console(width=160)
    for column in rows[0]:
        # Text columns (names, signals) read better from the left, numbers from the right.
        text = any(isinstance(row[column], str) for row in rows)
        table.add_column(column, justify="left" if text else "right")
    for row in rows:
        table.add_row(*(escape(_format(value)) for value in row.values()))
    console.print(table)


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


@click.command("generate")
@design_options(extra_kinds=("board",))
@click.option("--board", type=click.Choice(sorted(BOARDS)), default=None,
              help="--kind board: the board whose weight store and clock to use [default: none, the "
                   "portable top with a generic memory store].")
@click.option("--clock", "clock_mhz", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"--kind board: the clock of `clk` in MHz [default: the board's, {PORTABLE_CLOCK_MHZ:g} "
                   "when portable].")
@click.option("--baud", type=click.IntRange(min=1), default=None,
              help=f"--kind board: UART baud rate of the host link [default: {DEFAULT_BAUD}].")
@click.option("--store-depth", type=click.IntRange(min=1), default=None,
              help="--kind board, portable: weight store words [default: 32768].")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="build/generated",
              show_default=True, help="Output folder.")
def generate_command(config_path, board, clock_mhz, baud, store_depth, out_dir, **options):
    """Generate a matrix unit, the accelerator top or the board top (the accelerator behind
    its UART link) as IP: the Verilog, a JSON manifest (the complete contract: ports, fields,
    encodings, timing, reset, protocol, link), a C header, a SystemVerilog wrapper with one
    port per field (units) and a FuseSoC core file."""
    board_options = {"--board": board, "--clock": clock_mhz, "--baud": baud, "--store-depth": store_depth}
    if options["kind"] == "board":
        options["kind"] = "accelerator"
        design = BoardDesign(design_from_options(config_path, options, (AcceleratorParams,)), board,
                             clock_mhz, DEFAULT_BAUD if baud is None else baud, store_depth)
    else:
        given = [name for name, value in board_options.items() if value is not None]
        if given:
            raise ParameterError(f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to --kind board only")
        design = design_from_options(config_path, options)
    result = generate(design, check_writable_folder(out_dir))
    for path in result["paths"].values():
        click.echo(path)


def synth_rows(state):
    """One table row per synthesis or timing report of a flow."""
    rows = []
    for step, report in state.reports.items():
        derived = report.get("derived", {})
        luts = None if report.get("target") == "generic" else report.get("logic_luts")
        paths = [clock["critical_path"] for clock in report.get("clocks", [])
                 if clock["critical_path"]]
        rows.append({
            "step": step, "lut4": luts, "ff": report.get("ff"), "dsp": report.get("dsp"),
            "bram": report.get("bram"), "transistors": report.get("transistors"),
            "lut4/lane": derived.get("logic_luts_per_lane"),
            "tr/lane": derived.get("transistors_per_lane"),
            "fmax": report.get("fmax_mhz"),
            "levels": max((path["levels"] for path in paths), default=None),
            "cached": report.get("cached"),
        })
    return rows


def block_rows(report):
    """Area of each block under the top (sorted by LUT4), the top's own logic and the
    total, for a synthesis report with ``blocks``."""
    blocks = report["blocks"]
    total = blocks[""]["total"]

    def row(name, figures):
        share = 100 * figures["logic_luts"] / total["logic_luts"] if total["logic_luts"] else None
        return {"block": name, "lut4": figures["logic_luts"], "lut4 %": share, "ff": figures["ff"],
                "bram": figures["bram"], "lutram": figures["lutram"], "carry": figures["carry"],
                "dsp": figures["dsp"]}
    children = sorted((name for name in blocks if name and "." not in name),
                      key=lambda name: (-blocks[name]["total"]["logic_luts"], name))
    return ([row(name, blocks[name]["total"]) for name in children]
            + [row("(top level)", blocks[""]["own"]), row("total", total)])


def path_rows(path):
    """A critical path as table rows: one per cell (with the routing into it and the signal
    routed), a run of carry steps in one row."""
    rows, route, signal, source = [], 0.0, None, None
    for segment in path["segments"]:
        if segment["type"] == "routing":
            route, signal, source = segment["delay_ns"], segment["signal"], segment["source"]
            continue
        carry = segment["type"] == "logic" and segment["from_port"] in CARRY_IN
        if carry and rows and rows[-1]["carry"]:
            last = rows[-1]
            last.update(ns=segment["arrival_ns"], route=last["route"] + route,
                        cell=last["cell"] + segment["delay_ns"], steps=last["steps"] + 1)
        else:
            point = {"clk-to-q": path["start"], "setup": path["end"]}.get(segment["type"])
            rows.append({"ns": segment["arrival_ns"], "route": route, "cell": segment["delay_ns"],
                         "segment": segment, "carry": carry, "steps": 1,
                         "signal": point["signal"] if point else signal,
                         "block": point["block"] if point else segment["block"],
                         "source": (point or {}).get("source") or source or segment["source"]})
        route, signal, source = 0.0, None, None
    return [{"ns": row["ns"], "+route": round(row["route"], 3), "+cell": round(row["cell"], 3),
             "step": _step_name(row), "signal": row["signal"], "block": row["block"],
             "source": row["source"]} for row in rows]


def _step_name(row):
    segment = row["segment"]
    kind = segment["cell_type"] or "cell"
    if segment["type"] == "clk-to-q":
        return f"start: {kind} clock->{segment['to_port']}"
    if segment["type"] == "setup":
        return f"end: {kind} {segment['to_port']} setup"
    if row["carry"]:
        return f"carry chain x{row['steps']}"
    return f"{kind} {segment['from_port']}->{segment['to_port']}"


def _print_timing(step, report):
    """Print the critical path and the worst endpoints of each clock of a timing report;
    return the path rows (with the step and the clock) for the CSV."""
    rows = []
    for clock in report["clocks"]:
        path = clock["critical_path"]
        if path is not None:
            start, end = path["start"], path["end"]
            title = (f"{step}, clock {clock['clock']}: {clock['fmax_mhz']} MHz; critical path "
                     f"{path['delay_ns']} ns ({path['logic_ns']} logic, "
                     f"{path['routing_ns']} routing), "
                     f"{path['levels']} levels ({path['carry_levels']} carry)\n"
                     f"from {start['signal'] or start['register']} [{start['block']}] "
                     f"to {end['signal'] or end['register']} [{end['block']}]")
            print_table(title, path_rows(path))
            rows += [{"step": step, "clock": clock["clock"], **row} for row in path_rows(path)]
        if clock["worst_endpoints"]:
            print_table(f"{step}, clock {clock['clock']}: latest data arrival by register",
                         [{"register": entry["register"], "endpoints": entry["endpoints"],
                           "arrival ns": entry["arrival_ns"], "block": entry["block"],
                           "source": entry["source"]} for entry in clock["worst_endpoints"]])
    return rows


@click.command("synth")
@design_options()
@click.option("--target", "targets", type=click.Choice(sorted(TARGETS)), multiple=True,
              default=("ice40",), show_default=True, help="Synthesis target (repeatable).")
@click.option("--timing/--no-timing", default=False, show_default=True,
              help="Also place and route on the FPGA targets (ice40, ecp5) for Fmax.")
@click.option("--clock-mhz", type=click.FloatRange(min=0, min_open=True), default=100.0,
              show_default=True, help="Clock constraint of place and route.")
@output_options("build/synth")
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
    print_table(f"{design.name} ({design.lanes} lanes)", rows)
    blocks, paths = [], []
    for step, report in state.reports.items():
        if report.get("blocks") and report["target"] != "generic":
            print_table(f"{step}: area by block", block_rows(report))
            blocks += [{"step": step, **row} for row in block_rows(report)]
        if report.get("clocks"):
            paths += _print_timing(step, report)
    written = _write_outputs(cfg.out_dir, "synth", rows, {"design": design.to_dict(),
                                                          "reports": state.reports})
    for stem, extra in (("blocks", blocks), ("critical_paths", paths)):
        if extra:
            written += (write_csv(cfg.out_dir / f"{stem}.csv", extra),)
    for path in written:
        click.echo(path)


def energy_rows(report):
    """One row per category: pJ per MAC, pJ per token, share of the total."""
    total = report["energy_pj"]["total"]
    return [{"category": category, "pj_per_mac": report["pj_per_mac"][category],
             "uj_per_token": report["pj_per_token"][category] / 1e6,
             "share": report["energy_pj"][category] / total}
            for category in report["energy_pj"]]


@click.command("energy")
@design_options()
@click.option("--workload", default="2048x2048xT1", show_default=True,
              help="OUTxIN[xT<tokens>] (one layer) or a model preset (2b4t, 700M, 1.3B, 3B, "
                   "tiny)[xT<tokens>].")
@click.option("--table", "energy_table", default="horowitz_45nm", show_default=True,
              help=f"Energy table: {', '.join(TABLES)}, or a JSON file.")
@click.option("--activity/--no-activity", default=False, show_default=True,
              help="Also estimate switching energy per MAC from an RTL simulation (units only).")
@click.option("--zero-share", type=click.FloatRange(0, 1), default=1 / 3, show_default=True,
              help="Share of zero weights in the switching-activity workload.")
@click.option("--cycles", type=click.IntRange(1), default=200, show_default=True,
              help="Cycles of the switching-activity simulation.")
@output_options("build/energy")
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
    print_table(f"{design.name}, {workload}, {report['table']['name']}: {report['macs']:.3g} MACs",
                 rows)
    for path in _write_outputs(cfg.out_dir, "energy", rows, {"design": design.to_dict(),
                                                             "reports": state.reports}):
        click.echo(path)


def _shape(text):
    rows, _, cols = text.partition("x")
    if not (rows.isdigit() and cols.isdigit() and int(rows) > 0 and int(cols) > 0):
        raise ParameterError(f"shape must be ROWSxCOLS with positive integers, e.g. 8x32, not {text!r}")
    return int(rows), int(cols)


@click.command("compare")
@click.argument("shapes", nargs=-1, required=True)
@click.option("--steps", default=",".join(DEFAULT_STEPS), show_default=True,
              help="Comma-separated flow steps.")
@click.option("--group", type=int, default=None,
              help="Also the lookup unit with this group (activations per table, 1..5).")
@output_options("build/compare")
def compare_command(shapes, steps, group, out_dir, no_cache, cache_dir):
    """The ternary unit against the INT8 baseline at each ROWSxCOLS shape (e.g. 8x32), as
    Markdown tables (how docs/comparison.md is made); with --group, the lookup unit too."""
    shapes, steps = [_shape(shape) for shape in shapes], tuple(steps.split(","))
    # Every shape, step, tool and folder checked before the first flow runs: compare() keeps
    # going past a failed step (a design that does not fit a device is a result).
    for rows, cols in shapes:
        for design in compared_designs(rows, cols, group).values():
            check_flow(FlowConfig(design, steps=steps, out_dir=out_dir, cache_dir=cache_dir))
    for rows, cols in shapes:
        result = compare(rows, cols, steps=steps, out_dir=out_dir, cache_dir=cache_dir, no_cache=no_cache,
                         group=group)
        click.echo(to_markdown(result))
