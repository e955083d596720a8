# amaranth: UnusedElaboratable=no
"""app.compare: the ternary-vs-int table."""

import pytest

from tritforge.app.compare import METRICS, compare, compared_designs, comparison_rows, to_markdown
from tritforge.spec.params import UnitParams


def _result(ternary, integer, errors=None):
    return {"rows": 2, "cols": 4, "reports": {"ternary": ternary, "int": integer},
            "errors": errors or {"ternary": {}, "int": {}}}


def test_rows_and_ratio():
    result = _result({"synth_generic": {"transistors": 1000, "derived": {"transistors_per_lane": 125.0}}},
                     {"synth_generic": {"transistors": 5000, "derived": {"transistors_per_lane": 625.0}}})
    rows = {row["metric"]: row for row in comparison_rows(result)}
    assert rows["transistors (CMOS estimate)"] == {"metric": "transistors (CMOS estimate)",
                                                   "ternary": 1000, "int": 5000, "ratio": 5.0}
    assert rows["transistors per lane"]["ratio"] == 5.0
    # A step that did not run leaves its rows empty, without a ratio.
    assert rows["ECP5 LUT4"] == {"metric": "ECP5 LUT4", "ternary": None, "int": None, "ratio": None}
    assert len(rows) == len(METRICS)


def test_zero_ternary_figure_has_no_ratio():
    result = _result({"synth_ice40": {"dsp": 0}}, {"synth_ice40": {"dsp": 8}})
    row = next(r for r in comparison_rows(result) if r["metric"] == "iCE40 DSP (SB_MAC16)")
    assert (row["ternary"], row["int"], row["ratio"]) == (0, 8, None)


def test_markdown_lists_failures():
    result = _result({"synth_generic": {"transistors": 1000}}, {"synth_generic": {"transistors": 2500}},
                     errors={"ternary": {"timing_ice40": "nextpnr exited ... ERROR: Unable to place"},
                             "int": {}})
    text = to_markdown(result)
    assert text.startswith("### 2 x 4 (8 lanes)\n")
    assert "| transistors (CMOS estimate) | 1,000 | 2,500 | 2.50x |" in text
    assert "- ternary `timing_ice40` failed: nextpnr exited ... ERROR: Unable to place" in text


def test_lookup_column():
    result = _result({"synth_ice40": {"logic_luts": 100}}, {"synth_ice40": {"logic_luts": 300}})
    result["reports"]["lookup"] = {"synth_ice40": {"logic_luts": 150}}
    result["errors"]["lookup"] = {}
    row = next(r for r in comparison_rows(result) if r["metric"] == "iCE40 LUT4 with DSP")
    assert (row["lookup"], row["lookup_ratio"], row["ratio"]) == (150, 1.5, 3.0)
    text = to_markdown(result)
    assert "| metric | ternary | lookup | int8 | lookup / ternary | int8 / ternary |" in text
    assert "| iCE40 LUT4 with DSP | 100 | 150 | 300 | 1.50x | 3.00x |" in text


def test_compared_designs():
    assert list(compared_designs(2, 4)) == ["ternary", "int"]
    designs = compared_designs(2, 4, group=3)
    assert list(designs) == ["ternary", "lookup", "int"]
    assert designs["lookup"] == UnitParams(kind="lookup", rows=2, cols=4, group=3)


@pytest.mark.synth
def test_compare_small_units(tmp_path):
    result = compare(1, 4, steps=("synth_ice40", "synth_ice40_nodsp", "energy", "timing_ice40"),
                     out_dir=tmp_path, cache_dir=tmp_path / "cache")
    rows = {row["metric"]: row for row in comparison_rows(result)}
    assert rows["iCE40 DSP (SB_MAC16)"]["ternary"] == 0 < rows["iCE40 DSP (SB_MAC16)"]["int"]
    assert rows["iCE40 LUT4 per lane, no DSP"]["ratio"] > 2
    assert rows["pJ/MAC, op counts, unit (45 nm)"]["ratio"] > 2
    assert rows["Fmax iCE40 UP5K (MHz)"]["ternary"] > 0
    assert result["errors"] == {"ternary": {}, "int": {}}


@pytest.mark.slow
@pytest.mark.synth
def test_compare_8x32_area_and_energy(tmp_path):
    result = compare(8, 32, steps=("synth_generic", "synth_ecp5", "energy"), out_dir=tmp_path)
    rows = {row["metric"]: row for row in comparison_rows(result)}
    assert rows["transistors per lane"]["ratio"] > 4
    assert rows["ECP5 DSP (MULT18X18D)"]["ternary"] == 0
    assert rows["ECP5 DSP (MULT18X18D)"]["int"] == 8 * 32
