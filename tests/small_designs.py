"""Small Amaranth designs with known synthesis results, shared by the flow tests."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Adder"]


class Adder(wiring.Component):
    """Registered 8-bit add: 9 flip-flops, a carry chain, no multiplier."""
    a: In(8)
    b: In(8)
    y: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(self.a + self.b)
        return m
