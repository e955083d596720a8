"""``BitNetModel``: a BitNet b1.58 decoder, with every projection a :class:`BitLinear`.

Two families of public checkpoints share one block (:attr:`BitNetConfig.family`)::

    h = embed_tokens(ids)
    per layer:
        a = input_layernorm(h)
        q, k, v = q_proj(a), k_proj(a), v_proj(a)           # BitLinear, no bias
        q, k = rotary(q), rotary(k)                          # rotate_half convention
        o = softmax(scale(q k^T)) v                          # causal; KV heads shared by groups
        h = h + o_proj(attn_sub_norm(o))
        m = post_attention_layernorm(h)
        h = h + down_proj(ffn_sub_norm(act(gate_proj(m)) * up_proj(m)))
    logits = lm_head(norm(h))                                # float, maybe tied to embed_tokens

``"2b4t"`` (the transformers ``bitnet`` model): ``act`` is squared ReLU, ``scale(s)`` is
``s * head_dim ** -0.5``, the sub-norms are ``self_attn.attn_sub_norm`` and
``mlp.ffn_sub_norm``. ``"1bitllm"`` (the paper's models): ``act`` is SiLU, ``scale(s)`` is
``s / math.sqrt(head_dim)``, the sub-norms are ``self_attn.inner_attn_ln`` and
``mlp.ffn_layernorm``. Module paths equal the checkpoint's tensor names, so
:mod:`~tritforge.golden.checkpoint` maps one to the other by name.

Numerics follow the reference code operation by operation, in float32 (the reference
loaded with ``dtype=torch.float32``): RMSNorm ``x * rsqrt(mean(x**2) + eps) * weight``,
rotary tables computed from ``inv_freq`` per position, the scaled scores, softmax in float32,
and a BitLinear's output ``y_int / (s_x * s_w)``. Every operation that reduces across
positions or whose rounding depends on how many elements one kernel call holds is computed
one position at a time (attention rows, SiLU, rotary tables, ``lm_head``): so the logits of a
position never depend on how many positions were computed together, and decoding with a
:class:`KVCache` gives the logits of the full forward pass exactly (``torch.equal``). Those are
the shapes the reference computes when it decodes one token after another; its own
full-sequence pass, with every position in one matrix product, differs from its own
incremental decoding in the last bits (docs/golden.md).

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

__all__ = ["BitNetModel", "KVCache", "RMSNorm", "rotary_cos_sin", "apply_rotary", "rotate_half",
           "rotary_inv_freq"]


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


def rotary_inv_freq(head_dim, theta, factor=1.0):
    """Inverse frequencies ``theta**(-2j/head_dim)`` of the channel pairs, float32, divided by
    ``factor`` for linear scaling (as transformers 5 does it: on the frequencies)."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim)
    return inv_freq if factor == 1.0 else inv_freq / factor


def rotary_cos_sin(seq_len, head_dim, theta, start=0, inv_freq=None):
    """Cosines and sines of the rotary embedding for positions ``start..start+seq_len-1``.

    Channel pair ``(j, j + head_dim/2)`` rotates at frequency ``theta**(-2j/head_dim)``
    (the LLaMA / transformers layout; ``inv_freq`` from :func:`rotary_inv_freq` overrides
    the frequencies). Returns two float32 tensors ``[seq_len, head_dim]``. Each position's row
    is computed on its own, the shape the reference computes while decoding, because the
    vectorized and scalar ``cos`` may differ in the last bit.
    """
    inv_freq = rotary_inv_freq(head_dim, theta) if inv_freq is None else inv_freq
    positions = torch.arange(start, start + seq_len, dtype=torch.float32)
    angles = [torch.cat([p * inv_freq] * 2).unsqueeze(0) for p in positions]
    return (torch.cat([a.cos() for a in angles]) if angles else torch.empty(0, head_dim),
            torch.cat([a.sin() for a in angles]) if angles else torch.empty(0, head_dim))


