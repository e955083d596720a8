"""flows.generate: Verilog plus manifest; ``tritforge generate`` and its errors."""

import json
import re

import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.flows.generate import generate
from tritforge.spec.params import UnitParams


def _verilog_ports(text, name):
    """Port name -> (direction, width) of module ``name`` in Amaranth's Verilog."""
    body = text[text.index(f"module {name}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for direction, width, port in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                             body, re.MULTILINE):
        ports[port] = (direction, int(width) + 1 if width else 1)
    return ports


class TestGenerate:
    def test_writes_verilog_and_manifest(self, tmp_path):
        result = generate(UnitParams(rows=2, cols=3, max_k=16), tmp_path)
        name = "ternary_r2_c3_a8_k16_p1"
        assert result["name"] == name
        verilog_text = (tmp_path / f"{name}.v").read_text()
        description = json.loads((tmp_path / f"{name}.json").read_text())
        assert description["parameters"] == {"kind": "ternary", "rows": 2, "cols": 3, "act_bits": 8,
                                             "max_k": 16, "pipeline": 1, "acc_bits": 13}
        assert description["latency"] == 2
        assert description["accumulator_bits"] == 13
        assert description["verilog"] == f"{name}.v"
        # Every manifest port is a Verilog port of the top module, same direction and width.
        verilog_ports = _verilog_ports(verilog_text, name)
        manifest_ports = {p["name"]: (p["direction"], p["width"]) for p in description["ports"]}
        assert manifest_ports == verilog_ports
        assert set(manifest_ports) == {"clk", "rst", "i__payload", "i__valid", "i__ready",
                                       "o__payload", "o__valid", "o__ready"}
        assert manifest_ports["o__payload"] == ("output", 2 * 13 + 1)

    def test_int_kind(self, tmp_path):
        result = generate(UnitParams(kind="int", rows=1, cols=2, max_k=4, pipeline=0, weight_bits=4),
                          tmp_path)
        assert result["name"] == "int_r1_c2_a8_w4_k4_p0"
        assert result["parameters"]["weight_bits"] == 4
        assert (tmp_path / "int_r1_c2_a8_w4_k4_p0.v").exists()

    def test_takes_unit_params(self, tmp_path):
        with pytest.raises(TypeError, match=r"^params must be a UnitParams, not \{'rows': 2\}$"):
            generate({"rows": 2}, tmp_path / "out")
        assert not (tmp_path / "out").exists()


class TestGenerateCommand:
    def test_writes_files(self, tmp_path):
        result = CliRunner().invoke(cli, [
            "generate", "--rows", "2", "--cols", "4", "--act-bits", "6", "--max-k", "8",
            "--pipeline", "0", "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output
        name = "ternary_r2_c4_a6_k8_p0"
        assert result.output.splitlines() == [str(tmp_path / f"{name}.v"),
                                              str(tmp_path / f"{name}.json")]
        assert json.loads((tmp_path / f"{name}.json").read_text())["latency"] == 1

    @pytest.mark.parametrize("arguments, message", [
        (["--rows", "0"], "error: rows must be an integer >= 1, not 0"),
        (["--act-bits", "20"], "error: act_bits must be an integer in 2..16, not 20"),
        (["--pipeline", "-1"], "error: pipeline must be an integer >= 0, not -1"),
        (["--kind", "int", "--weight-bits", "1"],
         "error: weight_bits must be an integer in 2..16, not 1"),
        (["--weight-bits", "4"],
         "error: weight_bits applies to the int unit only, not to 'ternary' (its weights are 2-bit codes)"),
    ])
    def test_bad_parameter_is_one_line_and_fails(self, tmp_path, arguments, message):
        result = CliRunner().invoke(cli, ["generate", *arguments, "-o", str(tmp_path)])
        assert result.exit_code == 2
        assert result.output.splitlines() == [message]
        assert "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []
