"""The golden model against the reference implementations, detail by detail.

2B4T family: transformers' ``BitNetForCausalLM`` (eager attention, float32, torch.compile off:
the reference's own eager kernels) reads the same checkpoint folder; the golden logits equal
its token-by-token decoding bit for bit at head_dims 16, 40, 64 and 128. 1bitLLM family: an
independent float re-implementation of that family's published modeling code (fake-quantized
BitLinears, norms inside attention and FFN, scores divided by sqrt(head_dim)). And the KV
cache: decoding gives the full pass's logits exactly.
"""

import json
import math

import pytest
import torch
from safetensors import safe_open
from transformers import BitNetForCausalLM, DynamicCache

from tritforge.golden import load_checkpoint
from tritforge.golden.model import BitNetAttention

from golden_fixtures import (bitnet_folder, logits_of, paper_config, paper_folder, random_model, random_tokens,
                             tiny_config, write_folder)

#: (head_dim, query heads, KV heads): the head sizes the issue names, with grouped-query attention.
HEADS = [(16, 4, 2), (40, 2, 1), (64, 2, 1), (128, 2, 1)]


@pytest.fixture(autouse=True)
def eager_reference():
    # transformers compiles its BitLinear helpers; inductor fuses and reorders float operations,
    # so the reference is its eager code (and compiling would take minutes).
    with torch.compiler.set_stance("force_eager"):
        yield


def head_config(head_dim, heads, kv_heads, **changes):
    return tiny_config(hidden_size=head_dim * heads, num_attention_heads=heads, num_key_value_heads=kv_heads,
                       intermediate_size=96, num_hidden_layers=1, **changes)


def reference_decoding(folder, ids):
    """transformers' logits, one token after another with its DynamicCache."""
    model = BitNetForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    cache = DynamicCache(config=model.config)
    with torch.no_grad():
        return torch.cat([model(ids[:, t:t + 1], past_key_values=cache, use_cache=True).logits
                          for t in range(ids.shape[1])], dim=1), model


def cached_logits(model, ids, prompt):
    """Logits of ``ids``: the first ``prompt`` tokens at once, then one at a time, with a cache."""
    cache = model.new_cache()
    with torch.no_grad():
        steps = [model(ids[:, :prompt], cache=cache)]
        steps += [model(ids[:, t:t + 1], cache=cache) for t in range(prompt, ids.shape[1])]
    return torch.cat(steps, dim=1)


# --- 2B4T family against transformers --------------------------------------------------------------

@pytest.mark.parametrize("head_dim, heads, kv_heads", HEADS)
def test_2b4t_logits_equal_transformers_bit_for_bit(tmp_path, head_dim, heads, kv_heads):
    config = head_config(head_dim, heads, kv_heads)
    folder, _ = bitnet_folder(tmp_path, config)
    ids = random_tokens(config, batch=1, length=6)
    reference, _ = reference_decoding(folder, ids)
    assert torch.equal(logits_of(load_checkpoint(folder), ids), reference)


def test_2b4t_bfloat16_checkpoint_widened_as_the_reference(tmp_path):
    """bfloat16 tensors (the published checkpoint's) widened to float32 as transformers does."""
    config = head_config(128, 2, 1)
    folder, _ = bitnet_folder(tmp_path, config, float_dtype=torch.bfloat16)
    ids = random_tokens(config, batch=1, length=8)
    reference, _ = reference_decoding(folder, ids)
    golden = load_checkpoint(folder)
    assert golden.get_submodule("model.layers.0.self_attn.q_proj").weight_scale.dtype == torch.float32
    assert torch.equal(logits_of(golden, ids), reference)


def test_2b4t_linear_rope_and_tied_embeddings_equal_transformers(tmp_path):
    config = head_config(40, 2, 1, rope_type="linear", rope_factor=2.0, rope_theta=10000.0,
                         tie_word_embeddings=True)
    folder, _ = bitnet_folder(tmp_path, config)
    ids = random_tokens(config, batch=1, length=8)
    reference, _ = reference_decoding(folder, ids)
    assert torch.equal(logits_of(load_checkpoint(folder), ids), reference)


