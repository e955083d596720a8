"""Register slice: a stream passed through registers in both directions, at full rate."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .reset import hold_low_in_reset

__all__ = ["RegisterSlice"]


class RegisterSlice(wiring.Component):
    """Cuts the combinational paths of a stream: ``o.valid``, ``o.payload`` and ``i.ready``
    all come from flip-flops (a two-entry skid buffer), gated by the reset.

    Protocol: the ``amaranth.lib.stream`` rules on both sides; one transfer per cycle in
    steady state. Latency: a payload taken on ``i`` is offered on ``o`` the next cycle.

    Reset: empty; ``i.ready`` and ``o.valid`` are low while ``rst`` is high, from its first
    cycle (a payload held then is dropped).

    Parameters
    ----------
    shape : shape-like
        The payload's shape.

    Members
    -------
    i : ``In(stream.Signature(shape))``
    o : ``Out(stream.Signature(shape))``
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid = Signal.like(self.i.payload)
        skid_valid = Signal()
        held = Signal()
        m.d.comb += [self.i.ready.eq(~skid_valid),
                     self.o.valid.eq(held)]
        with m.If(self.o.ready | ~held):
            with m.If(skid_valid):
                m.d.sync += [self.o.payload.eq(skid), held.eq(1), skid_valid.eq(0)]
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), held.eq(self.i.valid)]
        with m.Elif(self.i.valid & ~skid_valid):
            m.d.sync += [skid.eq(self.i.payload), skid_valid.eq(1)]
        hold_low_in_reset(m, self.i.ready, self.o.valid)
        return m
