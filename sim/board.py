"""The board's host driver: the simulation's :class:`~tritforge.sim.driver.Driver` with the
weights resident on the board, over a UART.

:class:`BoardDriver` is the driver with one addition: :meth:`~BoardDriver.load_weights` lays
out a layer's packed tiles in the board's weight store, part by part as
:func:`~tritforge.sim.driver.plan_matmul` splits the layer, and writes them once; a later
:meth:`~tritforge.sim.driver.Driver.matmul` with the same weights (recognised by their
contents) sends ``STORE_LOAD`` records instead of ``LOAD_WEIGHTS`` packets, so only the
activations, the small store records and the results cross the UART. A reset of the board
in the middle of a product (:class:`~tritforge.sim.link.BoardReset`) is recovered once: a
new session, ``CLEAR``, the product again (the store survives a reset).

:class:`Board` is the blocking front end on a serial port (pyserial): ``Board(port)``,
``.load_model(weights)``, ``.linear(x_q, layer)``, ``.status()``, ``.counters()``. numpy
only; a checkpoint folder is read with the golden model's loader (torch).
"""

import asyncio
import dataclasses
import hashlib

import numpy as np

from ..spec.errors import TritforgeError
from ..spec.link import LinkParams, bits_per_byte
from ..spec.params import AcceleratorParams, check_params
from . import protocol
from .driver import Driver, plan_matmul
from .link import BoardReset, ByteChannel, FramedLink, LinkTransport

__all__ = ["StoreFull", "ResidentLayer", "BoardDriver", "SerialChannel", "Board", "store_layout"]


class StoreFull(TritforgeError, ValueError):
    """The weights do not fit the board's weight store."""


@dataclasses.dataclass(frozen=True)
class ResidentLayer:
    """A layer's weights in the store: ``blocks`` maps each part's ``(k0, k1, n0, n1)`` to
    ``(address, tiles)``; ``words`` store words in all."""
    name: str
    shape: tuple
    blocks: dict
    words: int
    digest: str
    ndim = 2


def _digest(w_t):
    w_t = np.ascontiguousarray(w_t, dtype=np.int8)
    return hashlib.sha1(repr(w_t.shape).encode() + w_t.tobytes()).hexdigest()