def rotate_half(x):
    """``[x1, x2] -> [-x2, x1]`` over the two halves of the last dimension."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x, cos, sin):
    """Rotate ``x`` ``[..., seq, head_dim]`` by the angles of :func:`rotary_cos_sin`."""
    return x * cos + rotate_half(x) * sin


def _per_position(function, x):
    """``function`` of ``x`` ``[..., C]`` applied to one row of ``C`` channels at a time.

    The vectorized and scalar versions of a transcendental function may round differently,
    and which elements a kernel hands to which depends on how many it gets: one row at a
    time, a position's result never depends on the others.
    """
    rows = x.reshape(-1, x.shape[-1])
    return torch.stack([function(row) for row in rows]).reshape(x.shape)


class KVCache:
    """The rotated keys and the values of every position seen so far, per layer.

    Pass the same cache to successive :meth:`BitNetModel.forward` calls to decode one token
    (or a few) at a time without recomputing the prefix; the logits equal the full forward
    pass's exactly. Keys and values ``[batch, kv_heads, positions, head_dim]`` grow by
    concatenation, as transformers' ``DynamicCache`` does.
    """

    def __init__(self, num_layers):
        self.keys = [None] * num_layers
        self.values = [None] * num_layers

    def __len__(self):
        """Positions held."""
        return 0 if self.keys[0] is None else self.keys[0].shape[2]

    def update(self, layer, keys, values):
        """Append ``keys`` and ``values`` of new positions to ``layer``'s; return all."""
        if self.keys[layer] is not None:
            keys = torch.cat([self.keys[layer], keys], dim=2)
            values = torch.cat([self.values[layer], values], dim=2)
        self.keys[layer], self.values[layer] = keys, values
        return keys, values


def _bitlinear_of(config):
    """``BitLinear(in_features, out_features)`` with ``config``'s activation width and scale rule."""
    return functools.partial(BitLinear, act_bits=config.act_bits, scale_multiplies=config.weight_scale_multiplies)


class BitNetAttention(nn.Module):
    """Causal grouped-query self-attention with a sub-norm before the output projection."""

    def __init__(self, config, layer_index):
        super().__init__()
        self.layer_index = layer_index
        self.num_heads, self.num_kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.head_dim
        self.family = config.family
        hidden, kv = config.hidden_size, config.kv_size
        linear = _bitlinear_of(config)
        self.q_proj = linear(hidden, hidden)
        self.k_proj = linear(hidden, kv)
        self.v_proj = linear(hidden, kv)
        self.o_proj = linear(hidden, hidden)
        self.sub_norm_name = config.sub_norm_names[0]
        self.add_module(self.sub_norm_name, RMSNorm(hidden, config.rms_norm_eps))

    def forward(self, x, cos, sin, cache=None):
        q = apply_rotary(self._split_heads(self.q_proj(x)), cos, sin)
        k = apply_rotary(self._split_heads(self.k_proj(x)), cos, sin)
        v = self._split_heads(self.v_proj(x))
        if cache is not None:
            k, v = cache.update(self.layer_index, k, v)
        # Query head h reads KV head h // group (transformers' repeat_kv).
        group = self.num_heads // self.num_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        heads = self._attend(q, k, v)
        merged = heads.transpose(1, 2).reshape(*x.shape[:2], self.num_heads * self.head_dim)
        return self.o_proj(getattr(self, self.sub_norm_name)(merged))

    def _attend(self, q, k, v):
        """Softmax attention of queries ``[B, H, T, D]`` over the keys and values of the
        positions up to each one's own (the last ``T`` of ``k``'s positions are theirs)."""
        past = k.shape[2] - q.shape[2]
        rows = []
        for i in range(q.shape[2]):
            seen = past + i + 1
            # Contiguous operands, as the reference's cache holds them: matmul picks its kernel
            # (and so its rounding) by the operands' layout.
            keys, values = k[:, :, :seen].contiguous(), v[:, :, :seen].contiguous()
            scores = self._scale(torch.matmul(q[:, :, i:i + 1].contiguous(), keys.transpose(2, 3)))
            probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
            rows.append(torch.matmul(probs, values))
        return torch.cat(rows, dim=2)

    def _scale(self, scores):
        # The two families' reference code round differently unless sqrt(head_dim) is a power of 2.
        if self.family == "2b4t":
            return scores * self.head_dim ** -0.5
        return scores / math.sqrt(self.head_dim)

    def _split_heads(self, x):
        """``[B, T, heads * head_dim] -> [B, heads, T, head_dim]``."""
        return x.view(*x.shape[:2], -1, self.head_dim).transpose(1, 2)


