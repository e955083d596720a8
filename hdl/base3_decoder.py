"""Decode one base-3 weight byte (five trits) into five 2-bit weight codes."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..spec.formats import BASE3_LIMIT, TRITS_PER_BYTE, WEIGHT_CODE_BITS, WeightCode

__all__ = ["base3_codes", "Base3Decoder"]


def base3_codes(byte):
    """The five weight codes of ``byte`` (``byte = sum(code_i * 3**i)``), or ``None`` for
    the invalid bytes 243..255."""
    if not isinstance(byte, int) or not 0 <= byte <= 255:
        raise ValueError(f"byte must be an integer in 0..255, not {byte!r}")
    if byte >= BASE3_LIMIT:
        return None
    return tuple(WeightCode(byte // 3 ** i % 3) for i in range(TRITS_PER_BYTE))


def _table_entry(byte):
    """ROM word of ``byte``: code ``i`` at bits ``2i``, the invalid flag at bit 10."""
    codes = base3_codes(byte)
    if codes is None:
        codes, invalid = (WeightCode.ZERO,) * TRITS_PER_BYTE, 1
    else:
        invalid = 0
    return sum(code << (WEIGHT_CODE_BITS * i) for i, code in enumerate(codes)) | invalid << _INVALID_BIT


_INVALID_BIT = WEIGHT_CODE_BITS * TRITS_PER_BYTE


class Base3Decoder(wiring.Component):
    """Base-3 bytes to 2-bit weight codes, ``lanes`` bytes at once, combinational.

    Byte ``b = sum(code_i * 3**i for i in 0..4)`` (the ``base3`` format of
    :mod:`tritforge.golden.packing`) becomes ``codes[i] = code_i``. Bytes 243..255 encode no
    weights: they give five :attr:`WeightCode.ZERO` codes and raise the lane's ``invalid``
    bit, so a corrupt byte contributes nothing rather than a wrong weight.

    Implemented as one 256-word ROM (``Memory`` with combinational read ports, one per
    lane; LUT ROMs on an FPGA); latency 0.

    Parameters
    ----------
    lanes : int
        Bytes decoded in parallel.

    Members
    -------
    packed : ``In(ArrayLayout(unsigned(8), lanes))``
        The packed bytes.
    codes : ``Out(ArrayLayout(ArrayLayout(unsigned(2), 5), lanes))``
        ``codes[j][i]``: trit ``i`` of byte ``j`` (weight ``5j + i``).
    invalid : ``Out(lanes)``
        Bit ``j`` high when byte ``j`` is >= 243.
    """

    def __init__(self, lanes=1):
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
            raise ValueError(f"lanes must be a positive integer, not {lanes!r}")
        self._lanes = lanes
        super().__init__({
            "packed": In(ArrayLayout(8, lanes)),
            "codes": Out(ArrayLayout(ArrayLayout(WEIGHT_CODE_BITS, TRITS_PER_BYTE), lanes)),
            "invalid": Out(lanes),
        })

    @property
    def lanes(self):
        return self._lanes

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = table = Memory(shape=_INVALID_BIT + 1, depth=256,
                                            init=[_table_entry(byte) for byte in range(256)])
        for lane in range(self._lanes):
            port = table.read_port(domain="comb")
            m.d.comb += [port.addr.eq(self.packed[lane]),
                         self.codes[lane].eq(port.data[:_INVALID_BIT]),
                         self.invalid[lane].eq(port.data[_INVALID_BIT])]
        return m
