"""Formats and shapes: the numbers every layer of tritforge agrees on, without torch.

One definition of each, imported by the golden model, the hardware generators, the host
side and the flows:

* the ternary **weight code** ``code = w + 1`` (:class:`WeightCode`) and the two packed
  **weight formats** of the weight SRAM (``"2bit"``, ``"base3"``) with numpy packers;
* the **accumulator width** rule (:func:`accumulator_bits`);
* the **model shapes** of the BitNet b1.58 models (:data:`MODEL_SHAPES`) and the
  ``(name, out_features, in_features)`` list of their BitLinears (:meth:`ModelShape.linear_shapes`).

Pure Python and numpy. The torch packers of :mod:`tritforge.golden.packing` are the
reference these are tested against, bit for bit.

Weight formats, for a ternary matrix ``w_t`` ``[N, K]`` (N outputs, K inputs), row-major:

``2bit``
    uint8 ``[N, ceil(K/4)]``; weight ``[n, k]`` is the code at bits ``2*(k % 4)`` (LSB
    first) of byte ``[n, k // 4]``. Code 3 is invalid.
``base3``
    Five trits per byte, 1.6 bits per weight: uint8 ``[N, ceil(K/5)]``; byte ``[n, j]`` is
    ``sum(code[n, 5j + i] * 3**i for i in range(5))``. Bytes 243..255 are invalid.

Padding uses the code of a zero weight, so padded weights add nothing to a dot product.
"""

import dataclasses
import enum

import numpy as np

from .errors import ParameterError

__all__ = [
    "WeightCode", "WEIGHT_CODE_BITS", "WEIGHT_FORMATS", "TRITS_PER_BYTE", "BASE3_LIMIT",
    "weights_per_byte", "bits_per_weight", "packed_row_bytes", "pack_weights",
    "accumulator_bits", "ModelShape", "MODEL_SHAPES", "MODEL_VOCAB_SIZES", "model_shape",
]

#: Width of one ternary weight code.
WEIGHT_CODE_BITS = 2
#: Weights in one base-3 byte.
TRITS_PER_BYTE = 5
#: The first byte value that encodes no five trits (``3**5``).
BASE3_LIMIT = 3 ** TRITS_PER_BYTE


class WeightCode(enum.IntEnum):
    """2-bit ternary weight code: ``code = w + 1``.

    The same code as the BitNet b1.58 2B4T checkpoints (and the transformers BitNet
    integration) store, so that a checkpoint's weights reach the weight SRAM by
    reordering bytes, never by recoding them. ``INVALID`` never comes out of a packer;
    hardware that meets it contributes nothing and raises an error flag.
    """
    NEG = 0b00
    ZERO = 0b01
    POS = 0b10
    INVALID = 0b11

    @classmethod
    def of(cls, weight):
        """The code of a ternary weight -1, 0 or +1."""
        if weight not in (-1, 0, 1) or isinstance(weight, bool):
            raise ParameterError(f"a ternary weight must be -1, 0 or 1, not {weight!r}")
        return cls(weight + 1)