class BitNetMLP(nn.Module):
    """Gated FFN (squared ReLU or SiLU gate) with a sub-norm before the down projection."""

    def __init__(self, config):
        super().__init__()
        hidden, ffn = config.hidden_size, config.intermediate_size
        linear = _bitlinear_of(config)
        self.gate_proj = linear(hidden, ffn)
        self.up_proj = linear(hidden, ffn)
        self.down_proj = linear(ffn, hidden)
        self.hidden_act = config.hidden_act
        self.sub_norm_name = config.sub_norm_names[1]
        self.add_module(self.sub_norm_name, RMSNorm(ffn, config.rms_norm_eps))

    def forward(self, x):
        gated = self._activation(self.gate_proj(x)) * self.up_proj(x)
        return self.down_proj(getattr(self, self.sub_norm_name)(gated))

    def _activation(self, x):
        if self.hidden_act == "relu2":
            return torch.relu(x).square()  # exact operations: no need to go row by row
        return _per_position(nn.functional.silu, x)


class BitNetDecoderLayer(nn.Module):
    """Pre-norm residual block: attention, then FFN."""

    def __init__(self, config, layer_index):
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = BitNetAttention(config, layer_index)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = BitNetMLP(config)

    def forward(self, h, cos, sin, cache=None):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, cache)
        return h + self.mlp(self.post_attention_layernorm(h))


class BitNetDecoder(nn.Module):
    """Embedding, decoder layers and final norm: the checkpoint's ``model.*`` tensors."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(BitNetDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(self, input_ids, cache=None):
        config = self.config
        start = len(cache) if cache is not None else 0
        inv_freq = rotary_inv_freq(config.head_dim, config.rope_theta, config.rope_factor)
        cos, sin = rotary_cos_sin(input_ids.shape[1], config.head_dim, config.rope_theta, start=start,
                                  inv_freq=inv_freq)
        h = self.embed_tokens(input_ids).float()
        for layer in self.layers:
            h = layer(h, cos, sin, cache)
        return self.norm(h)


class BitNetModel(nn.Module):
    """BitNet b1.58 causal language model (either family, :attr:`BitNetConfig.family`).

    Parameters
    ----------
    config : BitNetConfig

    Attributes
    ----------
    config : BitNetConfig
    model : module
        ``embed_tokens`` (``nn.Embedding``), ``layers`` (each with ``input_layernorm``,
        ``self_attn.{q,k,v,o}_proj``, the attention sub-norm, ``post_attention_layernorm``,
        ``mlp.{gate,up,down}_proj`` and the FFN sub-norm, named as in
        :attr:`BitNetConfig.sub_norm_names`) and ``norm``.
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

    def forward(self, input_ids, cache=None, last_only=False):
        """Logits ``[B, T, vocab_size]`` (float32) of every position of ``input_ids`` ``[B, T]``.

        Position ``t`` sees only tokens ``0..t``. With a :class:`KVCache` (see
        :meth:`new_cache`), ``input_ids`` continue the positions the cache holds, and the
        cache grows by them. ``last_only`` computes the logits of the last position only
        (``[B, 1, vocab_size]``), which is all generation needs. Raises ``ValueError`` for ids
        that are not a 2-D integer tensor of in-vocabulary tokens, or that would run past the
        position limit.
        """
        self._check_input_ids(input_ids, len(cache) if cache is not None else 0)
        h = self.model(input_ids, cache)
        if last_only:
            h = h[:, -1:]
        # One position at a time: a matrix product's rounding depends on how many rows it has,
        # and on its operands' layout (and even on whether the weight requires a gradient).
        return torch.cat([self.lm_head(h[:, t:t + 1].contiguous()) for t in range(h.shape[1])], dim=1).float()

    def new_cache(self):
        """An empty :class:`KVCache` for :meth:`forward`."""
        return KVCache(self.config.num_hidden_layers)

    def _check_input_ids(self, input_ids, past=0):
        if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 \
                or input_ids.is_floating_point() or input_ids.dtype == torch.bool:
            raise ValueError(f"input_ids must be a 2-D integer tensor [batch, tokens], not "
                             f"{_describe(input_ids)}")
        seq_len, limit = input_ids.shape[1], self.config.max_position_embeddings
        if not 1 <= past + seq_len <= limit or seq_len < 1:
            raise ValueError(f"input_ids must hold 1 to max_position_embeddings ({limit}) tokens per "
                             f"sequence, not {past + seq_len}" + (f" ({past} cached)" if past else ""))
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
