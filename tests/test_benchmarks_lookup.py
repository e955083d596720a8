"""benchmarks/lookup.py's fits: shared + rows * per_row per unit, and the crossover against the tree."""

import click
import pytest

from benchmarks.lookup import affine_fit, fits, parse_skip


def row(rows, unit, group, lut4):
    return {"rows": rows, "cols": 8, "unit": unit, "group": group, "ice40_lut4": lut4, "ice40_ff": None,
            "ecp5_lut4": None, "transistors": None, "pj_per_mac_ops": None, "pj_per_mac_activity": None}


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
