"""``BitNetModel``: the BitNet b1.58 2B4T decoder, with every projection a :class:`BitLinear`.

The architecture is that of the transformers ``bitnet`` model (LLaMA with squared-ReLU gated
FFN and two extra "sub-norms")::

    h = embed_tokens(ids)
    per layer:
        a = input_layernorm(h)
        q, k, v = q_proj(a), k_proj(a), v_proj(a)           # BitLinear, no bias
        q, k = rotary(q), rotary(k)                          # rotate_half convention
        o = softmax(q k^T / sqrt(head_dim) + causal) v       # KV heads shared by groups
        h = h + o_proj(attn_sub_norm(o))
        m = post_attention_layernorm(h)
        h = h + down_proj(ffn_sub_norm(relu(gate_proj(m))**2 * up_proj(m)))
    logits = lm_head(norm(h))                                # float, maybe tied to embed_tokens

Module paths equal the checkpoint's tensor names (``model.layers.3.mlp.up_proj``...), so
:mod:`~tritforge.golden.checkpoint` maps one to the other by name. Everything outside the
BitLinears' integer products is float32.

The integer product of every BitLinear can be delegated (to an RTL simulator, for instance)
with :meth:`BitNetModel.matmul_hook`; a correct delegate reproduces the logits bit for bit.
"""

import contextlib
import functools
import math

import torch
from torch import nn

from .bitlinear import BitLinear
from .config import BitNetConfig

__all__ = ["BitNetModel", "RMSNorm", "rotary_cos_sin", "apply_rotary", "rotate_half"]


class RMSNorm(nn.Module):
    """Root-mean-square normalization with a learned per-channel gain, computed in float32:
    ``x * rsqrt(mean(x**2) + eps) * weight``.

    Parameters
    ----------
    size : int
        Number of channels (the last dimension).
    eps : float
        Added to the mean square before the square root.
    """

    def __init__(self, size, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))

    def forward(self, x):
        x = x.float()
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"


def rotary_cos_sin(seq_len, head_dim, theta):
    """Cosines and sines of the rotary embedding for positions ``0..seq_len-1``.

    Channel pair ``(j, j + head_dim/2)`` rotates at frequency ``theta**(-2j/head_dim)``
    (the LLaMA / transformers layout). Returns two float32 tensors ``[seq_len, head_dim]``.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x):
    """``[x1, x2] -> [-x2, x1]`` over the two halves of the last dimension."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x, cos, sin):
    """Rotate ``x`` ``[..., seq, head_dim]`` by the angles of :func:`rotary_cos_sin`."""
    return x * cos + rotate_half(x) * sin


class BitNetAttention(nn.Module):
    """Causal grouped-query self-attention with a sub-norm before the output projection."""

    def __init__(self, config):
        super().__init__()
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim
        hidden, kv, bits = config.hidden_size, config.kv_size, config.act_bits
        self.q_proj = BitLinear(hidden, hidden, bits)
        self.k_proj = BitLinear(hidden, kv, bits)
        self.v_proj = BitLinear(hidden, kv, bits)
        self.o_proj = BitLinear(hidden, hidden, bits)
        self.attn_sub_norm = RMSNorm(hidden, config.rms_norm_eps)

    def forward(self, x, cos, sin):
        q = apply_rotary(self._split_heads(self.q_proj(x)), cos, sin)
        k = apply_rotary(self._split_heads(self.k_proj(x)), cos, sin)
        v = self._split_heads(self.v_proj(x))
        # Query head h reads KV head h // group (transformers' repeat_kv).
        group = self.num_heads // self.num_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        seq_len = x.shape[1]
        future = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)
        probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        heads = torch.matmul(probs, v)
        merged = heads.transpose(1, 2).reshape(*x.shape[:2], self.num_heads * self.head_dim)
        return self.o_proj(self.attn_sub_norm(merged))

    def _split_heads(self, x):
        """``[B, T, heads * head_dim] -> [B, heads, T, head_dim]``."""
        return x.view(*x.shape[:2], -1, self.head_dim).transpose(1, 2)


class BitNetMLP(nn.Module):
    """Squared-ReLU gated FFN with a sub-norm before the down projection."""

    def __init__(self, config):
        super().__init__()
        hidden, ffn, bits = config.hidden_size, config.intermediate_size, config.act_bits
        self.gate_proj = BitLinear(hidden, ffn, bits)
        self.up_proj = BitLinear(hidden, ffn, bits)
        self.down_proj = BitLinear(ffn, hidden, bits)
        self.ffn_sub_norm = RMSNorm(ffn, config.rms_norm_eps)

    def forward(self, x):
        gated = torch.relu(self.gate_proj(x)).square() * self.up_proj(x)
        return self.down_proj(self.ffn_sub_norm(gated))


