"""cocotb testbench of a matrix unit's Verilog (``TernaryMatrixUnit`` or ``IntMatrixUnit``).

Random dot products of random lengths go in as chunks with random input gaps, results come
out under random backpressure, and a scoreboard checks every result against the golden
model's exact integer product. The products, chunks, valid/ready decisions and scoreboard
are :mod:`tritforge.hdl.chunk_stream`'s (the Amaranth tests use the same); this module only
runs the clock and moves the driver's values to and from the simulator's signals.

Configuration (``tb_config()``): ``unit`` (the unit's
:class:`~tritforge.spec.params.UnitParams` as :meth:`~tritforge.spec.params.UnitParams.to_dict`
gives it), ``products``, ``gap`` and ``stall`` (probabilities), ``seed``, optionally
``garbage`` (random payload in input gaps, default off), ``summary`` (a JSON file the
testbench writes its counts to: ``products``, ``chunks``, ``cycles``, ``run_s``).
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
from ..hdl.chunk_stream import StreamDriver, check_results, random_products, stream_chunks
from ..hdl.units import build_unit
from ..spec.io import write_text_atomic
from ..spec.params import design_from_dict
from .runner import tb_config


async def reset(dut):
    """Start the clock, hold reset for three cycles with both streams idle."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def run(dut, driver):
    """Each cycle: drive what ``driver`` decides after the falling edge, then feed it the
    handshakes in the read-only phase before the rising edge."""
    while not driver.finished:
        await FallingEdge(dut.clk)
        valid, payload, ready = driver.drive()
        if payload is not None:
            dut.i__payload.value = payload
        if valid is not None:
            dut.i__valid.value = int(valid)
        if ready is not None:
            dut.o__ready.value = int(ready)
        await ReadOnly()
        o_valid = bool(dut.o__valid.value)
        driver.sample(bool(dut.i__ready.value), o_valid,
                      dut.o__payload.value.to_unsigned() if o_valid else None)


def expected_result(kind, product):
    """The golden ``(acc per row, invalid)`` of a product (weight codes for ternary)."""
    act, weights = np.array(product.act, dtype=np.int64), np.array(product.weights, dtype=np.int64)
    if kind == "int":
        return (weights @ act).tolist(), False
    w_t = torch.tensor(weights - 1, dtype=torch.int8)
    return ternary_matmul(torch.tensor(act[None]), w_t)[0].tolist(), False


@cocotb.test()
async def random_products_with_gaps_and_backpressure(dut):
    cfg = tb_config()
    rng = random.Random(cfg["seed"])
    params = design_from_dict(cfg["unit"])
    unit = build_unit(params)
    await reset(dut)

    products = random_products(unit, rng, cfg["products"])
    chunks = stream_chunks(unit, products)
    expected = [expected_result(params.kind, product) for product in products]
    driver = StreamDriver(unit, chunks, rng, gap=cfg["gap"], stall=cfg["stall"],
                          garbage=cfg.get("garbage", False))
    start = time.perf_counter()
    await run(dut, driver)
    run_s = time.perf_counter() - start
    check_results(products, expected, driver.results)

    if "summary" in cfg:
        write_text_atomic(cfg["summary"], json.dumps({"products": len(products), "chunks": len(chunks),
                                                      "cycles": driver.cycle, "run_s": run_s}))
