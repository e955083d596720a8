"""Safetensors checkpoints in the BitNet b1.58 2B4T layout.

For every BitLinear ``<name>`` (``model.layers.{i}.self_attn.q_proj``...):

``<name>.weight``
    uint8 ``[ceil(out/4), in]``, the ternary weights packed by
    :func:`~tritforge.golden.packing.pack_hf` (2-bit codes ``w + 1``; code 3 is invalid).
``<name>.weight_scale``
    float, shape ``[1]`` (0-d accepted): ``s_w``, the divisor of the layer's output.

Everything else is a float tensor under its module path: ``model.embed_tokens.weight``,
the RMSNorm gains (``model.layers.{i}.input_layernorm.weight``, ``...attn_sub_norm.weight``,
``...post_attention_layernorm.weight``, ``...ffn_sub_norm.weight``, ``model.norm.weight``)
and, unless the embeddings are tied, ``lm_head.weight``. The public checkpoint stores these
in bfloat16; the loader accepts bfloat16, float16 and float32, ours are float32.

Checkpoints are read with safetensors only (no pickle). Any defect raises
:class:`CheckpointError` naming the tensor and what was expected.
"""

import json
import os
import stat
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..spec.errors import TritforgeError
from .config import BitNetConfig
from .model import BitNetModel
from .packing import WEIGHTS_PER_BYTE, pack_hf, unpack_hf

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "checkpoint_layout"]

#: Float dtypes accepted for non-ternary tensors and weight scales.
FLOAT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
#: Safetensors metadata key under which :func:`save_checkpoint` records the configuration.
CONFIG_METADATA_KEY = "tritforge.config"


class CheckpointError(TritforgeError, ValueError):
    """A checkpoint file that cannot be a BitNet model of the expected configuration."""


def checkpoint_layout(config):
    """The tensors a checkpoint of ``config`` holds: ``{name: (kind, shape)}``.

    ``kind`` is ``"packed"`` (uint8 2-bit weights), ``"scale"`` (a BitLinear's ``s_w``) or
    ``"float"``; names are in the order of the model's modules.
    """
    hidden, vocab = config.hidden_size, config.vocab_size
    layout = {"model.embed_tokens.weight": ("float", (vocab, hidden))}
    for i in range(config.num_hidden_layers):
        norms = {"input_layernorm": hidden, "self_attn.attn_sub_norm": hidden,
                 "post_attention_layernorm": hidden, "mlp.ffn_sub_norm": config.intermediate_size}
        for norm, size in norms.items():
            layout[f"model.layers.{i}.{norm}.weight"] = ("float", (size,))
    for name, out_features, in_features in config.linear_shapes():
        layout[f"{name}.weight"] = ("packed", (-(-out_features // WEIGHTS_PER_BYTE), in_features))
        layout[f"{name}.weight_scale"] = ("scale", (1,))
    layout["model.norm.weight"] = ("float", (hidden,))
    if not config.tie_word_embeddings:
        layout["lm_head.weight"] = ("float", (vocab, hidden))
    return layout


def save_checkpoint(model, path, metadata=None):
    """Write ``model`` to ``path`` as a safetensors checkpoint in the 2B4T layout.

    Unfrozen BitLinears are quantized on the way (the model itself is not changed). The
    file is written next to ``path`` under a temporary name and moved into place, so an
    interrupted or failed save leaves any existing ``path`` intact.

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
    tensors = _model_tensors(model)
    all_metadata = {"format": "pt", **(metadata or {}),
                    CONFIG_METADATA_KEY: json.dumps(model.config.to_dict(), sort_keys=True)}
    _write_atomically(tensors, all_metadata, Path(path))


def load_checkpoint(path, config=None):
    """Read a checkpoint into a frozen :class:`BitNetModel` in eval mode.

    Parameters
    ----------
    path : str or os.PathLike
    config : BitNetConfig, optional
        The model's shape. Without it, the configuration :func:`save_checkpoint` recorded in
        the file's metadata is used (public checkpoints do not have one: pass the config).
        A given config wins over the recorded one.

    Raises
    ------
    CheckpointError
        When the file is not a readable safetensors file (missing, truncated, garbage), has
        no usable configuration, lacks an expected tensor or holds an unexpected one (extra
        tensors are an error, not a warning: a golden model must not silently ignore
        weights), or a tensor has the wrong dtype or shape, an invalid 2-bit weight code, a
        weight scale that is not positive and finite, or a non-finite float. The message
        names the tensor and gives what was expected and what was found.
    """
    tensors, metadata = _read_safetensors(Path(path))
    config = config if config is not None else _recorded_config(metadata, path)
    if not isinstance(config, BitNetConfig):
        raise TypeError(f"config must be a BitNetConfig, not {type(config).__name__}")
    layout = checkpoint_layout(config)
    _check_names(tensors, layout)
    # Placeholder tensors: building the latent float weights first would take 4 bytes per
    # ternary weight (8 GB for 2B4T) only to throw them away.
    with torch.device("meta"):
        model = BitNetModel(config)
    for name, out_features, _ in config.linear_shapes():
        w_t = _unpacked_weights(tensors, f"{name}.weight", layout, out_features)
        s_w = _weight_scale(tensors, f"{name}.weight_scale")
        model.get_submodule(name).freeze(w_t, s_w)
    for name, (kind, shape) in layout.items():
        if kind == "float":
            module_name, attribute = name.rsplit(".", 1)
            setattr(model.get_submodule(module_name), attribute,
                    torch.nn.Parameter(_float_tensor(tensors, name, shape)))
    model.tie_weights()
    return model.eval()


def _model_tensors(model):
    """The checkpoint's tensors, by name, from a model (frozen or not)."""
    tensors = {}
    for name, linear in model.bitlinears():
        w_t, s_w = linear.quantized_weights()
        tensors[f"{name}.weight"] = pack_hf(w_t)
        tensors[f"{name}.weight_scale"] = s_w.detach().to(torch.float32).reshape(1).clone()
    for name, (kind, _) in checkpoint_layout(model.config).items():
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


def _read_safetensors(path):
    try:
        with safe_open(path, framework="pt") as reader:
            return {name: reader.get_tensor(name) for name in reader.keys()}, reader.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from error


def _recorded_config(metadata, path):
    recorded = metadata.get(CONFIG_METADATA_KEY)
    if recorded is None:
        raise CheckpointError(f"{path} records no configuration (metadata key {CONFIG_METADATA_KEY!r}): "
                              f"pass config")
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


def _unpacked_weights(tensors, name, layout, out_features):
    packed = tensors[name]
    _check_tensor(packed, name, (torch.uint8,), (layout[name][1],))
    try:
        return unpack_hf(packed, out_features)
    except ValueError as error:
        raise CheckpointError(f"tensor {name}: {error}") from error


def _weight_scale(tensors, name):
    scale = tensors[name]
    _check_tensor(scale, name, FLOAT_DTYPES, ((1,), ()))
    value = scale.to(torch.float32).reshape(())
    if not (torch.isfinite(value) and value > 0):
        raise CheckpointError(f"tensor {name} holds {value.item()}, expected a positive finite weight scale")
    return value


def _float_tensor(tensors, name, shape):
    tensor = tensors[name]
    _check_tensor(tensor, name, FLOAT_DTYPES, (shape,))
    tensor = tensor.to(torch.float32)
    if not torch.isfinite(tensor).all():
        raise CheckpointError(f"tensor {name} holds non-finite values, expected finite floats")
    return tensor
