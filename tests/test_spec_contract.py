# amaranth: UnusedElaboratable=no
"""spec.contract and the Protocol section of docs/accelerator.md: the generated blocks are
current, a host written from the docs alone (not from sim.protocol) speaks the worked example,
and what the docs say about the RTL holds on the RTL (check order, commands after an error,
the counting window, the latency formula)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.hdl.units import accelerator_unit_latency
from tritforge.sim import contract_example, protocol
from tritforge.sim.perf_model import model_layer
from tritforge.sim.top_sim import exchange
from tritforge.spec import contract
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import CHECKS, ErrorCode, Opcode, StatusFlag

DOC = Path(__file__).resolve().parents[1] / "docs" / "accelerator.md"
CONFIGS = [AcceleratorParams(), AcceleratorParams(rows=3, cols=10, weight_format="base3", stream_width=64),
           AcceleratorParams(rows=5, cols=7, act_bits=5, stream_width=96, counter_bits=40),
           AcceleratorParams(counter_bits=0, stream_width=128), contract.WORKED_EXAMPLE]


@pytest.fixture(scope="module")
def example():
    return contract_example.run_example()


# --- the docs are current -------------------------------------------------------------------

def test_docs_protocol_block_is_generated_from_the_definition():
    assert contract.block_of(DOC.read_text()) == contract.render_markdown(), (
        "docs/accelerator.md is out of date: python -m tritforge.spec.contract --write docs/accelerator.md")


def test_docs_example_block_is_what_the_rtl_does(example):
    assert contract.block_of(DOC.read_text(), "example") == contract_example.render_example(example), (
        "docs/accelerator.md is out of date: "
        "python -m tritforge.sim.contract_example --write docs/accelerator.md")


def test_write_and_check(tmp_path, capsys):
    doc = tmp_path / "doc.md"
    doc.write_text("# intro\n<!-- begin generated: protocol -->\nstale\n<!-- end generated: protocol -->\nrest\n")
    assert contract.main(["--check", str(doc)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert contract.main(["--write", str(doc)]) == 0
    text = doc.read_text()
    assert text.startswith("# intro\n") and text.endswith("-->\nrest\n")
    assert contract.block_of(text) == contract.render_markdown()
    assert contract.main(["--check", str(doc)]) == 0


def test_block_markers_wrong():
    with pytest.raises(ValueError, match=r"^the document must hold one block <!-- begin generated: "
                                         r"protocol --> \.\.\. <!-- end generated: protocol -->$"):
        contract.replace_block("no markers", "x")


def test_json_output(capsys, tmp_path):
    design = tmp_path / "design.toml"
    design.write_text('kind = "accelerator"\nrows = 3\ncols = 10\nweight_format = "base3"\n')
    assert contract.main(["--json", "--config", str(design)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(contract.describe(AcceleratorParams(rows=3, cols=10,
                                                                                weight_format="base3"))))


# --- describe(params) against the encoders and the capacity rule ----------------------------

@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: p.name)
def test_describe_agrees_with_the_host_code(params):
    d = json.loads(json.dumps(contract.describe(params)))
    host = DocHost(params)
    assert host.command("RUN", [3, 70, 9], weight_bank=1) == protocol.run(params, 3, 70, 9, weight_bank=1, act_bank=0)
    assert host.command("READ_STATUS", []) == protocol.read_status(params)
    tiles = protocol.pack_tiles(params, np.ones((params.rows + 1, params.cols + 1), dtype=np.int8))
    assert len(protocol.load_weights(params, 0, tiles)) == (2 + len(tiles) * d["items"]["tile"]["beats"]) * (
        params.bytes_per_beat)
    words = np.arange(1, params.status_beats * params.words_per_beat + 1, dtype="<u4")
    words[0] = ErrorCode.CAPACITY | 1 << (16 + ErrorCode.CAPACITY)
    words[1] = StatusFlag.RUNNING
    status = protocol.decode_status(params, words.tobytes())
    assert host.status(words.tobytes()) == (status.error, set(status.errors), status.flags, status.counters)


@pytest.mark.parametrize("params", CONFIGS, ids=lambda p: p.name)
def test_argument_ranges_are_the_capacity_rule(params):
    ranges = {a["name"]: a["valid"] for op in contract.describe(params)["opcodes"] for a in op["arguments"]}
    tokens, k, n = ranges["tokens"][1], ranges["k"][1], ranges["n"][1]
    assert params.check_run(tokens, 1, 1) == params.check_run(1, 1, n) == ErrorCode.NONE
    assert params.check_run(tokens + 1, 1, 1) == params.check_run(1, k + 1, 1) == ErrorCode.CAPACITY
    assert params.check_run(1, 1, n + 1) == ErrorCode.CAPACITY
    fits_banks = params.chunks(k) <= min(params.weight_depth, params.act_depth)
    assert (params.check_run(1, k, 1) == ErrorCode.NONE) == fits_banks
    assert all(low == 1 for low, _ in ranges.values())
    assert (ranges["tiles"][1], ranges["chunks"][1]) == (params.weight_depth, params.act_depth)


def test_every_error_has_a_check_or_a_time():
    for error in ErrorCode:
        assert contract.check_of(error)


@pytest.mark.parametrize("cols", [1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 17, 31, 32, 33, 64, 100, 128, 255, 256, 300])
@pytest.mark.parametrize("pipeline", range(7))
def test_unit_latency_is_the_hardwares(cols, pipeline):
    assert contract.unit_latency(cols, pipeline) == TernaryMatrixUnit.latency_for(cols, pipeline)


@pytest.mark.parametrize("cols", [1, 3, 5, 12, 16, 33, 64])
@pytest.mark.parametrize("pipeline", range(4))
@pytest.mark.parametrize("weight_format, group, unit_kind", [
    ("2bit", None, "ternary"), ("2bit", 1, "lookup"), ("2bit", 3, "lookup"), ("base3", 4, "lookup"),
    ("base3", 5, "lookup"), ("2bit", 5, "lookup")])
def test_accelerator_unit_latency_is_the_hardwares(cols, pipeline, weight_format, group, unit_kind):
    params = AcceleratorParams(cols=cols, pipeline=pipeline, weight_format=weight_format, group=group,
                               unit_kind=unit_kind, max_k=64)
    assert contract.accelerator_unit_latency(params) == accelerator_unit_latency(params)
    assert contract.describe(params)["unit_latency"] == accelerator_unit_latency(params)


# --- a host written from the docs ----------------------------------------------------------

class DocHost:
    """Encodes and decodes packets from the docs' rules and ``describe(params)`` only; no code
    of sim.protocol or spec.formats."""

    def __init__(self, params):
        self.d = contract.describe(params)
        self.width = self.d["link"]["stream_width"]
        self.fields = {field["name"]: field for field in self.d["header"]}
        self.opcodes = {op["name"]: op for op in self.d["opcodes"]}
        self.code = {row["weight"]: row["code"] for row in self.d["weight_codes"]}

    def command(self, name, args, items=(), weight_bank=0, act_bank=0):
        header = (self.opcodes[name]["value"] << self.fields["opcode"]["lsb"]
                  | weight_bank << self.fields["weight_bank"]["lsb"] | act_bank << self.fields["act_bank"]["lsb"])
        beats = [self._beats(header, 1)] + [self._beats(arg, 1) for arg in args]
        item = self.opcodes[name]["payload"]
        beats += [self._beats(value, self.d["items"][item]["beats"]) for value in items] if item else []
        return b"".join(beats)

    def _beats(self, value, count):
        return value.to_bytes(count * self.width // 8, "little")

    def tile(self, w_tile):
        """A tile's value from its ``[rows, cols]`` weights (rows/lanes beyond: pass 0)."""
        item = self.d["items"]["tile"]
        value = 0
        for r, row in enumerate(w_tile):
            codes = [self.code[int(w)] for w in row] + [self.code[0]] * (item["row_bytes"] * item["weights_per_byte"] - len(row))
            for j in range(item["row_bytes"]):
                byte_codes = codes[j * item["weights_per_byte"]:(j + 1) * item["weights_per_byte"]]
                if item["format"] == "2bit":
                    byte = sum(code << (2 * i) for i, code in enumerate(byte_codes))
                else:
                    byte = sum(code * 3 ** i for i, code in enumerate(byte_codes))
                value |= byte << (8 * (r * item["row_bytes"] + j))
        return value

    def chunk(self, x_chunk):
        bits = self.d["items"]["chunk"]["lane_bits"]
        return sum((int(v) & (2 ** bits - 1)) << (c * bits) for c, v in enumerate(x_chunk))

    def words(self, packet):
        return [int.from_bytes(packet[i:i + 4], "little") for i in range(0, len(packet), 4)]

    def results(self, packet, tokens, n):
        rows, group = self.d["params"]["rows"], self.d["results"]["group_beats"] * self.width // 32
        words = [w - (w >> 31 << 32) for w in self.words(packet)]
        y = np.zeros((tokens, -(-n // rows) * rows), dtype=np.int64)
        for index in range(len(words) // group):
            b, t = divmod(index, tokens)
            y[t, b * rows:(b + 1) * rows] = words[index * group:index * group + rows]
        return y[:, :n]

    def status(self, packet):
        words, values = self.words(packet), {}
        for field in self.d["status"]["fields"]:
            parts = words[field["word"]:field["word"] + field["words"]]
            value = sum(part << (32 * i) for i, part in enumerate(parts))
            values[field["name"]] = value >> field["lsb"] & (2 ** (field["msb"] - field["lsb"] + 1) - 1)
        errors = {ErrorCode(e) for e in ErrorCode if values["errors"] >> e & 1}
        counters = {c["name"]: values[c["name"]] for c in self.d["status"]["counters"]}
        return ErrorCode(values["error"]), errors, StatusFlag(values["flags"]), counters

    def layer(self, x, w):
        """The two loads of a layer, tiles and chunks in the docs' address order."""
        p = self.d["params"]
        rows, cols = p["rows"], p["cols"]
        chunks, blocks = -(-x.shape[1] // cols), -(-w.shape[0] // rows)
        padded_w = np.zeros((blocks * rows, chunks * cols), dtype=np.int64)
        padded_w[:w.shape[0], :w.shape[1]] = w
        padded_x = np.zeros((x.shape[0], chunks * cols), dtype=np.int64)
        padded_x[:, :x.shape[1]] = x
        tiles = [self.tile(padded_w[b * rows:(b + 1) * rows, kc * cols:(kc + 1) * cols])
                 for b in range(blocks) for kc in range(chunks)]
        acts = [self.chunk(padded_x[t, kc * cols:(kc + 1) * cols]) for t in range(x.shape[0]) for kc in range(chunks)]
        return tiles, acts


def doc_example_packets():
    """``(title, bytes)`` of every packet of the docs' worked example, from its hex."""
    packets, title, data = [], None, b""
    for line in contract.block_of(DOC.read_text(), "example").splitlines():
        heading = re.match(r"\*\*(\w+(?: response)?)\*\*", line)
        row = re.match(r"\| \d+ \| `0x([0-9a-f]+)` \| ([01]) \|", line)
        if heading:
            title = heading.group(1)
        elif row:
            data += bytes.fromhex(row.group(1))[::-1]
            if row.group(2) == "1":
                packets.append((title, data))
                data = b""
    return packets


def test_a_host_written_from_the_docs_speaks_the_example():
    params, x, w = contract.WORKED_EXAMPLE, contract_example.X, contract_example.W
    host = DocHost(params)
    tiles, chunks = host.layer(x, w)
    tokens, k = x.shape
    expected = [
        ("CLEAR", host.command("CLEAR", [])),
        ("LOAD_ACTS", host.command("LOAD_ACTS", [len(chunks)], chunks, act_bank=contract_example.ACT_BANK)),
        ("LOAD_WEIGHTS", host.command("LOAD_WEIGHTS", [len(tiles)], tiles, weight_bank=contract_example.WEIGHT_BANK)),
        ("RUN", host.command("RUN", [tokens, k, len(w)], weight_bank=contract_example.WEIGHT_BANK,
                             act_bank=contract_example.ACT_BANK)),
        ("READ_RESULTS", host.command("READ_RESULTS", [])),
    ]
    packets = doc_example_packets()
    commands = [packet for packet in packets if not packet[0].endswith("response")]
    assert commands[:len(expected)] == expected
    responses = dict(packet for packet in packets if packet[0].endswith("response"))
    assert np.array_equal(host.results(responses["READ_RESULTS response"], tokens, len(w)), x @ w.T)
    error, errors, flags, counters = host.status(responses["READ_STATUS response"])
    assert (error, errors, flags) == (ErrorCode.NONE, set(), StatusFlag(0))
    assert counters["macs"] == tokens * k * len(w)


@st.composite
def tiles_of_layers(draw):
    params = AcceleratorParams(rows=draw(st.integers(1, 5)), cols=draw(st.integers(1, 13)),
                               weight_format=draw(st.sampled_from(["2bit", "base3"])))
    n, k = draw(st.integers(1, 2 * params.rows + 1)), draw(st.integers(1, 2 * params.cols + 1))
    seed = draw(st.integers(0, 2 ** 16))
    return params, np.random.default_rng(seed).integers(-1, 2, (n, k))


@settings(max_examples=60, deadline=None)
@given(layer=tiles_of_layers())
def test_tiles_of_the_docs_are_the_packers(layer):
    params, w = layer
    tiles, _ = DocHost(params).layer(np.zeros((1, w.shape[1]), dtype=np.int64), w)
    assert [tile.to_bytes(params.tile_bits // 8, "little") for tile in tiles] == protocol.pack_tiles(params, w)


# --- what the docs say of the RTL ----------------------------------------------------------

def test_example_counters_follow_the_docs(example):
    p = example.params
    results, status_packet = example.trace.responses
    tokens, k = contract_example.X.shape
    n = len(contract_example.W)
    assert np.array_equal(protocol.decode_results(p, results, tokens, n), contract_example.X @ contract_example.W.T)
    status = protocol.decode_status(p, status_packet)
    assert status.flags == StatusFlag(0)  # STREAMING never shows, even while results were sent
    clear_executes, snapshot = contract_example.counting_window(example)
    assert status.counters["cycles"] == snapshot - clear_executes - 1
    assert status.counters["busy"] == 2 + status.counters["compute"] + contract.unit_latency(p.cols, p.pipeline)
    assert status.counters == model_layer(p, tokens, k, n, status_delay=-1).counters


@pytest.mark.parametrize("gaps", [(0, 0, 0), (0, 5, 9), (3, 0, 17)])
def test_cycles_counts_strictly_between_clear_and_status(gaps):
    p = contract.WORKED_EXAMPLE
    packets = [protocol.clear(p), protocol.load_acts(p, 0, [bytes(4)] * 3), protocol.read_status(p)]
    trace = exchange(p, packets, 1, gaps=gaps)
    a, _, b = trace.header_cycles
    assert protocol.decode_status(p, trace.responses[0]).counters["cycles"] == b - a - 1


def test_cycles_after_reset_count_from_the_first_cycle():
    p = contract.WORKED_EXAMPLE
    trace = exchange(p, [protocol.read_status(p)], 1, gaps=[6])
    (b,) = trace.header_cycles
    assert protocol.decode_status(p, trace.responses[0]).counters["cycles"] == b + 3


def _layer(p):
    x, w = contract_example.X, contract_example.W
    return [protocol.load_acts(p, 0, protocol.pack_chunks(p, x)),
            protocol.load_weights(p, 0, protocol.pack_tiles(p, w)),
            protocol.run(p, *x.shape, len(w), weight_bank=0, act_bank=0), protocol.read_results(p)]


@pytest.mark.parametrize("bad", ["opcode", "run_before_results_read"])
def test_commands_after_an_error_execute_without_clear(bad):
    p = contract.WORKED_EXAMPLE
    x, w = contract_example.X, contract_example.W
    layer = _layer(p)
    if bad == "opcode":
        packets, error = [_raw(p, 0x77), *layer], ErrorCode.OPCODE
    else:  # a second RUN before READ_RESULTS is refused; the first run's results stay pending
        packets, error = [*layer[:3], layer[2], layer[3]], ErrorCode.RESULTS_PENDING
    trace = exchange(p, [*packets, protocol.read_status(p)], 2)
    assert np.array_equal(protocol.decode_results(p, trace.responses[0], x.shape[0], len(w)), x @ w.T)
    status = protocol.decode_status(p, trace.responses[1])
    assert (status.error, status.errors) == (error, {error})
    assert status.counters["macs"] == x.size * len(w)


def _raw(p, *words):
    return b"".join(word.to_bytes(4, "little") + bytes(p.bytes_per_beat - 4) for word in words)


def _check_order_cases(p):
    """A command that fails two checks: ``(packets, (error, step) reported, (error, step) not)``."""
    pending_run = protocol.run(p, 1, 1, 1, weight_bank=1, act_bank=1)
    return {
        "opcode before argument length": (
            [_raw(p, 0x77, 0)], (ErrorCode.OPCODE, "opcode"), (ErrorCode.LENGTH, "argument length")),
        "argument length before values": (
            [_raw(p, Opcode.RUN, 0, 0, 0, 0)], (ErrorCode.LENGTH, "argument length"),
            (ErrorCode.ZERO_SIZE, "values")),
        "zero before capacity": (
            [protocol.run(p, 0, p.max_k + 1, 1, weight_bank=0, act_bank=0)], (ErrorCode.ZERO_SIZE, "values"),
            (ErrorCode.CAPACITY, "values")),
        "values before sequencing": (
            [pending_run, protocol.run(p, p.max_tokens + 1, 1, 1, weight_bank=0, act_bank=0)],
            (ErrorCode.CAPACITY, "values"), (ErrorCode.RESULTS_PENDING, "sequencing")),
        "load values before its bank": (
            [pending_run, _raw(p, Opcode.LOAD_WEIGHTS | 1 << 8, 0)], (ErrorCode.ZERO_SIZE, "values"),
            (ErrorCode.BANK_BUSY, "sequencing")),
        "sequencing before payload length": (
            [pending_run, _raw(p, Opcode.LOAD_ACTS | 1 << 9, 1)], (ErrorCode.BANK_BUSY, "sequencing"),
            (ErrorCode.LENGTH, "payload length")),
    }


def _position(error, step):
    """Where the docs' check order puts ``error`` raised by check ``step``."""
    index = [check.name for check in CHECKS].index(step)
    return index, CHECKS[index].errors.index(error)


@pytest.mark.parametrize("case", list(_check_order_cases(contract.WORKED_EXAMPLE)))
def test_checks_in_the_documented_order(case):
    p = contract.WORKED_EXAMPLE
    packets, reported, skipped = _check_order_cases(p)[case]
    assert _position(*reported) < _position(*skipped)
    status = protocol.decode_status(p, exchange(p, [*packets, protocol.read_status(p)], 1).responses[0])
    assert (status.error, status.errors) == (reported[0], {reported[0]})
