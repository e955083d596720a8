"""Checkpoint I/O: the 2B4T safetensors layout, bit-exact round trips, and clear errors for
every kind of malformed file."""

import json
import os
import re
import stat

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tritforge.golden import (CheckpointError, checkpoint_layout, load_checkpoint, packing,
                              save_checkpoint)
from tritforge.golden import checkpoint as checkpoint_module

from golden_fixtures import logits_of, random_model, random_tokens, tiny_config

Q_PROJ = "model.layers.0.self_attn.q_proj"


def saved_tensors(tmp_path, config=None):
    """The tensors of a saved random model, as the file holds them, and the model."""
    model = random_model(config or tiny_config())
    path = tmp_path / "model.safetensors"
    save_checkpoint(model, path)
    with safe_open(path, framework="pt") as reader:
        return {name: reader.get_tensor(name) for name in reader.keys()}, model


def load_tensors(tmp_path, tensors, config=None):
    """Write ``tensors`` as a bare safetensors file (no recorded config) and load it."""
    path = tmp_path / "edited.safetensors"
    save_file(tensors, path)
    return load_checkpoint(path, config or tiny_config())


def expect_error(message):
    return pytest.raises(CheckpointError, match=f"^{re.escape(message)}$")


# --- layout and round trip -----------------------------------------------------------------------

@pytest.mark.parametrize("tied", [True, False])
def test_checkpoint_round_trip_is_bit_exact(tmp_path, tied):
    config = tiny_config(tie_word_embeddings=tied)
    model, ids = random_model(config), random_tokens(config)
    save_checkpoint(model, tmp_path / "model.safetensors")
    loaded = load_checkpoint(tmp_path / "model.safetensors", config)
    assert loaded.frozen and not loaded.training
    assert not any(tensor.is_meta for tensor in [*loaded.parameters(), *loaded.buffers()])
    assert (loaded.lm_head.weight is loaded.model.embed_tokens.weight) == tied
    assert torch.equal(logits_of(loaded, ids), logits_of(model, ids))


def test_checkpoint_layout_names_are_module_paths(tmp_path):
    """Every checkpoint tensor is a parameter or buffer of the frozen model of the same name."""
    config = tiny_config(tie_word_embeddings=False)
    state = random_model(config).freeze().state_dict()
    names = {name.replace(".weight_packed", ".weight") for name in state}
    assert set(checkpoint_layout(config)) == names


def test_checkpoint_file_format(tmp_path):
    tensors, model = saved_tensors(tmp_path)
    assert "lm_head.weight" not in tensors  # tied, as in the 2B4T checkpoint
    w_t, s_w = model.get_submodule(Q_PROJ).quantized_weights()
    assert tensors[f"{Q_PROJ}.weight"].dtype == torch.uint8
    assert torch.equal(tensors[f"{Q_PROJ}.weight"], packing.pack_hf(w_t))
    scale = tensors[f"{Q_PROJ}.weight_scale"]
    assert scale.dtype == torch.float32 and scale.shape == (1,) and scale.item() == s_w.item()
    assert tensors["model.norm.weight"].dtype == torch.float32


