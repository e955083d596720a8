"""Ternary matrix units in Amaranth's simulator against the golden model: shared by the
adder tree's and the lookup unit's tests."""

import random

import numpy as np
import torch
from amaranth.sim import Simulator

from tritforge.golden import ternary_matmul
from tritforge.hdl.chunk_stream import StreamDriver, check_results, stream_chunks
from tritforge.spec.formats import WeightCode

__all__ = ["ternary_expected", "simulate", "stream_and_check"]


def ternary_expected(product):
    """Golden result of one product: (acc per row, invalid); INVALID codes count as 0."""
    codes = np.array(product.weights, dtype=np.int64)
    invalid = codes == WeightCode.INVALID
    w_t = torch.tensor(np.where(invalid, 0, codes - 1), dtype=torch.int8)
    x_q = torch.tensor([product.act], dtype=torch.int16)
    return ternary_matmul(x_q, w_t)[0].tolist(), bool(invalid.any())


def simulate(unit, chunks, seed, **knobs):
    """Drive ``chunks`` through ``unit`` in Amaranth's simulator; the finished driver."""
    driver = StreamDriver(unit, chunks, random.Random(seed), **knobs)
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    sim.add_testbench(driver.amaranth_testbench)
    sim.run()
    return driver


def stream_and_check(unit, products, seed, **knobs):
    """Stream ``products``, check every result against the golden model; the count."""
    driver = simulate(unit, stream_chunks(unit, products), seed, garbage=True, **knobs)
    return check_results(products, [ternary_expected(p) for p in products], driver.results)
