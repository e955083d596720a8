"""cocotb testbench of the board top (:class:`tritforge.hdl.board.BoardTop`): the accelerator
behind its UART link, driven through its pins by the same host code that talks to a board.

Run through :func:`tritforge.sim.build.run_board_top` (``tests/test_rtl_board.py``); the
configuration (:func:`~tritforge.sim.runner.tb_config`) has ``params`` and ``link``, and:

``summary``
    File name for the JSON summary.
``model``, ``prompt``
    The BitNet model (``"tiny"``: the trained one) and the prompt's text.
``layer``
    ``resident_layer`` and ``link_faults``: the index of the BitLinear to run.
``new_tokens``
    ``resident_model``: tokens decoded greedily after the prompt.
``reset_cycles``
    ``link_faults``: cycles after the product's start at which the board is reset.

Verification IP: cocotbext-uart (:class:`~tritforge.sim.cocotb_uart.UartChannel`) under
:class:`~tritforge.sim.link.FramedLink`, :class:`~tritforge.sim.link.LinkTransport` and
:class:`~tritforge.sim.board.BoardDriver`: frames, retries, resident weights and all.
"""

import json
import time
from pathlib import Path

import cocotb
import numpy as np
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from ..golden.quant import quantize_activations, ternary_matmul
from ..spec.io import write_text_atomic
from .board import BoardDriver
from .build import tb_link, tb_params
from .cocotb_uart import UartChannel
from .layer import model_logits_on_rtl
from .link import FramedLink, LinkTransport
from .runner import tb_config
from .tb_accelerator import first_difference

PERIOD_NS = 10


class BoardTB:
    """Clock, reset, the UART channel and the board driver (resident weights)."""

    def __init__(self, dut, params, link, channel):
        self.dut = dut
        self.params = params
        self.channel = channel
        self.link = FramedLink(params, link, channel)
        self.driver = BoardDriver(params, LinkTransport(self.link))

    @classmethod
    async def create(cls, dut):
        params, link = tb_params(), tb_link()
        dut.rst.value = 1
        dut.rx.value = 1
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        await RisingEdge(dut.clk)
        tb = cls(dut, params, link, UartChannel(dut, PERIOD_NS, link.baud_divider))
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await RisingEdge(dut.clk)
        return tb

    async def reset_after(self, cycles):
        """Reset the board ``cycles`` cycles from now, for three cycles."""
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0

    def stats(self):
        return dict(self.link.stats)


def _write_summary(config, test, **values):
    path = Path(config.get("summary", "summary.json"))
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary[test] = values
    write_text_atomic(path, json.dumps(summary, indent=1))


def _model(config):
    from ..golden import tiny_model
    if config.get("model", "tiny") != "tiny":
        raise ValueError(f"model must be 'tiny', not {config['model']!r}")
    return tiny_model(), torch.tensor([list(config["prompt"].encode())], dtype=torch.int64)


def _layer_input(model, ids, index):
    """``(name, w_t, x_q)``: a BitLinear's ternary weights and the quantized activations of
    the prompt's last token at its input."""
    name, linear = model.bitlinears()[index]
    seen = []
    handle = linear.register_forward_hook(lambda module, args, output: seen.append(args[0]))
    with torch.no_grad():
        model(ids)
    handle.remove()
    x = seen[0].reshape(-1, seen[0].shape[-1])[-1:]
    x_q, _ = quantize_activations(x, linear.act_bits)
    return name, linear.quantized_weights()[0].numpy(), x_q.numpy()


async def _checked_product(tb, x_q, w_t, what):
    y = await tb.driver.matmul(x_q, w_t)
    expected = ternary_matmul(torch.from_numpy(x_q), torch.from_numpy(w_t)).numpy()
    wrong = np.argwhere(y != expected)
    if len(wrong):
        t, n = (int(v) for v in wrong[0])
        raise AssertionError(f"{what}: token {t}, output {n}: board {y[t, n]}, golden {expected[t, n]} "
                             f"({len(wrong)} values differ)")
    return y


