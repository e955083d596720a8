# amaranth: UnusedElaboratable=no
"""app.commands: ``tritforge synth``, ``energy`` and ``compare``, and the options made from
the parameter classes."""

import csv
import json
import re

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.app.commands import block_rows, path_rows
from tritforge.flows import timing


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_options_come_from_the_parameter_classes():
    result = _run("synth", "--help")
    for option in ("--kind [ternary|lookup|int|accelerator]", "--rows INTEGER", "--weight-bits INTEGER",
                   "--weight-format [2bit|base3]", "--stream-width INTEGER", "--max-tokens",
                   "--group INTEGER", "--unit-kind [ternary|lookup]"):
        assert option in result.output, option
    assert "[default: 4096]" in result.output
    generate_help = _run("generate", "--help").output
    assert "--kind [ternary|lookup|int|accelerator|board]" in generate_help and "--weight-depth" in generate_help
    assert "--board [icebreaker|ulx3s-85f]" in generate_help and "--baud INTEGER RANGE" in generate_help


def test_energy_inline_options(tmp_path):
    result = _run("energy", "--rows", "2", "--cols", "8", "--workload", "tiny",
                  "--table", "bitnet_7nm", "-o", str(tmp_path), "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "ternary_r2_c8_a8_k4096_p1"
    rows = list(csv.DictReader(open(folder / "energy.csv")))
    assert [row["category"] for row in rows] == ["arithmetic", "registers", "onchip_memory",
                                                 "offchip", "total"]
    report = json.loads((folder / "energy.json").read_text())["reports"]["energy"]
    assert report["table"]["name"] == "bitnet_7nm" and report["layers"] == 2 * 7
    assert "offchip" in result.output


@pytest.mark.parametrize("args, folder", [
    (["--kind", "lookup", "--group", "3"], "lookup_g3_r2_c8_a8_k4096_p1"),
    (["--kind", "accelerator", "--unit-kind", "lookup", "--group", "5", "--weight-format", "base3"],
     "accelerator_lookup_g5_r2_c8_a8_k4096_p1_base3_wd64_ad64_t16_s32_n32")])
def test_energy_of_the_lookup_unit(tmp_path, args, folder):
    result = _run("energy", "--rows", "2", "--cols", "8", *args, "-o", str(tmp_path),
                  "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / folder / "energy.json").read_text())["design"]["group"] in (3, 5)


def test_group_on_another_unit_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["energy", "--group", "3", "-o", str(tmp_path)])
    assert (result.exit_code, result.output) == (2, "error: group applies to the lookup unit only, not to 'ternary'\n")


def test_config_file_with_override(tmp_path):
    config = tmp_path / "unit.toml"
    config.write_text('[design]\nkind = "int"\nrows = 4\ncols = 8\n')
    result = _run("energy", "--config", str(config), "--rows", "2", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "int_r2_c8_a8_w8_k4096_p1" / "energy.json").exists()


def test_bad_workload_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["energy", "--workload", "big", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: workload must be OUTxIN[xT<tokens>] or a model preset")
    assert len(result.output.splitlines()) == 1


def test_accelerator_option_on_a_unit_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ["energy", "--weight-depth", "8", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown parameter 'weight_depth' for kind ternary;")


def test_compare_shape_wrong():
    result = CliRunner().invoke(cli, ["compare", "8by32"])
    assert result.exit_code == 2
    assert result.output == "error: shape must be ROWSxCOLS with positive integers, e.g. 8x32, not '8by32'\n"


@pytest.mark.synth
def test_synth_writes_json_and_csv(tmp_path):
    result = _run("synth", "--rows", "1", "--cols", "4", "--target", "ice40", "--timing",
                  "--clock-mhz", "20", "-o", str(tmp_path), "--cache-dir", str(tmp_path / "cache"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "ternary_r1_c4_a8_k4096_p1"
    rows = {row["step"]: row for row in csv.DictReader(open(folder / "synth.csv"))}
    assert set(rows) == {"synth_ice40", "timing_ice40"}
    assert rows["synth_ice40"]["dsp"] == "0" and float(rows["timing_ice40"]["fmax"]) > 0
    assert int(rows["timing_ice40"]["levels"]) >= 1
    reports = json.loads((folder / "synth.json").read_text())["reports"]
    assert json.loads((folder / "synth.json").read_text())["design"]["cols"] == 4
    # Area by block: the unit's one row and its own logic add up to the flat figures.
    blocks = list(csv.DictReader(open(folder / "blocks.csv")))
    assert [row["block"] for row in blocks] == ["row0", "(top level)", "total"]
    assert int(blocks[-1]["lut4"]) == int(rows["synth_ice40"]["lut4"])
    assert int(blocks[-1]["lut4"]) == reports["synth_ice40"]["logic_luts"]
    assert int(blocks[0]["lut4"]) + int(blocks[1]["lut4"]) == int(blocks[-1]["lut4"])
    # The critical path, from its start register to its end, as in the JSON report.
    path = list(csv.DictReader(open(folder / "critical_paths.csv")))
    clock = reports["timing_ice40"]["clocks"][0]
    assert path[0]["step"].startswith("start:") and path[-1]["step"].startswith("end:")
    assert float(path[-1]["ns"]) == clock["critical_path"]["delay_ns"]
    assert "area by block" in result.output and "critical path" in result.output
    assert "latest data arrival by register" in result.output


# An excerpt of a real critical path report (iCE40 UP5K, the 2 x 8 unit): a LUT, the LUT
# entering a carry chain, three carry steps, a LUT, the capturing register. A segment:
# type, delay, arrival, from and to pin, cell type, signal, block, source.
_DOT, _UNIT = "hdl/ternary_dot.py:130", "hdl/matrix_unit.py:307"
_SEGMENTS = [
    ("clk-to-q", 1.39, 1.39, "O", "O", "SB_DFFE", None, "row0", _DOT),
    ("routing", 1.761, 3.151, "O", "I3", "SB_LUT4", "row0.stage3$34", "row0", _DOT),
    ("logic", 0.874, 4.025, "I3", "O", "SB_LUT4", None, "row0", None),
    ("routing", 1.761, 5.786, "O", "I2", "SB_LUT4", None, "(top)", None),
    ("logic", 0.609, 6.395, "I2", "COUT", "SB_LUT4", None, "(top)", None),
    ("routing", 0.0, 6.395, "COUT", "CIN", "SB_LUT4", None, "(top)", None),
    ("logic", 0.278, 6.673, "CIN", "COUT", "SB_LUT4", None, "(top)", None),
    ("routing", 0.556, 7.229, "COUT", "CIN", "SB_LUT4", None, "(top)", None),
    ("logic", 0.278, 7.507, "CIN", "COUT", "SB_LUT4", None, "(top)", None),
    ("routing", 0.0, 7.507, "COUT", "CIN", "SB_LUT4", None, "(top)", None),
    ("logic", 0.278, 7.785, "CIN", "COUT", "SB_LUT4", None, "(top)", None),
    ("routing", 0.662, 8.447, "COUT", "I3", "SB_LUT4", None, "(top)", None),
    ("logic", 0.874, 9.321, "I3", "O", "SB_LUT4", None, "(top)", None),
    ("routing", 0.544, 9.865, "O", "I0", "SB_DFF", "acc0_next[14]", "(harness)", _UNIT),
    ("setup", 1.234, 11.099, "I0", "I0", "SB_DFF", None, "(harness)", "flows/timing.py:131"),
]
_FIELDS = ("type", "delay_ns", "arrival_ns", "from_port", "to_port", "cell_type", "signal", "block",
           "source")
_PATH = {
    "delay_ns": 11.099, "segments": [dict(zip(_FIELDS, segment)) for segment in _SEGMENTS],
    "start": {"signal": "row0.stage3$34", "block": "row0", "source": _DOT},
    "end": {"signal": "acc0_next[14]", "block": "(output)", "source": _UNIT},
}


def test_path_rows():
    rows = path_rows(_PATH)
    assert [row["step"] for row in rows] == [
        "start: SB_DFFE clock->O", "SB_LUT4 I3->O", "SB_LUT4 I2->COUT", "carry chain x3",
        "SB_LUT4 I3->O", "end: SB_DFF I0 setup"]
    # One row per cell: the routing into it plus the cell; the carry steps add up.
    assert [row["ns"] for row in rows] == [1.39, 4.025, 6.395, 7.785, 9.321, 11.099]
    assert (rows[3]["+route"], rows[3]["+cell"]) == (0.556, 0.834)
    assert sum(row["+route"] + row["+cell"] for row in rows) == pytest.approx(_PATH["delay_ns"])
    # The signal routed into each cell; the registers at both ends.
    assert [row["signal"] for row in rows] == ["row0.stage3$34", "row0.stage3$34", None, None, None,
                                               "acc0_next[14]"]
    assert (rows[0]["block"], rows[-1]["block"]) == ("row0", "(output)")


def test_block_rows():
    figures = {"lut4": 0, "logic_luts": 0, "carry": 0, "ff": 0, "dsp": 0, "bram": 0, "lutram": 0}

    def block(own, total):
        return {"own": dict(figures, logic_luts=own), "total": dict(figures, logic_luts=total)}
    report = {"blocks": {"": block(10, 100), "small": block(20, 20), "big": block(30, 70),
                         "big.inner": block(40, 40)}}
    rows = block_rows(report)
    assert [(row["block"], row["lut4"], row["lut4 %"]) for row in rows] == [
        ("big", 70, 70.0), ("small", 20, 20.0), ("(top level)", 10, 10.0), ("total", 100, 100.0)]


@pytest.mark.synth
def test_failed_tool_shows_its_log(tmp_path, monkeypatch):
    # A P&R tool that fails: the message names it, quotes its last lines and gives the log path.
    tool = tmp_path / "fake-nextpnr"
    tool.write_text("#!/bin/sh\necho 'Info: placing' >&2\necho 'ERROR: no BELs left' >&2\nexit 3\n")
    tool.chmod(0o755)
    monkeypatch.setattr(timing, "yowasp_tool", lambda name: str(tool))
    result = CliRunner().invoke(cli, ["synth", "--rows", "1", "--cols", "2", "--target", "ecp5",
                                      "--timing", "-o", str(tmp_path), "--no-cache",
                                      "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 2
    assert re.match(r"^error: fake-nextpnr exited with code 3; last lines of \S*/timing_ecp5/nextpnr\.log:\n"
                    r"Info: placing\nERROR: no BELs left\n$", result.output), result.output
