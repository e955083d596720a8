"""UART transmitter and receiver, 8N1, a fixed number of clock cycles per bit."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from ..spec.errors import check_integer
from ..spec.link import MIN_BAUD_DIVIDER
from .reset import hold_low_in_reset

__all__ = ["UARTTransmitter", "UARTReceiver", "MIN_DIVIDER"]

#: Fewest clock cycles per bit (:data:`~tritforge.spec.link.MIN_BAUD_DIVIDER`).
MIN_DIVIDER = MIN_BAUD_DIVIDER


class _UART(wiring.Component):
    """The divider, checked, and the ports."""

    def __init__(self, divider, members):
        self._divider = check_integer("divider", divider, MIN_DIVIDER)
        super().__init__(members)

    @property
    def divider(self):
        return self._divider


class UARTTransmitter(_UART):
    """Sends bytes on ``tx``: a start bit (0), eight data bits LSB first, a stop bit (1).

    Protocol: ``i`` takes a byte when idle (``i.ready``); the start bit begins the next
    cycle and each bit lasts ``divider`` cycles, so a byte takes ``10 * divider`` cycles and
    the next is taken in the last cycle of the stop bit (bytes back to back).

    Reset: idle, ``tx`` high; ``i.ready`` is low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    divider : int
        Clock cycles per bit, >= :data:`MIN_DIVIDER`.

    Members
    -------
    i : ``In(stream.Signature(8))``
        Bytes to send.
    tx : ``Out(1)``
        The serial line (idle high).
    """

    def __init__(self, divider):
        super().__init__(divider, {"i": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10, init=0x3FF)      # stop, data, start: sent from bit 0
        bits = Signal(range(11))            # bits left to send, the current one included
        timer = Signal(range(self._divider))
        bit_done = timer == 0
        m.d.comb += [self.tx.eq(shift[0]),
                     self.i.ready.eq((bits == 0) | ((bits == 1) & bit_done))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shift.eq((1 << 9) | (self.i.payload << 1)), bits.eq(10),
                         timer.eq(self._divider - 1)]
        with m.Elif(bits != 0):
            with m.If(bit_done):
                m.d.sync += [shift.eq((shift >> 1) | (1 << 9)), bits.eq(bits - 1),
                             timer.eq(self._divider - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        hold_low_in_reset(m, self.i.ready)
        return m


class UARTReceiver(_UART):
    """Receives bytes from ``rx`` (8N1) and offers each on ``o``.

    The line passes a two-flip-flop synchronizer. A falling edge starts a byte; the start
    bit is checked half a bit later, then every bit is sampled in its middle. A byte whose
    stop bit is 0 is dropped and flagged on ``framing_error``.

    Protocol: ``o.valid`` rises in the middle of the stop bit (``9.5 * divider + 3`` cycles
    after the start edge at the pin) and stays until ``o.ready``; a byte not taken before
    the next one is complete is replaced (``overrun`` strobes). ``idle`` is high while no
    byte is being received.

    Reset: idle, no byte held; ``o.valid`` is low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    divider : int
        Clock cycles per bit, >= :data:`MIN_DIVIDER`.

    Members
    -------
    rx : ``In(1)``
        The serial line (idle high; asynchronous).
    o : ``Out(stream.Signature(8))``
        Received bytes.
    idle : ``Out(1)``
        No byte in progress.
    framing_error : ``Out(1)``
        Strobe (the cycle after the stop bit's sample): a byte ended without its stop bit and
        was dropped.
    overrun : ``Out(1)``
        Strobe (likewise): a byte replaced one not yet taken.
    """

    def __init__(self, divider):
        super().__init__(divider, {"rx": In(1, init=1), "o": Out(stream.Signature(8)), "idle": Out(1),
                                   "framing_error": Out(1), "overrun": Out(1)})

    def elaborate(self, platform):
        m = Module()
        line = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(self._divider))
        bits = Signal(range(10))      # bits still to sample after the start bit
        shift = Signal(8)
        sample = timer == 0
        held = Signal()                 # a byte is offered (o.valid but for the reset)
        m.d.comb += self.o.valid.eq(held)
        with m.If(self.o.ready):
            m.d.sync += held.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]     # strobes, from registers
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                with m.If(~line):
                    m.d.sync += timer.eq(self._divider // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(sample):
                    with m.If(line):               # a glitch, not a start bit
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [timer.eq(self._divider - 1), bits.eq(9)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                with m.If(sample):
                    m.d.sync += [timer.eq(self._divider - 1), bits.eq(bits - 1)]
                    with m.If(bits == 1):           # the stop bit
                        with m.If(line):
                            m.d.sync += [self.o.payload.eq(shift), held.eq(1)]
                            m.d.sync += self.overrun.eq(held & ~self.o.ready)
                        with m.Else():
                            m.d.sync += self.framing_error.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += shift.eq((line << 7) | (shift >> 1))
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
        hold_low_in_reset(m, self.o.valid)
        return m
