"""The board top's UART pins in cocotb: a :class:`~tritforge.sim.link.ByteChannel` on
cocotbext-uart's ``UartSource`` (``rx``) and ``UartSink`` (``tx``).

Imports cocotb: use it inside a cocotb test only.
"""

import logging

from cocotb.utils import get_sim_time
from cocotbext.uart import UartSink, UartSource

from ..spec.link import bits_per_byte
from .link import ByteChannel

__all__ = ["UartChannel"]


class UartChannel(ByteChannel):
    """Bytes to ``dut.rx`` and from ``dut.tx`` at ``clock / divider`` baud.

    Parameters
    ----------
    dut : cocotb handle
        The board top (``rx``, ``tx``).
    period_ns : int
        Clock period; ``period_ns * divider`` is the bit time (whole nanoseconds).
    divider : int
        Clock cycles per bit (:attr:`~tritforge.spec.link.LinkParams.baud_divider`).
    corrupt : callable or None
        ``(write_index, data) -> data``, applied to each :meth:`write` (damaged frames).
    """

    def __init__(self, dut, period_ns, divider, *, corrupt=None):
        self.bit_ns = period_ns * divider
        baud = 1e9 / self.bit_ns
        self.source = UartSource(dut.rx, baud=baud, bits=8)
        self.sink = UartSink(dut.tx, baud=baud, bits=8)
        for endpoint in (self.source, self.sink):
            endpoint.log.setLevel(logging.WARNING)      # a log line per byte otherwise
        self.period_ns = period_ns
        self.corrupt = corrupt
        self.writes = 0

    async def write(self, data):
        if self.corrupt is not None:
            data = self.corrupt(self.writes, data)
        self.writes += 1
        await self.source.write(data)
        await self.source.wait()

    async def read(self, timeout_bytes):
        await self.sink.wait(timeout_bytes * bits_per_byte() * self.bit_ns, "ns")
        return bytes(self.sink.read_nowait())

    def now(self):
        return int(get_sim_time("ns")) // self.period_ns

    def flush(self):
        """Forget bytes queued or received (after a reset)."""
        self.source.clear()
        self.sink.clear()
