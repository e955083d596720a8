# amaranth: UnusedElaboratable=no
# (modules made only to hold a division that a test inspects or refuses)
"""Multiplier- and divider-free arithmetic: exact against ``*``, ``//`` and ``%`` over every
operand, and no ``$mul``, ``$div`` or ``$mod`` cell."""

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from tritforge.flows.synth import synthesize
from tritforge.hdl.arith import divide_const, times_small

#: Yosys cells of a generic multiplier or divider, as Amaranth writes them to RTLIL.
ARITH_CELL = re.compile(r"^\s*cell \$(mul|div|mod|divfloor|modfloor) ", re.MULTILINE)


@pytest.mark.parametrize("widths", [(3, 5), (5, 3), (1, 4), (4, 4)])
def test_times_small_is_exact(widths):
    a, b = Signal(widths[0]), Signal(widths[1])
    product = times_small(a, b)
    out = Signal(len(product))
    m = Module()
    m.d.comb += out.eq(product)

    async def bench(ctx):
        for x in range(2 ** len(a)):
            for y in range(2 ** len(b)):
                ctx.set(a, x)
                ctx.set(b, y)
                assert ctx.get(out) == x * y

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not ARITH_CELL.search(rtlil.convert(m, ports=[a, b, out]))


def test_bad_arguments():
    with pytest.raises(TypeError, match="unsigned"):
        times_small(Signal(4), Signal(range(-3, 3)))


def _divider(width, constant):
    """A module computing ``divide_const`` of a ``width``-bit input, with its ports."""
    a = Signal(width)
    m = Module()
    quotient, remainder = divide_const(m, a, constant)
    q, r = Signal(len(quotient)), Signal(len(remainder))
    m.d.comb += [q.eq(quotient), r.eq(remainder)]
    return m, a, q, r


@pytest.mark.parametrize("constant", [1, 2, 3, 5, 6, 7, 8, 10, 12, 13, 16, 37, 100, 255, 300])
@pytest.mark.parametrize("width", [1, 2, 5, 8])
def test_divide_const_is_exact(width, constant):
    m, a, q, r = _divider(width, constant)
    assert len(r) <= (constant - 1).bit_length()

    async def bench(ctx):
        for x in range(2 ** width):
            ctx.set(a, x)
            assert (ctx.get(q), ctx.get(r)) == (x // constant, x % constant)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not ARITH_CELL.search(rtlil.convert(m, ports=[a, q, r]))


def test_divide_const_by_a_power_of_two_is_a_slice():
    a = Signal(8)
    quotient, remainder = divide_const(Module(), a, 16)
    assert (len(quotient), len(remainder)) == (4, 4)
    assert repr(quotient) == repr(a[4:]) and repr(remainder) == repr(a[:4])


@pytest.mark.synth
def test_divide_const_leaves_no_divider_after_proc_opt():
    m, a, q, r = _divider(11, 10)     # the decoder's use: ceil(K / cols) with cols = 10
    report = synthesize(m, "ice40", top_name="divider", ports=[a, q, r])
    assert (report["mul_cells"], report["div_cells"], report["dsp"]) == (0, 0, 0)


def test_divide_const_bad_arguments():
    with pytest.raises(ValueError, match=r"^constant must be a positive integer, not 0$"):
        divide_const(Module(), Signal(4), 0)
    with pytest.raises(TypeError, match=r"^constant must be an integer, not 2\.0$"):
        divide_const(Module(), Signal(4), 2.0)
    with pytest.raises(TypeError, match=r"^constant must be an integer, not True$"):
        divide_const(Module(), Signal(4), True)
    with pytest.raises(TypeError, match=r"^divide_const takes an unsigned value$"):
        divide_const(Module(), Signal(signed(4)), 3)
