"""flows.generate: Verilog plus manifest, and the click command's errors."""

import json
import re

import pytest
from click.testing import CliRunner

from tritforge.flows.generate import generate, generate_command


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
        result = generate(2, 3, 8, 16, 1, tmp_path)
        name = "ternary_mu_r2_c3_a8_k16_p1"
        assert result["name"] == name
        verilog_text = (tmp_path / f"{name}.v").read_text()
        description = json.loads((tmp_path / f"{name}.json").read_text())
        assert description["parameters"] == {"rows": 2, "cols": 3, "act_bits": 8, "max_k": 16,
                                             "pipeline": 1, "acc_bits": 13}
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
        result = generate(1, 2, 8, 4, 0, tmp_path, kind="int", weight_bits=4)
        assert result["name"] == "int_mu_r1_c2_a8_w4_k4_p0"
        assert result["parameters"]["weight_bits"] == 4
        assert (tmp_path / "int_mu_r1_c2_a8_w4_k4_p0.v").exists()

    def test_bad_parameter_writes_nothing(self, tmp_path):
        with pytest.raises(ValueError, match=r"^cols must be an integer >= 1, not 0$"):
            generate(2, 0, 8, 16, 1, tmp_path / "out")
        assert not (tmp_path / "out").exists()

    def test_bad_kind(self, tmp_path):
        with pytest.raises(ValueError, match=r"^kind must be one of ternary, int, not 'fp16'$"):
            generate(2, 3, 8, 16, 1, tmp_path, kind="fp16")


class TestGenerateCommand:
    def test_writes_files(self, tmp_path):
        result = CliRunner().invoke(generate_command, [
            "--rows", "2", "--cols", "4", "--act-bits", "6", "--max-k", "8", "--pipeline", "0",
            "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output
        name = "ternary_mu_r2_c4_a6_k8_p0"
        assert result.output.splitlines() == [str(tmp_path / f"{name}.v"),
                                              str(tmp_path / f"{name}.json")]
        assert json.loads((tmp_path / f"{name}.json").read_text())["latency"] == 1

    @pytest.mark.parametrize("arguments, message", [
        (["--rows", "0"], "Error: rows must be an integer >= 1, not 0"),
        (["--act-bits", "20"], "Error: act_bits must be an integer in 2..16, not 20"),
        (["--pipeline", "-1"], "Error: pipeline must be an integer >= 0, not -1"),
        (["--kind", "int", "--weight-bits", "1"],
         "Error: weight_bits must be an integer in 2..16, not 1"),
    ])
    def test_bad_parameter_is_one_line_and_fails(self, tmp_path, arguments, message):
        result = CliRunner().invoke(generate_command, arguments + ["-o", str(tmp_path)])
        assert result.exit_code != 0
        assert result.output.splitlines() == [message]
        assert "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []
