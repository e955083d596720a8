"""Status packer: sends a snapshot of the status words as one packet."""

from amaranth.hdl import Array, Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import STATUS_WORDS, WORD_BITS
from .command_decoder import beat_layout

__all__ = ["StatusPacker"]


class StatusPacker(wiring.Component):
    """Snapshots :data:`~tritforge.spec.protocol.STATUS_WORDS` words and sends them.

    At ``start`` all words are copied at once (the counters keep running; the packet shows
    one instant), then sent :attr:`AcceleratorParams.words_per_beat` words per beat, word 0
    lowest, the last beat zero-padded and marked ``last``. The first beat is offered the
    cycle after ``start``, then one per cycle while ``o`` is ready.

    Parameters
    ----------
    params : AcceleratorParams

    Members
    -------
    start : ``In(1)``
        Strobe, honoured while not ``busy``.
    words : ``In(ArrayLayout(32, STATUS_WORDS))``
        The live status words.
    o : ``Out(stream.Signature(beat_layout(stream_width)))``
    busy : ``Out(1)``
        From the cycle after ``start`` until the last beat has been sent.
    """

    def __init__(self, params):
        check_params(params)
        self._params = params
        super().__init__({
            "start": In(1),
            "words": In(ArrayLayout(WORD_BITS, STATUS_WORDS)),
            "o": Out(stream.Signature(beat_layout(params.stream_width))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        snapshot = Signal.like(self.words)
        beat = Signal(range(p.status_beats))
        bits = Cat(snapshot.as_value(), Signal(p.status_beats * p.stream_width - len(snapshot.as_value())))
        beats = Array(bits.word_select(i, p.stream_width) for i in range(p.status_beats))
        final = beat == p.status_beats - 1
        m.d.comb += [self.o.valid.eq(self.busy), self.o.payload.data.eq(beats[beat]),
                     self.o.payload.last.eq(final)]
        with m.If(self.start & ~self.busy):
            m.d.sync += [snapshot.eq(self.words), beat.eq(0), self.busy.eq(1)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += beat.eq(beat + 1)
            with m.If(final):
                m.d.sync += self.busy.eq(0)
        return m
