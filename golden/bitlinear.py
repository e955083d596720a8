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
checkpoint stores it: ternary weights, packed four to a byte (the 2B4T layout, unpacked at
every product so that a frozen model takes a quarter of a byte per weight), and the scale
``weight_scale``. That scale is ``s_w`` and divides the output, or (``AutoBitLinear``
checkpoints, ``scale_multiplies``) is ``1 / s_w`` as stored and multiplies it::

    y = y_int / (s_x * weight_scale)        # bitlinear
    y = y_int / s_x * weight_scale          # autobitlinear, offline
"""

import torch
from torch import nn

from .packing import pack_hf, unpack_hf_checked_before
from .quant import exact_product, quantize_activations, quantize_weights

__all__ = ["BitLinear"]


class BitLinear(nn.Module):
    """Linear layer with ternary weights and ``act_bits``-bit per-token activations.

    Parameters
    ----------
    in_features, out_features : int
    act_bits : int
        Activation width (8 for BitNet b1.58).
    scale_multiplies : bool
        Whether a frozen ``weight_scale`` multiplies the output (``AutoBitLinear``) rather
        than divides it.

    Attributes
    ----------
    weight : Parameter ``[out_features, in_features]``
        The latent float weights (training). ``None`` once frozen.
    weight_packed : buffer, uint8 ``[ceil(out_features / 4), in_features]``
        The frozen ternary weights in the 2B4T layout (:func:`~tritforge.golden.packing.pack_hf`),
        only after :meth:`freeze` or loading a checkpoint.
    weight_scale : buffer, 0-d float
        The frozen scale (only when frozen): ``s_w``, or ``1 / s_w`` if ``scale_multiplies``.
    matmul : callable or None
        When set, ``matmul(x_q, w_t) -> int32 y_int`` replaces :func:`ternary_matmul` in
        :meth:`integer_forward` (to run the integer product elsewhere, e.g. on the RTL).
    """

    def __init__(self, in_features, out_features, act_bits=8, scale_multiplies=False):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, not {value!r}")
        self.in_features, self.out_features, self.act_bits = in_features, out_features, act_bits
        self.scale_multiplies = scale_multiplies
        self.matmul = None
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.normal_(self.weight, std=in_features ** -0.5)

    @property
    def frozen(self):
        return "weight_packed" in self._buffers

    @property
    def weight_ternary(self):
        """The frozen ternary weights, int8 ``[out_features, in_features]`` (unpacked anew)."""
        return unpack_hf_checked_before(self.weight_packed, self.out_features)

    def quantized_weights(self):
        """``(w_t, scale)``: the ternary weights and their scale, as the hardware gets them;
        the scale is ``s_w`` unless ``scale_multiplies``."""
        if self.frozen:
            return self.weight_ternary, self.weight_scale
        return quantize_weights(self.weight.detach())

    def freeze(self, w_t=None, s_w=None):
        """Replace the latent weights by ternary ones (by default, their quantization) and
        their scale (``s_w``, or ``1 / s_w`` as stored when ``scale_multiplies``)."""
        if w_t is None:
            if self.scale_multiplies:
                raise ValueError("an AutoBitLinear layer freezes only with its stored weights and scale")
            w_t, s_w = self.quantized_weights()
        w_t = torch.as_tensor(w_t, dtype=torch.int8)
        if tuple(w_t.shape) != (self.out_features, self.in_features):
            raise ValueError(f"ternary weights must have shape {(self.out_features, self.in_features)}, "
                             f"not {tuple(w_t.shape)}")
        return self.freeze_packed(pack_hf(w_t), s_w)

    def freeze_packed(self, packed, scale):
        """:meth:`freeze` with weights already packed (:func:`~tritforge.golden.packing.pack_hf`,
        checked by its caller: a checkpoint loader)."""
        del self.weight
        self.weight = None
        self.register_buffer("weight_packed", packed)
        self.register_buffer("weight_scale", torch.as_tensor(scale, dtype=torch.float32).reshape(()).clone())
        return self

    def integer_forward(self, x):
        """The hardware's part and the rest: ``(y_int, s_x, scale)``; :meth:`dequantize`
        makes ``y`` of them."""
        x_q, s_x = quantize_activations(x.detach(), self.act_bits)
        w_t, scale = self.quantized_weights()
        return (self.matmul or exact_product)(x_q, w_t), s_x, scale

    def dequantize(self, y_int, s_x, scale, dtype):
        """The float output of the integer product, in the reference's order of operations."""
        if self.scale_multiplies:
            return y_int.to(dtype) / s_x.to(dtype) * scale.to(dtype)
        return y_int.to(dtype) / (s_x * scale).to(dtype)

    def forward(self, x):
        y_int, s_x, scale = self.integer_forward(x)
        y = self.dequantize(y_int, s_x, scale, x.dtype)
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
                f"act_bits={self.act_bits}, frozen={self.frozen}, scale_multiplies={self.scale_multiplies}")
