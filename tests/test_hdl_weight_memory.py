# amaranth: UnusedElaboratable=no
"""WeightMemory and TileDecoder: packed tiles in, the golden unpackers' weights out."""

import random

import pytest
import torch
from amaranth.sim import Simulator

from tritforge.golden.packing import pack_2bit, pack_base3, unpack_2bit, unpack_base3
from tritforge.spec.formats import WeightCode
from tritforge.hdl.weight_memory import TileDecoder, WeightMemory, packed_row_bytes

UNPACK = {"2bit": unpack_2bit, "base3": unpack_base3}
INVALID = {"2bit": lambda rng: rng.choice([0x03, 0x0C, 0x30, 0xC0, 0xFF]),
           "base3": lambda rng: rng.randint(243, 255)}


def random_tile(rng, rows, cols, weight_format):
    """Packed bytes of a random tile and its weights (golden unpacking)."""
    w = torch.tensor([[rng.choice((-1, 0, 1)) for _ in range(cols)] for _ in range(rows)],
                     dtype=torch.int8)
    packed = (pack_2bit if weight_format == "2bit" else pack_base3)(w)
    assert torch.equal(UNPACK[weight_format](packed, cols), w)
    return packed.flatten().tolist(), w


def read_codes(ctx, tile, rows, cols):
    return [[ctx.get(tile.codes[r][c]) for c in range(cols)] for r in range(rows)]


@pytest.mark.parametrize("weight_format", ["2bit", "base3"])
@pytest.mark.parametrize("rows, cols", [(2, 7), (3, 10), (1, 16)])
def test_decoder_matches_golden(weight_format, rows, cols):
    rng = random.Random(rows * cols)
    dut = TileDecoder(rows, cols, weight_format)

    async def testbench(ctx):
        for _ in range(40):
            packed, w = random_tile(rng, rows, cols, weight_format)
            ctx.set(dut.packed, int.from_bytes(bytes(packed), "little"))
            codes = read_codes(ctx, dut.tile, rows, cols)
            assert ctx.get(dut.tile.invalid) == 0
            assert [[code - 1 for code in row] for row in codes] == w.tolist()

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("weight_format", ["2bit", "base3"])
def test_decoder_invalid_never_gives_a_wrong_weight(weight_format):
    """Base-3: an invalid byte becomes ZERO codes and raises ``invalid``. 2-bit: code 3
    passes as INVALID (the matrix unit counts it as 0 and flags it), ``invalid`` stays low."""
    rng = random.Random(5)
    rows, cols = 3, 10
    row_bytes = packed_row_bytes(cols, weight_format)
    per_byte = 4 if weight_format == "2bit" else 5
    dut = TileDecoder(rows, cols, weight_format)

    async def testbench(ctx):
        for _ in range(30):
            packed, w = random_tile(rng, rows, cols, weight_format)
            r, j = rng.randrange(rows), rng.randrange(row_bytes)
            bad = INVALID[weight_format](rng)
            packed[r * row_bytes + j] = bad
            ctx.set(dut.packed, int.from_bytes(bytes(packed), "little"))
            columns = range(j * per_byte, min((j + 1) * per_byte, cols))
            if weight_format == "2bit":   # only codes of real columns count, not padding
                bad_columns = [c for c in columns if (bad >> (2 * (c % 4))) & 3 == WeightCode.INVALID]
            else:                         # the whole byte is invalid
                bad_columns = list(columns)
            assert ctx.get(dut.tile.invalid) == (weight_format == "base3" and len(bad_columns) > 0)
            codes = read_codes(ctx, dut.tile, rows, cols)
            for c in bad_columns:
                expected = WeightCode.INVALID if weight_format == "2bit" else WeightCode.ZERO
                assert codes[r][c] == expected, (r, c)
            for c in set(range(cols)) - set(bad_columns):
                expected = (bad >> (2 * (c % 4))) & 3 if c in columns else int(w[r, c]) + 1
                assert codes[r][c] == expected, (r, c)

    sim = Simulator(dut)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("weight_format", ["2bit", "base3"])
def test_memory_banks_latency_and_hold(weight_format):
    rng = random.Random(9)
    rows, cols, depth = 2, 8, 5
    dut = WeightMemory(rows, cols, weight_format, depth)
    contents = {}

    async def testbench(ctx):
        for bank in (0, 1):
            for addr in range(depth):
                packed, w = random_tile(rng, rows, cols, weight_format)
                contents[bank, addr] = w.tolist()
                ctx.set(dut.write.bank, bank)
                ctx.set(dut.write.addr, addr)
                ctx.set(dut.write.data, int.from_bytes(bytes(packed), "little"))
                ctx.set(dut.write.en, 1)
                await ctx.tick()
        ctx.set(dut.write.en, 0)
        for bank, addr in rng.sample(sorted(contents), len(contents)):
            ctx.set(dut.read.bank, bank)
            ctx.set(dut.read.addr, addr)
            ctx.set(dut.read.en, 1)
            await ctx.tick()
            ctx.set(dut.read.en, 0)
            ctx.set(dut.read.addr, (addr + 1) % depth)   # ignored while en is low
            for _ in range(2):
                codes = read_codes(ctx, dut.read.data, rows, cols)
                assert [[c - 1 for c in row] for row in codes] == contents[bank, addr]
                await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("call, message", [
    (lambda: TileDecoder(0, 4, "2bit"), r"^rows must be a positive integer, not 0$"),
    (lambda: TileDecoder(2, 4, "hf"), r"^weight_format must be one of 2bit, base3, not 'hf'$"),
    (lambda: WeightMemory(2, 4, "2bit", 0), r"^depth must be a positive integer, not 0$"),
    (lambda: WeightMemory(2, 4, "3bit", 1), r"^weight_format must be one of 2bit, base3, not '3bit'$"),
])
def test_wrong(call, message):
    with pytest.raises(ValueError, match=message):
        call()
