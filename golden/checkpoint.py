"""Safetensors checkpoints: the published BitNet b1.58 folders and tritforge's own files.

:func:`load_checkpoint` reads

* a **model folder** as transformers writes it: ``config.json`` (read by
  :mod:`~tritforge.golden.hf_config`, both spellings) with ``model.safetensors``, or with
  shards listed in ``model.safetensors.index.json`` (``{"weight_map": {tensor: file}}``);
* a **single safetensors file**, whose configuration is given, recorded in its metadata by
  :func:`save_checkpoint`, or in a ``config.json`` beside it.

The tensors a model of a configuration needs (:func:`checkpoint_layout`):

``<linear>.weight``
    With ``quantization_mode="offline"``: uint8 ``[ceil(out/4), in]``, the ternary weights
    packed by :func:`~tritforge.golden.packing.pack_hf` (2-bit codes ``w + 1``; code 3 is
    invalid), and ``<linear>.weight_scale``, float, shape ``[1]`` (0-d accepted): divides the
    output (``bitlinear``) or multiplies it (``autobitlinear``). With ``"online"`` (the
    1bitLLM models): float ``[out, in]`` full-precision weights, quantized (absmean) here,
    once, and kept packed.
everything else
    Float tensors under their module paths: ``model.embed_tokens.weight``, the RMSNorm gains
    (``input_layernorm``, ``post_attention_layernorm``, the two sub-norms of the family,
    ``model.norm``) and, unless the embeddings are tied, ``lm_head.weight``.

Stored tensors may be bfloat16, float16 or float32; float ones are widened to float32 exactly.
Tensors are read one at a time from memory-mapped files, so loading needs the packed model
plus one tensor, never a float copy of the weights. Checkpoints are read with safetensors only
(no pickle). Any defect raises :class:`CheckpointError` naming the file or tensor and what
was expected.
"""

import contextlib
import json
import logging
import os
import stat
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import BitNetConfig
from .hf_config import CheckpointError, read_config_file
from .model import BitNetModel
from .packing import WEIGHTS_PER_BYTE, has_invalid_code, pack_hf, unpack_hf
from .quant import quantize_weights

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "checkpoint_layout", "config_to_json",
           "CONFIG_FILE", "WEIGHTS_FILE", "INDEX_FILE"]

logger = logging.getLogger(__name__)

#: Float dtypes accepted for non-ternary tensors and weight scales.
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: Safetensors metadata key under which :func:`save_checkpoint` records the configuration.
CONFIG_METADATA_KEY = "tritforge.config"
#: Elements checked for finiteness at a time.
_FINITE_CHECK_SLICE = 1 << 22
#: The file names of a model folder (transformers' own).
CONFIG_FILE, WEIGHTS_FILE, INDEX_FILE = "config.json", "model.safetensors", "model.safetensors.index.json"


