"""Host driver: run integer matmuls of any size on the accelerator, through a transport.

Three layers, as in a Glasgow applet: the gateware (:class:`tritforge.hdl.accelerator.Accelerator`),
the packets (:mod:`tritforge.sim.protocol`) and this driver, which splits a layer over the
accelerator's capacity and overlaps loading one part with computing the previous one.

A *transport* is anything that moves packets: the cocotb AXI4-Stream transport
(:mod:`tritforge.sim.axis_transport`) in simulation, a UART or USB link on a board later.
"""

import abc
from dataclasses import dataclass

import numpy as np

from ..spec.params import check_params
from ..spec.protocol import ErrorCode
from . import protocol

__all__ = ["Transport", "Part", "plan_matmul", "part_packets", "AcceleratorError", "Driver"]


class Transport(abc.ABC):
    """Moves packets to and from an accelerator.

    :meth:`send` must only queue the packet (or hand it to a writer that runs concurrently):
    the driver sends the next part's commands before it reads the previous part's results,
    and the device stops accepting commands while its results are not read.
    """

    @abc.abstractmethod
    async def send(self, packet):
        """Queue one command packet (bytes, whole beats)."""

    @abc.abstractmethod
    async def recv(self):
        """The next response packet (bytes)."""

    def now(self):
        """The device's current cycle number, for reports; ``None`` when unknown."""
        return None


class AcceleratorError(RuntimeError):
    """The accelerator reported an error (its status' error code)."""


@dataclass(frozen=True)
class Part:
    """One ``RUN``: tokens ``t0:t1``, inputs ``k0:k1`` and outputs ``n0:n1`` of a layer.

    ``load_acts`` is false when the activations of the previous part are reused (same
    tokens and inputs); the banks alternate between consecutive loads.
    """
    t0: int
    t1: int
    k0: int
    k1: int
    n0: int
    n1: int
    weight_bank: int
    act_bank: int
    load_acts: bool

    @property
    def shape(self):
        """``(tokens, k, n)`` of this part's ``RUN``."""
        return self.t1 - self.t0, self.k1 - self.k0, self.n1 - self.n0


