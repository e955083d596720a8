"""Command packets through the accelerator top in Amaranth's simulator, cycle by cycle.

No HDL simulator, no cocotb: :func:`exchange` elaborates :class:`~tritforge.hdl.accelerator.Accelerator`,
sends packets on ``s_axis`` (back to back, or after idle cycles), keeps ``m_axis_tready`` high
and reports, with the cycle numbers of the link, what came back. Small configurations run in
a second; the worked example of the docs and the contract's tests use it.
"""

from dataclasses import dataclass

from amaranth.sim import Simulator

from ..hdl.accelerator import Accelerator
from ..spec.params import check_params

__all__ = ["LinkTrace", "exchange"]


@dataclass(frozen=True)
class LinkTrace:
    """What :func:`exchange` saw. Cycle 0 is the first cycle of the simulation; a beat "moves"
    in the cycle in which ``tvalid`` and ``tready`` are both high.

    Attributes
    ----------
    responses : list of bytes
        The response packets, in order.
    header_cycles : list of int
        Per command packet, the cycle its header beat moved.
    response_end_cycles : list of int
        Per response packet, the cycle its last beat moved.
    """
    responses: list
    header_cycles: list
    response_end_cycles: list


def exchange(params, packets, responses, *, gaps=None, max_cycles=20_000):
    """Send ``packets`` to an accelerator built with ``params``, collect ``responses`` packets.

    ``gaps``: idle cycles before each packet (default none: back to back). Returns a
    :class:`LinkTrace`; ``RuntimeError`` when the responses have not all arrived after
    ``max_cycles`` cycles.
    """
    check_params(params)
    gaps = list(gaps) if gaps is not None else [0] * len(packets)
    if len(gaps) != len(packets):
        raise ValueError(f"gaps must have one entry per packet ({len(packets)}), not {len(gaps)}")
    dut = Accelerator(params)
    beats = _beats(params, packets, gaps)
    trace = LinkTrace([], [], [])

    async def bench(ctx):
        ctx.set(dut.m_axis_tready, 1)
        pending, current = list(beats), bytearray()
        for cycle in range(max_cycles):
            beat = pending[0] if pending else None
            offered = beat is not None and beat.wait == 0
            ctx.set(dut.s_axis_tvalid, offered)
            if offered:
                ctx.set(dut.s_axis_tdata, int.from_bytes(beat.data, "little"))
                ctx.set(dut.s_axis_tlast, beat.last)
            if offered and ctx.get(dut.s_axis_tready):
                if beat.first:
                    trace.header_cycles.append(cycle)
                pending.pop(0)
            elif beat is not None and beat.wait:
                pending[0] = _Beat(beat.data, beat.first, beat.last, beat.wait - 1)
            if ctx.get(dut.m_axis_tvalid):
                current += ctx.get(dut.m_axis_tdata).to_bytes(params.bytes_per_beat, "little")
                if ctx.get(dut.m_axis_tlast):
                    trace.responses.append(bytes(current))
                    trace.response_end_cycles.append(cycle)
                    current = bytearray()
            if not pending and len(trace.responses) == responses:
                return
            await ctx.tick()
        raise RuntimeError(f"{len(trace.responses)} of {responses} responses after {max_cycles} cycles")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return trace


@dataclass(frozen=True)
class _Beat:
    data: bytes
    first: bool
    last: bool
    wait: int


def _beats(params, packets, gaps):
    """Every beat to send, with its packet boundaries and the idle cycles before it."""
    size = params.bytes_per_beat
    beats = []
    for packet, gap in zip(packets, gaps):
        if not packet or len(packet) % size:
            raise ValueError(f"a packet must be a whole number of {size}-byte beats, not {len(packet)} bytes")
        count = len(packet) // size
        beats += [_Beat(packet[i * size:(i + 1) * size], i == 0, i == count - 1, gap if i == 0 else 0)
                  for i in range(count)]
    return beats
