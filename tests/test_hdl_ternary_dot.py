# amaranth: UnusedElaboratable=no
# (many blocks here are built only to read their properties or to check an error)
"""TernaryDot against the golden integer reference, combinational and pipelined."""

import random

import numpy as np
import pytest
import torch
from amaranth.back import rtlil
from amaranth.sim import Simulator

from tritforge.golden import ternary_matmul
from tritforge.spec.formats import WeightCode, accumulator_bits
from tritforge.hdl.ternary_dot import TernaryDot

CODES = (WeightCode.NEG, WeightCode.ZERO, WeightCode.POS)


def random_vectors(rng, count, lanes, act_bits, invalid_probability=0.1):
    half = 1 << (act_bits - 1)
    vectors = []
    for _ in range(count):
        act = [rng.randrange(-half, half) for _ in range(lanes)]
        codes = [int(WeightCode.INVALID) if rng.random() < invalid_probability
                 else int(rng.choice(CODES)) for _ in range(lanes)]
        vectors.append((act, codes))
    return vectors


def expected_dots(vectors):
    """Golden dot product of each (act, codes) vector; INVALID lanes count 0."""
    act = torch.tensor([a for a, _ in vectors], dtype=torch.int16)
    codes = np.array([c for _, c in vectors], dtype=np.int64)
    results = []
    for index in range(len(vectors)):
        w_t = torch.tensor(np.where(codes[index] == WeightCode.INVALID, 0, codes[index] - 1)[None],
                           dtype=torch.int8)
        results.append((int(ternary_matmul(act[index:index + 1], w_t)[0, 0]),
                        bool((codes[index] == WeightCode.INVALID).any())))
    return results


def output_value(ctx, dut):
    if dut.raw:
        return ctx.get(dut.partial) + ctx.get(dut.carry)
    return ctx.get(dut.sum)


def run_dot(dut, vectors):
    """Feed one vector per cycle (en high); return (dot, invalid) for each, in order."""
    results = []

    async def testbench(ctx):
        if dut.latency:
            ctx.set(dut.en, 1)
        for cycle in range(len(vectors) + dut.latency):
            if cycle < len(vectors):
                ctx.set(dut.act, vectors[cycle][0])
                ctx.set(dut.weights, vectors[cycle][1])
            if cycle >= dut.latency:
                results.append((output_value(ctx, dut), bool(ctx.get(dut.invalid))))
            if dut.latency:
                await ctx.tick()
            else:
                await ctx.delay(1e-6)

    sim = Simulator(dut)
    if dut.latency:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return results


def check_dots(vectors, expected, got):
    assert len(got) == len(expected), f"expected {len(expected)} results, got {len(got)}"
    for index, ((act, codes), want, have) in enumerate(zip(vectors, expected, got)):
        assert want == have, (f"vector {index}: expected (dot, invalid) {want}, got {have}\n"
                              f"  act   = {act}\n  codes = {codes}")