def plan_matmul(params, tokens, k, n, *, first_weight_bank=0, first_act_bank=0):
    """Split ``Y[tokens x n] = X[tokens x k] . W^T`` into parts that fit ``params``.

    Part sizes: ``K`` in steps of at most ``max_k`` (whole chunks, and few enough chunks for
    the banks), then tokens in steps that fit ``max_tokens`` and the activation bank, then
    outputs in whole row blocks that fit the weight bank. Loop order K, tokens, outputs: a
    part reuses the activations of the previous one whenever it can. Parts over K give
    partial sums that the host adds up.
    """
    check_params(params)
    for name, value in (("tokens", tokens), ("k", k), ("n", n)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    k_step = _k_step(params, k)
    chunks = params.chunks(k_step)
    t_step = min(tokens, params.max_tokens, params.act_depth // chunks)
    n_step = min(n, (params.weight_depth // chunks) * params.rows)
    parts, weight_bank, act_bank = [], first_weight_bank, first_act_bank
    for k0 in range(0, k, k_step):
        for t0 in range(0, tokens, t_step):
            load_acts = True
            for n0 in range(0, n, n_step):
                parts.append(Part(t0, min(t0 + t_step, tokens), k0, min(k0 + k_step, k),
                                  n0, min(n0 + n_step, n), weight_bank, act_bank, load_acts))
                weight_bank ^= 1
                load_acts = False
            act_bank ^= 1
    return parts


def part_packets(params, part, x_q, w_t):
    """The command packets of ``part`` of the layer ``x_q`` ``[T, K]``, ``w_t`` ``[N, K]``:
    ``LOAD_ACTS`` (when the part loads them), ``LOAD_WEIGHTS``, ``RUN``, ``READ_RESULTS``."""
    return ([_acts_packet(params, part, x_q)] if part.load_acts else []) + [
        _weights_packet(params, part, w_t), *_run_packets(params, part)]


def _acts_packet(params, part, x_q):
    return protocol.load_acts(params, part.act_bank, protocol.pack_chunks(
        params, x_q[part.t0:part.t1, part.k0:part.k1]))


def _weights_packet(params, part, w_t):
    return protocol.load_weights(params, part.weight_bank, protocol.pack_tiles(
        params, w_t[part.n0:part.n1, part.k0:part.k1]))


def _run_packets(params, part):
    """``RUN`` of ``part`` and the ``READ_RESULTS`` that fetches its results."""
    return [protocol.run(params, *part.shape, weight_bank=part.weight_bank, act_bank=part.act_bank),
            protocol.read_results(params)]


def _k_step(params, k):
    """Inputs per part: all of ``k`` if it fits, else the most whole chunks that fit."""
    limit = min(params.max_k, params.weight_depth * params.cols, params.act_depth * params.cols)
    if k <= limit:
        return k
    return (limit // params.cols) * params.cols if limit >= params.cols else limit


class Driver:
    """Runs matmuls on an accelerator with parameters ``params`` through ``transport``.

    Parameters
    ----------
    params : AcceleratorParams
        Must be those of the hardware at the other end.
    transport : Transport

    Attributes
    ----------
    parts : list of (Part, int or None)
        The parts of the last :meth:`matmul` and the device cycle at which each part's
        results had arrived (``Transport.now``).
    commands_sent : int
        Command packets sent since construction.
    """

    def __init__(self, params, transport):
        check_params(params)
        if not isinstance(transport, Transport):
            raise TypeError(f"transport must be a Transport, not {transport!r}")
        self.params = params
        self.transport = transport
        self.parts = []
        self.commands_sent = 0
        self._weight_bank = 0
        self._act_bank = 0

    async def matmul(self, x_q, w_t, *, lookahead=1):
        """Exact ``x_q @ w_t.T`` (int32 numpy array ``[T, N]``) computed by the accelerator.

        ``x_q``: ``[T, K]`` integers of ``act_bits`` bits; ``w_t``: ``[N, K]`` in {-1, 0, 1}.
        ``lookahead``: parts whose commands are queued before the driver waits for a part's
        results (1 is enough to overlap each part's loads with the previous part's run;
        more keeps the command stream full at the price of host buffering).
        """
        if not isinstance(lookahead, int) or lookahead < 1:
            raise ValueError(f"lookahead must be a positive integer, not {lookahead!r}")
        x_q, w_t = np.asarray(x_q), self._weights(w_t)
        if x_q.ndim != 2 or w_t.ndim != 2 or x_q.shape[1] != w_t.shape[1]:
            raise ValueError(f"x_q [T, K] and w_t [N, K] do not match: x_q has shape "
                             f"{tuple(x_q.shape)}, w_t has {tuple(w_t.shape)}")
        tokens, k = x_q.shape
        n = w_t.shape[0]
        parts = plan_matmul(self.params, tokens, k, n, first_weight_bank=self._weight_bank,
                            first_act_bank=self._act_bank)
        self._weight_bank = parts[-1].weight_bank ^ 1
        self._act_bank = parts[-1].act_bank ^ 1
        y = np.zeros((tokens, n), dtype=np.int64)
        self.parts = []
        for part in parts[:lookahead]:
            await self._send_part(part, x_q, w_t)
        for index, part in enumerate(parts):
            if index + lookahead < len(parts):
                await self._send_part(parts[index + lookahead], x_q, w_t)
            packet = await self.transport.recv()
            self.parts.append((part, self.transport.now()))
            y[part.t0:part.t1, part.n0:part.n1] += protocol.decode_results(
                self.params, packet, part.t1 - part.t0, part.n1 - part.n0)
        return y.astype(np.int32)

    async def status(self):
        """The accelerator's :class:`~tritforge.sim.protocol.Status`."""
        await self.send(protocol.read_status(self.params))
        return protocol.decode_status(self.params, await self.transport.recv())

    async def check(self):
        """Raise :class:`AcceleratorError` when the accelerator has latched an error."""
        status = await self.status()
        if status.error != ErrorCode.NONE:
            raise AcceleratorError(f"accelerator error {status.error.name} "
                                   f"(all errors since CLEAR: {sorted(e.name for e in status.errors)})")
        return status

    async def clear(self):
        """``CLEAR``: zero the counters and the error, abandon a run whose results are unread."""
        await self.send(protocol.clear(self.params))

    async def send(self, packet):
        """Send one raw command packet."""
        await self.transport.send(packet)
        self.commands_sent += 1

    def _weights(self, w_t):
        """The weights :meth:`matmul` was given as it works with them (an array here; a
        board driver may substitute a handle of weights resident on the board)."""
        return np.asarray(w_t)

    async def _load_weights(self, part, w_t):
        """Load the weights of ``part`` into its bank: ``LOAD_WEIGHTS`` with the tiles."""
        await self.send(_weights_packet(self.params, part, w_t))

    async def _send_part(self, part, x_q, w_t):
        if part.load_acts:
            await self.send(_acts_packet(self.params, part, x_q))
        await self._load_weights(part, w_t)
        for packet in _run_packets(self.params, part):
            await self.send(packet)
