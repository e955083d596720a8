"""Host protocol model and driver planning: byte layouts, packing against the golden
unpackers, response decoding, and the split of a layer over the accelerator's capacity."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from tritforge.golden.packing import unpack_2bit, unpack_base3
from tritforge.spec.formats import WeightCode
from tritforge.spec.params import AcceleratorParams
from tritforge.spec.protocol import COUNTERS, ErrorCode, Opcode, StatusFlag
from tritforge.sim import protocol
from tritforge.sim.driver import plan_matmul

P32 = AcceleratorParams()
P64_BASE3 = AcceleratorParams(rows=3, cols=10, weight_format="base3", stream_width=64)


def beats(params, packet):
    size = params.bytes_per_beat
    assert len(packet) % size == 0
    return [packet[i:i + size] for i in range(0, len(packet), size)]


def test_run_command_layout():
    packet = protocol.run(P64_BASE3, 3, 70, 9, weight_bank=1, act_bank=0)
    b = beats(P64_BASE3, packet)
    assert len(b) == 4
    assert b[0][0] == Opcode.RUN and b[0][1] == 0b01 and not any(b[0][2:])
    assert [int.from_bytes(x[:4], "little") for x in b[1:]] == [3, 70, 9]
    assert not any(any(x[4:]) for x in b[1:])
    assert beats(P32, protocol.run(P32, 1, 1, 1, weight_bank=0, act_bank=1))[0] == bytes([3, 0b10, 0, 0])


def test_load_items_start_on_beat_boundaries():
    tiles = [bytes([i + 1]) * 9 for i in range(2)]  # 72 bits: two 64-bit beats each
    b = beats(P64_BASE3, protocol.load_weights(P64_BASE3, 1, tiles))
    assert b[0][:2] == bytes([Opcode.LOAD_WEIGHTS, 0b01])
    assert int.from_bytes(b[1][:4], "little") == 2
    assert b[2:] == [bytes([1]) * 8, bytes([1]) + bytes(7), bytes([2]) * 8, bytes([2]) + bytes(7)]


@pytest.mark.parametrize("call, message", [
    (lambda: protocol.encode_command(P32, Opcode.RUN, (1, 2)),
     r"^RUN takes 3 arguments \(tokens, k, n\), not 2$"),
    (lambda: protocol.encode_command(P32, Opcode.CLEAR, (1,)), r"^CLEAR takes 0 arguments \(none\), not 1$"),
    (lambda: protocol.encode_command(P32, Opcode.LOAD_ACTS, (2 ** 32,)),
     r"^argument chunks must be an integer in 0\.\.2\*\*32-1, not 4294967296$"),
    (lambda: protocol.run(P32, 1, 1, 1, weight_bank=2, act_bank=0), r"^weight_bank must be 0 or 1, not 2$"),
    (lambda: protocol.encode_command(P32, 0x77), r"^119 is not a valid Opcode$"),
])
def test_encode_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_encode_needs_params():
    with pytest.raises(TypeError, match=r"^params must be an AcceleratorParams, not 32$"):
        protocol.read_status(32)


@st.composite
def layers(draw):
    params = draw(st.sampled_from([P32, P64_BASE3, AcceleratorParams(rows=2, cols=7)]))
    n, k = draw(st.integers(1, 3 * params.rows + 1)), draw(st.integers(1, 3 * params.cols + 1))
    values = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n * k, max_size=n * k))
    return params, torch.tensor(values, dtype=torch.int8).reshape(n, k)


@settings(max_examples=60, deadline=None)
@given(layer=layers())
def test_tiles_unpack_to_the_layer(layer):
    params, w_t = layer
    n, k = w_t.shape
    tiles = protocol.pack_tiles(params, w_t)
    blocks, chunks = params.row_blocks(n), params.chunks(k)
    assert len(tiles) == blocks * chunks
    unpack = unpack_2bit if params.weight_format == "2bit" else unpack_base3
    rebuilt = torch.zeros(blocks * params.rows, chunks * params.cols, dtype=torch.int8)
    for index, tile in enumerate(tiles):
        assert len(tile) * 8 == params.tile_bits
        b, kc = divmod(index, chunks)
        packed = torch.frombuffer(bytearray(tile), dtype=torch.uint8).reshape(params.rows, -1)
        rebuilt[b * params.rows:(b + 1) * params.rows, kc * params.cols:(kc + 1) * params.cols] = \
            unpack(packed, params.cols)
    assert torch.equal(rebuilt[:n, :k], w_t)
    assert not rebuilt[n:].any() and not rebuilt[:, k:].any()


@pytest.mark.parametrize("act_bits", [8, 5])
def test_chunks_hold_the_activations(act_bits):
    params = AcceleratorParams(cols=6, act_bits=act_bits)
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(-2 ** (act_bits - 1), 2 ** (act_bits - 1), (3, 14), generator=gen)
    chunks = protocol.pack_chunks(params, x)
    assert len(chunks) == 3 * 3
    for index, chunk in enumerate(chunks):
        t, kc = divmod(index, 3)
        value = int.from_bytes(chunk, "little")
        for c in range(params.cols):
            field = value >> (c * act_bits) & (2 ** act_bits - 1)
            signed_value = field - (field >> (act_bits - 1) << act_bits)
            k = kc * params.cols + c
            assert signed_value == (int(x[t, k]) if k < 14 else 0)


def test_chunks_wrong():
    with pytest.raises(ValueError, match=r"^x_q must hold 8-bit values in -128\.\.127, found \[-3, 128\]$"):
        protocol.pack_chunks(P32, torch.tensor([[-3, 128]]))
    with pytest.raises(ValueError, match=r"^x_q must be a non-empty \[T, K\] matrix, not shape \(3,\)$"):
        protocol.pack_chunks(P32, torch.tensor([1, 2, 3]))


def test_decode_results():
    params = AcceleratorParams(rows=3, stream_width=64)   # a group: 3 words in 2 beats
    tokens, n = 2, 5                                          # 2 row blocks
    values = np.arange(-12, 0, dtype=np.int32).reshape(2, 2, 3)  # [block, token, row]
    packet = b"".join(values[b, t].tobytes() + bytes(4) for b in range(2) for t in range(tokens))
    y = protocol.decode_results(params, packet, tokens, n)
    expected = values.transpose(1, 0, 2).reshape(tokens, 6)[:, :n]
    assert y.dtype == np.int32 and np.array_equal(y, expected)
    with pytest.raises(protocol.ProtocolError,
                       match=r"^result packet of 40 bytes, expected 64 for 2 tokens x 5 outputs$"):
        protocol.decode_results(params, packet[:40], tokens, n)


def test_decode_status_without_counters():
    params = AcceleratorParams(counter_bits=0)
    words = [ErrorCode.OPCODE | 1 << ErrorCode.OPCODE << 16, StatusFlag.RESULTS_PENDING]
    status = protocol.decode_status(params, b"".join(w.to_bytes(4, "little") for w in words))
    assert (status.error, status.flags, status.counters) == (ErrorCode.OPCODE, StatusFlag.RESULTS_PENDING, {})


def test_decode_status():
    params = AcceleratorParams(counter_bits=64)
    words = [0] * params.status_words
    words[0] = ErrorCode.LENGTH | (1 << ErrorCode.LENGTH | 1 << ErrorCode.OPCODE) << 16
    words[1] = StatusFlag.RUNNING | StatusFlag.STREAMING
    for index, name in enumerate(COUNTERS):
        value = (index + 1) << 33 | (index + 7)
        words[2 + 2 * index], words[3 + 2 * index] = value & 0xFFFFFFFF, value >> 32
    packet = b"".join(w.to_bytes(4, "little") for w in words)
    status = protocol.decode_status(params, packet)
    assert status.error == ErrorCode.LENGTH
    assert status.errors == {ErrorCode.LENGTH, ErrorCode.OPCODE}
    assert status.flags == StatusFlag.RUNNING | StatusFlag.STREAMING
    assert status.counters == {name: (i + 1) << 33 | (i + 7) for i, name in enumerate(COUNTERS)}
    c = status.counters
    assert status.overhead == c["busy"] - c["compute"] - c["stall_out"]
    with pytest.raises(protocol.ProtocolError, match=r"^status packet of 4 bytes, expected 56$"):
        protocol.decode_status(params, packet[:4])


SMALL = AcceleratorParams(rows=4, cols=16, max_k=100, weight_depth=12, act_depth=20, max_tokens=6)


@settings(max_examples=200, deadline=None)
@given(tokens=st.integers(1, 20), k=st.integers(1, 400), n=st.integers(1, 90))
def test_plan_covers_the_layer_once_and_fits(tokens, k, n):
    parts = plan_matmul(SMALL, tokens, k, n)
    covered = np.zeros((tokens, k, n), dtype=np.int32)
    previous = None
    for part in parts:
        assert SMALL.check_run(*part.shape) == ErrorCode.NONE, part
        covered[part.t0:part.t1, part.k0:part.k1, part.n0:part.n1] += 1
        if previous is not None:
            assert part.weight_bank != previous.weight_bank
            same_acts = (part.t0, part.t1, part.k0, part.k1) == (previous.t0, previous.t1,
                                                                  previous.k0, previous.k1)
            assert part.load_acts != same_acts
            assert (part.act_bank == previous.act_bank) == same_acts
        previous = part
    assert parts[0].load_acts and (covered == 1).all()


def test_plan_keeps_a_fitting_layer_whole():
    assert [p.shape for p in plan_matmul(SMALL, 6, 48, 16)] == [(6, 48, 16)]


def test_plan_wrong():
    with pytest.raises(ValueError, match=r"^k must be a positive integer, not 0$"):
        plan_matmul(SMALL, 1, 0, 1)


def code_slots(params, tile):
    """Every weight-code place of a packed tile, ``[rows, row_bytes * weights_per_byte]``,
    read by the docs' rule (2-bit: LSB first; base-3: least significant trit first)."""
    row_bytes, per_byte = params.weight_row_bytes, 4 if params.weight_format == "2bit" else 5
    slots = np.zeros((params.rows, row_bytes * per_byte), dtype=np.int64)
    for r in range(params.rows):
        for j, byte in enumerate(tile[r * row_bytes:(r + 1) * row_bytes]):
            for i in range(per_byte):
                slots[r, j * per_byte + i] = byte >> (2 * i) & 3 if per_byte == 4 else byte // 3 ** i % 3
    return slots


