"""flows.generate: the IP of every unit kind and of the top (Verilog, manifest, C header,
SystemVerilog wrapper, FuseSoC core), each checked with its own tool, and a testbench written
from the manifest alone; ``tritforge generate`` and its errors."""

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from tritforge.app.cli import cli
from tritforge.flows.generate import generate, manifest, manifest_schema
from tritforge.sim import protocol
from tritforge.sim.simulators import activate, find_simulator
from tritforge.spec.params import UNIT_KINDS, AcceleratorParams, UnitParams

import manifest_tb

UNIT = UnitParams(rows=2, cols=3, max_k=16)
TOP = AcceleratorParams(rows=2, cols=8, max_k=64, weight_depth=8, act_depth=8, max_tokens=4)


def _verilog_ports(text, name):
    """Port name -> (direction, width) of module ``name`` in Amaranth's Verilog."""
    body = text[text.index(f"module {name}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for direction, width, port in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                             body, re.MULTILINE):
        ports[port] = (direction, int(width) + 1 if width else 1)
    return ports


def _tool(name):
    """A tool on PATH or installed beside this Python (the virtual environment's scripts)."""
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.is_file() else shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    return path


@pytest.fixture(scope="module")
def ip(tmp_path_factory):
    """The IP of a small unit of every kind and of a small top, generated once."""
    out = tmp_path_factory.mktemp("ip")
    designs = [UnitParams(kind=kind, rows=2, cols=3, max_k=16) for kind in UNIT_KINDS] + [TOP]
    return out, {design.kind: generate(design, out) for design in designs}


class TestManifest:
    def test_every_port_is_a_verilog_port(self, ip):
        out, results = ip
        for result in results.values():
            text = (out / result["files"]["verilog"]).read_text()
            ports = {p["name"]: (p["direction"], p["width"]) for p in result["ports"]}
            assert ports == _verilog_ports(text, result["top"])

    def test_validates_against_the_schema(self, ip):
        out, results = ip
        schema = manifest_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        for result in results.values():
            jsonschema.validate(json.loads((out / result["files"]["manifest"]).read_text()), schema)

    @pytest.mark.parametrize("breakage", ["no meaning", "field without offset", "unit without unit",
                                          "top without protocol", "bad version"])
    def test_schema_refuses_an_incomplete_manifest(self, ip, breakage):
        _, results = ip
        unit = copy.deepcopy({k: v for k, v in results["ternary"].items() if k != "paths"})
        top = copy.deepcopy({k: v for k, v in results["accelerator"].items() if k != "paths"})
        if breakage == "no meaning":
            del unit["ports"][2]["meaning"]
        elif breakage == "field without offset":
            del unit["ports"][2]["fields"][0]["offset"]
        elif breakage == "unit without unit":
            del unit["unit"]
        elif breakage == "top without protocol":
            del top["protocol"]
        else:
            top["protocol"]["version"] = "one"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(top if "top" in breakage or "version" in breakage else unit, manifest_schema())

    def test_unit_contract(self, ip):
        _, results = ip
        unit = results["ternary"]
        assert unit["parameters"] == {"kind": "ternary", "rows": 2, "cols": 3, "act_bits": 8, "max_k": 16,
                                      "pipeline": 1, "acc_bits": 13}
        assert unit["latency"] == unit["timing"]["latency"] == 2
        assert unit["unit"]["accumulator"] == {**unit["unit"]["accumulator"], "bits": 13, "min": -4096,
                                               "max": 4095, "exact_up_to_k": 16}
        assert [(c["name"], c["code"], c["weight"]) for c in unit["encodings"]["weight"]["codes"]] == [
            ("NEG", 0, -1), ("ZERO", 1, 0), ("POS", 2, 1), ("INVALID", 3, None)]
        assert unit["reset"]["low_during_reset"] == ["i__ready", "o__valid"]
        assert results["int"]["encodings"]["weight"] == {"kind": "twos_complement", "width": 8,
                                                         "signed": True, "zero": 0}

    def test_top_contract_is_the_protocol(self, ip):
        _, results = ip
        top = results["accelerator"]
        assert top["protocol_version"] == top["protocol"]["version"]
        assert top["reset"]["low_during_reset"] == ["s_axis_tready", "m_axis_tvalid"]
        assert {p["name"] for p in top["ports"]} >= {"s_axis_tdata", "m_axis_tlast", "busy", "error"}
        assert "sv_wrapper" not in top["files"]

    def test_takes_a_design(self, tmp_path):
        with pytest.raises(TypeError, match=r"^design must be a UnitParams or an AcceleratorParams, "
                                            r"not \{'rows': 2\}$"):
            generate({"rows": 2}, tmp_path / "out")
        assert not (tmp_path / "out").exists()


class TestCHeader:
    PROGRAM = r"""
#include <stdio.h>
#include HEADER
int main(void)
{
    /* A RUN of T=3, K=13, N=5 from weight bank 1, activation bank 0: header and arguments. */
    uint32_t beats[1 + TF_OP_RUN_ARGS];
    beats[0] = tf_header(TF_OP_RUN, 1u, 0u);
    beats[TF_ARG_RUN_TOKENS_BEAT] = 3u;
    beats[TF_ARG_RUN_K_BEAT] = 13u;
    beats[TF_ARG_RUN_N_BEAT] = 5u;
    for (unsigned i = 0; i < 1 + TF_OP_RUN_ARGS; i++)
        printf("%08x\n", (unsigned)beats[i]);
    /* A status word 0 holding CAPACITY as the first error and in the error set. */
    uint32_t word0 = (TF_ERR_CAPACITY << TF_STATUS_ERROR_LSB) | (1u << (TF_STATUS_ERRORS_LSB + TF_ERR_CAPACITY));
    printf("%u %u\n", (unsigned)((word0 >> TF_STATUS_ERROR_LSB) & ((1u << TF_STATUS_ERROR_BITS) - 1u)),
           (unsigned)TF_STATUS_MACS_WORD);
    printf("%u %u %u %u\n", (unsigned)TF_TILE_BEATS, (unsigned)TF_CHUNK_BEATS, (unsigned)TF_STATUS_WORDS,
           (unsigned)TF_ARG_RUN_N_MAX);
    return TF_WEIGHT_ZERO == 1u && TF_FLAG_RUNNING == 1u ? 0 : 1;
}
"""

    def _compile(self, tmp_path, header, source):
        gcc = _tool("gcc")
        (tmp_path / "main.c").write_text(source.replace("HEADER", f'"{header}"'))
        subprocess.run([gcc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-o", "main", "main.c"],
                       cwd=tmp_path, check=True, capture_output=True, text=True)
        return subprocess.run(["./main"], cwd=tmp_path, check=True, capture_output=True, text=True).stdout

    def test_top_header_encodes_commands_as_the_protocol(self, ip, tmp_path):
        out, results = ip
        header = out / results["accelerator"]["files"]["c_header"]
        lines = self._compile(tmp_path, header, self.PROGRAM).splitlines()
        packet = protocol.run(TOP, 3, 13, 5, weight_bank=1, act_bank=0)
        beats = [int.from_bytes(packet[i:i + 4], "little") for i in range(0, len(packet), TOP.bytes_per_beat)]
        assert [int(line, 16) for line in lines[:4]] == beats
        assert lines[4] == f"3 {2 + 5 * TOP.counter_words}"
        assert lines[5] == f"{TOP.tile_beats} {TOP.chunk_beats} {TOP.status_words} {TOP.weight_depth * TOP.rows}"

    @pytest.mark.parametrize("kind", UNIT_KINDS)
    def test_unit_header_compiles_with_field_positions(self, ip, tmp_path, kind):
        out, results = ip
        result = results[kind]
        fields = {f["name"]: f for f in result["ports"][2]["fields"]}
        source = ("#include <stdio.h>\n#include HEADER\nint main(void) {\n"
                  '    printf("%u %u %u\\n", (unsigned)TF_I_PAYLOAD_WEIGHTS_OFFSET, '
                  "(unsigned)TF_I_PAYLOAD_LAST_OFFSET, (unsigned)TF_O_PAYLOAD_ACC_ELEM_WIDTH);\n"
                  "    return 0;\n}\n")
        printed = self._compile(tmp_path, out / result["files"]["c_header"], source).split()
        assert printed == [str(fields["weights"]["offset"]), str(fields["last"]["offset"]),
                           str(result["accumulator_bits"])]


class TestWrapperAndCore:
    @pytest.mark.rtl
    @pytest.mark.parametrize("kind", UNIT_KINDS)
    def test_wrapper_compiles_on_icarus_and_lints_on_verilator(self, ip, tmp_path, kind):
        out, results = ip
        files = results[kind]["files"]
        sources = [str(out / files["verilog"]), str(out / files["sv_wrapper"])]
        subprocess.run([_tool("iverilog"), "-g2012", "-o", str(tmp_path / "w.vvp"), *sources],
                       check=True, capture_output=True, text=True)
        verilator = activate(find_simulator("verilator"))
        subprocess.run([str(verilator.executable), "--lint-only", "-Wall", "-Wno-WIDTH", "-Wno-UNUSEDSIGNAL",
                        "-Wno-DECLFILENAME", "-Wno-PROCASSINIT", "-Wno-CASEINCOMPLETE",
                        "--top-module", f"{results[kind]['name']}_wrapper", *sources],
                       check=True, capture_output=True, text=True)
        text = (out / files["sv_wrapper"]).read_text()
        assert re.search(r"input  logic signed \[7:0\] i_act \[3\]", text)
        assert "o_invalid" in text and "i__payload" not in text.split(");")[0]

    @pytest.mark.rtl
    @pytest.mark.parametrize("kind", ["ternary", "accelerator"])
    def test_fusesoc_lints_the_core(self, ip, tmp_path, kind):
        out, results = ip
        fusesoc = _tool("fusesoc")
        activate(find_simulator("verilator"))     # fusesoc's edalize finds it on PATH
        name = results[kind]["name"]
        run = subprocess.run([fusesoc, "--cores-root", str(out), "run", "--build-root", str(tmp_path),
                              "--target", "lint", f"tritforge:ip:{name}"],
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "--lint-only" in next(tmp_path.glob("*/lint/*.vc")).read_text()


@pytest.mark.rtl
class TestManifestIsSufficient:
    """A plain-Verilog testbench made from the manifest alone (``manifest_tb``: no tritforge
    import) drives the generated Verilog; results against numpy's sums."""

    def test_testbench_imports_no_tritforge(self):
        source = open(manifest_tb.__file__).read()
        assert "tritforge" not in re.sub(r'""".*?"""', "", source, flags=re.DOTALL)

    @pytest.mark.parametrize("kind", UNIT_KINDS)
    def test_unit(self, ip, tmp_path, kind):
        out, results = ip
        description = json.loads((out / results[kind]["files"]["manifest"]).read_text())
        rng = np.random.default_rng(3)
        params = description["parameters"]
        lo, hi = -(1 << params["act_bits"] - 1), 1 << params["act_bits"] - 1
        weights = (-1, 0, 1) if description["encodings"]["weight"]["kind"] == "code" else range(-8, 8)
        products = []
        for _ in range(12):
            k = int(rng.integers(1, params["max_k"] + 1))
            products.append((rng.integers(lo, hi, k), rng.choice(weights, (params["rows"], k))))
        if description["encodings"]["weight"]["kind"] != "code":
            description["encodings"]["weight"]["codes"] = [{"weight": v, "code": v} for v in weights]
        output = manifest_tb.run(manifest_tb.unit_bench(description, products), [out / description["files"]["verilog"]],
                                 tmp_path, iverilog=_tool("iverilog"))
        got = manifest_tb.decode_unit(description, output)
        expected = np.array([(w.astype(np.int64) @ x.astype(np.int64)) for x, w in products])
        assert np.array_equal(got, expected), output[-1000:]

    def test_top(self, ip, tmp_path):
        out, results = ip
        description = json.loads((out / results["accelerator"]["files"]["manifest"]).read_text())
        rng = np.random.default_rng(4)
        x = rng.integers(-128, 128, (3, 13))
        w = rng.integers(-1, 2, (7, 13))
        output = manifest_tb.run(manifest_tb.top_bench(description, x, w),
                                 [out / description["files"]["verilog"]], tmp_path, iverilog=_tool("iverilog"))
        y, status = manifest_tb.decode_top(description, output, 3, 7)
        assert np.array_equal(y, x @ w.T)
        assert status["error"] == 0 and status["errors"] == 0 and status["macs"] == 3 * 13 * 7


class TestGenerateCommand:
    @pytest.mark.parametrize("arguments, stem, files", [
        (["--rows", "2", "--cols", "4", "--act-bits", "6", "--max-k", "8", "--pipeline", "0"],
         "ternary_r2_c4_a6_k8_p0", [".v", ".h", ".core", "_wrapper.sv", ".json"]),
        (["--kind", "accelerator", "--rows", "2", "--cols", "4", "--max-k", "64", "--weight-depth", "4",
          "--act-depth", "4", "--max-tokens", "4"],
         "accelerator_r2_c4_a8_k64_p1_2bit_wd4_ad4_t4_s32_n32", [".v", ".h", ".core", ".json"]),
    ])
    def test_writes_files(self, tmp_path, arguments, stem, files):
        result = CliRunner().invoke(cli, ["generate", *arguments, "-o", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert result.output.splitlines() == [str(tmp_path / f"{stem}{suffix}") for suffix in files]
        assert json.loads((tmp_path / f"{stem}.json").read_text())["name"] == stem

    @pytest.mark.parametrize("arguments, message", [
        (["--rows", "0"], "error: rows must be an integer >= 1, not 0"),
        (["--act-bits", "20"], "error: act_bits must be an integer in 2..16, not 20"),
        (["--pipeline", "-1"], "error: pipeline must be an integer >= 0, not -1"),
        (["--kind", "int", "--weight-bits", "1"],
         "error: weight_bits must be an integer in 2..16, not 1"),
        (["--weight-bits", "4"],
         "error: weight_bits applies to the int unit only, not to 'ternary' (its weights are 2-bit codes)"),
        (["--kind", "accelerator", "--stream-width", "48"],
         "error: stream_width must be a multiple of 32 in 32..1024, not 48"),
    ])
    def test_bad_parameter_is_one_line_and_fails(self, tmp_path, arguments, message):
        result = CliRunner().invoke(cli, ["generate", *arguments, "-o", str(tmp_path)])
        assert result.exit_code == 2
        assert result.output.splitlines() == [message]
        assert "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []


def test_manifest_of_a_unit_builds_it_when_not_given():
    assert manifest(UNIT)["ports"] == manifest(UNIT, None)["ports"]