def checkpoint_layout(config):
    """The tensors a checkpoint of ``config`` holds: ``{name: (kind, shape)}``.

    ``kind`` is ``"packed"`` (uint8 2-bit weights), ``"scale"`` (a BitLinear's weight scale),
    ``"latent"`` (full-precision weights of an ``"online"`` checkpoint) or ``"float"``;
    names are in the order of the model's modules.
    """
    hidden, vocab = config.hidden_size, config.vocab_size
    attn_norm, ffn_norm = config.sub_norm_names
    layout = {"model.embed_tokens.weight": ("float", (vocab, hidden))}
    for i in range(config.num_hidden_layers):
        norms = {"input_layernorm": hidden, f"self_attn.{attn_norm}": hidden,
                 "post_attention_layernorm": hidden, f"mlp.{ffn_norm}": config.intermediate_size}
        for norm, size in norms.items():
            layout[f"model.layers.{i}.{norm}.weight"] = ("float", (size,))
    for name, out_features, in_features in config.linear_shapes():
        if config.quantization_mode == "online":
            layout[f"{name}.weight"] = ("latent", (out_features, in_features))
        else:
            layout[f"{name}.weight"] = ("packed", (-(-out_features // WEIGHTS_PER_BYTE), in_features))
            layout[f"{name}.weight_scale"] = ("scale", (1,))
    layout["model.norm.weight"] = ("float", (hidden,))
    if not config.tie_word_embeddings:
        layout["lm_head.weight"] = ("float", (vocab, hidden))
    return layout


def config_to_json(config):
    """The ``config.json`` of a 2B4T-family ``config`` in the transformers 5 spelling, so that
    transformers' ``BitNetForCausalLM`` and :func:`load_checkpoint` read the same model."""
    if config.family != "2b4t" or config.quantization_mode != "offline" or config.act_bits != 8:
        raise ValueError(f"config.json is written for the 2b4t family with offline 8-bit weights only, "
                         f"not family {config.family!r}, quantization_mode {config.quantization_mode!r}, "
                         f"act_bits {config.act_bits}")
    rope = {"rope_type": config.rope_type, "rope_theta": config.rope_theta}
    if config.rope_type == "linear":
        rope["factor"] = config.rope_factor
    fields = {name: getattr(config, name) for name in (
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings", "hidden_act")}
    return {"architectures": ["BitNetForCausalLM"], "model_type": "bitnet", **fields, "rope_parameters": rope,
            "attention_bias": False, "torch_dtype": "float32",
            "quantization_config": {"quant_method": "bitnet", "linear_class": config.linear_class,
                                    "quantization_mode": "offline"}}


def save_checkpoint(model, path, metadata=None):
    """Write ``model`` as a safetensors checkpoint: a single ``.safetensors`` file, or a model
    folder (``config.json`` and ``model.safetensors``, :func:`config_to_json`) when ``path``
    does not end in ``.safetensors``.

    Unfrozen BitLinears are quantized on the way (the model itself is not changed). Each
    file is written next to its place under a temporary name and moved into place, so an
    interrupted or failed save leaves an existing file intact.

    Parameters
    ----------
    model : BitNetModel
    path : str or os.PathLike
    metadata : dict of str to str, optional
        Extra safetensors metadata; the configuration is always recorded under
        ``"tritforge.config"`` (JSON) so :func:`load_checkpoint` can rebuild the model alone.
    """
    if not isinstance(model, BitNetModel):
        raise TypeError(f"model must be a BitNetModel, not {type(model).__name__}")
    path = Path(path)
    config = model.config
    if config.quantization_mode == "online":
        # The frozen form is what is saved: ternary weights with their scale s_w.
        config = BitNetConfig.from_dict({**config.to_dict(), "quantization_mode": "offline"})
    tensors = _model_tensors(model, config)
    all_metadata = {"format": "pt", **(metadata or {}),
                    CONFIG_METADATA_KEY: json.dumps(config.to_dict(), sort_keys=True)}
    if path.suffix == ".safetensors":
        _write_atomically(tensors, all_metadata, path)
        return
    config_json = json.dumps(config_to_json(config), indent=2) + "\n"
    _write_atomically(tensors, all_metadata, path / WEIGHTS_FILE)
    _replace_atomically(path / CONFIG_FILE, config_json.encode())


def load_checkpoint(path, config=None):
    """Read a checkpoint into a frozen :class:`BitNetModel` in eval mode.

    Parameters
    ----------
    path : str or os.PathLike
        A model folder or a safetensors file (module docstring).
    config : BitNetConfig, optional
        The model's configuration; wins over the folder's ``config.json`` or the file's
        recorded one.

    Returns
    -------
    BitNetModel
        With ``ignored_config_fields``: ``"field: reason"`` of every ``config.json`` field
        that does not change the computation (also logged).

    Raises
    ------
    CheckpointError
        When the path does not exist; a folder has no weights file; a file is not a readable
        safetensors file (truncated, garbage) or JSON; the configuration is missing, refused
        (:func:`~tritforge.golden.hf_config.config_from_json`) or invalid; a tensor is missing
        or unexpected (extra tensors are an error, not a warning: a golden model must not
        silently ignore weights); or a tensor has the wrong dtype or shape, an invalid 2-bit
        weight code, a weight scale that is not positive and finite, or a non-finite float.
        The message names the file or tensor and gives what was expected and what was found.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path} does not exist (expected a model folder or a .safetensors file)")
    with contextlib.ExitStack() as stack:
        files = _weight_files(path, stack)
        ignored = ()
        if config is None:
            config, ignored = _checkpoint_config(path, files)
        if not isinstance(config, BitNetConfig):
            raise TypeError(f"config must be a BitNetConfig, not {type(config).__name__}")
        layout = checkpoint_layout(config)
        _check_names(files, layout)
        model = _read_model(config, layout, files)
    for note in ignored:
        logger.info("ignored %s", note)
    model.ignored_config_fields = ignored
    return model


def _read_model(config, layout, files):
    # Placeholder tensors: building the latent float weights first would take 4 bytes per
    # ternary weight (8 GB for 2B4T) only to throw them away.
    with torch.device("meta"):
        model = BitNetModel(config)
    for name, out_features, _ in config.linear_shapes():
        linear = model.get_submodule(name)
        if config.quantization_mode == "online":
            w_t, s_w = quantize_weights(_float_tensor(files, f"{name}.weight", layout[f"{name}.weight"][1]))
            linear.freeze_packed(pack_hf(w_t), s_w)
        else:
            packed = _packed_weights(files, f"{name}.weight", layout, out_features)
            linear.freeze_packed(packed, _weight_scale(files, f"{name}.weight_scale"))
    for name, (kind, shape) in layout.items():
        if kind == "float":
            module_name, attribute = name.rsplit(".", 1)
            setattr(model.get_submodule(module_name), attribute,
                    torch.nn.Parameter(_float_tensor(files, name, shape), requires_grad=False))
    model.tie_weights()
    return model.eval()


def _weight_files(path, stack):
    """``{tensor name: open safetensors reader}`` of a folder or a file."""
    if path.is_file():
        reader = _open_safetensors(path, stack)
        return {name: reader for name in reader.keys()}
    index = path / INDEX_FILE
    if (path / WEIGHTS_FILE).is_file():
        reader = _open_safetensors(path / WEIGHTS_FILE, stack)
        return {name: reader for name in reader.keys()}
    if not index.is_file():
        raise CheckpointError(f"{path} has neither {WEIGHTS_FILE} nor {INDEX_FILE}: not a model folder")
    weight_map = _weight_map(index)
    readers = {}
    files = {}
    for name, filename in weight_map.items():
        if filename not in readers:
            readers[filename] = _open_safetensors(path / filename, stack)
        if name not in readers[filename].keys():
            raise CheckpointError(f"{index} maps tensor {name} to {filename}, which does not hold it")
        files[name] = readers[filename]
    return files


def _weight_map(index):
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(f"{index} is not a shard index (JSON with a \"weight_map\"): {error}") from error
    if not isinstance(weight_map, dict) or not all(
            isinstance(f, str) and f and Path(f).name == f for f in weight_map.values()):
        raise CheckpointError(f"{index}: weight_map must map tensor names to file names in the same folder")
    return weight_map


def _open_safetensors(path, stack):
    try:
        return stack.enter_context(safe_open(path, framework="pt"))
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error


def _checkpoint_config(path, files):
    """``(config, ignored)`` from the folder's ``config.json``, the file's metadata, or a
    ``config.json`` beside the file."""
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        recorded = next(iter(files.values())).metadata() if files else None
        if recorded and CONFIG_METADATA_KEY in recorded:
            return _recorded_config(recorded[CONFIG_METADATA_KEY], path), ()
    if not (folder / CONFIG_FILE).is_file():
        where = f"{folder} has no {CONFIG_FILE}" if path.is_dir() else \
            f"{path} records no configuration (metadata key {CONFIG_METADATA_KEY!r}) and {folder} has no {CONFIG_FILE}"
        raise CheckpointError(f"{where}: pass config")
    reading = read_config_file(folder / CONFIG_FILE)
    return reading.config, reading.ignored


def _replace_atomically(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _model_tensors(model, config):
    """The checkpoint's tensors (layout of ``config``), by name, from a model (frozen or not)."""
    tensors = {}
    for name, linear in model.bitlinears():
        w_t, scale = linear.quantized_weights()
        tensors[f"{name}.weight"] = linear.weight_packed.clone() if linear.frozen else pack_hf(w_t)
        tensors[f"{name}.weight_scale"] = scale.detach().to(torch.float32).reshape(1).clone()
    for name, (kind, _) in checkpoint_layout(config).items():
        if kind == "float":
            tensors[name] = model.get_parameter(name).detach().to(torch.float32).contiguous().clone()
    return tensors


def _write_atomically(tensors, metadata, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name in the same folder: os.replace must not cross file systems.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        # safetensors writes its files private (0600); give ours the mode the umask grants.
        with open(temporary, "xb"):
            mode = stat.S_IMODE(temporary.stat().st_mode)
        save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, mode)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _recorded_config(recorded, path):
    try:
        return BitNetConfig.from_dict(json.loads(recorded))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} records an invalid configuration: {error}") from error


def _check_names(tensors, layout):
    missing = [name for name in layout if name not in tensors]
    if missing:
        raise CheckpointError(f"tensor {missing[0]} is missing ({len(missing)} expected tensors missing)")
    extra = sorted(name for name in tensors if name not in layout)
    if extra:
        raise CheckpointError(f"tensor {extra[0]} is not part of this model "
                              f"({len(extra)} unexpected tensors)")


def _check_tensor(tensor, name, dtypes, shapes):
    if tensor.dtype not in dtypes:
        raise CheckpointError(f"tensor {name} has dtype {tensor.dtype}, expected "
                              f"{' or '.join(str(dtype) for dtype in dtypes)}")
    if tuple(tensor.shape) not in shapes:
        raise CheckpointError(f"tensor {name} has shape {tuple(tensor.shape)}, expected "
                              f"{' or '.join(str(shape) for shape in shapes)}")


def _packed_weights(files, name, layout, out_features):
    """The packed weights, checked for invalid codes."""
    packed = files[name].get_tensor(name)
    _check_tensor(packed, name, (torch.uint8,), (layout[name][1],))
    if has_invalid_code(packed):
        try:  # unpacked only to say where (and to accept a bad code in a padding row)
            unpack_hf(packed, out_features)
        except ValueError as error:
            raise CheckpointError(f"tensor {name}: {error}") from error
    # A copy: safetensors' tensors view the memory-mapped file, which would keep every page
    # read (the bfloat16 embeddings too) resident after loading.
    return packed.clone()


def _weight_scale(files, name):
    scale = files[name].get_tensor(name)
    _check_tensor(scale, name, FLOAT_DTYPES, ((1,), ()))
    value = scale.to(torch.float32).reshape(())
    if not (torch.isfinite(value) and value > 0):
        raise CheckpointError(f"tensor {name} holds {value.item()}, expected a positive finite weight scale")
    return value


def _float_tensor(files, name, shape):
    tensor = files[name].get_tensor(name)
    _check_tensor(tensor, name, FLOAT_DTYPES, (shape,))
    tensor = tensor.to(torch.float32, copy=True)  # a copy, not a view of the file (_packed_weights)
    # In slices: isfinite of a whole 2B4T embedding makes 2 GB of temporaries.
    if not all(torch.isfinite(part).all() for part in tensor.reshape(-1).split(_FINITE_CHECK_SLICE)):
        raise CheckpointError(f"tensor {name} holds non-finite values, expected finite floats")
    return tensor