@st.composite
def padded_shapes(draw):
    params = AcceleratorParams(rows=draw(st.integers(1, 6)), cols=draw(st.integers(1, 13)),
                               act_bits=draw(st.integers(2, 9)),
                               weight_format=draw(st.sampled_from(["2bit", "base3"])))
    n, k = draw(st.integers(1, 3 * params.rows)), draw(st.integers(1, 3 * params.cols))
    return params, n, k, draw(st.integers(0, 2 ** 16))


@settings(max_examples=80, deadline=None)
@given(shape=padded_shapes())
def test_packers_write_zero_padding(shape):
    """The padding contract from the host side: every code place beyond K (the rest of the
    last chunk and of each row's last byte) and every row beyond N holds code ZERO; the
    activations beyond K are 0."""
    params, n, k, seed = shape
    rng = np.random.default_rng(seed)
    w_t = rng.choice([-1, 1], (n, k))              # no ZERO inside: padding is the only ZERO
    tiles = protocol.pack_tiles(params, w_t)
    chunks = params.chunks(k)
    for index, tile in enumerate(tiles):
        b, kc = divmod(index, chunks)
        slots = code_slots(params, tile)
        real_rows, real_lanes = min(params.rows, n - b * params.rows), min(params.cols, k - kc * params.cols)
        assert (slots[:real_rows, :real_lanes] != WeightCode.ZERO).all()
        assert (slots[real_rows:] == WeightCode.ZERO).all() and (slots[:, real_lanes:] == WeightCode.ZERO).all()
    low = -2 ** (params.act_bits - 1)
    x_q = rng.integers(low, 0, (2, k))             # all nonzero
    for index, chunk in enumerate(protocol.pack_chunks(params, x_q)):
        real_lanes = min(params.cols, k - index % chunks * params.cols)
        assert int.from_bytes(chunk, "little") >> (real_lanes * params.act_bits) == 0
