"""Performance counters of the accelerator."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.protocol import COUNTERS, MAX_COUNTER_BITS, MIN_COUNTER_BITS

__all__ = ["counters_layout", "PerfCounters"]


def counters_layout(bits):
    """All counters of :data:`~tritforge.spec.protocol.COUNTERS`, ``bits`` bits each."""
    return StructLayout({name: bits for name in COUNTERS})


class PerfCounters(wiring.Component):
    """Counts cycles by class and multiply-accumulates; ``clear`` zeroes them.

    Every cycle: ``cycles`` += 1; ``busy`` += ``busy``; ``compute`` += ``compute``;
    ``stall_in`` += not ``busy``; ``stall_out`` += ``stall_out``; ``macs`` += ``macs``. Control
    overhead is ``busy - compute - stall_out``. The counters wrap at ``2**bits``. Latency 2:
    an event is registered, then counted.

    Parameters
    ----------
    max_macs : int
        Largest ``macs`` increment (``rows * cols``).
    bits : int
        Width of each counter (``AcceleratorParams.counter_bits``, 16..64).

    Members
    -------
    busy, compute, stall_out : ``In(1)``
    macs : ``In(range(max_macs + 1))``
    clear : ``In(1)``
        Zero all counters (this cycle's events are not counted).
    counters : ``Out(counters_layout(bits))``
    """

    def __init__(self, max_macs, bits=MAX_COUNTER_BITS):
        check_integer("max_macs", max_macs, 1)
        check_integer("bits", bits, MIN_COUNTER_BITS, MAX_COUNTER_BITS)
        super().__init__({"busy": In(1), "compute": In(1), "stall_out": In(1),
                          "macs": In(range(max_macs + 1)), "clear": In(1),
                          "counters": Out(counters_layout(bits))})

    def elaborate(self, platform):
        m = Module()
        c = self.counters
        # The events are registered first: they come from other blocks' state logic, and
        # the counters' carry chains take most of a cycle by themselves. So an event is
        # counted a cycle late; ``clear`` drops the one in flight.
        events = {name: Signal.like(getattr(self, name), name=f"{name}_event")
                  for name in ("busy", "compute", "stall_out", "macs")}
        for name, event in events.items():
            m.d.sync += event.eq(Mux(self.clear, 0, getattr(self, name)))
        increments = {"cycles": 1, "busy": events["busy"], "compute": events["compute"],
                      "stall_in": ~events["busy"], "stall_out": events["stall_out"],
                      "macs": events["macs"]}
        with m.If(self.clear):
            m.d.sync += c.eq(0)
        with m.Else():
            m.d.sync += [getattr(c, name).eq(getattr(c, name) + increments[name]) for name in increments]
        return m
