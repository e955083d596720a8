"""Status packer: sends a snapshot of the status words as one packet."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In

from ..spec.params import check_params
from ..spec.protocol import WORD_BITS
from .beat_serializer import BeatSerializer, packer_members

__all__ = ["StatusPacker"]


class StatusPacker(wiring.Component):
    """Snapshots the :attr:`AcceleratorParams.status_words` status words and sends them.

    At ``start`` all words are copied at once (the counters keep running; the packet shows
    one instant), then sent :attr:`AcceleratorParams.words_per_beat` words per beat, word 0
    lowest, the last beat zero-padded and marked ``last`` (a :class:`BeatSerializer`). The
    first beat is offered the cycle after ``start``, then one per cycle while ``o`` is ready.

    Reset: idle; ``o.valid`` is low while ``rst`` is high, from its first cycle.

    Parameters
    ----------
    params : AcceleratorParams

    Members
    -------
    words : ``In(ArrayLayout(32, status_words))``
        The live status words.
    start, o, busy
        As every response packer (:func:`~tritforge.hdl.beat_serializer.packer_members`);
        ``busy`` lasts from the cycle after ``start`` until the last beat has been sent.
    """

    def __init__(self, params):
        check_params(params)
        self._params = params
        super().__init__({
            **packer_members(params.stream_width),
            "words": In(ArrayLayout(WORD_BITS, params.status_words)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        snapshot = Signal.like(self.words)
        serializer = BeatSerializer(len(snapshot.as_value()), p.stream_width)
        m.submodules.serializer = serializer
        load = self.start & ~self.busy
        m.d.comb += [serializer.load.eq(load), serializer.final.eq(1),
                     serializer.group.eq(snapshot), self.busy.eq(serializer.o.valid)]
        wiring.connect(m, serializer.o, wiring.flipped(self.o))
        with m.If(load):
            m.d.sync += snapshot.eq(self.words)
        return m