def test_2b4t_autobitlinear_scale_multiplies(tmp_path):
    """AutoBitLinear multiplies by the stored scale; its float matmul of fake-quantized
    activations rounds its sum differently from the exact integer product, so the logits agree
    to float32 rounding, not to the bit."""
    config = head_config(64, 2, 1)
    folder, _ = bitnet_folder(tmp_path, config)
    # The same model as AutoBitLinear stores it: the scale is mean|W| = 1 / s_w.
    with safe_open(folder / "model.safetensors", framework="pt") as reader:
        tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    tensors = {name: 1 / t if name.endswith("weight_scale") else t for name, t in tensors.items()}
    config_json = json.loads((folder / "config.json").read_text())
    config_json["quantization_config"]["linear_class"] = "autobitlinear"
    write_folder(folder, config_json, tensors)
    ids = random_tokens(config, batch=1, length=8)
    reference, _ = reference_decoding(folder, ids)
    golden = logits_of(load_checkpoint(folder), ids)
    torch.testing.assert_close(golden, reference, rtol=1e-4, atol=1e-4)
    assert torch.equal(golden.argmax(-1), reference.argmax(-1))
    as_bitlinear = logits_of(load_checkpoint(folder, config=config), ids)
    assert (as_bitlinear - reference).abs().max() > 0.1  # dividing instead is far off


def test_2b4t_sharded_folder_equals_single_file(tmp_path):
    config = head_config(16, 4, 2)
    single, _ = bitnet_folder(tmp_path / "single", config)
    sharded, _ = bitnet_folder(tmp_path / "sharded", config, shards=3)
    assert len(list(sharded.glob("model-*.safetensors"))) == 3
    ids = random_tokens(config)
    assert torch.equal(logits_of(load_checkpoint(sharded), ids), logits_of(load_checkpoint(single), ids))


# --- numerics, detail by detail ---------------------------------------------------------------------

@pytest.mark.parametrize("head_dim", [d for d, _, _ in HEADS])
def test_attention_scale_operation_per_family(head_dim):
    """2B4T multiplies the scores by head_dim ** -0.5; the 1bitLLM code divides by sqrt(head_dim).
    They agree exactly only where sqrt(head_dim) is a power of two (16, 64)."""
    scores = torch.randn(4, 64, generator=torch.Generator().manual_seed(head_dim)) * 30
    multiply = BitNetAttention(head_config(head_dim, 2, 1), 0)._scale(scores)
    divide = BitNetAttention(head_config(head_dim, 2, 1, family="1bitllm"), 0)._scale(scores)
    assert torch.equal(multiply, scores * head_dim ** -0.5)
    assert torch.equal(divide, scores / math.sqrt(head_dim))
    assert torch.equal(multiply, divide) == (head_dim in (16, 64))


@pytest.mark.parametrize("head_dim, heads, kv_heads", HEADS)
def test_attention_softmax_after_scale_in_float32(head_dim, heads, kv_heads):
    """One decoded position: softmax(scale(q k^T)) v in float32, as the reference's eager code."""
    config = head_config(head_dim, heads, kv_heads)
    attention = BitNetAttention(config, 0)
    gen = torch.Generator().manual_seed(head_dim)
    q = torch.randn(1, heads, 1, head_dim, generator=gen)
    k, v = (torch.randn(1, heads, 7, head_dim, generator=gen) for _ in range(2))
    expected = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(2, 3)) * head_dim ** -0.5, dim=-1,
                                          dtype=torch.float32), v)
    assert torch.equal(attention._attend(q, k, v), expected)


@pytest.mark.parametrize("head_dim", [d for d, _, _ in HEADS])
def test_rotary_tables_per_position_as_the_reference(head_dim):
    from tritforge.golden.model import rotary_cos_sin, rotary_inv_freq
    cos, sin = rotary_cos_sin(5, head_dim, 500000.0, start=3)
    inv_freq = 1.0 / (500000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))
    assert torch.equal(rotary_inv_freq(head_dim, 500000.0), inv_freq)
    for row, position in enumerate(range(3, 8)):
        angles = torch.tensor([[position]]).float()[..., None] * inv_freq
        emb = torch.cat((angles, angles), dim=-1)
        assert torch.equal(cos[row], (emb.cos() * 1.0)[0, 0]) and torch.equal(sin[row], emb.sin()[0, 0])


# --- 1bitLLM family ---------------------------------------------------------------------------------

