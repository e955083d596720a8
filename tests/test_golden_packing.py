"""Packing formats: round trips (hypothesis), documented bit orders, and bad input."""

import pytest
import torch
from hypothesis import given, settings, strategies as st

from tritforge.golden.packing import (has_invalid_code, pack_2bit, pack_base3, pack_hf, unpack_2bit, unpack_base3,
                                      unpack_hf)


@st.composite
def ternary_matrices(draw, max_rows=17, max_cols=23):
    n, k = draw(st.integers(1, max_rows)), draw(st.integers(1, max_cols))
    values = draw(st.lists(st.sampled_from([-1, 0, 1]), min_size=n * k, max_size=n * k))
    return torch.tensor(values, dtype=torch.int8).reshape(n, k)


def transformers_pack_weights(quantized_weights):
    """The transformers BitNet integration's ``pack_weights`` loop, as published."""
    original_shape = quantized_weights.shape
    row_dim = (original_shape[0] + 4 - 1) // 4
    packed = torch.zeros((row_dim, *original_shape[1:]), dtype=torch.uint8)
    unpacked = (quantized_weights + 1).to(torch.uint8)
    it = min(4, (original_shape[0] // row_dim) + 1)
    for i in range(it):
        start = i * row_dim
        end = min(start + row_dim, original_shape[0])
        packed[: (end - start)] |= unpacked[start:end] << 2 * i
    return packed


@settings(max_examples=150, deadline=None)
@given(w=ternary_matrices())
def test_round_trips(w):
    n, k = w.shape
    assert torch.equal(unpack_hf(pack_hf(w), n), w)
    assert torch.equal(unpack_2bit(pack_2bit(w), k), w)
    assert torch.equal(unpack_base3(pack_base3(w), k), w)


@settings(max_examples=100, deadline=None)
@given(w=ternary_matrices(max_rows=40).filter(lambda w: w.shape[0] % 4 == 0))
def test_hf_layout_equals_transformers_packing(w):
    """For checkpoint shapes (N a multiple of 4, as in every BitNet model) the bytes are identical."""
    assert torch.equal(pack_hf(w), transformers_pack_weights(w.clone()))


@settings(max_examples=100, deadline=None)
@given(w=ternary_matrices())
def test_sizes(w):
    n, k = w.shape
    assert pack_hf(w).shape == (-(-n // 4), k)
    assert pack_2bit(w).shape == (n, -(-k // 4))
    assert pack_base3(w).shape == (n, -(-k // 5))
    assert pack_base3(w).max() < 243


def test_hf_bit_order():
    # Rows 0..7 -> two row blocks; byte [r, k] holds rows r, 2+r, 4+r, 6+r at bits 0, 2, 4, 6.
    w = torch.tensor([[-1], [0], [1], [1], [0], [-1], [1], [0]], dtype=torch.int8)
    codes = (w + 1).flatten().tolist()
    expected = [codes[r] | codes[2 + r] << 2 | codes[4 + r] << 4 | codes[6 + r] << 6 for r in (0, 1)]
    assert pack_hf(w).flatten().tolist() == expected


def test_2bit_bit_order_and_padding():
    # Codes 2, 1, 0, 2 in byte 0 (LSB first); byte 1 holds code 2 then three zero-weight codes.
    assert pack_2bit(torch.tensor([[1, 0, -1, 1, 1]])).tolist() == [[0b10_00_01_10, 0b01_01_01_10]]


def test_base3_digit_order_and_padding():
    # Byte = sum(code_i * 3**i); the 6th weight starts a byte padded with zero codes (1).
    packed = pack_base3(torch.tensor([[1, 0, -1, 1, 1, -1]]))
    assert packed.tolist() == [[2 + 1 * 3 + 0 * 9 + 2 * 27 + 2 * 81, 0 + 1 * 3 + 1 * 9 + 1 * 27 + 1 * 81]]


def test_base3_every_valid_byte_decodes():
    packed = torch.arange(243, dtype=torch.uint8).reshape(243, 1)
    trits = unpack_base3(packed, 5)
    assert torch.equal(pack_base3(trits), packed)


@pytest.mark.parametrize("byte", [243, 250, 255])
def test_base3_invalid_byte(byte):
    packed = torch.tensor([[0, 7], [12, byte]], dtype=torch.uint8)
    with pytest.raises(ValueError, match=rf"^invalid base-3 byte {byte} at \[1, 1\]: a byte holds 5 trits, "
                                         r"so it must be below 243$"):
        unpack_base3(packed, 10)


@pytest.mark.parametrize("unpack, shape", [(unpack_2bit, (2, 3)), (unpack_hf, (1, 4))])
def test_invalid_2bit_code(unpack, shape):
    packed = torch.full(shape, 0b01010101, dtype=torch.uint8)
    packed[0, 1] = 0b01110101  # code 3 in the third position
    with pytest.raises(ValueError, match=r"^packed holds the invalid 2-bit weight code 3 at weight \[\d+, \d+\] "
                                         r"\(valid codes: 0 = -1, 1 = 0, 2 = \+1\)$"):
        unpack(packed, shape[0] * 4 if unpack is unpack_hf else 12)


def test_pack_rejects_non_ternary():
    with pytest.raises(ValueError, match=r"^w_t must hold only -1, 0 and 1, found values in \[-2, 1\]$"):
        pack_2bit(torch.tensor([[-2, 1]]))
    with pytest.raises(ValueError, match=r"^w_t must be an integer tensor, not torch\.float32$"):
        pack_base3(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"^w_t must be a 2-D \[N, K\] tensor, not shape \(4,\)$"):
        pack_hf(torch.zeros(4, dtype=torch.int8))


def test_unpack_rejects_wrong_sizes():
    with pytest.raises(ValueError, match=r"^in_features 9 does not fit 2 packed bytes per row "
                                         r"\(needs ceil\(in_features / 4\) == 2\)$"):
        unpack_2bit(torch.zeros(3, 2, dtype=torch.uint8), 9)
    with pytest.raises(ValueError, match=r"^out_features 13 does not fit a packed tensor of 3 row blocks"):
        unpack_hf(torch.zeros(3, 2, dtype=torch.uint8), 13)
    with pytest.raises(ValueError, match=r"^packed must be a 2-D uint8 tensor, not torch\.int8 of shape \(3, 2\)$"):
        unpack_base3(torch.zeros(3, 2, dtype=torch.int8), 10)


@pytest.mark.parametrize("fmt", ["hf", "2bit", "base3"])
def test_packed_integer_path_equals_float_bitlinear(fmt):
    """Quantize, pack, unpack, integer matmul, rescale: the float BitLinear's output, to the last bit."""
    from tritforge.golden import BitLinear, quantize_activations, quantize_weights, ternary_matmul
    torch.manual_seed(3)
    layer = BitLinear(45, 30)
    x = torch.randn(2, 7, 45)
    w_t, s_w = quantize_weights(layer.weight.detach())
    pack, unpack, size = {"hf": (pack_hf, unpack_hf, 30), "2bit": (pack_2bit, unpack_2bit, 45),
                          "base3": (pack_base3, unpack_base3, 45)}[fmt]
    stored = unpack(pack(w_t), size)
    x_q, s_x = quantize_activations(x)
    assert torch.equal(ternary_matmul(x_q, stored).float() / (s_x * s_w), layer(x))


def test_has_invalid_code_sees_every_field():
    packed = pack_hf(torch.randint(-1, 2, (8, 5), generator=torch.Generator().manual_seed(4)))
    assert not has_invalid_code(packed)
    for field in range(4):
        bad = packed.clone()
        bad[1, 3] |= 0b11 << (2 * field)
        assert has_invalid_code(bad)
