"""A checkpoint's ``config.json``, in the transformers 4 and 5 spellings, as a :class:`BitNetConfig`.

Every field is classified (the table is in ``docs/golden.md``):

* **honoured**: it sets a field of :class:`~tritforge.golden.BitNetConfig`, with the default
  the family's reference code uses when it is absent;
* **refused**: a value that would change the computation in a way the golden model does not
  implement raises :class:`CheckpointError` naming the field and the supported values;
* **ignored**: cosmetic fields (token ids, the dtype the reference would run in, training-only
  settings) are returned in :attr:`ConfigReading.ignored` with the reason;
* anything else is refused too: an unknown field could change the computation.

The family (:data:`~tritforge.golden.config.FAMILIES`) comes from ``model_type`` ``"bitnet"``
(the transformers BitNet model, microsoft/bitnet-b1.58-2B-4T) or ``architectures``
``["BitnetForCausalLM"]`` (the 1bitLLM bitnet_b1_58 models, which run remote code).
"""

import dataclasses
import json

from ..spec.errors import TritforgeError
from .config import BitNetConfig

__all__ = ["CheckpointError", "ConfigReading", "config_from_json", "read_config_file", "COSMETIC_FIELDS"]


class CheckpointError(TritforgeError, ValueError):
    """A checkpoint (folder, file or configuration) that cannot be the BitNet model it claims."""


@dataclasses.dataclass(frozen=True)
class ConfigReading:
    """The configuration read from a ``config.json``.

    Attributes
    ----------
    config : BitNetConfig
    ignored : tuple of str
        ``"field: reason"`` for every field present but without effect on the computation.
    """
    config: BitNetConfig
    ignored: tuple = ()


#: Fields that do not change what the model computes, with the reason.
COSMETIC_FIELDS = {
    "transformers_version": "the version that wrote the file",
    "torch_dtype": "the golden model computes in float32, as the reference loaded with "
                   "dtype=torch.float32; stored 16-bit tensors are widened exactly",
    "dtype": "the golden model computes in float32, as the reference loaded with "
             "dtype=torch.float32; stored 16-bit tensors are widened exactly",
    "bos_token_id": "token ids matter to the tokenizer and generation, not to the logits",
    "eos_token_id": "token ids matter to the tokenizer and generation, not to the logits",
    "pad_token_id": "token ids matter to the tokenizer and generation, not to the logits",
    "initializer_range": "initialization of new weights only",
    "attention_dropout": "dropout is off at inference",
    "use_cache": "the golden model decides when it caches keys and values",
    "auto_map": "where transformers finds remote code",
    "_name_or_path": "where the file came from",
    "output_attentions": "what transformers returns, not what it computes",
    "output_hidden_states": "what transformers returns, not what it computes",
    "return_dict": "what transformers returns, not what it computes",
    "tokenizer_class": "the tokenizer, not the model",
}

#: Cosmetic fields of one family only.
_FAMILY_COSMETIC = {
    "2b4t": {},
    "1bitllm": {"weight_bits": "the family's weight_quant ignores it: the weights are always ternary"},
}

#: The default of every optional field in each family's reference code: transformers 5's
#: ``BitNetConfig`` and the 1bitLLM ``BitnetConfig`` (LLaMA defaults).
_DEFAULTS = {
    "2b4t": {"hidden_act": "relu2", "max_position_embeddings": 2048, "rms_norm_eps": 1e-5,
             "rope_theta": 500000.0, "tie_word_embeddings": False},
    "1bitllm": {"hidden_act": "silu", "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
                "rope_theta": 10000.0, "tie_word_embeddings": False},
}
_REQUIRED = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
_MISSING = object()


class _Fields:
    """The fields of one JSON object, each taken at most once; what is left is reported."""

    def __init__(self, fields, where):
        if not isinstance(fields, dict):
            raise CheckpointError(f"{where} must be a JSON object, not {type(fields).__name__}")
        self.fields, self.where = dict(fields), where

    def take(self, name, default=_MISSING):
        value = self.fields.pop(name, default)
        if value is _MISSING:
            raise CheckpointError(f"{self.where}: {name} is missing (required)")
        return value

    def refuse_unless(self, name, supported, default):
        """Take ``name``; refuse any value outside ``supported``."""
        value = self.take(name, default)
        if not any(_same_json(value, choice) for choice in supported):
            raise CheckpointError(f"{self.where}: {name} = {json.dumps(value)} is not supported; "
                                  f"supported: {', '.join(json.dumps(v) for v in supported)}")
        return value

    def ignore_rest(self, cosmetic):
        """``"field: reason"`` for the cosmetic fields left; any other field is refused."""
        ignored = []
        for name in list(self.fields):
            if name not in cosmetic:
                raise CheckpointError(f"{self.where}: unknown field {name!r} is not supported (it could "
                                      f"change the computation; tritforge does not know it)")
            ignored.append(f"{self.where}: {name}: {cosmetic[name]}")
        return ignored


