"""Run batches of layers through the harness (:mod:`tritforge.sim.harness`): one file, one
``start`` and one awaited ``done`` per batch, no Python on the simulator's cycles.

Imports cocotb: use it inside a cocotb test whose toplevel is the harness.
"""

import os
from pathlib import Path

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from .harness import (DEFAULT_DEPTH, RESPONSE_FILE, STIMULUS_FILE, Batch, BatchTimeout, cycle_budget,
                      decode_response, level, result_beat)

__all__ = ["BulkRunner", "first_mismatch"]

class BulkRunner:
    """Drives the harness around the accelerator ``params``: clock, reset, batches.

    Build it with ``await BulkRunner.create(dut, params)`` (starts the clock in the GPI, in C,
    and resets the design). :meth:`run` plays one :class:`~.harness.Batch`.

    Attributes
    ----------
    cycles : int
        Cycles simulated by :meth:`run` so far.
    """

    def __init__(self, dut, params, period_ns, depth):
        self.dut = dut
        self.params = params
        self.period_ns = period_ns
        self.depth = depth
        self.folder = Path(os.getcwd())
        self.cycles = 0

    @classmethod
    async def create(cls, dut, params, period_ns=10, depth=DEFAULT_DEPTH):
        for name, value in (("rst", 1), ("bulk", 1), ("start", 0), ("dump", 0)):
            getattr(dut, name).value = value
        Clock(dut.clk, period_ns, unit="ns", impl="gpi").start()
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        return cls(dut, params, period_ns, depth)

    def new_batch(self):
        """An empty batch (the previous one's results and status are read: any bank is free)."""
        return Batch(self.params)

    async def run(self, batch, *, seed, idle=0.0, backpressure=0.0):
        """Play ``batch`` with pauses of probability ``idle`` on the command stream and
        ``backpressure`` on the response stream (both drawn from ``seed``); return
        :meth:`Batch.results` of the response. Raises :class:`BatchTimeout` on a hang."""
        dut = self.dut
        text, beats = batch.stimulus()
        (self.folder / STIMULUS_FILE).write_text(text)
        dut.stim_count.value = beats
        dut.resp_count.value = batch.response_beats
        dut.seed.value = seed & 0xFFFF_FFFF
        dut.idle_level.value = level(idle)
        dut.stall_level.value = level(backpressure)
        start = int(dut.cycle.value)
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        budget = cycle_budget(self.params, batch, beats)
        await First(RisingEdge(dut.done), Timer(budget * self.period_ns, unit="ns"))
        self.cycles += int(dut.cycle.value) - start
        if not int(dut.done.value):
            raise BatchTimeout(await self._hang_report(batch, beats, budget))
        response = decode_response(self.params, (self.folder / RESPONSE_FILE).read_text())
        return batch.results(*response)

    async def _hang_report(self, batch, beats, budget):
        dut = self.dut
        seen = int(dut.resp_seen.value)
        last = ""
        if seen:
            dut.dump.value = 1
            await RisingEdge(dut.clk)
            dut.dump.value = 0
            await RisingEdge(dut.clk)
            _, _, cycles = decode_response(self.params, (self.folder / RESPONSE_FILE).read_text())
            last = f", the last at cycle {int(cycles[-1])}"
        return (f"batch of {len(batch.layers)} layers not done after {budget} cycles: "
                f"{seen} of {batch.response_beats} response beats received{last}")


def first_mismatch(params, layer, expected):
    """``None`` when the parts of ``layer`` (``(part, y_part, beat_cycles)`` of
    :meth:`Batch.results`) add up to ``expected`` ``[T, N]``; else ``(got, parts)`` for
    :meth:`~.tb_accelerator.Scoreboard.check`, each part with the cycle of the beat that
    holds the first wrong value (or the packet's last beat for parts that do not)."""
    got = np.zeros(expected.shape, dtype=np.int64)
    for part, y, _ in layer:
        got[part.t0:part.t1, part.n0:part.n1] += y
    got = got.astype(np.int32)
    if np.array_equal(got, expected):
        return None
    t, n = (int(v) for v in np.argwhere(got != expected)[0])
    parts = []
    for part, _, cycles in layer:
        inside = part.t0 <= t < part.t1 and part.n0 <= n < part.n1
        parts.append((part, int(cycles[result_beat(params, part, t, n)] if inside else cycles[-1])))
    return got, parts