class TestTernaryDot:
    @pytest.mark.parametrize("lanes", [1, 2, 3, 7, 16, 33])
    @pytest.mark.parametrize("pipeline", [0, 1, 2])
    @pytest.mark.parametrize("raw", [False, True])
    def test_random_vectors(self, lanes, pipeline, raw):
        rng = random.Random(lanes * 100 + pipeline * 10 + raw)
        vectors = random_vectors(rng, 24, lanes, 8)
        dut = TernaryDot(lanes, 8, pipeline, raw=raw)
        check_dots(vectors, expected_dots(vectors), run_dot(dut, vectors))

    @pytest.mark.parametrize("act_bits", [2, 3, 16])
    def test_activation_widths(self, act_bits):
        rng = random.Random(act_bits)
        half = 1 << (act_bits - 1)
        vectors = random_vectors(rng, 16, 5, act_bits)
        neg, pos = [int(WeightCode.NEG)] * 5, [int(WeightCode.POS)] * 5
        vectors += [([-half] * 5, neg), ([-half] * 5, pos), ([half - 1] * 5, pos)]
        dut = TernaryDot(5, act_bits, 1)
        check_dots(vectors, expected_dots(vectors), run_dot(dut, vectors))

    @pytest.mark.parametrize("raw", [False, True])
    def test_extremes(self, raw):
        lanes = 32
        vectors = [([-128] * lanes, [int(WeightCode.NEG)] * lanes),
                   ([-128] * lanes, [int(WeightCode.POS)] * lanes),
                   ([127] * lanes, [int(WeightCode.POS)] * lanes),
                   ([127] * lanes, [int(WeightCode.INVALID)] * lanes)]
        expected = expected_dots(vectors)
        assert [dot for dot, _ in expected] == [4096, -4096, 4064, 0]
        check_dots(vectors, expected, run_dot(TernaryDot(lanes, 8, 1, raw=raw), vectors))

    def test_sum_width(self):
        for lanes in (1, 2, 5, 32, 64):
            assert TernaryDot(lanes).sum.shape().width == accumulator_bits(lanes, 8)
            assert TernaryDot(lanes).sum.shape().signed

    def test_enable_low_holds_the_pipeline(self):
        dut = TernaryDot(4, 8, pipeline=1)
        assert dut.latency == 3
        vectors = [([1, 2, 3, 4], [2, 2, 2, 2]), ([5, 5, 5, 5], [0, 0, 0, 0])]
        seen = []

        async def testbench(ctx):
            ctx.set(dut.en, 1)
            ctx.set(dut.act, vectors[0][0])
            ctx.set(dut.weights, vectors[0][1])
            await ctx.tick()
            ctx.set(dut.en, 0)
            ctx.set(dut.act, vectors[1][0])
            ctx.set(dut.weights, vectors[1][1])
            await ctx.tick().repeat(5)          # stalled: nothing moves
            ctx.set(dut.en, 1)
            await ctx.tick().repeat(2)
            seen.append(ctx.get(dut.sum))       # the first vector, 3 enabled edges later
            await ctx.tick()
            seen.append(ctx.get(dut.sum))

        sim = Simulator(dut)
        sim.add_clock(1e-6)
        sim.add_testbench(testbench)
        sim.run()
        assert seen == [10, -20]

    @pytest.mark.parametrize("lanes, pipeline, raw, latency", [
        (32, 0, False, 0), (32, 1, False, 6), (32, 2, False, 3), (32, 1, True, 5),
        (32, 2, True, 3), (32, 5, True, 1), (32, 9, True, 1), (1, 1, True, 0), (1, 1, False, 1),
        (3, 1, True, 2),
    ])
    def test_latency(self, lanes, pipeline, raw, latency):
        dut = TernaryDot(lanes, 8, pipeline, raw=raw)
        assert dut.latency == latency == TernaryDot.latency_for(lanes, pipeline, raw=raw)
        assert ("en" in dut.signature.members) == (latency > 0)

    def test_ports(self):
        dut = TernaryDot(6, 4, 0)
        assert set(dut.signature.members) == {"act", "weights", "sum", "invalid"}
        raw = TernaryDot(6, 4, 0, raw=True)
        assert set(raw.signature.members) == {"act", "weights", "partial", "carry", "invalid"}
        assert (raw.lanes, raw.act_bits, raw.pipeline, raw.raw) == (6, 4, 0, True)

    def test_no_multiplier_in_the_netlist(self):
        text = rtlil.convert(TernaryDot(16, 8, 1), name="dot")
        assert "$mul" not in text

    @pytest.mark.parametrize("args, error, message", [
        ((0,), ValueError, r"^lanes must be an integer >= 1, not 0$"),
        ((2.0,), TypeError, r"^lanes must be an integer >= 1, not 2\.0$"),
        ((4, 1), ValueError, r"^act_bits must be an integer in 2\.\.16, not 1$"),
        ((4, 17), ValueError, r"^act_bits must be an integer in 2\.\.16, not 17$"),
        ((4, 8, -1), ValueError, r"^pipeline must be an integer >= 0, not -1$"),
        ((4, 8, None), TypeError, r"^pipeline must be an integer >= 0, not None$"),
    ])
    def test_parameters_wrong(self, args, error, message):
        with pytest.raises(error, match=message):
            TernaryDot(*args)
