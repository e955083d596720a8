"""Multiplier- and divider-free arithmetic for control logic (no ``$mul``, ``$div`` or
``$mod`` cell, so no DSP block and no generic divider is inferred).

The data path of a ternary accelerator has no multiplier; these keep the control path free
of them too. The product is built out of shifts and adders; the result is at least as
wide as the operands' full product, so truncating it gives the same bits as ``a * b``.
The division by a constant is bit slicing for a power of two, else a restoring long
division whose steps compare with and subtract constants.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, Value

__all__ = ["times_small", "divide_const"]


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


def divide_const(m, value, constant):
    """``(value // constant, value % constant)`` of an unsigned ``value`` and a positive int.

    A power of two is a bit slice. Any other ``constant`` is a restoring long division,
    one step per quotient bit from the top: shift the next bit of ``value`` into the partial
    remainder, and where it is ``>= constant`` (a compare with a constant) subtract
    ``constant`` and set the quotient bit. Combinational, no ``$div``/``$mod``/``$mul``.
    Each step's partial remainder is a signal of its own in ``m``'s ``comb`` domain: as
    one nested expression, every step would copy the one before it three times (compare,
    subtract, keep), and a 13-bit division would take synthesis minutes.

    Returns
    -------
    (Value, Value)
        The quotient (unsigned, ``len(value)`` bits or fewer) and the remainder (unsigned,
        ``(constant - 1).bit_length()`` bits).

    Raises
    ------
    TypeError
        ``value`` is signed, or ``constant`` is not an int.
    ValueError
        ``constant`` is less than 1.
    """
    if not isinstance(constant, int) or isinstance(constant, bool):
        raise TypeError(f"constant must be an integer, not {constant!r}")
    if constant < 1:
        raise ValueError(f"constant must be a positive integer, not {constant!r}")
    value = Value.cast(value)
    if value.shape().signed:
        raise TypeError("divide_const takes an unsigned value")
    remainder_bits = (constant - 1).bit_length()
    if constant & (constant - 1) == 0:
        return value[remainder_bits:], value[:remainder_bits]
    # The top `remainder_bits - 1` bits are below `constant`: they start the partial
    # remainder with no step (their quotient bits are 0).
    start = max(len(value) - (remainder_bits - 1), 0)
    remainder = value[start:]
    quotient = []
    for i in reversed(range(start)):
        shifted = Signal(remainder_bits + 1, name=f"div{constant}_step{i}")  # < 2 * constant
        m.d.comb += shifted.eq(Cat(value[i], remainder))
        fits = shifted >= constant
        remainder = Mux(fits, shifted - constant, shifted)[:remainder_bits]
        quotient.append(fits)
    return Cat(*reversed(quotient)), remainder
