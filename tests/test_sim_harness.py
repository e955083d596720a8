"""The batch harness's host side (sim/harness.py, sim/bulk.py): stimulus and response files,
a batch's packets split back into layers, and the first mismatch with the cycle of its beat.
The RTL side runs in tests/test_rtl_accelerator.py."""

import random

import numpy as np
import pytest
import torch

from tritforge.golden.quant import ternary_matmul

from tritforge.sim import protocol
from tritforge.sim.bulk import first_mismatch
from tritforge.sim.harness import Batch, decode_response, encode_stimulus, harness_verilog, level
from tritforge.sim.tb_accelerator import golden_product, random_layer_numpy

from rtl_runs import GEOMETRIES

PARAMS = GEOMETRIES["2bit"]


def random_layer(rng, tokens, k, n):
    x = np.array([[rng.randint(-128, 127) for _ in range(k)] for _ in range(tokens)], dtype=np.int16)
    w = np.array([[rng.randint(-1, 1) for _ in range(k)] for _ in range(n)], dtype=np.int8)
    return x, w


def response_file(params, packets, first_cycle=100):
    """The harness's response file of ``packets`` (bytes), one beat per cycle."""
    size = params.bytes_per_beat
    lines, cycle = ["// 0x00000000"], first_cycle
    for packet in packets:
        beats = [packet[i:i + size] for i in range(0, len(packet), size)]
        for index, beat in enumerate(beats):
            last = int(index == len(beats) - 1)
            lines.append(f"{cycle:08x}{last:02x}{beat[::-1].hex()}")
            cycle += 1
    return "\n".join(lines) + "\n"


def result_packet(params, y, part):
    """The ``READ_RESULTS`` packet of ``part`` whose results are ``y`` [T, N] (layer-wide)."""
    tokens, n = part.t1 - part.t0, part.n1 - part.n0
    blocks = params.row_blocks(n)
    words = np.zeros((blocks, tokens, params.group_beats * params.words_per_beat), dtype="<i4")
    padded = np.zeros((tokens, blocks * params.rows), dtype=np.int64)
    padded[:, :n] = y[part.t0:part.t1, part.n0:part.n1]
    words[:, :, :params.rows] = padded.reshape(tokens, blocks, params.rows).transpose(1, 0, 2)
    return words.tobytes()


def test_stimulus_file_words_and_tlast():
    packets = [protocol.clear(PARAMS), protocol.run(PARAMS, 1, 2, 3, weight_bank=1, act_bank=0)]
    text, beats = encode_stimulus(PARAMS, packets)
    lines = text.split()
    assert beats == 5 and len(lines) == 5
    assert all(len(line) == 2 * (PARAMS.bytes_per_beat + 1) for line in lines)
    assert [line[:2] for line in lines] == ["01", "00", "00", "00", "01"]
    assert int(lines[2][2:], 16) == 1 and int(lines[4][2:], 16) == 3      # arguments, little end


def test_response_file_round_trip():
    packets = [bytes(range(8)), bytes(range(8, 12))]
    data, last, cycles = decode_response(PARAMS, response_file(PARAMS, packets, 7))
    assert data.tobytes() == b"".join(packets)
    assert list(last) == [False, True, True] and list(cycles) == [7, 8, 9]
    with pytest.raises(ValueError, match="hex digits"):
        decode_response(PARAMS, "123\n")
    # Verilator writes no header line: the same beats without it.
    headless = response_file(PARAMS, packets, 7).split("\n", 1)[1]
    assert all(np.array_equal(a, b) for a, b in zip(decode_response(PARAMS, headless), (data, last, cycles)))


def test_golden_product_is_ternary_matmul():
    """The batch runs' float64 golden product equals ternary_matmul bit for bit, on random
    layers (with their extreme ones) and on the largest sums a max_k layer can reach."""
    rng, gen = random.Random(3), np.random.default_rng(3)
    layers = [random_layer_numpy(rng, [9, 200, 40], 8, gen=gen) for _ in range(200)]
    k = PARAMS.max_k
    layers += [(np.full((2, k), -128, dtype=np.int16), np.full((3, k), w, dtype=np.int8)) for w in (-1, 1)]
    assert sum(int(x.min()) == -128 and abs(int(w.sum())) == w.size for x, w in layers) >= 10
    for x, w in layers:
        expected = ternary_matmul(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        got = golden_product(x, w)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_batch_splits_layers_and_finds_the_first_wrong_value():
    """Layers split into several parts (K over max_k, N over the weight bank): a correct
    response checks clean; one corrupted value is found with its part's k range and the
    cycle of the beat that carried it; a missing packet is a protocol error."""
    rng = random.Random(4)
    batch = Batch(PARAMS)
    layers = [random_layer(rng, 3, 300, 70), random_layer(rng, 2, 20, 5)]
    for x, w in layers:
        assert batch.add(x, w)
    assert not batch.add(*random_layer(rng, 16, 300, 70), depth=batch.beats + 10)
    assert len(batch.parts[0]) > 2
    expected = [x.astype(np.int64) @ w.T.astype(np.int64) for x, w in layers]
    partials = [np.zeros_like(e) for e in expected]
    packets = []
    for (x, w), parts, partial in zip(layers, batch.parts, partials):
        for part in parts:
            y = np.zeros_like(partial)
            y[part.t0:part.t1, part.n0:part.n1] = (x[part.t0:part.t1, part.k0:part.k1].astype(np.int64)
                                                   @ w[part.n0:part.n1, part.k0:part.k1].T)
            packets.append(result_packet(PARAMS, y, part))
    status = bytes(PARAMS.status_beats * PARAMS.bytes_per_beat)
    results, decoded = batch.results(*decode_response(PARAMS, response_file(PARAMS, packets + [status])))
    assert decoded.error == 0
    for layer, e in zip(results, expected):
        assert first_mismatch(PARAMS, layer, e.astype(np.int32)) is None

    wrong = expected[0].astype(np.int32).copy()
    wrong[1, 60] -= 1                                      # the same as a corrupted result
    got, where = first_mismatch(PARAMS, results[0], wrong)
    assert (got != wrong).sum() == 1 and np.argwhere(got != wrong)[0].tolist() == [1, 60]
    covering = [(p, c) for p, c in where if p.t0 <= 1 < p.t1 and p.n0 <= 60 < p.n1]
    assert len(covering) > 1 and all(c in cycles_of(results[0], p) for p, c in covering)
    with pytest.raises(protocol.ProtocolError, match="packet"):
        batch.results(*decode_response(PARAMS, response_file(PARAMS, packets[1:] + [status])))


def cycles_of(layer, part):
    return next(list(cycles) for p, _, cycles in layer if p == part)


def test_harness_verilog_and_levels(tmp_path):
    text = harness_verilog(PARAMS, tmp_path / "h.v", depth=1024).read_text()
    assert "module tritforge_harness" in text and "reg [31 + 8:0] stim [0:1023]" in text
    assert "$readmemh" in text and "$writememh" in text
    assert (level(0), level(0.25), level(1)) == (0, 16384, 65536)
    with pytest.raises(ValueError):
        level(1.5)
    with pytest.raises(ValueError):
        harness_verilog(PARAMS, tmp_path / "h.v", depth=1000)
