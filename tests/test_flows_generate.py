"""flows.generate: the IP of every unit kind, of the top and of the board top (Verilog,
manifest, C header, SystemVerilog wrapper, FuseSoC core), each checked with its own tool, and a
testbench written from the manifest alone; ``tritforge generate`` and its errors."""

import binascii
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
from tritforge.flows.boards import BoardDesign, ice40_pll
from tritforge.flows.generate import generate, manifest, manifest_schema
from tritforge.sim import protocol
from tritforge.sim.link import command_frame, stream_records
from tritforge.sim.simulators import activate, find_simulator
from tritforge.spec.params import UNIT_KINDS, AcceleratorParams, UnitParams

import manifest_tb

UNIT = UnitParams(rows=2, cols=3, max_k=16)
TOP = AcceleratorParams(rows=2, cols=8, max_k=64, weight_depth=8, act_depth=8, max_tokens=4)
#: The portable board top at the smallest baud divider (4) and a small store: quick to simulate.
BOARD = BoardDesign(TOP, clock_mhz=12, baud=3_000_000, store_depth=64)


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
    designs = [UnitParams(kind=kind, rows=2, cols=3, max_k=16) for kind in UNIT_KINDS] + [TOP, BOARD]
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
        with pytest.raises(TypeError, match=r"^design must be a UnitParams, an AcceleratorParams or a BoardDesign, "
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
        (tmp_path / "main.c").write_text(source.replace("#include HEADER", f'#include "{header}"'))
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
    @pytest.mark.parametrize("kind", ["ternary", "accelerator", "board"])
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


def _strip(result):
    return copy.deepcopy({k: v for k, v in result.items() if k != "paths"})


class TestBoard:
    """The board top: its manifest (the link protocol from spec.link, the board's facts), its
    C header against the host's frame encoder, and a UART testbench from the manifest alone."""

    def test_ports_reset_and_link(self, ip):
        _, results = ip
        board = results["board"]
        assert [(p["name"], p["direction"], p["width"]) for p in board["ports"]] == [
            ("clk", "input", 1), ("rst", "input", 1), ("rx", "input", 1), ("tx", "output", 1),
            ("busy", "output", 1), ("error", "output", 1)]
        assert board["reset"]["high_during_reset"] == ["tx"] and board["clock"]["mhz"] == 12
        link = board["link"]
        assert link["uart"]["baud_divider"] == 4 and link["sizes"]["store_depth"] == 64
        assert link["crc"]["check"] == binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1
        assert board["protocol"]["version"] == board["protocol_version"]
        assert board["board"] == {"name": "portable", "family": None, "pll": None,
                                  "store": {"kind": "memory", "depth": 64, "width": 32}, "vendor_primitives": []}

    def test_icebreaker_names_its_pll_and_spram(self, tmp_path):
        out, result = tmp_path, generate(BoardDesign(TOP, board="icebreaker"), tmp_path)
        jsonschema.validate(_strip(result), manifest_schema())
        pll = ice40_pll(12.0, 30.0)
        assert result["board"]["pll"]["dividers"] == pll.dividers and result["board"]["pll"]["output_mhz"] == 30.0
        assert result["board"]["vendor_primitives"] == ["SB_SPRAM256KA"]
        assert "SB_SPRAM256KA" in (out / result["files"]["verilog"]).read_text()
        core = (out / result["files"]["fusesoc_core"]).read_text()
        assert "lint" not in core and "toplevel: board_icebreaker_" in core
        assert result["link"]["uart"]["baud_divider"] == round(30e6 / 115200)

    @pytest.mark.parametrize("breakage", ["no link", "link without crc", "no clock frequency"])
    def test_schema_refuses_an_incomplete_board(self, ip, breakage):
        board = _strip(ip[1]["board"])
        if breakage == "no link":
            del board["link"]
        elif breakage == "link without crc":
            del board["link"]["crc"]
        else:
            del board["clock"]["mhz"]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(board, manifest_schema())

    PROGRAM = r"""
#include <stdio.h>
#include HEADER
int main(void)
{
    /* A START frame, sequence 0, holding one STREAM record: a READ_STATUS header beat with tlast. */
    uint8_t frame[TF_UART_COMMAND_OVERHEAD + TF_UART_RECORD_HEADER_BYTES + TF_UART_BYTES_PER_BEAT];
    unsigned long length = TF_UART_RECORD_HEADER_BYTES + TF_UART_BYTES_PER_BEAT, i;
    uint32_t beat = tf_header(TF_OP_READ_STATUS, 0u, 0u);
    uint8_t *record = frame + TF_UART_COMMAND_PAYLOAD_OFFSET;
    frame[TF_UART_COMMAND_SYNC_OFFSET] = TF_UART_HOST_SYNC;
    frame[TF_UART_COMMAND_FLAGS_OFFSET] = TF_UART_FLAG_START;
    frame[TF_UART_COMMAND_SEQ_OFFSET] = 0u;
    frame[TF_UART_COMMAND_LENGTH_OFFSET] = (uint8_t)length;
    frame[TF_UART_COMMAND_LENGTH_OFFSET + 1] = (uint8_t)(length >> 8);
    record[0] = TF_UART_RECORD_STREAM;
    record[1] = 1u;
    record[2] = 1u;
    record[3] = 0u;
    for (i = 0; i < TF_UART_BYTES_PER_BEAT; i++)
        record[TF_UART_RECORD_HEADER_BYTES + i] = (uint8_t)(beat >> (8 * i));
    uint16_t crc = tf_uart_crc16(TF_UART_CRC_INITIAL, frame + 1, TF_UART_COMMAND_PAYLOAD_OFFSET - 1 + length);
    frame[TF_UART_COMMAND_PAYLOAD_OFFSET + length] = (uint8_t)(crc >> 8);
    frame[TF_UART_COMMAND_PAYLOAD_OFFSET + length + 1] = (uint8_t)crc;
    for (i = 0; i < sizeof frame; i++)
        printf("%02x", frame[i]);
    printf("\n%u\n", (unsigned)(tf_uart_crc16(TF_UART_CRC_INITIAL, (const uint8_t *)"123456789", 9) == TF_UART_CRC_CHECK));
    return 0;
}
"""

    def test_c_header_builds_the_host_encoders_frame(self, ip, tmp_path):
        out, results = ip
        header = out / results["board"]["files"]["c_header"]
        lines = TestCHeader()._compile(tmp_path, header, self.PROGRAM).split()
        packet = protocol.read_status(TOP)
        expected = command_frame(0, stream_records(TOP, packet, BOARD.link.max_payload)[0], start=True)
        assert lines == [expected.hex(), "1"]

    @pytest.mark.rtl
    def test_manifest_testbench_runs_a_layer_over_the_uart(self, ip, tmp_path):
        """A layer's five commands in one START frame on `rx`; on `tx`: BOOT, the results and the
        status in DATA frames, the ACK; CRCs by binascii, Y by numpy."""
        out, results = ip
        description = json.loads((out / results["board"]["files"]["manifest"]).read_text())
        rng = np.random.default_rng(5)
        x, w = rng.integers(-128, 128, (2, 13)), rng.integers(-1, 2, (3, 13))
        frame = manifest_tb.board_frame(description, manifest_tb._packets(description, x, w))
        output = manifest_tb.run(manifest_tb.board_bench(description, [frame]),
                                 [out / description["files"]["verilog"]], tmp_path, iverilog=_tool("iverilog"))
        assert "TIMEOUT" not in output and "TX_LOW_IN_RESET" not in output
        replies = manifest_tb.board_replies(description, output)
        assert all(binascii.crc_hqx(reply[1:], 0xFFFF) == 0 for reply in replies)
        boot = bytes([0xA5, 0x03, 0, 0, 0])
        assert replies[0] == boot + binascii.crc_hqx(boot[1:], 0xFFFF).to_bytes(2, "big")
        ack = bytes([0xA5, 0x01, 0, 0, 0])
        assert [reply for reply in replies if reply[1] != 0x04] == [
            replies[0], ack + binascii.crc_hqx(ack[1:], 0xFFFF).to_bytes(2, "big")]
        beats = []
        for index, reply in enumerate(r for r in replies if r[1] == 0x04):
            assert reply[2] == index        # DATA frames counted from reset
            info = reply[-3]
            beats += [f"BEAT {int.from_bytes(reply[3 + 4 * b:7 + 4 * b], 'little'):x} "
                      f"{int(b == (info & 0x7F) - 1 and info >> 7)}" for b in range(info & 0x7F)]
        y, status = manifest_tb.decode_top(description, "\n".join(beats), 2, 3)
        assert np.array_equal(y, x @ w.T)
        assert status["error"] == 0 and status["macs"] == 2 * 13 * 3

    @pytest.mark.slow
    @pytest.mark.rtl
    def test_manifest_testbench_sequence_numbers_and_naks(self, ip, tmp_path):
        """Frames after the START one: the next number, the same again (ACK, not executed), a
        wrong number (NAK SEQUENCE with the expected one), a bad CRC (NAK CRC)."""
        out, results = ip
        description = json.loads((out / results["board"]["files"]["manifest"]).read_text())
        status = [manifest_tb._packets(description, np.zeros((1, 1), int), np.zeros((1, 1), int))[-1]]
        frame = lambda seq, start=False: manifest_tb.board_frame(description, status, seq, start)  # noqa: E731
        bad = bytearray(frame(2))
        bad[-1] ^= 0xFF
        output = manifest_tb.run(manifest_tb.board_bench(description, [frame(0, True), frame(1), frame(1), frame(5),
                                                                       bytes(bad)]),
                                 [out / description["files"]["verilog"]], tmp_path, iverilog=_tool("iverilog"))
        assert "TIMEOUT" not in output
        replies = manifest_tb.board_replies(description, output)
        assert all(binascii.crc_hqx(reply[1:], 0xFFFF) == 0 for reply in replies)
        assert [reply[1:-2] for reply in replies if reply[1] != 0x04] == [
            bytes([0x03, 0, 0, 0]), bytes([0x01, 0, 0, 0]), bytes([0x01, 1, 0, 0]), bytes([0x01, 1, 0, 0]),
            bytes([0x02, 5, 0x04, 2]), bytes([0x02, 2, 0x01, 2])]
        assert [reply[2] for reply in replies if reply[1] == 0x04] == [0, 1]


class TestGenerateCommand:
    @pytest.mark.parametrize("arguments, stem, files", [
        (["--rows", "2", "--cols", "4", "--act-bits", "6", "--max-k", "8", "--pipeline", "0"],
         "ternary_r2_c4_a6_k8_p0", [".v", ".h", ".core", "_wrapper.sv", ".json"]),
        (["--kind", "accelerator", "--rows", "2", "--cols", "4", "--max-k", "64", "--weight-depth", "4",
          "--act-depth", "4", "--max-tokens", "4"],
         "accelerator_r2_c4_a8_k64_p1_2bit_wd4_ad4_t4_s32_n32", [".v", ".h", ".core", ".json"]),
        (["--kind", "board", "--rows", "2", "--cols", "4", "--max-k", "64", "--weight-depth", "4",
          "--act-depth", "4", "--max-tokens", "4", "--clock", "12", "--baud", "3000000", "--store-depth", "16"],
         "board_portable_accelerator_r2_c4_a8_k64_p1_2bit_wd4_ad4_t4_s32_n32_d4", [".v", ".h", ".core", ".json"]),
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
        (["--board", "icebreaker"], "error: --board applies to --kind board only"),
        (["--kind", "int", "--clock", "12", "--baud", "9600"], "error: --clock, --baud apply to --kind board only"),
        (["--kind", "board", "--board", "ulx3s-85f", "--store-depth", "64"],
         "error: store_depth applies to the portable board top only: the ulx3s-85f store has 32768 words"),
        (["--kind", "board", "--clock", "1", "--baud", "1000000"],
         "error: baud rate 1e+06 cannot be made from a 1 MHz clock (divider 1.00; need 4..65536 within 2 %: "
         "15 to 250,000 baud)"),
    ])
    def test_bad_parameter_is_one_line_and_fails(self, tmp_path, arguments, message):
        result = CliRunner().invoke(cli, ["generate", *arguments, "-o", str(tmp_path)])
        assert result.exit_code == 2
        assert result.output.splitlines() == [message]
        assert "Traceback" not in result.output
        assert list(tmp_path.iterdir()) == []


def test_manifest_of_a_unit_builds_it_when_not_given():
    assert manifest(UNIT)["ports"] == manifest(UNIT, None)["ports"]