@cocotb.test()
async def resident_layer(dut):
    """One BitLinear of the tiny model, one token, weights resident: exact; the cycles of
    the product, its frames and bytes for the link model."""
    config = tb_config()
    tb = await BoardTB.create(dut)
    model, ids = _model(config)
    name, w_t, x_q = _layer_input(model, ids, config["layer"])
    await tb.driver.load_weights(name, w_t)
    loaded = tb.stats()
    start = tb.channel.now()
    await _checked_product(tb, x_q, w_t, name)
    cycles = tb.channel.now() - start
    status = await tb.driver.check()
    after = tb.stats()
    _write_summary(config, "resident_layer", name=name, shape=[*x_q.shape, w_t.shape[0]], cycles=cycles,
                   store_words=tb.driver.store_used, load=loaded,
                   product={key: after.get(key, 0) - loaded.get(key, 0) for key in after},
                   macs=status.counters["macs"])


@cocotb.test()
async def link_faults(dut):
    """A flipped bit, a truncated frame and a reset of the board in the middle of a product:
    each noticed, each product still exact."""
    config = tb_config()
    tb = await BoardTB.create(dut)
    model, ids = _model(config)
    name, w_t, x_q = _layer_input(model, ids, config["layer"])
    await tb.driver.load_weights(name, w_t)
    faults = {}
    for fault, damage in (("flipped_bit", lambda data: data[:8] + bytes([data[8] ^ 0x10]) + data[9:]),
                          ("truncated", lambda data: data[:len(data) // 2])):
        first = tb.channel.writes
        tb.channel.corrupt = lambda index, data, damage=damage: damage(data) if index == first else data
        before = tb.stats()
        await _checked_product(tb, x_q, w_t, f"{name} after a {fault} frame")
        tb.channel.corrupt = None
        faults[fault] = {key: value - before.get(key, 0) for key, value in tb.stats().items()}
    recoveries = tb.driver.recoveries
    reset = cocotb.start_soon(tb.reset_after(config.get("reset_cycles", 2000)))
    await _checked_product(tb, x_q, w_t, f"{name} across a reset")
    await reset
    if tb.driver.recoveries != recoveries + 1:
        raise AssertionError(f"the reset went unnoticed (recoveries {tb.driver.recoveries})")
    await tb.driver.check()
    _write_summary(config, "link_faults", faults=faults, recoveries=tb.driver.recoveries)


@cocotb.test()
async def resident_model(dut):
    """The whole tiny model with every weight resident: the prompt, then ``new_tokens``
    tokens decoded greedily with the KV cache, every BitLinear on the board top through the
    UART; each step's logits equal the golden model's bit for bit."""
    config = tb_config()
    started = time.perf_counter()
    tb = await BoardTB.create(dut)
    model, fresh = _model(config)
    words = await tb.driver.load_model({name: linear.quantized_weights()[0].numpy()
                                        for name, linear in model.bitlinears()})
    loaded = tb.stats()
    cache, golden_cache = model.new_cache(), model.new_cache()
    steps, generated = [], []
    for step in range(config.get("new_tokens", 0) + 1):
        start = tb.channel.now()
        with torch.no_grad():
            golden = model(fresh, cache=golden_cache, last_only=step > 0)
        logits, calls = await model_logits_on_rtl(tb.driver, model, fresh, cache=cache, last_only=step > 0)
        difference = first_difference(logits, golden, len(cache) - logits.shape[1])
        if difference is not None:
            raise AssertionError(f"step {step}: logits differ from the golden model's at {difference}")
        steps.append({"tokens": fresh.shape[1], "cycles": tb.channel.now() - start, "products": len(calls)})
        fresh = logits[:, -1].argmax(dim=-1, keepdim=True)
        generated.append(int(fresh))
    _write_summary(config, "resident_model", store_words=words, load=loaded, steps=steps, ids=generated,
                   stats=tb.stats(), sim_s=round(time.perf_counter() - started, 1))
