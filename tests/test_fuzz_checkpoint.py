"""Fuzzing the checkpoint loader (hypothesis): config.json with fields of the wrong type or
value, missing or unknown; safetensors files truncated, with bytes flipped, or with a header
that mislabels a tensor's dtype, shape or offsets. The loader returns a model or raises
CheckpointError, never another exception, and never takes a value of the wrong JSON type."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tritforge.golden import (CheckpointError, config_from_json, config_to_json, load_checkpoint,
                              save_checkpoint)
from tritforge.golden.hf_config import COSMETIC_FIELDS

from golden_fixtures import random_model, tiny_config

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BASE = config_to_json(tiny_config())
#: Fields whose null is taken: "as many as query heads", "the natural head size", no
#: architectures, the default RoPE.
NULLABLE = {"num_key_value_heads", "head_dim", "architectures", "rope_parameters"}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 40, 2 ** 40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def json_kind(value):
    """The JSON type of a value, numbers as one."""
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, (int, float)) else type(value).__name__


def load_or_refuse(fields):
    try:
        return config_from_json(fields)
    except CheckpointError:
        return None


@FUZZ
@given(st.sampled_from(sorted(BASE) + ["attention_bias", "mlp_bias", "pretraining_tp", "head_dim"]),
       json_values)
def test_config_field_of_the_wrong_type_is_refused(name, value):
    fields = {**BASE, name: value}
    reading = load_or_refuse(fields)
    if reading is None or name in COSMETIC_FIELDS:
        return
    original = BASE.get(name, {"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1}.get(name))
    if not (value is None and name in NULLABLE):
        assert json_kind(value) == json_kind(original), f"{name} = {value!r} was taken"
    for key, number in vars(reading.config).items():
        if isinstance(number, float):
            assert math.isfinite(number), f"{key} = {number}"


@FUZZ
@given(st.sampled_from(sorted(BASE["quantization_config"]) + ["use_rms_norm", "modules_to_not_convert"]),
       json_values)
def test_quantization_config_of_the_wrong_type_is_refused(name, value):
    quantization = {**BASE["quantization_config"], name: value}
    reading = load_or_refuse({**BASE, "quantization_config": quantization})
    if reading is not None:
        original = {**BASE["quantization_config"], "use_rms_norm": False,
                    "modules_to_not_convert": []}[name]
        assert value is None and name == "modules_to_not_convert" or json_kind(value) == json_kind(original)


@FUZZ
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6) | json_values)
def test_random_config_is_refused_cleanly(fields):
    load_or_refuse(fields)


@pytest.mark.parametrize("name, value", [
    ("attention_bias", 0), ("pretraining_tp", True), ("attention_bias", None),
    ("rope_parameters", {"rope_type": "default", "rope_theta": 1e400}),
])
def test_config_wrong_type_examples(name, value):
    with pytest.raises(CheckpointError):
        config_from_json({**BASE, name: value})


def test_modules_to_not_convert_must_be_a_list():
    quantization = {**BASE["quantization_config"], "modules_to_not_convert": {"lm_head": 1}}
    with pytest.raises(CheckpointError, match="modules_to_not_convert"):
        config_from_json({**BASE, "quantization_config": quantization})


# --- safetensors files -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoint") / "model.safetensors"
    save_checkpoint(random_model(tiny_config()), path)
    return path.read_bytes()


def load_bytes(tmp_path, data):
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    try:
        load_checkpoint(path)
    except CheckpointError:
        pass


@FUZZ
@given(st.data())
def test_truncated_or_damaged_file(saved, tmp_path, data):
    damage = data.draw(st.sampled_from(["truncate", "flip", "header"]))
    size = int.from_bytes(saved[:8], "little")
    blob = bytearray(saved)
    if damage == "truncate":
        blob = blob[:data.draw(st.integers(0, len(saved) - 1))]
    elif damage == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            blob[data.draw(st.integers(0, len(blob) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    else:
        blob[8 + data.draw(st.integers(0, size - 1))] = data.draw(st.integers(0, 255))
    load_bytes(tmp_path, bytes(blob))


@FUZZ
@given(st.data())
def test_mislabeled_tensor(saved, tmp_path, data):
    """A header that says another dtype, shape or place for a tensor (the JSON stays valid)."""
    size = int.from_bytes(saved[:8], "little")
    header = json.loads(saved[8:8 + size])
    name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
    field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
    header[name][field] = data.draw({
        "dtype": st.sampled_from(["F32", "F16", "BF16", "U8", "I8", "I64", "BOOL", "F64", "XX"]),
        "shape": st.lists(st.integers(0, 300), max_size=3),
        "data_offsets": st.lists(st.integers(0, len(saved)), min_size=2, max_size=2)}[field])
    text = json.dumps(header).encode()
    load_bytes(tmp_path, len(text).to_bytes(8, "little") + text + saved[8 + size:])
