"""A double-buffered (two-bank) SRAM: one bank loads while the other is read."""

from amaranth.hdl import Module, Mux, Shape, ShapeCastable, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["BANKS", "write_signature", "read_signature", "BankedMemory"]

#: Banks of every double-buffered memory.
BANKS = 2


def write_signature(depth, shape):
    """Write port of a banked memory, from the writer's side.

    ``en`` writes ``data`` at word ``addr`` of bank ``bank`` at the next clock edge.
    """
    _check_depth(depth)
    return wiring.Signature({"bank": Out(1), "addr": Out(range(depth)), "data": Out(shape),
                             "en": Out(1)})


def read_signature(depth, shape):
    """Read port of a banked memory, from the reader's side.

    ``en`` reads word ``addr`` of bank ``bank``; ``data`` shows it from the next cycle on and
    holds it while ``en`` is low (latency 1).
    """
    _check_depth(depth)
    return wiring.Signature({"bank": Out(1), "addr": Out(range(depth)), "en": Out(1),
                             "data": In(shape)})


class BankedMemory(wiring.Component):
    """Two banks of ``depth`` words of ``shape`` in one block RAM, one write and one read port.

    The banks are the lower and upper half of one :class:`~amaranth.lib.memory.Memory` of
    ``2 * depth`` words (simple dual port: FPGA tools infer block RAM). A read of the word
    being written in the same cycle gives an undefined word on the FPGA (the simulation
    returns the old one): the accelerator never uses such a word, since the command decoder
    holds a load back while a run reads its bank.

    Parameters
    ----------
    depth : int
        Words per bank.
    shape : shape-castable
        One word.

    Members
    -------
    write : ``In(write_signature(depth, shape))``
    read : ``In(read_signature(depth, shape))``
        Latency 1; ``read.data`` holds while ``read.en`` is low.
    """

    def __init__(self, depth, shape):
        _check_depth(depth)
        if not isinstance(shape, ShapeCastable):
            shape = Shape.cast(shape)
        self._depth = depth
        self._shape = shape
        super().__init__({"write": In(write_signature(depth, shape)),
                          "read": In(read_signature(depth, shape))})

    @property
    def depth(self):
        return self._depth

    @property
    def shape(self):
        return self._shape

    def elaborate(self, platform):
        m = Module()
        # No word read in the cycle it is written is ever used (class docstring):
        # `no_rw_check` tells Yosys not to add logic for that case. Yosys applies it when
        # it merges the output register into the read port, hence the asynchronous port
        # and the register here, rather than a synchronous port (same timing).
        m.submodules.mem = mem = Memory(shape=self._shape, depth=BANKS * self._depth, init=[],
                                        attrs={"no_rw_check": 1})
        write, read = mem.write_port(), mem.read_port(domain="comb")
        m.d.comb += [
            write.addr.eq(self._address(self.write.bank, self.write.addr)),
            write.data.eq(self.write.data),
            write.en.eq(self.write.en),
            read.addr.eq(self._address(self.read.bank, self.read.addr)),
        ]
        # Not reset, like a block RAM's output register: a reset value would cost a LUT per bit.
        data = Signal(self._shape, reset_less=True)
        with m.If(self.read.en):
            m.d.sync += data.eq(read.data)
        m.d.comb += self.read.data.eq(data)
        return m

    def _address(self, bank, addr):
        return Mux(bank, addr + self._depth, addr)


def _check_depth(depth):
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be a positive integer, not {depth!r}")