class BitNetDecoderLayer(nn.Module):
    """Pre-norm residual block: attention, then FFN."""

    def __init__(self, config):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = BitNetAttention(config)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = BitNetMLP(config)

    def forward(self, h, cos, sin):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class BitNetDecoder(nn.Module):
    """Embedding, decoder layers and final norm: the checkpoint's ``model.*`` tensors."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(BitNetDecoderLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, input_ids):
        cos, sin = rotary_cos_sin(input_ids.shape[1], self.config.head_dim, self.config.rope_theta)
        h = self.embed_tokens(input_ids).float()
        for layer in self.layers:
            h = layer(h, cos, sin)
        return self.norm(h)


class BitNetModel(nn.Module):
    """BitNet b1.58 causal language model (the 2B4T architecture).

    Parameters
    ----------
    config : BitNetConfig

    Attributes
    ----------
    config : BitNetConfig
    model : module
        ``embed_tokens`` (``nn.Embedding``), ``layers`` (each with ``input_layernorm``,
        ``self_attn.{q,k,v,o}_proj``, ``self_attn.attn_sub_norm``,
        ``post_attention_layernorm``, ``mlp.{gate,up,down}_proj``, ``mlp.ffn_sub_norm``) and
        ``norm``.
    lm_head : nn.Linear
        Float output projection, no bias; shares ``model.embed_tokens.weight`` when
        ``config.tie_word_embeddings``.

    Notes
    -----
    A new model has latent float weights (trainable; the BitLinears quantize them on the fly).
    :meth:`freeze` turns it into the inference form a checkpoint holds; both give the same
    logits bit for bit.
    """

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, BitNetConfig):
            raise TypeError(f"config must be a BitNetConfig, not {type(config).__name__}")
        self.config = config
        self.model = BitNetDecoder(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        # The transformers initialization (initializer_range 0.02) for the float matrices.
        nn.init.normal_(self.model.embed_tokens.weight, std=0.02)
        nn.init.normal_(self.lm_head.weight, std=0.02)
        self.tie_weights()

    def tie_weights(self):
        """Make ``lm_head`` share the embedding matrix if the config says so (call again
        after replacing ``model.embed_tokens.weight``)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def forward(self, input_ids):
        """Logits ``[B, T, vocab_size]`` (float32) of every position of ``input_ids`` ``[B, T]``.

        Position ``t`` sees only tokens ``0..t``. Raises ``ValueError`` for ids that are not
        a 2-D integer tensor of in-vocabulary tokens no longer than the position limit.
        """
        self._check_input_ids(input_ids)
        return self.lm_head(self.model(input_ids)).float()

    def _check_input_ids(self, input_ids):
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 \
                or input_ids.is_floating_point() or input_ids.dtype == torch.bool:
            raise ValueError(f"input_ids must be a 2-D integer tensor [batch, tokens], not "
                             f"{_describe(input_ids)}")
        seq_len, limit = input_ids.shape[1], self.config.max_position_embeddings
        if not 1 <= seq_len <= limit:
            raise ValueError(f"input_ids must hold 1 to max_position_embeddings ({limit}) tokens per "
                             f"sequence, not {seq_len}")
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= self.config.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.config.vocab_size}), found values in "
                             f"[{low}, {high}]")

    def bitlinears(self):
        """``(name, BitLinear)`` of every ternary projection, in execution order; the names
        are those of :meth:`BitNetConfig.linear_shapes`."""
        return [(name, self.get_submodule(name)) for name, _, _ in self.config.linear_shapes()]

    @property
    def frozen(self):
        """True when every BitLinear holds ternary weights (the checkpoint form)."""
        return all(linear.frozen for _, linear in self.bitlinears())

    def freeze(self):
        """Quantize every BitLinear to its inference form (in place); returns ``self``."""
        for _, linear in self.bitlinears():
            if not linear.frozen:
                linear.freeze()
        return self

    def zero_share(self):
        """Fraction of the ternary weights (of all BitLinears together) that are zero."""
        zeros = total = 0
        for _, linear in self.bitlinears():
            w_t, _ = linear.quantized_weights()
            zeros += int((w_t == 0).sum())
            total += w_t.numel()
        return zeros / total

    @contextlib.contextmanager
    def matmul_hook(self, matmul):
        """Within the ``with`` block, compute every BitLinear's integer product with
        ``matmul(name, x_q, w_t)`` instead of :func:`~tritforge.golden.ternary_matmul`.

        ``name`` is the projection's module path (``model.layers.0.self_attn.q_proj``),
        ``x_q`` the int8 activations ``[..., K]``, ``w_t`` the int8 ternary weights ``[N, K]``.
        The result (a tensor or numpy array) must be int32 of shape ``[..., N]``; anything
        else raises ``ValueError`` naming the projection.
        """
        if not callable(matmul):
            raise TypeError(f"matmul must be callable, not {matmul!r}")
        previous = {name: linear.matmul for name, linear in self.bitlinears()}
        try:
            for name, linear in self.bitlinears():
                linear.matmul = functools.partial(_checked_matmul, matmul, name)
            yield self
        finally:
            for name, linear in self.bitlinears():
                linear.matmul = previous[name]


def _checked_matmul(matmul, name, x_q, w_t):
    """Call a user matmul hook and check that its result can stand for the golden one."""
    y_int = torch.as_tensor(matmul(name, x_q, w_t))
    expected_shape = (*x_q.shape[:-1], w_t.shape[0])
    if y_int.dtype != torch.int32 or tuple(y_int.shape) != expected_shape:
        raise ValueError(f"matmul hook returned {y_int.dtype} of shape {tuple(y_int.shape)} for {name}; "
                         f"expected torch.int32 of shape {expected_shape}")
    return y_int


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"{value.dtype} tensor of shape {tuple(value.shape)}"
    return repr(value)
