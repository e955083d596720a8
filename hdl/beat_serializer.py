"""Beat serializer: sends a group of bits as consecutive stream beats, the last one padded."""

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .command_decoder import beat_layout
from .reset import hold_low_in_reset

__all__ = ["BeatSerializer", "packer_members"]


def packer_members(stream_width):
    """The ports every response packer has: ``start`` (``In(1)``, a strobe honoured while not
    ``busy``), ``o`` (the response beats) and ``busy`` (``Out(1)``, until the packet's last
    beat has been sent)."""
    return {"start": In(1), "o": Out(stream.Signature(beat_layout(stream_width))), "busy": Out(1)}


class BeatSerializer(wiring.Component):
    """Sends one group of ``group_bits`` bits at a time as ``beats`` stream beats.

    ``beats = ceil(group_bits / stream_width)``; beat ``i`` carries bits
    ``[i * stream_width, (i + 1) * stream_width)`` of the group, the last beat zero-padded.
    The serializer holds no data: it counts beats and selects the beat of ``group``, which
    the producer keeps showing the group from the cycle after ``load`` until the cycle after
    the next ``load`` (a register or a RAM's output register written or read at ``load``).

    Protocol: ``load`` takes a group with its ``final`` bit. The producer loads only while
    ``can_load``: a load at another time is not refused, the rest of the group being sent
    would come from the new one. ``o.payload.last`` is set on the last beat of a ``final``
    group, so a packet is any number of groups ending with a final one.

    Timing: the group's first beat is offered the cycle after ``load``, then one beat per
    cycle while ``o.ready``. ``can_load`` is high while empty and in the cycle the last beat
    is sent, so a group loaded then follows with no gap.

    Reset: empty, at beat 0; ``o.valid`` is low from the first cycle ``rst`` is high (a beat
    offered then is dropped with its packet). Every group ends at beat 0 again.

    Parameters
    ----------
    group_bits : int
        Bits of one group, at least 1.
    stream_width : int
        ``tdata`` width of ``o``, at least 1.

    Members
    -------
    load : ``In(1)``
        Strobe, only while ``can_load``: a new group is in ``group`` from the next cycle on.
    final : ``In(1)``
        Sampled at ``load``: the group ends the packet.
    group : ``In(group_bits)``
        The group being sent (see above).
    can_load : ``Out(1)``
        Empty, or the last beat of the group is sent this cycle.
    o : ``Out(stream.Signature(beat_layout(stream_width)))``
        The beats; ``o.valid`` is high while a group is held.

    Raises
    ------
    TypeError
        A parameter that is not an integer.
    ValueError
        A parameter less than 1.
    """

    def __init__(self, group_bits, stream_width):
        for name, value in (("group_bits", group_bits), ("stream_width", stream_width)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, not {value!r}")
            if value < 1:
                raise ValueError(f"{name} must be a positive integer, not {value!r}")
        self._stream_width = stream_width
        self._beats = -(-group_bits // stream_width)
        super().__init__({
            "load": In(1),
            "final": In(1),
            "group": In(group_bits),
            "can_load": Out(1),
            "o": Out(stream.Signature(beat_layout(stream_width))),
        })

    @property
    def beats(self):
        """Beats per group."""
        return self._beats

    def elaborate(self, platform):
        m = Module()
        held, final = Signal(), Signal()
        beat = Signal(range(self._beats))
        # "At the last beat" is a register of its own, set a beat ahead: `can_load` (which
        # the producer's loop logic waits on) is then one gate of registers and `o.ready`.
        last_beat = Signal(init=int(self._beats == 1))
        sent = held & self.o.ready
        group_sent = sent & last_beat

        padding = Const(0, self._beats * self._stream_width - len(self.group))
        padded = Cat(self.group, padding)
        beats = Array(padded.word_select(i, self._stream_width) for i in range(self._beats))
        m.d.comb += [self.can_load.eq(~held | group_sent),
                     self.o.valid.eq(held),
                     self.o.payload.data.eq(beats[beat]),
                     self.o.payload.last.eq(final & last_beat)]

        # A load in the cycle the last beat leaves keeps the serializer full.
        with m.If(self.load):
            m.d.sync += [held.eq(1), final.eq(self.final)]
        with m.Elif(group_sent):
            m.d.sync += held.eq(0)
        with m.If(sent):
            m.d.sync += [beat.eq(beat + 1), last_beat.eq(beat == self._beats - 2)]
            with m.If(last_beat):
                m.d.sync += [beat.eq(0), last_beat.eq(self._beats == 1)]
        hold_low_in_reset(m, self.o.valid)
        return m
