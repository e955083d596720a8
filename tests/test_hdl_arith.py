"""Multiplier-free products: exact against ``*`` over every operand, and no ``$mul`` cell."""

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from tritforge.hdl.arith import times_const, times_small


@pytest.mark.parametrize("constant", [0, 1, 3, 4, 10, 16, 37])
def test_times_const_is_exact(constant):
    a = Signal(6)
    product = times_const(a - 1, constant)        # the decoder's use: (chunks - 1) * cols
    assert product.shape().signed == (constant != 0)   # a - 1 is signed(7)
    out = Signal(len(product))
    m = Module()
    m.d.comb += out.eq(product)

    async def bench(ctx):
        for x in range(2 ** len(a)):
            ctx.set(a, x)
            assert ctx.get(out) == (x - 1) * constant % 2 ** len(out)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert "$mul" not in rtlil.convert(m, ports=[a, out])


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
    assert "$mul" not in rtlil.convert(m, ports=[a, b, out])


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-negative integer"):
        times_const(Signal(4), -1)
    with pytest.raises(TypeError, match="unsigned"):
        times_small(Signal(4), Signal(range(-3, 3)))
