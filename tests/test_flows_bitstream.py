"""tritforge bitstream: the iCEBreaker bitstream of the default design with timing met
(cached: the build runs once per design and tool versions, ~80 s; then a copy), the
ULX3S one, a missed clock, the programmer message, the command line."""

import json

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.flows import bitstream as flow
from tritforge.flows.bitstream import TimingNotMet, build_bitstream, program_command
from tritforge.flows.tools import ToolError
from tritforge.spec.errors import ParameterError
from tritforge.spec.params import AcceleratorParams


@pytest.mark.synth
def test_icebreaker_default_design_meets_timing(tmp_path):
    report = build_bitstream("icebreaker", AcceleratorParams(), out_dir=tmp_path)
    assert report["met"] and report["fmax_mhz"] >= report["clock_mhz"] == 30
    assert report["utilization"]["ICESTORM_SPRAM"]["used"] == 4
    assert report["utilization"]["ICESTORM_LC"]["used"] <= 5280
    bitstream = tmp_path / "tritforge_board.bin"
    assert bitstream.stat().st_size > 100_000 and report["bitstream"] == str(bitstream)
    assert json.loads((tmp_path / "report.json").read_text())["fmax_mhz"] == report["fmax_mhz"]
    again = build_bitstream("icebreaker", AcceleratorParams(), out_dir=tmp_path / "again")
    assert again["cached"] and (tmp_path / "again" / "tritforge_board.bin").read_bytes() == bitstream.read_bytes()
    # The command line: the same build (cached), its table and the bitstream's path.
    result = CliRunner().invoke(cli, ["bitstream", "--board", "icebreaker", "-o", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "achieved: met" in result.output and "tokens/s at this baud rate" in result.output
    assert result.output.strip().endswith(str(tmp_path / "cli" / "icebreaker" / "tritforge_board.bin"))


@pytest.mark.synth
@pytest.mark.slow
def test_ulx3s_default_design_meets_timing(tmp_path):
    report = build_bitstream("ulx3s-85f", AcceleratorParams(), out_dir=tmp_path)
    assert report["met"] and (tmp_path / "tritforge_board.bit").exists()


@pytest.mark.synth
@pytest.mark.slow
def test_missed_clock_is_one_error(tmp_path):
    with pytest.raises(TimingNotMet, match=r"^timing not met on icebreaker: [\d.]+ MHz achieved, 96 MHz"):
        build_bitstream("icebreaker", AcceleratorParams(), clock_mhz=96, out_dir=tmp_path)
    assert not (tmp_path / "tritforge_board.bin").exists()
    assert not json.loads((tmp_path / "report.json").read_text())["met"]


def test_inputs_wrong(tmp_path):
    with pytest.raises(ParameterError, match=r"^board must be one of icebreaker, ulx3s-85f"):
        build_bitstream("arty", AcceleratorParams(), out_dir=tmp_path)
    with pytest.raises(ParameterError, match=r"^baud rate 1e\+07 cannot be made from a 30 MHz clock"):
        build_bitstream("icebreaker", AcceleratorParams(), baud=10_000_000, out_dir=tmp_path)


def test_programmer_missing(monkeypatch):
    monkeypatch.setattr(flow.shutil, "which", lambda name: None)
    with pytest.raises(ToolError, match=r"^no programmer for icebreaker on PATH: install iceprog or openFPGALoader"):
        program_command("icebreaker", "x.bin")
    monkeypatch.setattr(flow.shutil, "which", lambda name: "/usr/bin/" + name if name == "openFPGALoader" else None)
    assert program_command("icebreaker", "x.bin")[:3] == ["openFPGALoader", "--board", "ice40_generic"]


def test_command_line_errors():
    result = CliRunner().invoke(cli, ["bitstream", "--board", "icebreaker", "--clock", "500"])
    assert result.exit_code == 2
    assert result.output.strip() == ("error: the SB_PLL40_PAD cannot make 500 MHz from 12 MHz within 2 % "
                                     "(closest: 270.000 MHz)")
