"""The simulation transport: cocotbext-axi AXI4-Stream source and sink on the accelerator's ports.

Imports cocotb: use it inside a cocotb test only.
"""

import logging

from cocotb.triggers import with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from .driver import Transport

__all__ = ["AxisTransport"]


class AxisTransport(Transport):
    """Sends command packets on ``s_axis`` and receives response packets from ``m_axis``.

    Parameters
    ----------
    dut : cocotb handle
        The accelerator top (ports ``clk``, ``rst``, ``s_axis_*``, ``m_axis_*``).
    period_ns : int
        Clock period, to turn simulation time into cycles for :meth:`now`.
    timeout_cycles : int or None
        :meth:`recv` raises ``cocotb.triggers.SimTimeoutError`` after this many cycles
        without a packet (``None``: wait forever).

    Attributes
    ----------
    source : AxiStreamSource
    sink : AxiStreamSink
        Set pause generators on them for idle cycles and backpressure.
    """

    def __init__(self, dut, period_ns, timeout_cycles=None):
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        for endpoint in (self.source, self.sink):
            # cocotbext-axi logs every frame with its data at INFO: megabytes per layer.
            endpoint.log.setLevel(logging.WARNING)
        self.period_ns = period_ns
        self.timeout_cycles = timeout_cycles

    async def send(self, packet):
        await self.source.send(AxiStreamFrame(bytes(packet)))

    async def recv(self):
        if self.timeout_cycles is None:
            frame = await self.sink.recv()
        else:
            frame = await with_timeout(self.sink.recv(), self.timeout_cycles * self.period_ns, "ns")
        return bytes(frame.tdata)

    def now(self):
        return int(get_sim_time("ns")) // self.period_ns

    def flush(self):
        """Forget queued and partly received packets (after a reset)."""
        self.source.clear()
        self.sink.clear()
