"""Weight memory: two banks of packed ternary weight tiles, decoded on the way out."""

from amaranth.hdl import C, Module
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout, StructLayout
from amaranth.lib.wiring import In, Out

from ..spec.formats import WEIGHT_CODE_BITS, packed_row_bytes
from .banked_memory import BankedMemory, read_signature, write_signature
from .base3_decoder import Base3Decoder

__all__ = ["tile_layout", "decoded_tile_layout", "TileDecoder", "WeightMemory"]


def tile_layout(rows, cols):
    """Weight codes of one tile: ``[rows][cols]`` 2-bit :class:`WeightCode` values."""
    return ArrayLayout(ArrayLayout(WEIGHT_CODE_BITS, cols), rows)


def decoded_tile_layout(rows, cols, *, raw_bytes=False):
    """A decoded tile and its error flag. ``raw_bytes``: ``codes`` holds each row's base-3
    bytes undecoded (``[rows][ceil(cols / 5)]`` bytes), for a unit that reads them itself."""
    if raw_bytes:
        codes = ArrayLayout(ArrayLayout(8, packed_row_bytes(cols, "base3")), rows)
    else:
        codes = tile_layout(rows, cols)
    return StructLayout({"codes": codes, "invalid": 1})


def _check_raw(weight_format, raw_bytes):
    if not isinstance(raw_bytes, bool):
        raise TypeError(f"raw_bytes must be a bool, not {raw_bytes!r}")
    if raw_bytes and weight_format != "base3":
        raise ValueError(f"raw_bytes needs the base3 weight format, not {weight_format!r}")
    return raw_bytes


class TileDecoder(wiring.Component):
    """Unpack one weight-memory word into the matrix unit's tile of weight codes.

    A packed tile is ``rows`` rows of :func:`packed_row_bytes` bytes, row ``r`` starting at
    byte ``r * row_bytes`` (byte ``i`` at bits ``8i``); each row is the golden packing
    (:mod:`tritforge.golden.packing`) of that row's ``cols`` weights:

    * ``"2bit"``: weight ``c`` at bits ``2*(c % 4)`` of the row's byte ``c // 4``;
    * ``"base3"``: weight ``c`` is trit ``c % 5`` of the row's byte ``c // 5``, decoded by one
      :class:`Base3Decoder` lane per byte (one shared ROM).

    A packed value that encodes no weight never becomes a wrong weight: a base-3 byte >= 243
    becomes :attr:`WeightCode.ZERO` codes and raises ``invalid``; a 2-bit code 3 is
    :attr:`WeightCode.INVALID` and passes unchanged (``invalid`` stays low), since the matrix
    unit counts that code as 0 and flags it itself: checking it here too would cost a LUT
    per two weights for nothing. Combinational (latency 0); for ``"2bit"`` only wiring.

    ``raw_bytes`` (``"base3"`` only): no decoder; ``tile.codes`` holds the bytes as they are
    (:func:`decoded_tile_layout`) and ``invalid`` stays low: the lookup unit of group 5
    takes them as table indices and flags bytes >= 243 itself.

    Parameters
    ----------
    rows, cols : int
    weight_format : ``"2bit"`` or ``"base3"``
    raw_bytes : bool

    Members
    -------
    packed : ``In(rows * row_bytes * 8)``
    tile : ``Out(decoded_tile_layout(rows, cols, raw_bytes=raw_bytes))``
    """

    def __init__(self, rows, cols, weight_format, *, raw_bytes=False):
        _check_positive("rows", rows)
        _check_positive("cols", cols)
        self._rows, self._cols = rows, cols
        self._format = weight_format
        self._row_bytes = packed_row_bytes(cols, weight_format)
        self._raw = _check_raw(weight_format, raw_bytes)
        super().__init__({"packed": In(rows * self._row_bytes * 8),
                          "tile": Out(decoded_tile_layout(rows, cols, raw_bytes=raw_bytes))})

    def elaborate(self, platform):
        m = Module()
        if self._raw:
            m.d.comb += [self.tile.codes.eq(self.packed), self.tile.invalid.eq(0)]
            return m
        rows = [self.packed.word_select(r, self._row_bytes * 8) for r in range(self._rows)]
        if self._format == "2bit":
            codes, invalid = self._decode_2bit(rows)
        else:
            codes, invalid = self._decode_base3(m)
        for r in range(self._rows):
            for c in range(self._cols):
                m.d.comb += self.tile.codes[r][c].eq(codes[r][c])
        m.d.comb += self.tile.invalid.eq(invalid)
        return m

    def _decode_2bit(self, rows):
        codes = [[row.word_select(c, WEIGHT_CODE_BITS) for c in range(self._cols)] for row in rows]
        return codes, C(0)

    def _decode_base3(self, m):
        m.submodules.base3 = decoder = Base3Decoder(self._rows * self._row_bytes)
        m.d.comb += decoder.packed.eq(self.packed)
        codes = []
        for r in range(self._rows):
            row_bytes = decoder.codes[r * self._row_bytes:(r + 1) * self._row_bytes]
            codes.append([code for byte in row_bytes for code in byte][:self._cols])
        return codes, decoder.invalid.any()


class WeightMemory(wiring.Component):
    """Two banks of ``depth`` packed weight tiles; reads come out decoded.

    One word is one ``rows x cols`` tile packed as :class:`TileDecoder` describes
    (``rows * row_bytes * 8`` bits); the banks are a :class:`BankedMemory` (block RAM).
    The read data passes the :class:`TileDecoder` after the RAM's output register.

    Parameters
    ----------
    rows, cols : int
        Tile shape.
    weight_format : ``"2bit"`` or ``"base3"``
    depth : int
        Tiles per bank.
    raw_bytes : bool
        Pass base-3 bytes undecoded (:class:`TileDecoder`).

    Members
    -------
    write : ``In(write_signature(depth, tile_bits))``
        Packed tiles from the host link.
    read : ``In(read_signature(depth, decoded_tile_layout(rows, cols, raw_bytes=raw_bytes)))``
        Latency 1 (RAM register, then the combinational decoder); holds while ``en`` is low.
    """

    def __init__(self, rows, cols, weight_format, depth, *, raw_bytes=False):
        _check_positive("rows", rows)
        _check_positive("cols", cols)
        if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
            raise ValueError(f"depth must be a positive integer, not {depth!r}")
        self._shape = rows, cols, weight_format
        self._tile_bits = rows * packed_row_bytes(cols, weight_format) * 8
        self._depth = depth
        self._raw = _check_raw(weight_format, raw_bytes)
        super().__init__({"write": In(write_signature(depth, self._tile_bits)),
                          "read": In(read_signature(depth, decoded_tile_layout(
                              rows, cols, raw_bytes=raw_bytes)))})

    @property
    def tile_bits(self):
        return self._tile_bits

    def elaborate(self, platform):
        m = Module()
        m.submodules.banks = banks = BankedMemory(self._depth, self._tile_bits)
        m.submodules.decoder = decoder = TileDecoder(*self._shape, raw_bytes=self._raw)
        wiring.connect(m, wiring.flipped(self.write), banks.write)
        m.d.comb += [
            banks.read.bank.eq(self.read.bank),
            banks.read.addr.eq(self.read.addr),
            banks.read.en.eq(self.read.en),
            decoder.packed.eq(banks.read.data),
            self.read.data.eq(decoder.tile),
        ]
        return m


def _check_positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
