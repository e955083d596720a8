"""The random workload of the switching-activity estimate: one matrix-unit chunk per cycle.

Activations and int weights are int8 values from a clipped normal distribution
(absmax-quantized tensors are roughly normal and span about four standard deviations); a
chosen share of the weights is zero; ternary weights are otherwise -1 or +1 with equal
probability. Dot products are :data:`CHUNKS_PER_PRODUCT` chunks long.
"""

import random

from ..spec.params import TERNARY_UNIT_KINDS, UNIT_KINDS

__all__ = ["CHUNKS_PER_PRODUCT", "INT8_SIGMA", "make_workload"]

#: Chunks per dot product in the generated workload (K = 4 * cols).
CHUNKS_PER_PRODUCT = 4
#: Standard deviation of the int8 activations and int weights (absmax-quantized tensors
#: span about four of them).
INT8_SIGMA = 127 / 4


def _clipped_normal(rng, count, sigma=INT8_SIGMA, limit=127):
    return [max(-limit, min(limit, round(rng.gauss(0, sigma)))) for _ in range(count)]


def _weights(rng, kind, count, zero_share):
    """``count`` weights with ``zero_share`` zeros: ternary +-1, else clipped-normal int8."""
    values = []
    for _ in range(count):
        if rng.random() < zero_share:
            values.append(0)
        elif kind in TERNARY_UNIT_KINDS:
            values.append(rng.choice((-1, 1)))
        else:
            value = 0
            while value == 0:  # the zero share alone decides how many weights are zero
                value = _clipped_normal(rng, 1)[0]
            values.append(value)
    return values


def make_workload(kind, rows, cols, cycles, *, zero_share, seed=1):
    """One chunk per cycle for a ``kind`` unit: ``[{"act", "weights", "first", "last"}]``.

    ``act`` is ``cols`` int8 values, ``weights`` ``rows`` lists of ``cols`` integer weights
    (-1/0/+1 for ternary), ``first``/``last`` mark dot products of
    :data:`CHUNKS_PER_PRODUCT` chunks. The same ``seed`` gives the same chunks.

    Raises
    ------
    ValueError
        If ``kind`` is not a unit kind, ``zero_share`` is not in [0, 1] or ``cycles``
        is not positive.
    """
    if kind not in UNIT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(UNIT_KINDS)}, not {kind!r}")
    if not isinstance(zero_share, (int, float)) or not 0 <= zero_share <= 1:
        raise ValueError(f"zero_share must be a number in 0..1, not {zero_share!r}")
    if not isinstance(cycles, int) or cycles < 1:
        raise ValueError(f"cycles must be a positive integer, not {cycles!r}")
    rng = random.Random(seed)
    chunks = []
    for cycle in range(cycles):
        position = cycle % CHUNKS_PER_PRODUCT
        chunks.append({"act": _clipped_normal(rng, cols),
                       "weights": [_weights(rng, kind, cols, zero_share) for _ in range(rows)],
                       "first": position == 0, "last": position == CHUNKS_PER_PRODUCT - 1})
    return chunks
