"""The quantizers and the integer matmul against the BitNet b1.58 reference formulas."""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from tritforge.golden import (BitLinear, accumulator_bits, quantize_activations, quantize_weights,
                              ternary_matmul, ternary_matmul_numpy)


def reference_weight_quant(w):
    """The BitNet b1.58 training code's weight_quant, written as it is published."""
    scale = 1.0 / w.abs().mean().clamp_(min=1e-5)
    return (w * scale).round().clamp_(-1, 1) / scale


def reference_activation_quant(x):
    """The BitNet b1.58 training code's activation_quant (8 bit, per token)."""
    scale = 127.0 / x.abs().max(dim=-1, keepdim=True).values.clamp_(min=1e-5)
    return (x * scale).round().clamp_(-128, 127) / scale


def test_weight_quantizer_matches_reference():
    w = torch.randn(48, 80) * 0.02
    w_t, s_w = quantize_weights(w)
    assert w_t.dtype == torch.int8 and set(w_t.unique().tolist()) <= {-1, 0, 1}
    assert torch.equal(w_t / s_w, reference_weight_quant(w.clone()))


def test_weight_quantizer_zero_share_of_gaussian():
    # round(w / mean|w|) is 0 where |w| < mean|w| / 2: for a Gaussian, 2*Phi(0.399)-1 = 31 %.
    w_t, _ = quantize_weights(torch.randn(512, 512, generator=torch.Generator().manual_seed(1)))
    assert (w_t == 0).float().mean().item() == pytest.approx(0.31, abs=0.01)


def test_weight_quantizer_all_zero_uses_epsilon():
    w_t, s_w = quantize_weights(torch.zeros(3, 4))
    assert torch.equal(w_t, torch.zeros(3, 4, dtype=torch.int8))
    assert s_w.item() == pytest.approx(1e5)


def test_activation_quantizer_matches_reference():
    x = torch.randn(5, 7, 64) * 3
    x_q, s_x = quantize_activations(x)
    assert x_q.dtype == torch.int8 and s_x.shape == (5, 7, 1)
    assert torch.equal(x_q / s_x, reference_activation_quant(x.clone()))
    assert (x_q.abs().amax(dim=-1) == 127).all()  # absmax maps to +-127


def test_activation_quantizer_rounds_half_to_even():
    x = torch.tensor([[127.0, 0.5, 1.5, 2.5, -0.5, -2.5]])
    x_q, _ = quantize_activations(x)
    assert x_q.tolist() == [[127, 0, 2, 2, 0, -2]]


@pytest.mark.parametrize("bits", [2, 4, 12, 16])
def test_activation_quantizer_other_widths(bits):
    x = torch.randn(4, 33)
    x_q, s_x = quantize_activations(x, bits=bits)
    q_max = 2 ** (bits - 1) - 1
    assert int(x_q.abs().max()) == q_max
    assert torch.equal(x_q.to(torch.float32), (x * s_x).round().clamp(-q_max - 1, q_max))


@pytest.mark.parametrize("bits", [1, 17, 8.0])
def test_activation_quantizer_bits_wrong(bits):
    with pytest.raises(ValueError, match=rf"^bits must be an integer in 2\.\.16, not {re.escape(repr(bits))}$"):
        quantize_activations(torch.randn(2, 3), bits=bits)


def test_quantizers_reject_integer_input():
    with pytest.raises(ValueError, match=r"^w must be a floating-point tensor, not torch\.int64$"):
        quantize_weights(torch.ones(2, 2, dtype=torch.int64))


@settings(max_examples=60, deadline=None)
@given(t=st.integers(1, 4), n=st.integers(1, 20), k=st.integers(1, 70), seed=st.integers(0, 2**31))
def test_ternary_matmul_torch_and_numpy_agree(t, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    x_q = torch.randint(-128, 128, (t, k), generator=g, dtype=torch.int8)
    w_t = torch.randint(-1, 2, (n, k), generator=g, dtype=torch.int8)
    y = ternary_matmul(x_q, w_t)
    assert y.dtype == torch.int32
    expected = [[sum(int(x_q[i, j]) * int(w_t[o, j]) for j in range(k)) for o in range(n)] for i in range(t)]
    assert y.tolist() == expected
    assert np.array_equal(ternary_matmul_numpy(x_q.numpy(), w_t.numpy()), y.numpy())


def test_ternary_matmul_rejects_non_ternary_and_mismatch():
    x_q = torch.zeros(2, 4, dtype=torch.int8)
    with pytest.raises(ValueError, match=r"^w_t must hold only -1, 0 and 1, found values in \[-1, 2\]$"):
        ternary_matmul(x_q, torch.tensor([[2, 0, -1, 0]], dtype=torch.int8))
    with pytest.raises(ValueError, match=r"^x_q \[\.\.\., K\] and w_t \[N, K\] do not match"):
        ternary_matmul(x_q, torch.zeros(3, 5, dtype=torch.int8))
    with pytest.raises(ValueError, match=r"^x_q must be an integer tensor, not torch\.float32$"):
        ternary_matmul(x_q.float(), torch.zeros(3, 4, dtype=torch.int8))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 100, 1024, 2560, 6912])
