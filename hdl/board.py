"""The board top: the accelerator behind a UART host link, with a resident weight store."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.errors import ParameterError, ParameterTypeError
from ..spec.link import LinkParams
from ..spec.params import check_params
from .accelerator import Accelerator
from .command_decoder import beat_layout
from .frame_executor import FrameExecutor
from .frame_receiver import FrameReceiver
from .register_slice import RegisterSlice
from .reply_transmitter import ReplyTransmitter
from .store_streamer import StoreStreamer
from .uart import UARTReceiver, UARTTransmitter
from .weight_store import WeightStore

__all__ = ["BoardTop"]


class BoardTop(wiring.Component):
    """The unchanged :class:`~tritforge.hdl.accelerator.Accelerator` behind a UART link.

    Data path::

        rx -> UARTReceiver -> FrameReceiver (frame buffer, CRC, sequence) -> FrameExecutor
              FrameExecutor -> STREAM beats ----------------------------\\
                            -> STORE_WRITE -> weight store               +-> Accelerator.s_axis
                            -> STORE_LOAD -> StoreStreamer <- store ----/   (one at a time)
        tx <- UARTTransmitter <- ReplyTransmitter <- ACK / NAK / BOOT, Accelerator.m_axis

    The accelerator's command stream takes beats either from the executor or, during a
    ``STORE_LOAD``, from the streamer; the executor starts a store record only outside a
    command packet, so packets are never interleaved. The link protocol is
    :mod:`tritforge.spec.link`.

    The board's choices enter as ``link`` (baud divider, buffer sizes) and ``store`` (the
    weight store: a :class:`~tritforge.hdl.weight_store.WeightStore` by default; on the
    iCE40 UP5K a :class:`~tritforge.hdl.weight_store.SPRAMWeightStore`): this block knows
    no board. Reset (synchronous ``rst``) resets everything but the memory contents.

    Parameters
    ----------
    params : AcceleratorParams
    link : LinkParams
    store : wiring.Component or None
        A weight store of ``link.store_depth`` words of ``stream_width`` bits; ``None``:
        a ``WeightStore``.

    Members
    -------
    rx : ``In(1)``
        UART from the host (idle high).
    tx : ``Out(1)``
        UART to the host.
    busy : ``Out(1)``
        The accelerator runs a ``RUN``.
    error : ``Out(1)``
        The accelerator has latched an error.

    Raises
    ------
    ParameterError
        ``store`` does not have the link's depth or the stream's width.
    """

    def __init__(self, params, link, store=None):
        self._params = p = check_params(params)
        if not isinstance(link, LinkParams):
            raise ParameterTypeError(f"link must be a LinkParams, not {link!r}")
        self._link = link
        if store is None:
            store = WeightStore(p.stream_width, link.store_depth)
        if (getattr(store, "depth", None), getattr(store, "width", None)) != (link.store_depth, p.stream_width):
            raise ParameterError(f"the weight store must have {link.store_depth} words of "
                                 f"{p.stream_width} bits (link.store_depth, stream_width), not "
                                 f"{getattr(store, 'depth', None)} of {getattr(store, 'width', None)}")
        self._store = store
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "busy": Out(1), "error": Out(1)})

    @property
    def params(self):
        return self._params

    @property
    def link(self):
        return self._link

    @property
    def store(self):
        """The weight store (the component given, or the ``WeightStore`` made)."""
        return self._store

    def elaborate(self, platform):
        m = Module()
        p, link = self._params, self._link
        m.submodules.uart_rx = uart_rx = UARTReceiver(link.baud_divider)
        m.submodules.uart_tx = uart_tx = UARTTransmitter(link.baud_divider)
        m.submodules.receiver = receiver = FrameReceiver(link)
        m.submodules.executor = executor = FrameExecutor(p, link)
        m.submodules.streamer = streamer = StoreStreamer(p, link.store_depth)
        m.submodules.store = store = self._store
        m.submodules.transmitter = transmitter = ReplyTransmitter(p, link)
        m.submodules.accelerator = accelerator = Accelerator(p)
        # Registers between the two sources and the accelerator's decoder, and between its
        # responses and the transmitter: no path from one block's state logic to another's.
        m.submodules.command_slice = command = RegisterSlice(beat_layout(p.stream_width))
        m.submodules.response_slice = response = RegisterSlice(beat_layout(p.stream_width))

        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx),
                     receiver.rx_idle.eq(uart_rx.idle), receiver.uart_error.eq(uart_rx.framing_error)]
        wiring.connect(m, uart_rx.o, receiver.i)
        m.d.comb += [
            executor.execute.eq(receiver.execute), executor.length.eq(receiver.length),
            receiver.done.eq(executor.done), receiver.failed.eq(executor.failed),
            receiver.buf_addr.eq(executor.buf_addr), receiver.buf_en.eq(executor.buf_en),
            executor.buf_data.eq(receiver.buf_data),
            streamer.start.eq(executor.load_start), streamer.bank.eq(executor.load_bank),
            streamer.address.eq(executor.load_address), streamer.tiles.eq(executor.load_tiles),
            executor.load_busy.eq(streamer.busy),
        ]
        # The store: the streamer's while it streams, else the executor's (writes).
        with m.If(streamer.busy):
            self._drive_store(m, store, streamer.store)
        with m.Else():
            self._drive_store(m, store, executor.store)
        m.d.comb += [streamer.store.rdata.eq(store.rdata), executor.store.rdata.eq(store.rdata)]
        # The accelerator's command stream: the streamer's packet, or the executor's beats.
        with m.If(streamer.busy):
            self._feed(m, command.i, streamer.o, executor.o)
        with m.Else():
            self._feed(m, command.i, executor.o, streamer.o)
        m.d.comb += [
            accelerator.s_axis_tvalid.eq(command.o.valid),
            accelerator.s_axis_tdata.eq(command.o.payload.data),
            accelerator.s_axis_tlast.eq(command.o.payload.last),
            command.o.ready.eq(accelerator.s_axis_tready),
            response.i.valid.eq(accelerator.m_axis_tvalid),
            response.i.payload.data.eq(accelerator.m_axis_tdata),
            response.i.payload.last.eq(accelerator.m_axis_tlast),
            accelerator.m_axis_tready.eq(response.i.ready),
            self.busy.eq(accelerator.busy), self.error.eq(accelerator.error),
        ]
        wiring.connect(m, response.o, transmitter.i)
        wiring.connect(m, receiver.reply, transmitter.reply)
        wiring.connect(m, transmitter.o, uart_tx.i)
        return m

    @staticmethod
    def _drive_store(m, store, master):
        m.d.comb += [store.addr.eq(master.addr), store.en.eq(master.en), store.we.eq(master.we),
                     store.wdata.eq(master.wdata)]

    @staticmethod
    def _feed(m, sink, active, other):
        """``active``'s beats into the command stream ``sink``; ``other`` waits."""
        m.d.comb += [sink.valid.eq(active.valid), sink.payload.eq(active.payload),
                     active.ready.eq(sink.ready), other.ready.eq(0)]
