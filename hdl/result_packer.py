"""Result packer: streams complete row blocks from the accumulator buffer as int32 words."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import WORD_BITS
from .accumulator_buffer import drain_signature
from .beat_serializer import BeatSerializer, packer_members
from .command_decoder import read_layout
from .nested_counter import NestedCounter

__all__ = ["ResultPacker"]


class ResultPacker(wiring.Component):
    """Sends a run's results as one packet, each row block as soon as it is complete.

    For each row block, for each token, the ``rows`` accumulators are sign-extended to int32
    words (row ``r`` at bits ``32r``) and sent in :attr:`AcceleratorParams.group_beats` beats
    (the last one zero-padded) by a :class:`BeatSerializer`; the packet's last beat carries
    ``last`` (``tlast``). A :class:`NestedCounter` walks (token, block). After reading the
    last token of a block, the packer releases the block's half of the accumulator buffer.

    Timing: a group's first beat is offered two cycles after its block becomes ready (one
    cycle when the previous group is still being sent); then one beat per cycle while ``o``
    is ready: the packer keeps the link busy (group_beats = 1 included).

    Reset: idle; ``o.valid`` is low while ``rst`` is high, from its first cycle (the
    serializer's reset contract): a packet being sent is cut off.

    Parameters
    ----------
    params : AcceleratorParams

    Members
    -------
    start, o, busy
        The response packer's ports (:func:`~tritforge.hdl.beat_serializer.packer_members`):
        ``start`` streams the results that ``read`` describes; ``busy`` lasts from ``start``
        until the packet's last beat has been sent.
    read : ``In(read_layout(params))``
        ``tokens`` per block and ``blocks``; sampled at ``start``.
    drain : ``Out(drain_signature(rows, acc_bits, max_tokens))``
    """

    def __init__(self, params):
        check_params(params)
        self._params = params
        super().__init__({
            **packer_members(params.stream_width),
            "read": In(read_layout(params)),
            "drain": Out(drain_signature(params.rows, params.acc_bits, params.max_tokens)),
        })

    def elaborate(self, platform):
        m = Module()
        p = self._params
        issuing = Signal()
        # The (token, row block) being read, token innermost; it takes the sizes at start.
        walk = m.submodules.walk = NestedCounter({"token": p.max_tokens, "block": p.weight_depth})

        # Stage 1: the group read last, held in the buffer's read register, sent beat by beat.
        serializer = m.submodules.serializer = BeatSerializer(p.rows * WORD_BITS, p.stream_width)
        # `issuing` ends a cycle after the final fetch, from a register (`fetched_all`), not
        # from the fetch decision itself: its enable then starts from registers only. The
        # final group keeps `busy` high meanwhile.
        fetched_all = Signal()
        fetch = issuing & ~fetched_all & self.drain.ready & serializer.can_load
        start = self.start & ~self.busy

        m.d.comb += [walk.limit.token.eq(self.read.tokens), walk.limit.block.eq(self.read.blocks),
                     walk.restart.eq(start), walk.advance.eq(fetch),
                     self.drain.addr.eq(walk.count.token), self.drain.en.eq(fetch),
                     self.drain.release.eq(walk.wrap.token),
                     serializer.load.eq(fetch),
                     serializer.final.eq(walk.last.token & walk.last.block),
                     serializer.group.eq(self._group(m)),
                     self.busy.eq(issuing | serializer.o.valid)]
        wiring.connect(m, serializer.o, wiring.flipped(self.o))
        m.d.sync += fetched_all.eq(walk.wrap.block)
        with m.If(start):
            m.d.sync += issuing.eq(1)
        with m.If(fetched_all):
            m.d.sync += issuing.eq(0)
        return m

    def _group(self, m):
        """The held group: ``rows`` sign-extended int32 words, row ``r`` at bit ``32r``."""
        words = []
        for r in range(self._params.rows):
            word = Signal(signed(WORD_BITS), name=f"word{r}")
            m.d.comb += word.eq(self.drain.data[r])
            words.append(word)
        return Cat(*words)
