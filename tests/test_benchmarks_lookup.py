"""benchmarks/lookup.py's fits: shared + rows * per_row per unit, and the crossover against the tree."""

import click
import pytest

from benchmarks.lookup import COLUMNS, affine_fit, fits, load_table, markdown, merge_tables, parse_skip


def row(rows, unit, group, lut4):
    """A table row of benchmarks/lookup.py with only the iCE40 LUT4 measured."""
    return {"rows": rows, "cols": 8, "unit": unit, "group": group, **{column: None for column, _, _ in COLUMNS},
            "ice40_lut4": lut4, "failed": None}


def test_affine_fit_recovers_a_line_and_reports_its_worst_residual():
    shared, per_row, residual = affine_fit([(4, 1000 + 4 * 150), (16, 1000 + 16 * 150), (64, 1000 + 64 * 150)])
    assert shared == pytest.approx(1000) and per_row == pytest.approx(150) and residual < 1e-12
    assert affine_fit([(1, 10), (2, 20), (3, 40)])[2] > 0.05


def test_crossover_is_where_a_cheaper_row_pays_for_the_shared_tables():
    # lookup: 800 shared + 100 per row; tree: 0 + 150 per row -> equal at 16 rows.
    table = [row(r, "ternary", None, 150 * r) for r in (4, 64)] + [row(r, "lookup", 2, 800 + 100 * r) for r in (4, 64)]
    by_unit = {(fit["unit"], fit["group"]): fit for fit in fits(table, cols=8)}
    assert by_unit[("lookup", 2)]["crossover_rows"] == pytest.approx(16)
    assert "crossover_rows" not in by_unit[("ternary", None)]


def test_no_crossover_when_the_lookup_row_costs_more():
    table = [row(r, "ternary", None, 150 * r) for r in (4, 16)] + [row(r, "lookup", 3, 800 + 200 * r) for r in (4, 16)]
    lookup = [fit for fit in fits(table, cols=8) if fit["unit"] == "lookup"]
    assert lookup[0]["crossover_rows"] is None


def test_energy_is_fitted_per_chunk():
    table = [dict(row(r, "ternary", None, None), pj_per_mac_ops=(2.0 + 0.5 * r) / (r * 8)) for r in (2, 4, 8)]
    (fit,) = fits(table, cols=8)
    assert fit["figure"] == "pJ/chunk ops"
    assert (fit["shared"], fit["per_row"]) == (pytest.approx(2.0), pytest.approx(0.5))


def test_skip_takes_rows_colon_group_and_refuses_anything_else():
    assert parse_skip(None, None, ("64:5", "64:4")) == {(64, 5), (64, 4)}
    with pytest.raises(click.BadParameter, match="ROWS:G"):
        parse_skip(None, None, ("64-5",))


def test_merge_fills_missing_figures_and_keeps_every_failure_once():
    first = [dict(row(4, "lookup", 2, 7312), failed="timing_ice40: does not fit")]
    second = [dict(row(4, "lookup", 2, 9999), ecp5_lut4=7195, failed="timing_ice40: does not fit"),
              dict(row(16, "ternary", None, 19228), failed=None)]
    merged = {(r["rows"], r["unit"]): r for r in merge_tables([first, second])}
    assert merged[(4, "lookup")]["ice40_lut4"] == 7312          # the first table's figure wins
    assert merged[(4, "lookup")]["ecp5_lut4"] == 7195           # a missing one comes from the next
    assert merged[(4, "lookup")]["failed"] == "timing_ice40: does not fit"
    assert merged[(16, "ternary")]["ice40_lut4"] == 19228


def test_load_table_refuses_a_file_that_is_not_a_lookup_result(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"environment": {}}')
    with pytest.raises(click.BadParameter, match="not a lookup.json"):
        load_table(path)


def test_markdown_table_names_every_column_and_lists_failures():
    table = [dict(row(4, "lookup", 2, 7312), failed="timing_ice40: does not fit")]
    text = markdown(table)
    header, rule, line = text.splitlines()[:3]
    assert header.count("|") == rule.count("|") == line.count("|") == len(COLUMNS) + 3
    assert "| 4 x 8 | lookup g=2 | 7,312 | - |" in line
    assert "- 4 x 8 lookup 2: timing_ice40: does not fit" in text
