"""BitNetConfig and BitNetModel: validation, presets, the forward pass against an independent
re-implementation, causality, GQA, frozen/latent equality and the matmul hook."""

import dataclasses
import math
import re

import numpy as np
import pytest
import torch

from tritforge.golden import (PRESETS, BitLinear, BitNetConfig, BitNetModel, packing, ternary_matmul,
                              ternary_matmul_numpy)
from tritforge.golden.model import RMSNorm, apply_rotary, rotary_cos_sin

from golden_fixtures import logits_of, random_model, random_tokens, tiny_config


# --- BitNetConfig -------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, error, message", [
    ({"hidden_size": 64.0}, TypeError, "hidden_size must be an integer, not 64.0"),
    ({"num_hidden_layers": True}, TypeError, "num_hidden_layers must be an integer, not True"),
    ({"vocab_size": 0}, ValueError, "vocab_size must be at least 1, not 0"),
    ({"max_position_embeddings": -4}, ValueError, "max_position_embeddings must be at least 1, not -4"),
    ({"act_bits": 1}, ValueError, "act_bits must be at least 2, not 1"),
    ({"rms_norm_eps": 0.0}, ValueError, "rms_norm_eps must be positive and finite, not 0.0"),
    ({"rope_theta": "1e4"}, TypeError, "rope_theta must be a number, not '1e4'"),
    ({"tie_word_embeddings": 1}, TypeError, "tie_word_embeddings must be a bool, not 1"),
    ({"num_attention_heads": 3}, ValueError,
     "hidden_size must be divisible by num_attention_heads: 64 is not a multiple of 3"),
    ({"num_key_value_heads": 3}, ValueError,
     "num_attention_heads must be divisible by num_key_value_heads: 4 is not a multiple of 3"),
    ({"hidden_size": 36}, ValueError,
     "head size (hidden_size / num_attention_heads) must be even for rotary embeddings, not 9"),
    ({"intermediate_size": 131072, "act_bits": 16}, ValueError,
     "act_bits 16 with an inner dimension of 131072 needs a 34-bit accumulator, "
     "more than the int32 the matmul uses"),
])
def test_config_wrong(changes, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        tiny_config(**changes)


def test_config_preset_wrong():
    with pytest.raises(ValueError, match=r"^unknown preset 'huge'; known presets: 2b4t, 700M, 1\.3B, 3B, tiny$"):
        BitNetConfig.preset("huge")


def test_config_2b4t_preset():
    config = BitNetConfig.preset("2b4t")
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (2560, 6912, 30)
    assert (config.num_attention_heads, config.num_key_value_heads, config.head_dim) == (20, 5, 128)
    assert (config.vocab_size, config.max_position_embeddings, config.rope_theta) == (128256, 4096, 500000.0)
    assert config.tie_word_embeddings and config.act_bits == 8


def test_config_2b4t_linear_shapes():
    shapes = PRESETS["2b4t"].linear_shapes()
    assert len(shapes) == 30 * 7
    assert shapes[:7] == [
        ("model.layers.0.self_attn.q_proj", 2560, 2560),
        ("model.layers.0.self_attn.k_proj", 640, 2560),
        ("model.layers.0.self_attn.v_proj", 640, 2560),
        ("model.layers.0.self_attn.o_proj", 2560, 2560),
        ("model.layers.0.mlp.gate_proj", 6912, 2560),
        ("model.layers.0.mlp.up_proj", 6912, 2560),
        ("model.layers.0.mlp.down_proj", 2560, 6912),
    ]
    assert shapes[-1] == ("model.layers.29.mlp.down_proj", 2560, 6912)


def test_config_2b4t_weight_volume():
    # The published figure: ~0.4 GB of non-embedding weights at log2(3) bits each.
    gigabytes = PRESETS["2b4t"].ternary_weight_count() * math.log2(3) / 8 / 1e9
    assert gigabytes == pytest.approx(0.41, abs=0.01)


@pytest.mark.parametrize("name, hidden, ffn, layers, heads", [
    ("700M", 1536, 4096, 24, 16), ("1.3B", 2048, 5460, 24, 32), ("3B", 3200, 8640, 26, 32),
])
def test_config_paper_presets(name, hidden, ffn, layers, heads):
    config = PRESETS[name]
    assert (config.hidden_size, config.intermediate_size, config.num_hidden_layers) == (hidden, ffn, layers)
    assert config.num_attention_heads == config.num_key_value_heads == heads
    assert config.vocab_size == 32002 and not config.tie_word_embeddings


@pytest.mark.parametrize("name", PRESETS)
def test_config_dict_round_trip(name):
    assert BitNetConfig.from_dict(PRESETS[name].to_dict()) == PRESETS[name]


def test_config_from_dict_refuses_unknown_keys():
    """A dropped field could change the computation (config.json goes through hf_config)."""
    with pytest.raises(ValueError, match=r"^unknown configuration field 'model_type'; the fields are vocab_size, "):
        BitNetConfig.from_dict({**PRESETS["2b4t"].to_dict(), "model_type": "bitnet"})


# --- forward pass ----------------------------------------------------------------------------------

def test_model_forward_shape():
    config = tiny_config()
    logits = logits_of(random_model(config), random_tokens(config, batch=3, length=17))
    assert logits.shape == (3, 17, config.vocab_size) and logits.dtype == torch.float32


@pytest.mark.parametrize("ids, message", [
    (torch.zeros(1, 3), "input_ids must be a 2-D integer tensor [batch, tokens], not torch.float32 tensor "
                        "of shape (1, 3)"),
    (torch.zeros(3, dtype=torch.int64), "input_ids must be a 2-D integer tensor [batch, tokens], not "
                                        "torch.int64 tensor of shape (3,)"),
    (torch.zeros(1, 257, dtype=torch.int64), "input_ids must hold 1 to max_position_embeddings (256) tokens "
                                             "per sequence, not 257"),
    (torch.tensor([[0, 256]]), "token ids must be in [0, 256), found values in [0, 256]"),
])
def test_model_forward_wrong(ids, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        random_model()(ids)


def test_model_names_match_config_linear_shapes():
    config = tiny_config()
    model = random_model(config)
    found = [(name, module.out_features, module.in_features)
             for name, module in model.named_modules() if isinstance(module, BitLinear)]
    assert found == config.linear_shapes()


@pytest.mark.parametrize("tied", [True, False])
def test_model_lm_head_tying(tied):
    model = random_model(tiny_config(tie_word_embeddings=tied))
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied


def test_model_causal():
    config = tiny_config()
    model, ids = random_model(config), random_tokens(config, batch=1, length=20)
    changed = ids.clone()
    changed[0, 12] = (changed[0, 12] + 1) % config.vocab_size
    before, after = logits_of(model, ids), logits_of(model, changed)
    assert torch.equal(before[:, :12], after[:, :12])
    assert not torch.equal(before[:, 12:], after[:, 12:])


def test_model_grouped_query_attention_equals_repeated_heads():
    """GQA with 2 KV heads == MHA whose K/V projections repeat each KV head's rows per group."""
    gqa = random_model(tiny_config(num_key_value_heads=2)).freeze()
    mha = BitNetModel(tiny_config(num_key_value_heads=4)).freeze()
    state = dict(gqa.state_dict())
    head_dim, group = gqa.config.head_dim, 2
    for name, linear in gqa.bitlinears():
        if name.endswith(("k_proj", "v_proj")):
            rows = linear.weight_ternary.view(-1, head_dim, linear.in_features)
            repeated = rows.repeat_interleave(group, dim=0).reshape(-1, linear.in_features)
            state[f"{name}.weight_packed"] = packing.pack_hf(repeated)
    mha.load_state_dict(state)
    ids = random_tokens(gqa.config)
    assert torch.equal(logits_of(gqa, ids), logits_of(mha, ids))


def test_model_eval_equals_frozen_bit_for_bit():
    config = tiny_config(tie_word_embeddings=False)
    model, ids = random_model(config), random_tokens(config)
    latent = logits_of(model, ids)
    assert not model.frozen
    model.freeze()
    assert model.frozen and model.model.layers[1].mlp.up_proj.weight is None
    assert torch.equal(logits_of(model, ids), latent)


def test_model_zero_share_counts_all_bitlinears():
    model = random_model()
    weights = [linear.quantized_weights()[0] for _, linear in model.bitlinears()]
    zeros = sum(int((w == 0).sum()) for w in weights)
    assert model.zero_share() == zeros / sum(w.numel() for w in weights)


# --- matmul hook ----------------------------------------------------------------------------------

def test_matmul_hook_numpy_is_bit_identical():
    config = tiny_config()
    model, ids = random_model(config), random_tokens(config)
    calls = []

    def numpy_matmul(name, x_q, w_t):
        calls.append(name)
        return ternary_matmul_numpy(x_q.numpy(), w_t.numpy())

    golden = logits_of(model, ids)
    with model.matmul_hook(numpy_matmul):
        hooked = logits_of(model, ids)
    assert torch.equal(hooked, golden)
    assert calls == [name for name, _, _ in config.linear_shapes()]


def test_matmul_hook_sees_a_wrong_product():
    model, ids = random_model(), random_tokens(tiny_config())

    def off_by_one_in_one_layer(name, x_q, w_t):
        y_int = ternary_matmul(x_q, w_t)
        return y_int + 1 if name == "model.layers.1.mlp.down_proj" else y_int

    with model.matmul_hook(off_by_one_in_one_layer):
        assert not torch.equal(logits_of(model, ids), logits_of(random_model(), ids))


def test_matmul_hook_wrong_result():
    model, ids = random_model(), random_tokens(tiny_config())

    def int64_matmul(name, x_q, w_t):
        return np.asarray(ternary_matmul_numpy(x_q.numpy(), w_t.numpy()), dtype=np.int64)

    message = ("matmul hook returned torch.int64 of shape (2, 24, 64) for model.layers.0.self_attn.q_proj; "
               "expected torch.int32 of shape (2, 24, 64)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        with model.matmul_hook(int64_matmul):
            model(ids)
    assert all(linear.matmul is None for _, linear in model.bitlinears())


def test_matmul_hook_not_callable():
    with pytest.raises(TypeError, match=r"^matmul must be callable, not 3$"):
        with random_model().matmul_hook(3):
            pass


# --- independent re-implementation ---------------------------------------------------------------
# Written differently on purpose: float64, one row / head / position at a time, the rotation as a
# complex product. The BitLinears themselves are tested elsewhere and are reused as they are.

def reference_rms_norm(x, weight, eps):
    rows = x.double().reshape(-1, x.shape[-1])
    normalized = [row / math.sqrt(sum(v * v for v in row.tolist()) / len(row) + eps) for row in rows]
    return (torch.stack(normalized) * weight.double()).reshape(x.shape)


def reference_rotary(x, theta):
    """Rotate ``x`` ``[T, d]``: channel j pairs with j + d/2, turning at theta**(-2j/d) per position."""
    length, dim = x.shape
    half = dim // 2
    frequencies = theta ** (-2.0 * torch.arange(half, dtype=torch.float64) / dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * frequencies
    pairs = torch.complex(x[:, :half].double(), x[:, half:].double()) * torch.polar(torch.ones_like(angles), angles)
    return torch.cat([pairs.real, pairs.imag], dim=-1)


def reference_attention(attention, x, config):
    """One sequence ``x`` ``[T, hidden]`` through a layer's attention, head by head."""
    d, eps = config.head_dim, config.rms_norm_eps
    q, k, v = attention.q_proj(x), attention.k_proj(x), attention.v_proj(x)
    heads_per_kv = config.num_attention_heads // config.num_key_value_heads
    head_outputs = []
    for head in range(config.num_attention_heads):
        kv_head = head // heads_per_kv
        q_h = reference_rotary(q[:, head * d:(head + 1) * d], config.rope_theta)
        k_h = reference_rotary(k[:, kv_head * d:(kv_head + 1) * d], config.rope_theta)
        v_h = v[:, kv_head * d:(kv_head + 1) * d].double()
        rows = []
        for t in range(x.shape[0]):
            scores = k_h[:t + 1] @ q_h[t] / math.sqrt(d)
            weights = torch.exp(scores - scores.max())
            rows.append((weights / weights.sum()) @ v_h[:t + 1])
        head_outputs.append(torch.stack(rows))
    merged = reference_rms_norm(torch.cat(head_outputs, dim=-1), attention.attn_sub_norm.weight, eps)
    return attention.o_proj(merged.float()).double()


def reference_mlp(mlp, x, eps):
    gate, up = mlp.gate_proj(x).double(), mlp.up_proj(x).double()
    hidden = reference_rms_norm(gate.clamp(min=0) ** 2 * up, mlp.ffn_sub_norm.weight, eps)
    return mlp.down_proj(hidden.float()).double()


def reference_logits(model, ids):
    """Logits of one sequence ``ids`` ``[T]``."""
    config, eps = model.config, model.config.rms_norm_eps
    h = model.model.embed_tokens.weight[ids].double()
    for layer in model.model.layers:
        h = h + reference_attention(layer.self_attn, reference_rms_norm(h, layer.input_layernorm.weight, eps).float(),
                                    config)
        h = h + reference_mlp(layer.mlp, reference_rms_norm(h, layer.post_attention_layernorm.weight, eps).float(),
                              eps)
    return reference_rms_norm(h, model.model.norm.weight, eps) @ model.lm_head.weight.double().T


def test_rms_norm_against_reference():
    norm = RMSNorm(48, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 5, 48, generator=torch.Generator().manual_seed(2)) * 4
    torch.testing.assert_close(norm(x).double(), reference_rms_norm(x, norm.weight.detach(), 1e-5),
                               rtol=1e-6, atol=1e-6)


def test_rotary_against_reference():
    x = torch.randn(200, 16, generator=torch.Generator().manual_seed(3))
    cos, sin = rotary_cos_sin(200, 16, theta=10000.0)
    torch.testing.assert_close(apply_rotary(x, cos, sin).double(), reference_rotary(x, 10000.0),
                               rtol=1e-5, atol=1e-4)


def test_attention_layer_against_reference():
    config = tiny_config()
    model, ids = random_model(config), random_tokens(config, batch=1, length=20)
    attention = model.model.layers[0].self_attn
    x = model.model.embed_tokens(ids)
    cos, sin = rotary_cos_sin(ids.shape[1], config.head_dim, config.rope_theta)
    with torch.no_grad():
        ours = attention(x, cos, sin)[0].double()
        reference = reference_attention(attention, x[0], config)
    torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("tied", [True, False])
def test_model_against_reference(tied):
    config = tiny_config(tie_word_embeddings=tied)
    model, ids = random_model(config, seed=5), random_tokens(config, batch=2, length=16)
    ours = logits_of(model, ids).double()
    with torch.no_grad():
        for sequence in range(ids.shape[0]):
            torch.testing.assert_close(ours[sequence], reference_logits(model, ids[sequence]),
                                       rtol=1e-4, atol=1e-5)


def test_model_rejects_non_config():
    with pytest.raises(TypeError, match=r"^config must be a BitNetConfig, not dict$"):
        BitNetModel(dataclasses.asdict(tiny_config()))
