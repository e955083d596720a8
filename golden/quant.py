"""BitNet b1.58 quantizers and the exact integer ternary matmul.

These functions define the integer semantics the hardware must reproduce bit for bit,
following the BitNet b1.58 reference code:

* weights, per tensor (absmean): ``s_w = 1 / mean(|W|).clamp(min=1e-5)``,
  ``W_t = round(W * s_w).clamp(-1, 1)``;
* activations, per token (absmax): ``s_x = Qp / max(|x|, dim=-1).clamp(min=1e-5)``,
  ``x_q = round(x * s_x).clamp(-Qp - 1, Qp)`` with ``Qp = 2**(bits-1) - 1``;
* ``y = (x_q @ W_t.T) / (s_x * s_w)``; the product ``x_q @ W_t.T`` is exact integer
  arithmetic, the hardware's job.

``round`` is torch's round-half-to-even, as in the reference code.
"""

import numpy as np
import torch

from ..spec.formats import accumulator_bits

__all__ = [
    "EPS", "quantize_weights", "quantize_activations", "ternary_matmul", "exact_product",
    "ternary_matmul_numpy", "accumulator_bits",
]

#: Clamp floor of both scale denominators in the reference code.
EPS = 1e-5
#: Shortest K handed to torch's int8 kernel: torch 2.13's CPU ``_int_mm`` returns garbage at
#: K = 1 (the property test of ``ternary_matmul`` against numpy found it); short products
#: gain nothing from it anyway.
_INT_MM_MIN_K = 16


def quantize_weights(w):
    """Absmean ternary quantization of a weight tensor (one scale per tensor).

    Returns ``(w_t, s_w)``: ``w_t`` an int8 tensor with values in {-1, 0, 1} and the
    shape of ``w``; ``s_w`` a 0-d float tensor (dtype of ``w``) such that
    ``w ≈ w_t / s_w``.
    """
    w = _float_tensor(w, "w")
    s_w = 1.0 / w.abs().mean().clamp(min=EPS)
    w_t = (w * s_w).round().clamp(-1, 1).to(torch.int8)
    return w_t, s_w


def quantize_activations(x, bits=8):
    """Absmax per-token quantization of activations to signed ``bits``-bit integers.

    Returns ``(x_q, s_x)``: ``x_q`` an int8 tensor (int16 for ``bits`` > 8) with the shape
    of ``x``; ``s_x`` the per-token scale, shape ``x.shape[:-1] + (1,)``, such that
    ``x ≈ x_q / s_x``.
    """
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in 2..16, not {bits!r}")
    x = _float_tensor(x, "x")
    q_max = 2 ** (bits - 1) - 1
    s_x = q_max / x.abs().amax(dim=-1, keepdim=True).clamp(min=EPS)
    x_q = (x * s_x).round().clamp(-q_max - 1, q_max)
    return x_q.to(torch.int8 if bits <= 8 else torch.int16), s_x


def ternary_matmul(x_q, w_t):
    """Exact ``x_q @ w_t.T`` in int32: activations ``[..., K]`` times weights ``[N, K]``.

    Raises ``ValueError`` when the inputs are not integer tensors, when ``w_t`` holds a
    value outside {-1, 0, 1}, or when the inner dimensions differ.
    """
    x_q, w_t = _integer_tensor(x_q, "x_q"), _integer_tensor(w_t, "w_t")
    _check_ternary(w_t)
    if w_t.dim() != 2 or x_q.shape[-1] != w_t.shape[-1]:
        raise ValueError(f"x_q [..., K] and w_t [N, K] do not match: "
                         f"x_q has shape {tuple(x_q.shape)}, w_t has {tuple(w_t.shape)}")
    k = w_t.shape[-1]
    if accumulator_bits(max(k, 1), _value_bits(x_q)) > 32:
        raise ValueError(f"K = {k} can overflow an int32 accumulator")
    return exact_product(x_q, w_t)


def exact_product(x_q, w_t):
    """``x_q @ w_t.T`` in int32 without checking the inputs (:func:`ternary_matmul` checks;
    a frozen :class:`~tritforge.golden.BitLinear` checked its weights when it got them)."""
    if x_q.dtype == torch.int8 and w_t.dtype == torch.int8 and w_t.shape[0] and w_t.shape[1] >= _INT_MM_MIN_K:
        # int8 x int8 with int32 accumulation (oneDNN): exact, and ten times faster than an
        # int32 matmul, which the 2B4T-sized benchmark feels (docs/golden.md).
        rows = x_q.reshape(-1, x_q.shape[-1])
        return torch._int_mm(rows.contiguous(), w_t.T).reshape(*x_q.shape[:-1], w_t.shape[0])
    return torch.matmul(x_q.to(torch.int32), w_t.to(torch.int32).T)


def ternary_matmul_numpy(x_q, w_t):
    """The same product as :func:`ternary_matmul` in numpy (int64 arithmetic, int32 result).

    An independent implementation: the tests require the two to agree.
    """
    x_q, w_t = np.asarray(x_q), np.asarray(w_t)
    if not np.all(np.isin(w_t, (-1, 0, 1))):
        raise ValueError("w_t must hold only -1, 0 and 1")
    return (x_q.astype(np.int64) @ w_t.astype(np.int64).T).astype(np.int32)


def _float_tensor(t, name):
    t = torch.as_tensor(t)
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, not {t.dtype}")
    return t


def _integer_tensor(t, name):
    t = torch.as_tensor(t)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor, not {t.dtype}")
    return t


def _check_ternary(w_t):
    if w_t.numel() and (w_t.min() < -1 or w_t.max() > 1):
        raise ValueError("w_t must hold only -1, 0 and 1, "
                         f"found values in [{int(w_t.min())}, {int(w_t.max())}]")


def _value_bits(x_q):
    """Signed width of the largest magnitude in ``x_q`` (at least 2)."""
    if x_q.numel() == 0:
        return 2
    largest = max(int(x_q.max()), -int(x_q.min()) - 1, 1)
    return largest.bit_length() + 1
