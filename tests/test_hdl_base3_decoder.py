# amaranth: UnusedElaboratable=no
"""Base3Decoder: every one of the 256 byte values against the golden unpacker."""

import pytest
import torch
from amaranth.sim import Simulator

from tritforge.golden.packing import unpack_base3
from tritforge.hdl.base3_decoder import BASE3_LIMIT, Base3Decoder, base3_codes
from tritforge.spec.formats import WeightCode


def golden_weights(byte):
    """The five weights the golden unpacker reads from ``byte`` (``None`` when it refuses)."""
    try:
        return unpack_base3(torch.tensor([[byte]], dtype=torch.uint8), 5)[0].tolist()
    except ValueError:
        return None


def test_table_matches_golden_unpacker():
    for byte in range(256):
        codes = base3_codes(byte)
        expected = golden_weights(byte)
        if expected is None:
            assert codes is None, byte
        else:
            assert [code - 1 for code in codes] == expected, byte


def test_invalid_bytes_are_exactly_the_golden_rejects():
    rejected = [byte for byte in range(256) if golden_weights(byte) is None]
    assert rejected == list(range(BASE3_LIMIT, 256))


@pytest.mark.parametrize("byte", [-1, 256, 3.0, None])
def test_table_wrong(byte):
    with pytest.raises(ValueError, match=r"^byte must be an integer in 0\.\.255, not "):
        base3_codes(byte)


@pytest.mark.parametrize("lanes", [1, 3])
def test_decoder_all_bytes(lanes):
    dut = Base3Decoder(lanes)
    seen = {}

    async def testbench(ctx):
        for start in range(0, 256, lanes):
            values = [(start + lane) % 256 for lane in range(lanes)]
            for lane, byte in enumerate(values):
                ctx.set(dut.packed[lane], byte)
            for lane, byte in enumerate(values):
                seen[byte] = ([ctx.get(dut.codes[lane][i]) for i in range(5)],
                              (ctx.get(dut.invalid) >> lane) & 1)

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()
    assert sorted(seen) == list(range(256))
    for byte in range(256):
        codes, invalid = seen[byte]
        expected = golden_weights(byte)
        if expected is None:
            assert invalid == 1 and codes == [WeightCode.ZERO] * 5, byte
        else:
            assert invalid == 0 and [c - 1 for c in codes] == expected, byte


@pytest.mark.parametrize("lanes", [0, -1, True, 2.0])
def test_decoder_wrong(lanes):
    with pytest.raises(ValueError, match=r"^lanes must be a positive integer, not "):
        Base3Decoder(lanes)