#: Weights per byte of each packed format of the weight SRAM.
WEIGHT_FORMATS = {"2bit": 8 // WEIGHT_CODE_BITS, "base3": TRITS_PER_BYTE}


def _check_format(weight_format):
    if weight_format not in WEIGHT_FORMATS:
        raise ParameterError(f"weight_format must be one of {', '.join(WEIGHT_FORMATS)}, "
                             f"not {weight_format!r}")
    return weight_format


def weights_per_byte(weight_format):
    """Weights one byte of ``weight_format`` holds (4 or 5)."""
    return WEIGHT_FORMATS[_check_format(weight_format)]


def bits_per_weight(weight_format):
    """Storage bits per weight: 2 for ``"2bit"``, 1.6 for ``"base3"``."""
    return 8 / weights_per_byte(weight_format)


def packed_row_bytes(cols, weight_format):
    """Bytes of one packed row of ``cols`` weights."""
    return -(-cols // weights_per_byte(weight_format))


def pack_weights(w_t, weight_format):
    """Pack ``w_t`` ``[N, K]`` (integers in {-1, 0, 1}) row-major: uint8 ``[N, row_bytes]``.

    Raises
    ------
    ValueError
        If ``w_t`` is not a 2-D integer array of -1, 0 and 1, or the format is unknown.
    """
    per_byte = weights_per_byte(weight_format)
    codes = _codes(w_t)
    n, k = codes.shape
    row_bytes = -(-k // per_byte)
    padded = np.full((n, row_bytes * per_byte), WeightCode.ZERO, dtype=np.int64)
    padded[:, :k] = codes
    digits = padded.reshape(n, row_bytes, per_byte)
    if weight_format == "2bit":
        place = 1 << (WEIGHT_CODE_BITS * np.arange(per_byte))
    else:
        place = 3 ** np.arange(per_byte)
    return (digits * place).sum(axis=2).astype(np.uint8)


def _codes(w_t):
    w_t = np.asarray(w_t)
    if w_t.ndim != 2:
        raise ParameterError(f"w_t must be a 2-D [N, K] array, not shape {w_t.shape}")
    if not np.issubdtype(w_t.dtype, np.integer):
        raise ParameterError(f"w_t must be an integer array, not {w_t.dtype}")
    if w_t.size and (w_t.min() < -1 or w_t.max() > 1):
        raise ParameterError(f"w_t must hold only -1, 0 and 1, found values in "
                             f"[{int(w_t.min())}, {int(w_t.max())}]")
    return w_t.astype(np.int64) + 1


def accumulator_bits(max_k, act_bits=8):
    """Smallest signed width that holds any dot product of ``max_k`` ternary terms.

    Worst case: every activation is ``-2**(act_bits-1)`` and every weight ``-1``, giving
    ``+max_k * 2**(act_bits-1)``; the most negative sum, ``-max_k * 2**(act_bits-1)``,
    needs no more bits than that. So the width is the bit length of that bound plus a sign
    bit.
    """
    if not isinstance(max_k, int) or isinstance(max_k, bool) or max_k < 1:
        raise ParameterError(f"max_k must be a positive integer, not {max_k!r}")
    if not isinstance(act_bits, int) or isinstance(act_bits, bool) or act_bits < 1:
        raise ParameterError(f"act_bits must be a positive integer, not {act_bits!r}")
    return (max_k << (act_bits - 1)).bit_length() + 1


@dataclasses.dataclass(frozen=True)
class ModelShape:
    """The matrix shapes of a BitNet b1.58 decoder (field names of the transformers config)."""
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int

    @property
    def head_dim(self):
        """Channels per attention head."""
        return self.hidden_size // self.num_attention_heads

    @property
    def kv_size(self):
        """Output width of ``k_proj`` and ``v_proj``."""
        return self.num_key_value_heads * self.head_dim

    def layer_linear_shapes(self):
        """``(name, out_features, in_features)`` of the seven BitLinears of one layer, in
        execution order; names are relative to the layer (``self_attn.q_proj``...)."""
        h, kv, ffn = self.hidden_size, self.kv_size, self.intermediate_size
        return [
            ("self_attn.q_proj", h, h),
            ("self_attn.k_proj", kv, h),
            ("self_attn.v_proj", kv, h),
            ("self_attn.o_proj", h, h),
            ("mlp.gate_proj", ffn, h),
            ("mlp.up_proj", ffn, h),
            ("mlp.down_proj", h, ffn),
        ]

    def linear_shapes(self):
        """``(name, out_features, in_features)`` of every BitLinear of the model, in execution
        order, named by module path (``model.layers.{i}.self_attn.q_proj``...).

        ``lm_head`` is a float linear layer and is not listed.
        """
        return [(f"model.layers.{i}.{name}", out_features, in_features)
                for i in range(self.num_hidden_layers)
                for name, out_features, in_features in self.layer_linear_shapes()]

    def ternary_weight_count(self):
        """Number of ternary weights in the whole model."""
        return sum(out_features * in_features for _, out_features, in_features in self.linear_shapes())


#: The shapes of the named BitNet b1.58 models: 2B4T (microsoft/bitnet-b1.58-2B-4T), the
#: paper's 700M / 1.3B / 3B (1bitLLM/bitnet_b1_58 config.json files) and the byte-level
#: ``tiny`` model trained on a CPU for tests and demos (FFN 172 = 64 * 8/3 rounded to a
#: multiple of 4, the LLaMA sizing rule at toy scale).
MODEL_SHAPES = {
    "2b4t": ModelShape(2560, 6912, 30, 20, 5),
    "700M": ModelShape(1536, 4096, 24, 16, 16),
    "1.3B": ModelShape(2048, 5460, 24, 32, 32),
    "3B": ModelShape(3200, 8640, 26, 32, 32),
    "tiny": ModelShape(64, 172, 2, 4, 2),
}

#: Vocabulary of each preset (the size of its embedding and float ``lm_head``, which stay on
#: the host): 2B4T's LLaMA 3 tokenizer, the 1bitLLM models' LLaMA tokenizer plus two, bytes
#: for ``tiny``.
MODEL_VOCAB_SIZES = {"2b4t": 128256, "700M": 32002, "1.3B": 32002, "3B": 32002, "tiny": 256}


def model_shape(name):
    """The :class:`ModelShape` of a model preset of :data:`MODEL_SHAPES`."""
    if name not in MODEL_SHAPES:
        raise ParameterError(f"model preset must be one of {', '.join(MODEL_SHAPES)}, not {name!r}")
    return MODEL_SHAPES[name]
