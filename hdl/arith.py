"""Multiplier-free products for control logic (no ``$mul`` cell, so no DSP block is inferred).

The data path of a ternary accelerator has no multiplier; these keep the control path free
of them too. Both build exact products out of shifts and adders; the result is at least as
wide as the operands' full product, so truncating it gives the same bits as ``a * b``.
"""

from amaranth.hdl import Const, Mux, Value

__all__ = ["times_const", "times_small"]


def times_const(value, constant):
    """``value * constant`` (``constant`` a non-negative int) as a sum of shifted copies of
    ``value``, one per set bit of ``constant``; signed if ``value`` is (``chunks - 1`` is
    signed in Amaranth), exact either way."""
    if not isinstance(constant, int) or isinstance(constant, bool) or constant < 0:
        raise ValueError(f"constant must be a non-negative integer, not {constant!r}")
    value = Value.cast(value)
    terms = [value << i for i in range(constant.bit_length()) if constant >> i & 1]
    if not terms:
        return Const(0, 1)
    product = terms[0]
    for term in terms[1:]:
        product = product + term
    return product


def times_small(a, b):
    """``a * b`` of two unsigned values as a shift-and-add over the bits of the narrower one
    (meant for narrow operands, e.g. a tile's rows times its columns)."""
    a, b = Value.cast(a), Value.cast(b)
    if a.shape().signed or b.shape().signed:
        raise TypeError("times_small takes unsigned values")
    if len(a) > len(b):
        a, b = b, a
    if len(a) == 0:
        return Const(0, 1)
    product = Mux(a[0], b, 0)
    for i in range(1, len(a)):
        product = product + Mux(a[i], b << i, 0)
    return product
