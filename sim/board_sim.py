"""The board top in Amaranth's simulator, driven by the real host code through a UART model.

No HDL simulator, no cocotb: :func:`run_board` elaborates :class:`~tritforge.hdl.board.BoardTop`,
drives its ``rx`` pin bit by bit from a :class:`~tritforge.sim.link.ByteChannel`
(:class:`SimChannel`), decodes ``tx`` in a concurrent process, and runs an async host
function (``host(channel, ctx)``) against it: the same :class:`~tritforge.sim.link.FramedLink`
and driver code that talks to a board. For small configurations and unit tests; the cocotb
bench (:mod:`tritforge.sim.tb_board`) runs the big ones.
"""

import collections

from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from ..hdl.board import BoardTop
from ..spec.link import bits_per_byte
from .link import ByteChannel

__all__ = ["SimChannel", "run_board"]


class SimChannel(ByteChannel):
    """A UART on the board top's pins inside an Amaranth testbench (``ctx``).

    ``corrupt``: an optional function ``(frame_index, data) -> data`` applied to each
    :meth:`write`, to damage frames on purpose. ``reset_at``: cycles at which the board is
    reset (for three cycles). ``cycle`` counts the clock cycles the host has waited.
    """

    def __init__(self, ctx, dut, received, *, corrupt=None, reset=None, reset_at=()):
        self.ctx = ctx
        self.dut = dut
        self.reset = reset
        self.reset_at = sorted(reset_at)
        self.divider = dut.link.baud_divider
        self.received = received
        self.corrupt = corrupt
        self.writes = 0
        self.cycle = 0

    async def _tick(self, count=1):
        for _ in range(count):
            if self.reset_at and self.cycle == self.reset_at[0]:
                self.reset_at.pop(0)
                self.ctx.set(self.reset, 1)
            elif self.reset is not None and self.ctx.get(self.reset):
                self.ctx.set(self.reset, 0)
            await self.ctx.tick()
            self.cycle += 1

    async def write(self, data):
        if self.corrupt is not None:
            data = self.corrupt(self.writes, data)
        self.writes += 1
        for byte in data:
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                self.ctx.set(self.dut.rx, bit)
                await self._tick(self.divider)

    async def write_raw(self, data):
        """Bytes without :attr:`corrupt` (e.g. half a frame)."""
        corrupt, self.corrupt = self.corrupt, None
        try:
            await self.write(data)
        finally:
            self.corrupt = corrupt
            self.writes -= 1

    async def read(self, timeout_bytes):
        waited = 0
        limit = timeout_bytes * bits_per_byte() * self.divider
        while not self.received and waited < limit:
            await self._tick()
            waited += 1
        data = bytes(self.received)
        self.received.clear()
        return data

    def now(self):
        return self.cycle


def run_board(params, link, host, *, store=None, corrupt=None, reset_at=()):
    """Simulate ``BoardTop(params, link, store)`` and run ``await host(channel, ctx)``;
    return what it returns (the host's timeouts bound the simulation). ``corrupt`` and
    ``reset_at``: see :class:`SimChannel`."""
    dut = BoardTop(params, link, store)
    reset = Signal()
    top = ResetInserter(reset)(dut)
    received = collections.deque()
    result = {}
    divider = link.baud_divider

    async def decode_tx(ctx):
        while True:
            while ctx.get(dut.tx):
                await ctx.tick()
            await ctx.tick().repeat(divider // 2)
            if ctx.get(dut.tx):
                continue
            byte = 0
            for bit in range(8):
                await ctx.tick().repeat(divider)
                byte |= ctx.get(dut.tx) << bit
            await ctx.tick().repeat(divider)
            received.append(byte)

    async def bench(ctx):
        ctx.set(dut.rx, 1)
        channel = SimChannel(ctx, dut, received, corrupt=corrupt, reset=reset, reset_at=reset_at)
        result["value"] = await host(channel, ctx)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(decode_tx, background=True)
    sim.add_testbench(bench)
    sim.run()       # until the host returns (the decoder is a background process)
    return result["value"]
