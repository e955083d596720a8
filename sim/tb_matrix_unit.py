"""cocotb testbench of a matrix unit's Verilog (``TernaryMatrixUnit`` or ``IntMatrixUnit``).

Random dot products of random lengths go in as chunks with random input gaps, results come
out under random backpressure, and a scoreboard checks every result against the golden
model's exact integer product. The payloads are packed and unpacked with the unit's own
Amaranth layouts, so the testbench cannot disagree with the RTL about bit positions.

Configuration (``tb_config()``): ``unit`` (the unit's
:class:`~tritforge.spec.params.UnitParams` as :meth:`~tritforge.spec.params.UnitParams.to_dict`
gives it), ``products``, ``gap`` and ``stall`` (probabilities), ``seed``, ``summary`` (a JSON
file the testbench writes its counts to).
"""

import json
import random
import time

import cocotb
import numpy as np
import torch
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from ..golden import ternary_matmul
from ..hdl.units import build_unit
from ..spec.formats import WeightCode
from ..spec.params import design_from_dict
from .runner import tb_config


class MatrixUnitTB:
    """Clock, reset, and one loop that drives ``i``, applies backpressure on ``o`` and
    observes both handshakes in the read-only phase before each rising edge."""

    def __init__(self, dut, unit, rng):
        self.dut, self.unit, self.rng = dut, unit, rng
        self.chunk_layout, self.result_layout = unit.chunk_layout(), unit.result_layout()
        self.cycle = 0

    async def reset(self):
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        self.dut.rst.value = 1
        self.dut.i__valid.value = 0
        self.dut.o__ready.value = 0
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def pack_chunk(self, act, weights, first, last):
        value = self.chunk_layout.const({"act": act, "weights": weights, "first": first, "last": last})
        return value.as_value().value

    def unpack_result(self, bits):
        result = self.result_layout.from_bits(bits)
        return [int(result.acc[row]) for row in range(self.unit.rows)], int(result.invalid)

    async def run(self, chunks, n_results, gap, stall, timeout):
        """Send ``chunks`` (packed payloads) and collect ``n_results`` (cycle, acc, invalid)."""
        results, pending = [], list(chunks)
        while len(results) < n_results:
            await FallingEdge(self.dut.clk)
            self.cycle += 1
            if self.cycle > timeout:
                raise AssertionError(f"timeout: {len(results)} of {n_results} results after {timeout} cycles")
            offer = bool(pending) and self.rng.random() >= gap
            self.dut.i__valid.value = int(offer)
            if offer:
                self.dut.i__payload.value = pending[0]
            self.dut.o__ready.value = int(self.rng.random() >= stall)
            await ReadOnly()
            if offer and self.dut.i__ready.value:
                pending.pop(0)
            if self.dut.o__valid.value and self.dut.o__ready.value:
                acc, invalid = self.unpack_result(self.dut.o__payload.value.to_unsigned())
                results.append((self.cycle, acc, invalid))
        return results


def random_products(unit, kind, rng, count):
    """``count`` dot products (activations ``[K]``, weights ``[rows, K]``) of random
    lengths K up to ``max_k`` (always including K = 1, K = cols and the largest K)."""
    lengths = [1, unit.cols, unit.max_k] + [rng.randint(1, unit.max_k) for _ in range(count - 3)]
    a_min, a_max = -2 ** (unit.act_bits - 1), 2 ** (unit.act_bits - 1) - 1
    products = []
    for k in lengths[:count]:
        act = [rng.randint(a_min, a_max) for _ in range(k)]
        if kind == "int":
            weights = [[rng.randint(-128, 127) for _ in range(k)] for _ in range(unit.rows)]
        else:
            weights = [[rng.choice((-1, 0, 0, 1)) for _ in range(k)] for _ in range(unit.rows)]
        products.append((act, weights))
    return products


def chunk_product(unit, kind, act, weights):
    """A dot product as the unit's input chunks (zero-padded last chunk)."""
    pad = -len(act) % unit.cols
    act = act + [0] * pad
    zero = 0 if kind == "int" else int(WeightCode.ZERO)
    encode = (lambda w: w) if kind == "int" else (lambda w: w + 1)
    codes = [[encode(w) for w in row] + [zero] * pad for row in weights]
    n = len(act) // unit.cols
    for c in range(n):
        cols = slice(c * unit.cols, (c + 1) * unit.cols)
        yield act[cols], [row[cols] for row in codes], int(c == 0), int(c == n - 1)


def expected_result(kind, act, weights):
    if kind == "int":
        return (np.array(weights, dtype=np.int64) @ np.array(act, dtype=np.int64)).tolist()
    return ternary_matmul(torch.tensor([act]), torch.tensor(weights, dtype=torch.int8))[0].tolist()


def check_results(products, expected, results):
    """Scoreboard: the first mismatch names the product, row, inputs, expected and got."""
    assert len(results) == len(products), f"{len(results)} results for {len(products)} products"
    for index, ((act, weights), want, (cycle, got, invalid)) in enumerate(zip(products, expected, results)):
        assert not invalid, f"product {index}: invalid flag set at cycle {cycle} with valid weights"
        for row, (w, g) in enumerate(zip(want, got)):
            if w != g:
                raise AssertionError(
                    f"product {index} (K={len(act)}), row {row}, result at cycle {cycle}: "
                    f"expected {w}, got {g}; activations {act}, weights {weights[row]}")


@cocotb.test()
async def random_products_with_gaps_and_backpressure(dut):
    cfg = tb_config()
    rng = random.Random(cfg["seed"])
    params = design_from_dict(cfg["unit"])
    kind = params.kind
    unit = build_unit(params)
    tb = MatrixUnitTB(dut, unit, rng)
    await tb.reset()

    products = random_products(unit, kind, rng, cfg["products"])
    chunks = [tb.pack_chunk(*chunk) for act, weights in products
              for chunk in chunk_product(unit, kind, act, weights)]
    expected = [expected_result(kind, act, weights) for act, weights in products]
    timeout = 20 * len(chunks) + 100
    start = time.perf_counter()
    results = await tb.run(chunks, len(products), cfg["gap"], cfg["stall"], timeout)
    run_s = time.perf_counter() - start
    check_results(products, expected, results)

    if "summary" in cfg:
        with open(cfg["summary"], "w") as f:
            json.dump({"products": len(products), "chunks": len(chunks), "cycles": tb.cycle,
                       "run_s": run_s}, f)
