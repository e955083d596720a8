"""``BitLinear``: the BitNet b1.58 linear layer, trainable and bit-exact.

The forward *value* is always the integer path the hardware computes::

    x_q, s_x = quantize_activations(x)      # per token, int8
    w_t, s_w = quantize_weights(weight)     # per tensor, ternary
    y = ternary_matmul(x_q, w_t) / (s_x * s_w)

In training the *gradient* is that of the straight-through estimator (the float product
of the fake-quantized tensors, as in the BitNet training code). Computing the value from
the integer product rather than from a float matmul of fake-quantized tensors makes
training, evaluation and the hardware agree to the last bit.

A layer can also be frozen to its quantized form (:meth:`BitLinear.freeze`), the way a
checkpoint stores it: ternary weights and the scale ``weight_scale = s_w``.
"""

import torch
from torch import nn

from .quant import quantize_activations, quantize_weights, ternary_matmul

__all__ = ["BitLinear"]


class BitLinear(nn.Module):
    """Linear layer with ternary weights and ``act_bits``-bit per-token activations.

    Parameters
    ----------
    in_features, out_features : int
    act_bits : int
        Activation width (8 for BitNet b1.58).

    Attributes
    ----------
    weight : Parameter ``[out_features, in_features]``
        The latent float weights (training). ``None`` once frozen.
    weight_ternary : buffer, int8 ``[out_features, in_features]``
        The frozen ternary weights (only after :meth:`freeze` or loading a checkpoint).
    weight_scale : buffer, 0-d float
        The frozen ``s_w``, the divisor of the output (only when frozen).
    matmul : callable or None
        When set, ``matmul(x_q, w_t) -> int32 y_int`` replaces :func:`ternary_matmul` in
        :meth:`integer_forward` (to run the integer product elsewhere, e.g. on the RTL).
    """

    def __init__(self, in_features, out_features, act_bits=8):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        self.in_features, self.out_features, self.act_bits = in_features, out_features, act_bits
        self.matmul = None
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.normal_(self.weight, std=in_features ** -0.5)

    @property
    def frozen(self):
        return "weight_ternary" in self._buffers

    def quantized_weights(self):
        """``(w_t, s_w)``: the ternary weights and their scale, as the hardware gets them."""
        if self.frozen:
            return self.weight_ternary, self.weight_scale
        return quantize_weights(self.weight.detach())

    def freeze(self, w_t=None, s_w=None):
        """Replace the latent weights by ternary ones (by default, their quantization)."""
        if w_t is None:
            w_t, s_w = self.quantized_weights()
        w_t = torch.as_tensor(w_t, dtype=torch.int8)
        if tuple(w_t.shape) != (self.out_features, self.in_features):
            raise ValueError(f"ternary weights must have shape {(self.out_features, self.in_features)}, "
                             f"not {tuple(w_t.shape)}")
        del self.weight
        self.weight = None
        self.register_buffer("weight_ternary", w_t.clone())
        self.register_buffer("weight_scale", torch.as_tensor(s_w, dtype=torch.float32).reshape(()).clone())
        return self

    def integer_forward(self, x):
        """The hardware's part and the rest: ``(y_int, s_x, s_w)`` with
        ``y = y_int / (s_x * s_w)``."""
        x_q, s_x = quantize_activations(x.detach(), self.act_bits)
        w_t, s_w = self.quantized_weights()
        return (self.matmul or ternary_matmul)(x_q, w_t), s_x, s_w

    def forward(self, x):
        y_int, s_x, s_w = self.integer_forward(x)
        y = y_int.to(x.dtype) / (s_x * s_w).to(x.dtype)
        if self.frozen or not torch.is_grad_enabled() or not (x.requires_grad or self.weight.requires_grad):
            return y
        ste = self._straight_through(x)
        return y + (ste - ste.detach())

    def _straight_through(self, x):
        """Float product of fake-quantized tensors whose gradient passes the rounding."""
        x_q, s_x = quantize_activations(x.detach(), self.act_bits)
        w_t, s_w = quantize_weights(self.weight.detach())
        x_fq = x + (x_q.to(x.dtype) / s_x - x).detach()
        w_fq = self.weight + (w_t.to(x.dtype) / s_w - self.weight).detach()
        return nn.functional.linear(x_fq, w_fq)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"act_bits={self.act_bits}, frozen={self.frozen}")
