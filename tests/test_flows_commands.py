# amaranth: UnusedElaboratable=no
"""flows.commands: ``tritforge synth`` and ``tritforge energy``."""

import csv
import json
import re

import pytest
from click.testing import CliRunner

from tritforge.flows import timing
from tritforge.flows.commands import energy_command, synth_command


def _run(command, args):
    return CliRunner().invoke(command, args, catch_exceptions=False)


def test_energy_inline_options(tmp_path):
    result = _run(energy_command, ["--rows", "2", "--cols", "8", "--workload", "tiny",
                                   "--table", "bitnet_7nm", "-o", str(tmp_path),
                                   "--cache-dir", str(tmp_path / "cache")])
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
    result = _run(energy_command, ["--config", str(config), "--rows", "2", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "int_r2_c8_a8_w8_k4096_p1" / "energy.json").exists()


def test_bad_workload_is_one_line(tmp_path):
    result = CliRunner().invoke(energy_command, ["--workload", "big", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: workload must be OUTxIN[xT<tokens>] or a model preset")


@pytest.mark.synth
def test_synth_writes_json_and_csv(tmp_path):
    result = _run(synth_command, ["--rows", "1", "--cols", "4", "--target", "ice40", "--timing",
                                  "--clock-mhz", "20", "-o", str(tmp_path),
                                  "--cache-dir", str(tmp_path / "cache")])
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
    result = CliRunner().invoke(synth_command, ["--rows", "1", "--cols", "2", "--target", "ecp5",
                                                "--timing", "-o", str(tmp_path), "--no-cache",
                                                "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 1
    assert re.match(r"^Error: fake-nextpnr exited with code 3; last lines of \S*/timing_ecp5/nextpnr\.log:\n"
                    r"Info: placing\nERROR: no BELs left\n$", result.output), result.output
