"""The cycle model extended with the board's UART link: time and tokens/s of products with
resident weights.

For each product the host driver's exact traffic is counted by running the real
:class:`~tritforge.sim.board.BoardDriver` against a link that only counts
(:class:`CountingLink`): the command frames (activations, ``STORE_LOAD`` records, ``RUN``,
``READ_RESULTS``, with the framing and record overhead), the reply frames (``ACK`` per
command frame, ``DATA`` frames of the results, padding included) and the number of
round trips. The accelerator's own time is :func:`~tritforge.sim.perf_model.model_layer`.

A product then takes, with ``tau`` the time of a UART byte (10 bit times):

* at most ``(bytes_out + bytes_in) * tau + cycles / f + frames * turnaround`` (nothing
  overlaps: :attr:`ProductLink.upper_s`);
* at least ``max(bytes_out, bytes_in) * tau + frames * turnaround`` (the two directions
  overlap perfectly: :attr:`ProductLink.lower_s`).

``turnaround`` is the host's reaction time per command frame (stop-and-wait: the next frame
goes out when the ``ACK`` has been seen): 0 in simulation, about the USB-serial adapter's
latency timer on a real host (FTDI: 16 ms by default, 1 ms at its lowest). The simulated
board top (``tests/test_link_model.py``, ``tests/test_rtl_board.py``) falls between the
two bounds.
"""

import asyncio
import collections
import dataclasses

import numpy as np

from ..spec.link import COMMAND_OVERHEAD, LinkParams, Reply, bits_per_byte
from ..spec.params import check_params
from ..spec.protocol import ARG_BITS, OPCODE_BITS, Opcode
from . import protocol
from .board import BoardDriver
from .link import ByteChannel, FramedLink, LinkTransport, pack_frames
from .perf_model import model_layer

__all__ = ["CountingLink", "ProductLink", "product_link", "model_token_time"]


class _NoChannel(ByteChannel):
    async def write(self, data):
        raise AssertionError("the counting link sends nothing")

    async def read(self, timeout_bytes):
        raise AssertionError("the counting link receives nothing")


class CountingLink(FramedLink):
    """A :class:`~tritforge.sim.link.FramedLink` that counts what would cross the UART and
    answers each ``READ_RESULTS`` / ``READ_STATUS`` with a zero packet of the right size."""

    def __init__(self, params, link):
        super().__init__(params, link, _NoChannel())
        self.counts = collections.Counter()
        self._due = collections.deque()
        self._last_run = None

    async def send_records(self, records):
        for payload in pack_frames(records, self.link.max_payload):
            self.counts["frames"] += 1
            self.counts["bytes_out"] += len(payload) + COMMAND_OVERHEAD
            self.counts["bytes_in"] += self.link.reply_bytes(Reply.ACK, self.params.bytes_per_beat)

    def expect(self, packet):
        """Note the response a command packet will get."""
        p = self.params
        opcode = packet[0] & ((1 << OPCODE_BITS) - 1)
        if opcode == Opcode.RUN:
            args = [int.from_bytes(packet[(i + 1) * p.bytes_per_beat:][:ARG_BITS // 8], "little")
                    for i in range(3)]
            self._last_run = (args[0], args[2])
        elif opcode == Opcode.READ_RESULTS:
            self._due.append(protocol.result_packet_bytes(p, *self._last_run))
        elif opcode == Opcode.READ_STATUS:
            self._due.append(p.status_beats * p.bytes_per_beat)

    async def recv_packet(self):
        size = self._due.popleft()
        beats = size // self.params.bytes_per_beat
        frames = -(-beats // self.link.data_beats)
        self.counts["bytes_in"] += frames * self.link.reply_bytes(Reply.DATA, self.params.bytes_per_beat)
        self.counts["round_trips"] += 1
        return bytes(size)


class _CountingTransport(LinkTransport):
    async def send(self, packet):
        self.link.expect(bytes(packet))
        await super().send(packet)


@dataclasses.dataclass(frozen=True)
class ProductLink:
    """One product over the link: its shape ``(tokens, k, n)``, the accelerator's modeled
    ``cycles``, and the link's ``frames`` (command frames), ``bytes_out``, ``bytes_in``."""
    shape: tuple
    cycles: int
    frames: int
    bytes_out: int
    bytes_in: int

    def byte_s(self, baud):
        return bits_per_byte() / baud

    def upper_s(self, clock_hz, baud, turnaround_s=0.0):
        """Nothing overlaps (module docstring)."""
        return ((self.bytes_out + self.bytes_in) * self.byte_s(baud) + self.cycles / clock_hz
                + self.frames * turnaround_s)

    def lower_s(self, clock_hz, baud, turnaround_s=0.0):
        """The two directions overlap perfectly, the accelerator hides behind them."""
        return (max(self.bytes_out * self.byte_s(baud), self.bytes_in * self.byte_s(baud),
                    self.cycles / clock_hz) + self.frames * turnaround_s)


def product_link(params, link, tokens, k, n):
    """:class:`ProductLink` of ``Y[tokens x n] = X[tokens x k] . W^T`` with ``W`` resident,
    as :class:`~tritforge.sim.board.BoardDriver` runs it (a fresh driver: banks from 0)."""
    check_params(params)
    if not isinstance(link, LinkParams):
        raise TypeError(f"link must be a LinkParams, not {link!r}")
    counting = CountingLink(params, link)
    driver = BoardDriver(params, _CountingTransport(counting))
    w_t = np.zeros((n, k), dtype=np.int8)

    async def run():
        await driver.load_weights("layer", w_t)
        counting.counts.clear()
        await driver.matmul(np.zeros((tokens, k), dtype=np.int8), w_t)

    asyncio.run(run())
    c = counting.counts
    return ProductLink((tokens, k, n), model_layer(params, tokens, k, n).total, c["frames"],
                       c["bytes_out"], c["bytes_in"])


def model_token_time(params, link, shapes, clock_hz, baud, turnaround_s=0.0, tokens=1):
    """Seconds per decoded token (``tokens`` rows per product) of a model of ``shapes``
    (``(name, n, k)``, :meth:`~tritforge.spec.formats.ModelShape.linear_shapes`), as
    ``(lower, upper)``; host computation between the products is not counted."""
    products = [product_link(params, link, tokens, k, n) for _, n, k in shapes]
    return (sum(p.lower_s(clock_hz, baud, turnaround_s) for p in products),
            sum(p.upper_s(clock_hz, baud, turnaround_s) for p in products))
