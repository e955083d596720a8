"""config.json in both transformers spellings and both families: every field honoured,
refused with a CheckpointError naming it and the supported values, or reported as ignored."""

import json
import re

import pytest
import torch

from tritforge.golden import CheckpointError, config_from_json, config_to_json, load_checkpoint

from golden_fixtures import bitnet_folder, paper_config, paper_config_json, tiny_config

WHERE = "config.json"


def bitnet_json(**changes):
    """The 2B4T-family config.json of the tiny config, in the transformers 5 spelling."""
    fields = config_to_json(tiny_config())
    fields.update(changes)
    return {key: value for key, value in fields.items() if value is not DROP}


DROP = object()


def refused(message):
    return pytest.raises(CheckpointError, match=f"^{re.escape(message)}$")


def test_transformers_5_spelling_round_trip():
    config = tiny_config(rope_type="linear", rope_factor=4.0, rope_theta=10000.0, linear_class="autobitlinear")
    assert config_from_json(config_to_json(config)).config == config


def test_rope_theta_in_both_spellings():
    """transformers 5 writes the base only inside rope_parameters; 4 writes it at the top."""
    five = bitnet_json(rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
    four = bitnet_json(rope_parameters=DROP, rope_theta=10000.0, rope_scaling=None)
    assert config_from_json(five).config.rope_theta == config_from_json(four).config.rope_theta == 10000.0
    assert config_from_json(bitnet_json(rope_parameters=DROP)).config.rope_theta == 500000.0  # the default


def test_rope_scaling_of_transformers_4_is_honoured():
    fields = bitnet_json(rope_parameters=DROP, rope_theta=10000.0, rope_scaling={"type": "linear", "factor": 2.0})
    config = config_from_json(fields).config
    assert (config.rope_type, config.rope_factor, config.rope_theta) == ("linear", 2.0, 10000.0)


def test_ignored_fields_are_reported():
    fields = bitnet_json(bos_token_id=1, eos_token_id=2, use_cache=True, transformers_version="5.23.0")
    assert config_from_json(fields, WHERE).ignored == (
        "config.json: torch_dtype: the golden model computes in float32, as the reference loaded with "
        "dtype=torch.float32; stored 16-bit tensors are widened exactly",
        "config.json: bos_token_id: token ids matter to the tokenizer and generation, not to the logits",
        "config.json: eos_token_id: token ids matter to the tokenizer and generation, not to the logits",
        "config.json: use_cache: the golden model decides when it caches keys and values",
        "config.json: transformers_version: the version that wrote the file")


def test_1bitllm_config():
    reading = config_from_json(paper_config_json(paper_config()), WHERE)
    assert reading.config == paper_config()
    assert "config.json: weight_bits: the family's weight_quant ignores it: the weights are always ternary" \
        in reading.ignored


@pytest.mark.parametrize("changes, message", [
    ({"vocab_size": DROP}, "config.json: vocab_size is missing (required)"),
    ({"num_key_value_heads": DROP}, "config.json: num_key_value_heads is missing (required)"),
    ({"model_type": "llama"}, 'config.json: model_type "llama" with architectures ["BitNetForCausalLM"] is not '
                              'supported; supported: model_type "bitnet" (the BitNet b1.58 2B4T layout) or '
                              'architectures ["BitnetForCausalLM"] (the 1bitLLM bitnet_b1_58 models)'),
    ({"hidden_act": "gelu"}, 'config.json: hidden_act = "gelu" is not supported; supported: "relu2", "silu"'),
    ({"attention_bias": True}, "config.json: attention_bias = true is not supported; supported: false"),
    ({"head_dim": 32}, "config.json: head_dim = 32 is not supported; supported: null or hidden_size / "
                       "num_attention_heads = 16"),
    ({"rope_parameters": {"rope_type": "yarn", "factor": 4.0}},
     'config.json: rope_parameters: RoPE type "yarn" is not supported; supported: "default", "linear"'),
    ({"rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5}},
     "config.json: rope_parameters: partial_rotary_factor = 0.5 is not supported; supported: 1.0"),
    ({"rope_scaling": {"type": "dynamic", "factor": 2.0}},
     'config.json: rope_scaling: RoPE type "dynamic" is not supported; supported: "default", "linear"'),
    ({"quantization_config": DROP}, 'config.json: quantization_config is missing: without it transformers runs '
                                    'the layers as float nn.Linear, not BitNet b1.58; supported: '
                                    '{"quant_method": "bitnet", ...}'),
    ({"quantization_config": {"quant_method": "bitnet", "linear_class": "fp8linear"}},
     'config.json: quantization_config: linear_class = "fp8linear" is not supported; supported: "bitlinear", '
     '"autobitlinear"'),
    ({"quantization_config": {"quant_method": "bitnet", "use_rms_norm": True}},
     "config.json: quantization_config: use_rms_norm = true is not supported; supported: false"),
    ({"quantization_config": {"quant_method": "bitnet", "modules_to_not_convert": ["model.layers.0.mlp"]}},
     'config.json: quantization_config: modules_to_not_convert = ["model.layers.0.mlp"] is not supported; '
     'supported: null, [] or ["lm_head"]'),
    ({"sliding_window": 128}, "config.json: unknown field 'sliding_window' is not supported (it could change the "
                              "computation; tritforge does not know it)"),
    ({"num_attention_heads": 3}, "config.json: hidden_size must be divisible by num_attention_heads: 64 is not "
                                 "a multiple of 3"),
    ({"vocab_size": "256"}, "config.json: vocab_size must be an integer, not '256'"),
])
def test_config_refused(changes, message):
    with refused(message):
        config_from_json(bitnet_json(**changes), WHERE)


def test_1bitllm_rope_scaling_refused():
    fields = {**paper_config_json(paper_config()), "rope_scaling": {"type": "linear", "factor": 2.0}}
    with refused('config.json: rope_scaling: RoPE type "linear" is not supported; supported: "default"'):
        config_from_json(fields, WHERE)


def test_config_not_an_object():
    with refused("config.json must be a JSON object, not list"):
        config_from_json([1, 2], WHERE)


# --- folders -------------------------------------------------------------------------------------

def test_folder_config_is_read_and_ignored_fields_kept(tmp_path):
    folder, model = bitnet_folder(tmp_path, tiny_config(num_hidden_layers=1))
    loaded = load_checkpoint(folder)
    assert loaded.config == model.config
    assert loaded.ignored_config_fields == (f"{folder / 'config.json'}: torch_dtype: the golden model computes in "
                                            f"float32, as the reference loaded with dtype=torch.float32; stored "
                                            f"16-bit tensors are widened exactly",)


def test_single_file_takes_config_json_beside_it(tmp_path):
    folder, model = bitnet_folder(tmp_path, tiny_config(num_hidden_layers=1))
    assert load_checkpoint(folder / "model.safetensors").config == model.config


@pytest.mark.parametrize("break_it, message", [
    (lambda f: (f / "config.json").unlink(), "{f} has no config.json: pass config"),
    (lambda f: (f / "config.json").write_text("{not json"), "{f}/config.json is not a readable JSON file: "),
    (lambda f: (f / "model.safetensors").unlink(),
     "{f} has neither model.safetensors nor model.safetensors.index.json: not a model folder"),
    (lambda f: (f / "model.safetensors").write_bytes(b"\x00" * 64),
     "{f}/model.safetensors is not a readable safetensors file: "),
])
def test_broken_folder(tmp_path, break_it, message):
    folder, _ = bitnet_folder(tmp_path, tiny_config(num_hidden_layers=1))
    break_it(folder)
    with pytest.raises(CheckpointError, match="^" + re.escape(message.format(f=folder))):
        load_checkpoint(folder)


def test_broken_shard_index(tmp_path):
    folder, _ = bitnet_folder(tmp_path, tiny_config(num_hidden_layers=1), shards=2)
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.norm.weight"] = "../elsewhere.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with refused(f"{folder}/model.safetensors.index.json: weight_map must map tensor names to file names in "
                 f"the same folder"):
        load_checkpoint(folder)
    index["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match=r"maps tensor model\.norm\.weight to model-00001-of-00002\."
                                              r"safetensors, which does not hold it$"):
        load_checkpoint(folder)


def test_1bitllm_latent_weights_checked(tmp_path):
    from golden_fixtures import paper_folder, write_folder
    from safetensors import safe_open
    folder, _ = paper_folder(tmp_path, paper_config())
    with safe_open(folder / "model.safetensors", framework="pt") as reader:
        tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    tensors["model.layers.0.mlp.up_proj.weight"] = tensors["model.layers.0.mlp.up_proj.weight"].to(torch.uint8)
    write_folder(folder, json.loads((folder / "config.json").read_text()), tensors)
    with refused("tensor model.layers.0.mlp.up_proj.weight has dtype torch.uint8, expected torch.float32 or "
                 "torch.bfloat16 or torch.float16"):
        load_checkpoint(folder)
