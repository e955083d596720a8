"""Result packer: streams complete row blocks from the accumulator buffer as int32 words."""

from amaranth.hdl import Array, Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import WORD_BITS
from .accumulator_buffer import drain_signature
from .command_decoder import beat_layout, read_layout

__all__ = ["ResultPacker"]


class ResultPacker(wiring.Component):
    """Sends a run's results as one packet, each row block as soon as it is complete.

    For each row block, for each token, the ``rows`` accumulators are sign-extended to int32
    words (row ``r`` at bits ``32r``) and sent in :attr:`AcceleratorParams.group_beats` beats
    (the last one zero-padded); the packet's last beat carries ``last`` (``tlast``). After
    reading the last token of a block, the packer releases the block's half of the
    accumulator buffer.

    Timing: a group's first beat is offered two cycles after its block becomes ready (one
    cycle when the previous group is still being sent); then one beat per cycle while ``o``
    is ready: the packer keeps the link busy (group_beats = 1 included).

    Parameters
    ----------
    params : AcceleratorParams

    Members
    -------
    start : ``In(1)``
        Strobe, honoured while not ``busy``: stream the results described by ``read``.
    read : ``In(read_layout(params))``
        ``tokens`` per block and ``blocks``; sampled at ``start``.
    drain : ``Out(drain_signature(rows, acc_bits, max_tokens))``
    o : ``Out(stream.Signature(beat_layout(stream_width)))``
    busy : ``Out(1)``
        From ``start`` until the packet's last beat has been sent.
    """

    def __init__(self, params):
        check_params(params)
        self._params = params
        super().__init__({
            "start": In(1),
            "read": In(read_layout(params)),
            "drain": Out(drain_signature(params.rows, params.acc_bits, params.max_tokens)),
            "o": Out(stream.Signature(beat_layout(params.stream_width))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        read = Signal.like(self.read)
        token = Signal(range(p.max_tokens))
        block = Signal(range(p.weight_depth))
        issuing = Signal()

        # Stage 1: the group read last, held in the buffer's read register, sent beat by beat.
        held = Signal()
        held_final = Signal()
        beat = Signal(range(p.group_beats))
        sent = self.o.valid & self.o.ready
        group_sent = sent & (beat == p.group_beats - 1)
        fetch = issuing & self.drain.ready & (~held | group_sent)

        last_token = token == read.tokens - 1
        last_block = block == read.blocks - 1
        m.d.comb += [self.drain.addr.eq(token), self.drain.en.eq(fetch),
                     self.drain.release.eq(fetch & last_token),
                     self.busy.eq(issuing | held)]
        with m.If(self.start & ~self.busy):
            m.d.sync += [read.eq(self.read), token.eq(0), block.eq(0), issuing.eq(1)]
        with m.If(fetch):
            m.d.sync += held_final.eq(last_token & last_block)
            with m.If(~last_token):
                m.d.sync += token.eq(token + 1)
            with m.Else():
                m.d.sync += [token.eq(0), block.eq(block + 1)]
                with m.If(last_block):
                    m.d.sync += issuing.eq(0)

        with m.If(fetch):
            m.d.sync += held.eq(1)
        with m.Elif(group_sent):
            m.d.sync += held.eq(0)
        with m.If(sent):
            m.d.sync += beat.eq(beat + 1)
            with m.If(group_sent):
                m.d.sync += beat.eq(0)

        m.d.comb += [self.o.valid.eq(held),
                     self.o.payload.data.eq(Array(self._beats(m))[beat]),
                     self.o.payload.last.eq(held_final & (beat == p.group_beats - 1))]
        return m

    def _beats(self, m):
        """The held group as ``group_beats`` beats of sign-extended int32 words."""
        p = self._params
        words = []
        for r in range(p.rows):
            word = Signal(signed(WORD_BITS), name=f"word{r}")
            m.d.comb += word.eq(self.drain.data[r])
            words.append(word)
        group = Cat(*words)
        padded = Cat(group, Signal(p.group_beats * p.stream_width - len(group)))
        return [padded.word_select(i, p.stream_width) for i in range(p.group_beats)]