def _same_json(value, choice):
    """``value == choice`` as JSON values: ``false`` is not ``0``, ``1`` is ``1.0``."""
    return isinstance(value, bool) == isinstance(choice, bool) and value == choice and \
        (value is None) == (choice is None)


def _check_kind(where, name, value, kinds, rule):
    """``value`` unless it is of none of ``kinds``: a CheckpointError naming ``rule``."""
    if not isinstance(value, kinds):
        raise CheckpointError(f"{where}: {name} = {json.dumps(value)} is not supported; supported: {rule}")
    return value


def read_config_file(path):
    """:func:`config_from_json` of the JSON file at ``path``."""
    try:
        fields = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not a readable JSON file: {error}") from error
    return config_from_json(fields, str(path))


def config_from_json(fields, where="config.json"):
    """The :class:`ConfigReading` of a ``config.json`` object (``where`` names it in errors).

    Raises
    ------
    CheckpointError
        For a missing required field, a refused value, an unknown field or a configuration
        the model cannot have (for example heads that do not divide the width).
    """
    reader = _Fields(fields, where)
    family = _family(reader)
    defaults = _DEFAULTS[family]
    values = {name: reader.take(name) for name in _REQUIRED}
    heads = values["num_attention_heads"]
    values["num_key_value_heads"] = _kv_heads(reader, family, heads)
    for name in ("max_position_embeddings", "rms_norm_eps", "tie_word_embeddings"):
        values[name] = reader.take(name, defaults[name])
    values["hidden_act"] = reader.refuse_unless("hidden_act", ("relu2", "silu"), defaults["hidden_act"])
    _check_head_dim(reader, values)
    reader.refuse_unless("attention_bias", (False,), False)
    reader.refuse_unless("mlp_bias", (False,), False)
    reader.refuse_unless("pretraining_tp", (1,), 1)
    values.update(_rope(reader, family, defaults["rope_theta"]))
    ignored = []
    if family == "2b4t":
        quantization, ignored = _quantization(reader.take("quantization_config", None), where)
        values.update(quantization)
    else:
        reader.refuse_unless("quantization_config", (None,), None)
        values.update(act_bits=reader.take("input_bits", 8), quantization_mode="online")
    ignored += reader.ignore_rest({**COSMETIC_FIELDS, **_FAMILY_COSMETIC[family]})
    try:
        config = BitNetConfig(family=family, **values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{where}: {error}") from error
    return ConfigReading(config, tuple(ignored))


def _family(reader):
    architectures = reader.take("architectures", None)
    architectures = [] if architectures is None else architectures
    model_type = reader.take("model_type", None)
    if not isinstance(architectures, list) or not all(isinstance(name, str) for name in architectures):
        raise CheckpointError(f"{reader.where}: architectures = {json.dumps(architectures)} is not "
                              f"supported; supported: a list of class names")
    if "BitnetForCausalLM" in architectures:
        return "1bitllm"
    if model_type == "bitnet":
        return "2b4t"
    raise CheckpointError(
        f"{reader.where}: model_type {json.dumps(model_type)} with architectures "
        f"{json.dumps(architectures)} is not supported; supported: model_type \"bitnet\" (the BitNet "
        f"b1.58 2B4T layout) or architectures [\"BitnetForCausalLM\"] (the 1bitLLM bitnet_b1_58 models)")


def _kv_heads(reader, family, heads):
    # transformers' BitNetConfig defaults to 5 (the 2B4T value) when the field is absent, which
    # is right for one shape only: ask for it. Null means "as many as query heads" in both.
    value = reader.take("num_key_value_heads", _MISSING if family == "2b4t" else None)
    return heads if value is None else value


def _check_head_dim(reader, values):
    # Both families' reference code puts a sub-norm of width hidden_size on the concatenated
    # heads, so any other head_dim cannot run there either.
    head_dim = reader.take("head_dim", None)
    hidden, heads = values["hidden_size"], values["num_attention_heads"]
    natural = hidden // heads if isinstance(hidden, int) and isinstance(heads, int) and heads else None
    if head_dim is not None and head_dim != natural:
        raise CheckpointError(f"{reader.where}: head_dim = {json.dumps(head_dim)} is not supported; supported: "
                              f"null or hidden_size / num_attention_heads = {natural}")


def _rope(reader, family, default_theta):
    """``rope_theta``, ``rope_type`` and ``rope_factor`` from either spelling.

    transformers 4 writes ``rope_theta`` and ``rope_scaling``; transformers 5 writes
    ``rope_parameters`` (with ``rope_theta`` inside). As in transformers,
    ``rope_scaling`` wins over ``rope_parameters`` and a top-level ``rope_theta`` fills in
    a missing ``rope_parameters.rope_theta``.
    """
    theta = reader.take("rope_theta", default_theta)
    scaling, parameters = reader.take("rope_scaling", None), reader.take("rope_parameters", None)
    for name, value in (("rope_scaling", scaling), ("rope_parameters", parameters)):
        _check_kind(reader.where, name, value, (dict, type(None)), "null or an object")
    spelled = "rope_scaling" if scaling else "rope_parameters"
    rope = _Fields(scaling or parameters or {}, f"{reader.where}: {spelled}")
    if any(isinstance(value, dict) for value in rope.fields.values()):
        raise CheckpointError(f"{rope.where}: per-layer-type RoPE parameters are not supported; "
                              f"supported: one set for every layer")
    rope_type = rope.take("rope_type", rope.take("type", "default"))
    supported = ("default", "linear") if family == "2b4t" else ("default",)
    if rope_type not in supported:
        raise CheckpointError(f"{rope.where}: RoPE type {json.dumps(rope_type)} is not supported; "
                              f"supported: {', '.join(json.dumps(t) for t in supported)}")
    theta = rope.take("rope_theta", theta)
    factor = rope.take("factor") if rope_type == "linear" else 1.0
    rope.refuse_unless("partial_rotary_factor", (1.0,), 1.0)
    rope.ignore_rest({"original_max_position_embeddings": "used by other RoPE types only"})
    return {"rope_theta": theta, "rope_type": rope_type, "rope_factor": factor}


def _quantization(fields, where):
    """The BitLinear fields of the 2B4T family's ``quantization_config``, and what it ignored."""
    if fields is None:
        raise CheckpointError(f"{where}: quantization_config is missing: without it transformers runs "
                              f"the layers as float nn.Linear, not BitNet b1.58; supported: "
                              f"{{\"quant_method\": \"bitnet\", ...}}")
    reader = _Fields(fields, f"{where}: quantization_config")
    reader.refuse_unless("quant_method", ("bitnet",), _MISSING)
    linear_class = reader.refuse_unless("linear_class", ("bitlinear", "autobitlinear"), "bitlinear")
    mode = reader.refuse_unless("quantization_mode", ("offline", "online"), "offline")
    reader.refuse_unless("use_rms_norm", (False,), False)
    ignored = []
    if "rms_norm_eps" in reader.fields:
        reader.take("rms_norm_eps")
        ignored.append(f"{reader.where}: rms_norm_eps: applies only with use_rms_norm true")
    not_converted = _check_kind(reader.where, "modules_to_not_convert",
                                reader.take("modules_to_not_convert", None), (list, type(None)),
                                "null, [] or [\"lm_head\"]") or []
    if any(name != "lm_head" for name in not_converted):
        raise CheckpointError(f"{reader.where}: modules_to_not_convert = {json.dumps(not_converted)} is "
                              f"not supported; supported: null, [] or [\"lm_head\"]")
    if linear_class == "bitlinear" and mode == "online":
        # transformers' BitLinear always holds packed weights: the mode only applies to AutoBitLinear.
        ignored.append(f"{reader.where}: quantization_mode: \"online\" applies to autobitlinear only")
        mode = "offline"
    ignored += reader.ignore_rest({})
    return {"linear_class": linear_class, "quantization_mode": mode}, ignored
