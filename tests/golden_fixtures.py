"""Fixtures and helpers shared by the golden-model tests (import what a test file needs).

The trained tiny model comes from :func:`tritforge.golden.tiny_model`, which trains once per
machine and then reads its cache (``$TRITFORGE_CACHE`` or ``~/.cache/tritforge``).
"""

import dataclasses
import json

import pytest
import torch

from tritforge.golden import PRESETS, BitNetModel, config_to_json, save_checkpoint, tiny_model


def tiny_config(**changes):
    """The ``"tiny"`` preset, with some fields changed."""
    return dataclasses.replace(PRESETS["tiny"], **changes)


def random_model(config=None, seed=0):
    """An untrained model with seeded random weights, in eval mode.

    RMSNorm gains are randomized too (a new model has all ones), so a test that mixes up
    two norms' weights sees it.
    """
    torch.manual_seed(seed)
    model = BitNetModel(config or tiny_config())
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    return model.eval()


def random_tokens(config, batch=2, length=24, seed=1):
    """Seeded token ids ``[batch, length]`` within the vocabulary of ``config``."""
    return torch.randint(0, config.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed))


def logits_of(model, input_ids):
    with torch.no_grad():
        return model(input_ids)


@pytest.fixture(scope="session")
def trained_tiny_model():
    """The trained tiny model (frozen, eval mode), shared by the whole session."""
    return tiny_model()


# --- checkpoint folders as the public models ship them --------------------------------------------

def write_folder(folder, config_json, tensors, shards=1):
    """A model folder: ``config.json`` and ``model.safetensors``, or ``shards`` files listed in
    ``model.safetensors.index.json``; returns the folder."""
    from safetensors.torch import save_file
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config_json, indent=2))
    names = list(tensors)
    if shards == 1:
        save_file(tensors, folder / "model.safetensors")
        return folder
    weight_map = {}
    for shard in range(shards):
        filename = f"model-{shard + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: tensors[name] for name in names[shard::shards]}
        save_file(part, folder / filename)
        weight_map.update(dict.fromkeys(part, filename))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def bitnet_folder(folder, config, seed=0, shards=1, float_dtype=torch.float32):
    """A 2B4T-family folder of a random model (config.json in the transformers 5 spelling);
    returns ``(folder, model)`` with the model frozen."""
    from safetensors import safe_open
    model = random_model(config, seed).freeze()
    save_checkpoint(model, folder)
    with safe_open(folder / "model.safetensors", framework="pt") as reader:
        tensors = {name: reader.get_tensor(name) for name in reader.keys()}
    (folder / "model.safetensors").unlink()
    tensors = {name: t.to(float_dtype) if t.is_floating_point() else t for name, t in tensors.items()}
    write_folder(folder, config_to_json(config), tensors, shards)
    return folder, model


def paper_config_json(config):
    """The config.json of a 1bitLLM bitnet_b1_58 model (transformers 4.39 spelling)."""
    return {"_name_or_path": "1bitLLM/bitnet_b1_58-large", "architectures": ["BitnetForCausalLM"],
            "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
            "hidden_act": "silu", "hidden_size": config.hidden_size, "initializer_range": 0.02, "input_bits": 8,
            "intermediate_size": config.intermediate_size,
            "max_position_embeddings": config.max_position_embeddings, "model_type": "llama",
            "num_attention_heads": config.num_attention_heads, "num_hidden_layers": config.num_hidden_layers,
            "num_key_value_heads": config.num_key_value_heads, "pad_token_id": 32000, "pretraining_tp": 1,
            "rms_norm_eps": config.rms_norm_eps, "rope_scaling": None, "rope_theta": config.rope_theta,
            "tie_word_embeddings": config.tie_word_embeddings, "torch_dtype": "float16",
            "transformers_version": "4.39.0", "use_cache": True, "vocab_size": config.vocab_size,
            "weight_bits": 1}


def paper_config(**changes):
    """A small config of the 1bitLLM family."""
    fields = dict(family="1bitllm", hidden_act="silu", quantization_mode="online", rope_theta=10000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=False)
    return tiny_config(**{**fields, **changes})


def paper_folder(folder, config, seed=0, shards=1):
    """A 1bitLLM-family folder: full-precision float16 weights, as those checkpoints store them;
    returns ``(folder, latent model)`` (the unfrozen model with the float16-rounded weights)."""
    model = random_model(config, seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())
    tensors = {name: parameter.detach().half().contiguous() for name, parameter in model.named_parameters()
               if not (config.tie_word_embeddings and name == "lm_head.weight")}
    write_folder(folder, paper_config_json(config), tensors, shards)
    return folder, model


def byte_tokenizer(folder, vocab_size=256):
    """Write a byte-level BPE ``tokenizer.json`` (``vocab_size`` ids, no merges beyond the
    bytes: every text encodes) into ``folder``; returns the tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    tokenizer = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(sorted(alphabet))}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    assert tokenizer.get_vocab_size() <= vocab_size
    tokenizer.save(str(folder / "tokenizer.json"))
    return tokenizer
