"""Encodings the hardware shares with the golden model and the host driver.

The numbers are defined by the golden model (:mod:`tritforge.golden.packing`); they are
repeated here as plain constants because ``hdl`` must not import ``golden`` (torch).
``tests/test_encoding.py`` pins the two definitions to each other.
"""

import enum

__all__ = ["WeightCode", "WEIGHT_CODE_BITS", "accumulator_bits"]

#: Width of one packed ternary weight in the 2-bit formats.
WEIGHT_CODE_BITS = 2


class WeightCode(enum.IntEnum):
    """2-bit ternary weight code: ``code = w + 1``.

    The same code as the BitNet b1.58 2B4T checkpoints (and the transformers BitNet
    integration) store, so that a checkpoint's weights reach the weight SRAM by
    reordering bytes, never by recoding them. ``INVALID`` never comes out of a packer;
    hardware that meets it contributes nothing and raises an error flag.
    """
    NEG = 0b00
    ZERO = 0b01
    POS = 0b10
    INVALID = 0b11


def accumulator_bits(max_k, act_bits=8):
    """Smallest signed width that holds any dot product of ``max_k`` terms.

    Worst case: every activation is ``-2**(act_bits-1)`` and every weight ``-1``, giving
    ``+max_k * 2**(act_bits-1)``; the most negative sum, ``-max_k * 2**(act_bits-1)``,
    needs no more bits than that.
    """
    if not isinstance(max_k, int) or max_k < 1:
        raise ValueError(f"max_k must be a positive integer, not {max_k!r}")
    if not isinstance(act_bits, int) or act_bits < 1:
        raise ValueError(f"act_bits must be a positive integer, not {act_bits!r}")
    return (max_k << (act_bits - 1)).bit_length() + 1
