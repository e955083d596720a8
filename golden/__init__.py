"""The PyTorch BitNet b1.58 golden model: the integer semantics the hardware must match.

Public API: the quantizers, the exact integer ternary matmul, :class:`BitLinear`,
the packing formats (:mod:`tritforge.golden.packing`), the BitNet b1.58 transformer
(:class:`BitNetConfig`, :class:`BitNetModel`) and checkpoint loading.
"""

from . import packing
from .bitlinear import BitLinear
from .checkpoint import CheckpointError, checkpoint_layout, load_checkpoint, save_checkpoint
from .config import PRESETS, BitNetConfig
from .model import BitNetModel
from .quant import (accumulator_bits, quantize_activations, quantize_weights, ternary_matmul,
                    ternary_matmul_numpy)
from .train import TinyRecipe, complete_text, generate_greedy, tiny_model, train_tiny

__all__ = [
    "packing", "BitLinear", "accumulator_bits", "quantize_activations", "quantize_weights",
    "ternary_matmul", "ternary_matmul_numpy",
    "PRESETS", "BitNetConfig", "BitNetModel", "CheckpointError", "checkpoint_layout", "load_checkpoint",
    "save_checkpoint", "TinyRecipe", "complete_text", "generate_greedy", "tiny_model", "train_tiny",
]