def store_layout(params, w_t, base):
    """``(blocks, data)``: the store image of ``w_t`` ``[N, K]`` from word ``base`` on (the
    tiles of each distinct part of :func:`plan_matmul`, each padded to whole words, as a
    ``LOAD_WEIGHTS`` payload holds them) and where each part's tiles start."""
    n, k = w_t.shape
    item = params.tile_beats * params.bytes_per_beat
    blocks, data = {}, bytearray()
    for part in plan_matmul(params, 1, k, n):
        key = (part.k0, part.k1, part.n0, part.n1)
        if key in blocks:
            continue
        tiles = protocol.pack_tiles(params, w_t[part.n0:part.n1, part.k0:part.k1])
        blocks[key] = (base + len(data) // params.bytes_per_beat, len(tiles))
        data += b"".join(tile + bytes(item - len(tile)) for tile in tiles)
    return blocks, bytes(data)


class BoardDriver(Driver):
    """A :class:`~tritforge.sim.driver.Driver` on a :class:`~tritforge.sim.link.LinkTransport`
    with resident weights (module docstring).

    Attributes
    ----------
    layers : dict
        :class:`ResidentLayer` by name.
    store_used : int
        Store words written.
    recoveries : int
        Products run again after a reset of the board.
    """

    def __init__(self, params, transport):
        if not isinstance(transport, LinkTransport):
            raise TypeError(f"transport must be a LinkTransport, not {transport!r}")
        super().__init__(params, transport)
        self.layers = {}
        self._by_digest = {}
        self.store_used = 0
        self.recoveries = 0

    @property
    def store_depth(self):
        return self.transport.link.link.store_depth

    async def load_weights(self, name, w_t):
        """Write the ternary ``w_t`` ``[N, K]`` to the store once; return its
        :class:`ResidentLayer`. :class:`StoreFull` when the store has no room left."""
        w_t = np.asarray(w_t)
        if w_t.ndim != 2 or 0 in w_t.shape or not np.isin(w_t, (-1, 0, 1)).all():
            raise ValueError(f"weights of {name!r} must be a non-empty [N, K] matrix of -1, 0, 1")
        digest = _digest(w_t)
        if digest in self._by_digest:
            layer = dataclasses.replace(self._by_digest[digest], name=name)
        else:
            blocks, data = store_layout(self.params, w_t, self.store_used)
            words = len(data) // self.params.bytes_per_beat
            if self.store_used + words > self.store_depth:
                raise StoreFull(f"the weights of {name!r} need {words} store words; "
                                f"{self.store_depth - self.store_used} of {self.store_depth} are left")
            self.transport.store_write(self.store_used, data)
            await self.transport.flush()
            layer = ResidentLayer(name, tuple(w_t.shape), blocks, words, digest)
            self.store_used += words
            self._by_digest[digest] = layer
        self.layers[name] = layer
        return layer

    async def load_model(self, weights):
        """:meth:`load_weights` of every ``{name: w_t}``; the store words used."""
        for name, w_t in weights.items():
            await self.load_weights(name, w_t)
        return self.store_used

    def _weights(self, w_t):
        if isinstance(w_t, ResidentLayer):
            return w_t
        w_t = np.asarray(w_t)
        return self._by_digest.get(_digest(w_t), w_t) if w_t.ndim == 2 else w_t

    async def _load_weights(self, part, w_t):
        if not isinstance(w_t, ResidentLayer):
            return await super()._load_weights(part, w_t)
        address, tiles = w_t.blocks[(part.k0, part.k1, part.n0, part.n1)]
        self.transport.store_load(part.weight_bank, address, tiles)

    async def matmul(self, x_q, w_t, *, lookahead=1):
        try:
            return await super().matmul(x_q, w_t, lookahead=lookahead)
        except BoardReset:
            self.recoveries += 1
            self.transport.drop()
            self.transport.link.resync()
            await self.clear()
            return await super().matmul(x_q, w_t, lookahead=lookahead)


class SerialChannel(ByteChannel):
    """A :class:`~tritforge.sim.link.ByteChannel` on a pyserial port."""

    def __init__(self, port, baud):
        import serial  # the host path's only dependency beyond numpy
        self.baud = baud
        try:
            self.serial = serial.Serial(port, baud, timeout=0)
        except serial.SerialException as error:
            raise TritforgeError(f"cannot open serial port {port}: {error}") from None

    async def write(self, data):
        self.serial.write(data)

    async def read(self, timeout_bytes):
        self.serial.timeout = timeout_bytes * bits_per_byte() / self.baud
        data = self.serial.read(1)
        return data + self.serial.read(self.serial.in_waiting) if data else data

    def close(self):
        self.serial.close()


class Board:
    """A board running the accelerator, on a serial port (blocking calls).

    Parameters
    ----------
    port : str or ByteChannel
        Serial port name (``/dev/ttyUSB1``) or a ready channel.
    params : AcceleratorParams
        The bitstream's (``tritforge bitstream`` writes them into its report).
    link : LinkParams
        The bitstream's.
    baud : int
        The bitstream's baud rate.
    """

    def __init__(self, port, params=None, link=None, *, baud=115_200):
        self.params = check_params(params if params is not None else AcceleratorParams())
        self.link = link if link is not None else LinkParams()
        channel = port if isinstance(port, ByteChannel) else SerialChannel(port, baud)
        self.driver = BoardDriver(self.params, LinkTransport(FramedLink(self.params, self.link, channel)))
        self._loop = asyncio.new_event_loop()

    def _run(self, coroutine):
        return self._loop.run_until_complete(coroutine)

    def load_model(self, source):
        """Make weights resident: ``{name: w_t}`` (ternary ``[N, K]`` arrays) or a checkpoint
        folder (read with the golden model's loader, which needs torch). Returns the store
        words used."""
        if not isinstance(source, dict):
            from ..golden import load_checkpoint
            model = load_checkpoint(source)
            source = {name: linear.quantized_weights()[0].numpy() for name, linear in model.bitlinears()}
        return self._run(self.driver.load_model(source))

    def linear(self, x_q, layer):
        """Exact int32 ``x_q @ w_t.T`` of the resident ``layer`` (a name of :meth:`load_model`)."""
        if layer not in self.driver.layers:
            raise KeyError(f"layer {layer!r} is not loaded; loaded: {sorted(self.driver.layers)}")
        return self._run(self.driver.matmul(x_q, self.driver.layers[layer]))

    def status(self):
        return self._run(self.driver.status())

    def counters(self):
        return self.status().counters

    def close(self):
        close = getattr(self.driver.transport.link.channel, "close", None)
        if close is not None:
            close()
        self._loop.close()
