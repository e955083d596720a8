# amaranth: UnusedElaboratable=no
"""app.commands: ``tritforge synth``, ``energy`` and ``compare``, and the options made from
the parameter classes."""

import csv
import json
import re

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.flows import timing


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_options_come_from_the_parameter_classes():
    result = _run("synth", "--help")
    for option in ("--kind [ternary|int|accelerator]", "--rows INTEGER", "--weight-bits INTEGER",
                   "--weight-format [2bit|base3]", "--stream-width INTEGER", "--max-tokens"):
        assert option in result.output, option
    assert "[default: 4096]" in result.output
    generate_help = _run("generate", "--help").output
    assert "--kind [ternary|int]" in generate_help and "--weight-depth" not in generate_help


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
    assert json.loads((folder / "synth.json").read_text())["design"]["cols"] == 4


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
