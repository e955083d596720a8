"""The PyTorch BitNet b1.58 golden model: the integer semantics the hardware must match.

Public API: the quantizers, the exact integer ternary matmul, :class:`BitLinear`,
the packing formats (:mod:`tritforge.golden.packing`), the BitNet b1.58 transformer
(:class:`BitNetConfig`, :class:`BitNetModel`, :class:`KVCache`), checkpoint loading (model
folders in both public layouts, :func:`load_checkpoint`) and greedy generation.
"""

from . import packing
from .bitlinear import BitLinear
from .checkpoint import CheckpointError, checkpoint_layout, config_to_json, load_checkpoint, save_checkpoint
from .config import PRESETS, BitNetConfig
from .hf_config import ConfigReading, config_from_json
from .model import BitNetModel, KVCache
from .quant import (accumulator_bits, quantize_activations, quantize_weights, ternary_matmul,
                    ternary_matmul_numpy)
from .train import TinyRecipe, complete_text, generate_greedy, tiny_model, train_tiny

__all__ = [
    "packing", "BitLinear", "accumulator_bits", "quantize_activations", "quantize_weights",
    "ternary_matmul", "ternary_matmul_numpy",
    "PRESETS", "BitNetConfig", "BitNetModel", "KVCache", "CheckpointError", "checkpoint_layout",
    "load_checkpoint", "save_checkpoint", "config_to_json", "ConfigReading", "config_from_json", "TinyRecipe", "complete_text", "generate_greedy", "tiny_model", "train_tiny",
]