def paper_reference_logits(model, ids):
    """The 1bitLLM modeling code in float32, written out: fake-quantized BitLinears (float
    matmul of x_q / s_x and w_t / s_w), RMSNorms inner_attn_ln before o_proj and ffn_layernorm
    before down_proj, SiLU gate, scores / sqrt(head_dim), additive causal mask."""
    config = model.config

    def bitlinear(linear, x):
        w = linear.weight.float()
        s_w = 1 / w.abs().mean().clamp(min=1e-5)
        s_x = 127 / x.abs().max(dim=-1, keepdim=True).values.clamp(min=1e-5)
        return torch.nn.functional.linear((x * s_x).round().clamp(-128, 127) / s_x,
                                          (w * s_w).round().clamp(-1, 1) / s_w)

    def norm(module, x):
        return module.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + module.eps))

    length, d = ids.shape[1], config.head_dim
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    angles = torch.arange(length).float()[:, None] * inv_freq
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    mask = torch.full((length, length), torch.finfo(torch.float32).min).triu(1)
    h = model.model.embed_tokens.weight[ids]
    for layer in model.model.layers:
        a, attn = norm(layer.input_layernorm, h), layer.self_attn
        split = lambda x: x.view(1, length, -1, d).transpose(1, 2)  # noqa: E731
        rot = lambda x: x * cos + torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1) * sin  # noqa: E731
        q, k, v = rot(split(bitlinear(attn.q_proj, a))), rot(split(bitlinear(attn.k_proj, a))), split(
            bitlinear(attn.v_proj, a))
        group = config.num_attention_heads // config.num_key_value_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        probs = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(d) + mask, dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(1, length, -1)
        h = h + bitlinear(attn.o_proj, norm(attn.inner_attn_ln, o))
        m, mlp = norm(layer.post_attention_layernorm, h), layer.mlp
        gated = torch.nn.functional.silu(bitlinear(mlp.gate_proj, m)) * bitlinear(mlp.up_proj, m)
        h = h + bitlinear(mlp.down_proj, norm(mlp.ffn_layernorm, gated))
    return norm(model.model.norm, h) @ model.lm_head.weight.T


@pytest.mark.parametrize("head_dim, heads, kv_heads", HEADS)
def test_1bitllm_family_follows_its_modeling_code(tmp_path, head_dim, heads, kv_heads):
    config = paper_config(hidden_size=head_dim * heads, num_attention_heads=heads, num_key_value_heads=kv_heads,
                          intermediate_size=96)
    folder, latent = paper_folder(tmp_path, config, shards=2)
    golden = load_checkpoint(folder)
    assert golden.frozen and golden.config.family == "1bitllm"
    assert "model.layers.1.self_attn.inner_attn_ln.weight" in dict(golden.named_parameters())
    ids = random_tokens(config, batch=1, length=6)
    with torch.no_grad():
        reference = paper_reference_logits(latent, ids)
    ours = logits_of(golden, ids)
    # The reference sums fake-quantized floats; the golden model sums integers, then scales.
    torch.testing.assert_close(ours[0], reference[0], rtol=1e-4, atol=1e-4)
    assert torch.equal(ours, logits_of(latent, ids))  # quantized once when loaded = on the fly


# --- the KV cache -------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", [head_config(40, 2, 1), head_config(16, 4, 2, tie_word_embeddings=True),
                                    paper_config(intermediate_size=90)], ids=["2b4t", "2b4t-gqa", "1bitllm"])
@pytest.mark.parametrize("prompt", [1, 7])
def test_kv_cache_decoding_equals_full_forward(config, prompt):
    model, ids = random_model(config).freeze(), random_tokens(config, batch=2, length=10)
    assert torch.equal(cached_logits(model, ids, prompt), logits_of(model, ids))


def test_kv_cache_last_only_and_position_limit():
    config = tiny_config(max_position_embeddings=8)
    model, ids = random_model(config), random_tokens(config, batch=1, length=8)
    cache = model.new_cache()
    with torch.no_grad():
        last = model(ids[:, :5], cache=cache, last_only=True)
    assert last.shape == (1, 1, config.vocab_size) and len(cache) == 5
    assert torch.equal(last, logits_of(model, ids[:, :5])[:, -1:])
    with pytest.raises(ValueError, match=r"^input_ids must hold 1 to max_position_embeddings \(8\) tokens per "
                                         r"sequence, not 9 \(5 cached\)$"):
        model(ids[:, :4], cache=cache)