@pytest.mark.parametrize("act_bits", [2, 4, 8, 16])
def test_accumulator_bits_is_tight_worst_case(k, act_bits):
    """The width holds both extremes of a K-term dot product and one bit less does not."""
    bits = accumulator_bits(k, act_bits)
    a_min, a_max = -2 ** (act_bits - 1), 2 ** (act_bits - 1) - 1
    extremes = [k * a_min * -1, k * a_min * 1, k * a_max * 1, k * a_max * -1]
    fits = lambda value, width: -2 ** (width - 1) <= value < 2 ** (width - 1)
    assert all(fits(v, bits) for v in extremes)
    assert not all(fits(v, bits - 1) for v in extremes)


def test_accumulator_bits_reached_by_integer_path():
    k = 1000
    x_q = torch.full((1, k), -128, dtype=torch.int8)
    y = ternary_matmul(x_q, torch.stack([torch.full((k,), -1), torch.full((k,), 1)]).to(torch.int8))
    assert y.tolist() == [[128 * k, -128 * k]]
    assert max(abs(v) for v in y[0].tolist()).bit_length() + 1 == accumulator_bits(k, 8)


def test_accumulator_bits_wrong():
    with pytest.raises(ValueError, match=r"^max_k must be a positive integer, not 0$"):
        accumulator_bits(0)


class TestBitLinear:
    def layer(self, seed=0, n=24, k=40):
        torch.manual_seed(seed)
        return BitLinear(k, n)

    def test_value_is_exact_integer_path(self):
        """Quantizers + integer matmul + rescale give the float BitLinear's output to the last bit."""
        layer = self.layer()
        x = torch.randn(3, 5, 40)
        x_q, s_x = quantize_activations(x)
        w_t, s_w = quantize_weights(layer.weight.detach())
        expected = ternary_matmul(x_q, w_t).float() / (s_x * s_w)
        for grad in (True, False):
            with torch.set_grad_enabled(grad):
                assert torch.equal(layer(x.requires_grad_(grad)), expected)

    def test_value_close_to_fake_quantized_float_product(self):
        layer = self.layer()
        x = torch.randn(4, 40)
        fake = torch.nn.functional.linear(reference_activation_quant(x.clone()),
                                          reference_weight_quant(layer.weight.detach().clone()))
        torch.testing.assert_close(layer(x), fake, rtol=1e-5, atol=1e-5)

    def test_straight_through_gradient(self):
        layer = self.layer()
        x = torch.randn(4, 40, requires_grad=True)
        layer(x).pow(2).sum().backward()
        x2 = x.detach().clone().requires_grad_(True)
        w2 = layer.weight.detach().clone().requires_grad_(True)
        # STE: the gradient of the float product of fake-quantized tensors, w.r.t. the latents.
        y2 = torch.nn.functional.linear(x2 + (reference_activation_quant(x2.detach().clone()) - x2).detach(),
                                        w2 + (reference_weight_quant(w2.detach().clone()) - w2).detach())
        y2.pow(2).sum().backward()
        torch.testing.assert_close(layer.weight.grad, w2.grad)
        torch.testing.assert_close(x.grad, x2.grad)

    def test_freeze_keeps_output_bit_exact(self):
        layer = self.layer()
        x = torch.randn(6, 40)
        before = layer(x)
        layer.freeze()
        assert layer.frozen and layer.weight is None
        assert torch.equal(layer(x), before)

    def test_freeze_wrong_shape(self):
        with pytest.raises(ValueError, match=r"^ternary weights must have shape \(24, 40\), not \(40, 24\)$"):
            self.layer().freeze(torch.zeros(40, 24, dtype=torch.int8), 1.0)

    def test_constructor_wrong(self):
        with pytest.raises(ValueError, match=r"^out_features must be an integer >= 1, not 0$"):
            BitLinear(4, 0)