def test_checkpoint_accepts_half_floats_and_0d_scales(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    converted = {}
    for name, tensor in tensors.items():
        if name.endswith("weight_scale"):
            converted[name] = tensor.reshape(()).to(torch.bfloat16)
        elif tensor.is_floating_point():
            converted[name] = tensor.to(torch.bfloat16 if "layers" in name else torch.float16)
        else:
            converted[name] = tensor
    loaded = load_tensors(tmp_path, converted)
    expected = converted["model.embed_tokens.weight"].float()
    assert torch.equal(loaded.model.embed_tokens.weight, expected)
    assert loaded.get_submodule(Q_PROJ).weight_scale == converted[f"{Q_PROJ}.weight_scale"].float()


def test_checkpoint_config_from_metadata(tmp_path):
    config = tiny_config(num_hidden_layers=1, rope_theta=500000.0)
    save_checkpoint(random_model(config), tmp_path / "model.safetensors", metadata={"note": "kept"})
    assert load_checkpoint(tmp_path / "model.safetensors").config == config
    with safe_open(tmp_path / "model.safetensors", framework="pt") as reader:
        assert reader.metadata()["note"] == "kept"


def test_checkpoint_without_recorded_config(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    save_file(tensors, tmp_path / "bare.safetensors")
    with pytest.raises(CheckpointError, match=r"^\S+bare\.safetensors records no configuration "
                                              r"\(metadata key 'tritforge\.config'\) and \S+ has no "
                                              r"config\.json: pass config$"):
        load_checkpoint(tmp_path / "bare.safetensors")


def test_checkpoint_invalid_recorded_config(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    bad_config = {**tiny_config().to_dict(), "num_key_value_heads": 3}
    save_file(tensors, tmp_path / "bad.safetensors", metadata={"tritforge.config": json.dumps(bad_config)})
    with pytest.raises(CheckpointError, match=r"^\S+bad\.safetensors records an invalid configuration: "
                                              r"num_attention_heads must be divisible by num_key_value_heads"):
        load_checkpoint(tmp_path / "bad.safetensors")


# --- atomic writes -------------------------------------------------------------------------------

def test_checkpoint_failed_save_keeps_existing_file(tmp_path, monkeypatch):
    config = tiny_config()
    path = tmp_path / "model.safetensors"
    model, ids = random_model(config), random_tokens(config)
    save_checkpoint(model, path)

    def crash_midway(tensors, filename, metadata=None):
        with open(filename, "wb") as half_written:
            half_written.write(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module, "save_file", crash_midway)
    with pytest.raises(OSError, match="^disk full$"):
        save_checkpoint(random_model(config, seed=9), path)
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.safetensors"]
    assert torch.equal(logits_of(load_checkpoint(path), ids), logits_of(model, ids))


def test_checkpoint_file_mode_follows_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        save_checkpoint(random_model(), tmp_path / "model.safetensors")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.safetensors").stat().st_mode) == 0o644


def test_save_checkpoint_wrong():
    with pytest.raises(TypeError, match=r"^model must be a BitNetModel, not Linear$"):
        save_checkpoint(torch.nn.Linear(2, 2), "unused.safetensors")


# --- malformed files -----------------------------------------------------------------------------

def test_checkpoint_not_safetensors(tmp_path):
    (tmp_path / "text.safetensors").write_text("these are not the weights you are looking for\n")
    with pytest.raises(CheckpointError, match=r"^\S+text\.safetensors is not a readable safetensors file: "):
        load_checkpoint(tmp_path / "text.safetensors", tiny_config())


def test_checkpoint_truncated(tmp_path):
    save_checkpoint(random_model(), tmp_path / "model.safetensors")
    data = (tmp_path / "model.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r"^\S+cut\.safetensors is not a readable safetensors file: "):
        load_checkpoint(tmp_path / "cut.safetensors", tiny_config())


def test_checkpoint_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"^\S+absent\.safetensors does not exist \(expected a model "
                                              r"folder or a \.safetensors file\)$"):
        load_checkpoint(tmp_path / "absent.safetensors", tiny_config())


def test_checkpoint_missing_tensor(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    del tensors["model.layers.1.mlp.ffn_sub_norm.weight"]
    with expect_error("tensor model.layers.1.mlp.ffn_sub_norm.weight is missing (1 expected tensors missing)"):
        load_tensors(tmp_path, tensors)


def test_checkpoint_missing_lm_head_when_untied(tmp_path):
    tensors, _ = saved_tensors(tmp_path)  # tied: no lm_head.weight
    with expect_error("tensor lm_head.weight is missing (1 expected tensors missing)"):
        load_tensors(tmp_path, tensors, tiny_config(tie_word_embeddings=False))


def test_checkpoint_extra_tensor(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    tensors["model.rotary_emb.inv_freq"] = torch.ones(8)
    with expect_error("tensor model.rotary_emb.inv_freq is not part of this model (1 unexpected tensors)"):
        load_tensors(tmp_path, tensors)


@pytest.mark.parametrize("name, change, message", [
    (f"{Q_PROJ}.weight", lambda t: t.to(torch.int8),
     f"tensor {Q_PROJ}.weight has dtype torch.int8, expected torch.uint8"),
    (f"{Q_PROJ}.weight", lambda t: t[:-1],
     f"tensor {Q_PROJ}.weight has shape (15, 64), expected (16, 64)"),
    (f"{Q_PROJ}.weight_scale", lambda t: t.to(torch.int32),
     f"tensor {Q_PROJ}.weight_scale has dtype torch.int32, expected "
     f"torch.float32 or torch.bfloat16 or torch.float16"),
    (f"{Q_PROJ}.weight_scale", lambda t: t.repeat(2),
     f"tensor {Q_PROJ}.weight_scale has shape (2,), expected (1,) or ()"),
    (f"{Q_PROJ}.weight_scale", lambda t: torch.full_like(t, -2.0),
     f"tensor {Q_PROJ}.weight_scale holds -2.0, expected a positive finite weight scale"),
    ("model.norm.weight", lambda t: t.to(torch.float64),
     "tensor model.norm.weight has dtype torch.float64, expected torch.float32 or torch.bfloat16 or torch.float16"),
    ("model.embed_tokens.weight", lambda t: t[:, :32],
     "tensor model.embed_tokens.weight has shape (256, 32), expected (256, 64)"),
    ("model.layers.0.input_layernorm.weight", lambda t: t.index_fill(0, torch.tensor([3]), float("nan")),
     "tensor model.layers.0.input_layernorm.weight holds non-finite values, expected finite floats"),
])
def test_checkpoint_malformed_tensor(tmp_path, name, change, message):
    tensors, _ = saved_tensors(tmp_path)
    tensors[name] = change(tensors[name]).contiguous()
    with expect_error(message):
        load_tensors(tmp_path, tensors)


def test_checkpoint_invalid_weight_code(tmp_path):
    tensors, _ = saved_tensors(tmp_path)
    name = "model.layers.1.mlp.down_proj.weight"
    tensors[name][2, 5] |= 0b11 << 4  # value 2 of the byte (row block 2) gets the invalid code 3
    row = 2 * tensors[name].shape[0] + 2
    with expect_error(f"tensor {name}: packed holds the invalid 2-bit weight code 3 at weight [{row}, 5] "
                      f"(valid codes: 0 = -1, 1 = 0, 2 = +1)"):
        load_tensors(tmp_path, tensors)
