"""Performance counters of the accelerator."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.data import StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.protocol import COUNTER_BITS, COUNTERS

__all__ = ["counters_layout", "PerfCounters"]


def counters_layout():
    """All counters of :data:`~tritforge.spec.protocol.COUNTERS`, 64 bits each."""
    return StructLayout({name: COUNTER_BITS for name in COUNTERS})


class PerfCounters(wiring.Component):
    """Counts cycles by class and multiply-accumulates; ``clear`` zeroes them.

    Every cycle: ``cycles`` += 1; ``busy`` += ``busy``; ``compute`` += ``compute``;
    ``stall_in`` += not ``busy``; ``stall_out`` += ``stall_out``; ``macs`` += ``macs``. Control
    overhead is ``busy - compute - stall_out``. The counters wrap at 2**64. Latency 1.

    Parameters
    ----------
    max_macs : int
        Largest ``macs`` increment (``rows * cols``).

    Members
    -------
    busy, compute, stall_out : ``In(1)``
    macs : ``In(range(max_macs + 1))``
    clear : ``In(1)``
        Zero all counters (this cycle's events are not counted).
    counters : ``Out(counters_layout())``
    """

    def __init__(self, max_macs):
        if not isinstance(max_macs, int) or isinstance(max_macs, bool) or max_macs < 1:
            raise ValueError(f"max_macs must be a positive integer, not {max_macs!r}")
        super().__init__({"busy": In(1), "compute": In(1), "stall_out": In(1),
                          "macs": In(range(max_macs + 1)), "clear": In(1),
                          "counters": Out(counters_layout())})

    def elaborate(self, platform):
        m = Module()
        c = self.counters
        increments = {"cycles": 1, "busy": self.busy, "compute": self.compute,
                      "stall_in": ~self.busy, "stall_out": self.stall_out, "macs": self.macs}
        with m.If(self.clear):
            m.d.sync += c.eq(0)
        with m.Else():
            m.d.sync += [getattr(c, name).eq(getattr(c, name) + increments[name]) for name in increments]
        return m
