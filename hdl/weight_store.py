"""The board's weight store: one single-port memory, an Amaranth Memory or the iCE40 SPRAMs."""

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.errors import ParameterError, check_integer

__all__ = ["store_signature", "WeightStore", "SPRAMWeightStore", "SPRAM_WORDS", "SPRAM_BITS",
           "SPRAM_COUNT"]

#: iCE40 UP5K SPRAM: 16 K words of 16 bits, four of them.
SPRAM_WORDS, SPRAM_BITS, SPRAM_COUNT = 16384, 16, 4


def store_signature(width, depth):
    """Ports of a weight store of ``depth`` words of ``width`` bits (see :class:`WeightStore`)."""
    return wiring.Signature({"addr": In(range(depth)), "en": In(1), "we": In(1),
                             "wdata": In(width), "rdata": Out(width)})


class _Store(wiring.Component):
    """What both stores share: checked width and depth, the ports."""

    def __init__(self, width, depth):
        self._width = check_integer("width", width, 1)
        self._depth = check_integer("depth", depth, 1)
        super().__init__(store_signature(width, depth))

    @property
    def width(self):
        return self._width

    @property
    def depth(self):
        return self._depth


class WeightStore(_Store):
    """A single-port store of ``depth`` words of ``width`` bits on an Amaranth ``Memory``
    (block RAM on ECP5, anything in simulation).

    Protocol: in a cycle with ``en``, ``we`` writes ``wdata`` to ``addr``, otherwise
    ``addr`` is read and its word is on ``rdata`` the next cycle; ``rdata`` holds while
    ``en`` is low. Contents are undefined at power-up and survive reset.

    Members
    -------
    addr : ``In(range(depth))``
    en, we : ``In(1)``
    wdata : ``In(width)``
    rdata : ``Out(width)``
    """

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self._width, depth=self._depth, init=[])
        write = mem.write_port()
        read = mem.read_port(transparent_for=())
        m.d.comb += [write.addr.eq(self.addr), write.data.eq(self.wdata),
                     write.en.eq(self.en & self.we),
                     read.addr.eq(self.addr), read.en.eq(self.en & ~self.we),
                     self.rdata.eq(read.data)]
        return m


class SPRAMWeightStore(_Store):
    """The same store on the iCE40 UP5K's four ``SB_SPRAM256KA`` (16 K x 16 bits each).

    ``width / 16`` SPRAMs side by side make a word, the rest add depth: 32 bits give
    32 K words, 64 bits 16 K words (128 KB either way). The SPRAM has no read enable: its
    address is held while ``en`` is low, so ``rdata`` holds too. Same protocol as
    :class:`WeightStore`.

    Parameters
    ----------
    width : int
        A multiple of 16, at most 64.

    Raises
    ------
    ParameterError
        ``width`` is not 16, 32, 48 (refused: four SPRAMs do not split into it) or 64.
    """

    def __init__(self, width):
        self._across = width // SPRAM_BITS if isinstance(width, int) else None
        super().__init__(width, self.depth_for(width))

    @staticmethod
    def depth_for(width):
        """Words of the store of ``width`` bits (the check of the constructor)."""
        check_integer("width", width, SPRAM_BITS)
        if width % SPRAM_BITS or SPRAM_COUNT % (width // SPRAM_BITS):
            raise ParameterError(f"width of an SPRAM weight store must be 16, 32 or 64 bits "
                                 f"(four 16-bit SPRAMs), not {width!r}")
        return SPRAM_WORDS * (SPRAM_COUNT // (width // SPRAM_BITS))

    def elaborate(self, platform):
        m = Module()
        banks = SPRAM_COUNT // self._across
        held = Signal.like(self.addr)
        address = Signal.like(self.addr)
        m.d.comb += address.eq(self.addr)
        with m.If(self.en):
            m.d.sync += held.eq(self.addr)
        with m.Else():
            m.d.comb += address.eq(held)
        low = address[:14]
        bank = address[14:] if banks > 1 else 0
        read_bank = Signal(range(banks))
        m.d.sync += read_bank.eq(bank)
        outputs = []
        for b in range(banks):
            words = []
            for lane in range(self._across):
                out = Signal(SPRAM_BITS, name=f"out_{b}_{lane}")
                selected = (bank == b) if banks > 1 else 1
                m.submodules[f"spram_{b}_{lane}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=low, i_DATAIN=self.wdata[lane * SPRAM_BITS:(lane + 1) * SPRAM_BITS],
                    i_MASKWREN=0b1111, i_WREN=self.en & self.we & selected, i_CHIPSELECT=1,
                    i_CLOCK=ClockSignal(), i_STANDBY=0, i_SLEEP=0,
                    i_POWEROFF=1, o_DATAOUT=out)
                words.append(out)
            outputs.append(Cat(*words))
        if banks == 1:
            m.d.comb += self.rdata.eq(outputs[0])
        else:
            with m.Switch(read_bank):
                for b, word in enumerate(outputs):
                    with m.Case(b):
                        m.d.comb += self.rdata.eq(word)
        return m

