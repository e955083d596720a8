"""cocotb testbench of the accelerator top (:class:`tritforge.hdl.accelerator.Accelerator`).

Run through :func:`tritforge.sim.runner.run_cocotb` (``tests/test_rtl_accelerator.py``);
the configuration arrives with :func:`~tritforge.sim.runner.tb_config`:

``params``
    The accelerator's :class:`~tritforge.spec.params.AcceleratorParams` as a dict
    (:func:`~tritforge.sim.build.tb_params` reads it back).
``seed``
    Seed of every random choice.
``layers``, ``max_shape``
    Random layers of :func:`random_layers` and their largest ``[T, K, N]``.
``idle``, ``backpressure``
    Probabilities of an idle cycle on the command stream and of backpressure on the response
    stream; lists, taken in turn by each layer (or bad command) so that one run covers several.
``summary``
    File name (in the build folder) for the JSON summary of what was checked.
``bitnet_layer``, ``bitnet_model``, ``checkpoint_model``
    What the model tests run (each test's docstring).

Verification IP: cocotbext-axi ``AxiStreamSource`` / ``AxiStreamSink`` (through
:class:`~tritforge.sim.axis_transport.AxisTransport`), with pause generators for idle cycles
on the command stream and backpressure on the response stream. Every result is compared
with the golden :func:`~tritforge.golden.quant.ternary_matmul` by :class:`Scoreboard`.
"""

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import cocotb
import numpy as np
import torch
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

from ..golden.quant import quantize_activations, ternary_matmul
from ..spec.formats import BASE3_LIMIT, weights_per_byte
from ..spec.io import write_text_atomic
from ..spec.protocol import COUNTERS, ErrorCode, Opcode, StatusFlag
from . import protocol
from .axis_transport import AxisTransport
from .build import tb_params
from .bulk import BulkRunner, first_mismatch
from .driver import Driver, plan_matmul
from .layer import bitlinear_on_rtl, model_logits_on_rtl
from .runner import tb_config

PERIOD_NS = 10
#: A response that takes longer than this is a hang.
TIMEOUT_CYCLES = 500_000


# --- stimulus -------------------------------------------------------------------------------

def pauses(rng, probability):
    """Pause generator: ``True`` (pause this cycle) with ``probability``, forever."""
    while True:
        yield rng.random() < probability


def random_layer(rng, max_shape, act_bits, *, exact_shape=False):
    """A random ``(x_q, w_t)`` as torch tensors: :func:`random_layer_numpy`."""
    return tuple(torch.from_numpy(a) for a in random_layer_numpy(rng, max_shape, act_bits,
                                                                exact_shape=exact_shape))


def random_layer_numpy(rng, max_shape, act_bits, *, exact_shape=False, gen=None):
    """A random ``(x_q, w_t)`` (int16, int8 arrays): shape up to ``max_shape`` (exactly it with
    ``exact_shape``), random sparsity, and sometimes the extreme inputs that reach the
    accumulator's largest magnitude. Shapes from ``rng`` (``random.Random``), values from the
    numpy generator ``gen`` (by default a new one seeded from ``rng``; the batch runs, which
    draw thousands of layers, pass one: making a generator costs more than a small layer)."""
    t, k, n = max_shape if exact_shape else (rng.randint(1, size) for size in max_shape)
    gen = np.random.default_rng(rng.getrandbits(32)) if gen is None else gen
    low, high = -2 ** (act_bits - 1), 2 ** (act_bits - 1)
    if rng.random() < 0.1:
        return (np.full((t, k), low, dtype=np.int16),
                np.full((n, k), rng.choice((-1, 1)), dtype=np.int8))
    x = gen.integers(low, high, (t, k), dtype=np.int16)
    zeros = rng.random()
    w = gen.integers(-1, 2, (n, k), dtype=np.int8)
    w[gen.random((n, k)) < zeros] = 0
    return x, w


def golden_product(x_q, w_t):
    """``x_q @ w_t.T`` as int32 through a float64 matmul: exact (every partial sum of a layer
    that fits an int32 accumulator is far below 2**53) and ~10x faster than
    :func:`~tritforge.golden.quant.ternary_matmul` on small layers. No input checks:
    :func:`check_batch` compares it with ``ternary_matmul`` on a layer of every batch."""
    return (x_q.astype(np.float64) @ w_t.T.astype(np.float64)).astype(np.int32)


# --- checking -------------------------------------------------------------------------------

@dataclass
class Scoreboard:
    """Compares results with the golden integer matmul, bit for bit.

    :meth:`check` raises ``AssertionError`` at the first mismatch with its coordinates: the
    token and output row, the part (``RUN``) it belongs to and the cycle its results
    arrived, the inputs, the expected and the received value.
    """
    layers: int = 0
    results: int = 0
    log: list = field(default_factory=list)

    def check(self, x_q, w_t, got, parts, expected=None):
        expected = ternary_matmul(x_q, w_t).numpy() if expected is None else expected
        if got.shape != expected.shape:
            raise AssertionError(f"result shape {got.shape}, expected {expected.shape}")
        wrong = np.argwhere(got != expected)
        if len(wrong):
            t, n = (int(v) for v in wrong[0])
            where = [f"part tokens {p.t0}:{p.t1} k {p.k0}:{p.k1} n {p.n0}:{p.n1} (results at "
                     f"cycle {cycle})" for p, cycle in parts
                     if p.t0 <= t < p.t1 and p.n0 <= n < p.n1]
            raise AssertionError(
                f"mismatch at token {t}, output {n} of a [{x_q.shape[0]} x {x_q.shape[1]}] . "
                f"[{w_t.shape[1]} x {w_t.shape[0]}] layer ({len(wrong)} wrong values): "
                f"expected {expected[t, n]}, got {got[t, n]}; x[{t}] = {_short(x_q[t])}, "
                f"w_t[{n}] = {_short(w_t[n])}; {'; '.join(where)}")
        self.layers += 1
        self.results += got.size


def _short(row, limit=12):
    values = [int(v) for v in row[:limit]]
    return f"{values}{' ...' if len(row) > limit else ''}"


# --- bench ----------------------------------------------------------------------------------

class TB:
    """Clock, reset, the transport with its pause generators, the driver and the scoreboard.

    Build it with ``await TB.create(dut, params)``: the reset is asserted before the first
    clock edge and the verification IP is attached while it is, so nothing samples the
    design before it has been reset; ``create`` returns once the reset is released.
    """

    def __init__(self, dut, params, transport):
        self.dut = dut
        self.params = params
        self.transport = transport
        self.driver = Driver(params, transport)
        self.scoreboard = Scoreboard()

    @classmethod
    async def create(cls, dut, params):
        width = len(dut.s_axis_tdata)
        if width != params.stream_width:
            raise AssertionError(f"DUT s_axis_tdata has {width} bits, params say "
                                 f"stream_width = {params.stream_width}")
        dut.rst.value = 1
        if hasattr(dut, "bulk"):        # the harness (sim/harness.py): its ports pass through
            for name in ("bulk", "start", "dump"):
                getattr(dut, name).value = 0
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        await RisingEdge(dut.clk)
        tb = cls(dut, params, AxisTransport(dut, PERIOD_NS, timeout_cycles=TIMEOUT_CYCLES))
        await tb.reset()
        return tb

    def set_link_pauses(self, rng, config, index):
        """Idle cycles on the command stream and backpressure on the response stream with
        the probabilities ``config["idle"][index]`` and ``config["backpressure"][index]``
        (each list taken in turn)."""
        idle, backpressure = config["idle"], config["backpressure"]
        self.transport.source.set_pause_generator(pauses(rng, idle[index % len(idle)]))
        self.transport.sink.set_pause_generator(pauses(rng, backpressure[index % len(backpressure)]))

    async def reset(self, cycles=3):
        self.dut.rst.value = 1
        self.transport.flush()
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def matmul_checked(self, x_q, w_t, expected=None):
        got = await self.driver.matmul(x_q, w_t)
        self.scoreboard.check(x_q, w_t, got, self.driver.parts, expected)
        return got

    async def expect_status(self, error=ErrorCode.NONE, flags=StatusFlag(0), *, may_run=False):
        """Check the status error and flags (``RUNNING`` ignored when ``may_run``: a run
        that may or may not have finished by the time the status is read)."""
        status = await self.driver.status()
        errors = frozenset() if error == ErrorCode.NONE else frozenset({error})
        seen = status.flags & ~StatusFlag.RUNNING if may_run else status.flags
        if (status.error, status.errors, seen) != (error, errors, flags):
            raise AssertionError(f"status error {status.error.name}, errors "
                                 f"{sorted(e.name for e in status.errors)}, flags {status.flags!r}; "
                                 f"expected {error.name}, {sorted(e.name for e in errors)}, {flags!r}")
        return status


def _setup():
    config = tb_config()
    return config, tb_params(), random.Random(config.get("seed", 1))


def _write_summary(config, test, **values):
    path = Path(config.get("summary", "summary.json"))
    summary = json.loads(path.read_text()) if path.exists() else {}
    summary[test] = values
    write_text_atomic(path, json.dumps(summary, indent=1))


# --- tests ----------------------------------------------------------------------------------

@cocotb.test()
async def random_layers(dut):
    """Random layer shapes (split by the driver when over capacity), random idle cycles on
    the command stream and backpressure on the response stream, every result checked."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    max_shape = config.get("max_shape", [2 * params.max_tokens, 3 * params.cols, 3 * params.rows])
    start, started = tb.transport.now(), time.perf_counter()
    for index in range(config["layers"]):
        tb.set_link_pauses(rng, config, index)
        x_q, w_t = random_layer(rng, max_shape, params.act_bits)
        await tb.matmul_checked(x_q, w_t)
    await tb.expect_status()
    _write_summary(config, "random_layers", layers=tb.scoreboard.layers,
                   results=tb.scoreboard.results, commands=tb.driver.commands_sent,
                   cycles=tb.transport.now() - start, sim_s=round(time.perf_counter() - started, 3))


@cocotb.test()
async def bulk_random_layers(dut):
    """``bulk_layers`` random layers through the harness (:mod:`~tritforge.sim.bulk`): see
    :func:`random_batches` and :func:`check_batch`. Summary: layers, results, batches,
    cycles, ``sim_s`` (wall time of the batches: encoding, simulation and checking)."""
    config, params, rng = _setup()
    runner = await BulkRunner.create(dut, params, PERIOD_NS)
    scoreboard, started, count = Scoreboard(), time.perf_counter(), 0
    for batch, seed, link in random_batches(runner, params, rng, {**config, "layers": config["bulk_layers"]}):
        dut._log.info(f"batch {count}: {len(batch.layers)} layers, seed {seed:#010x}, {link}")
        check_batch(params, batch, *await runner.run(batch, seed=seed, **link), scoreboard,
                    f"batch {count} (seed {seed:#010x}, {link})")
        count += 1
    _write_summary(config, "bulk_random_layers", layers=scoreboard.layers, results=scoreboard.results,
                   batches=count, cycles=runner.cycles, sim_s=round(time.perf_counter() - started, 3))


def random_batches(runner, params, rng, config):
    """Yield ``(batch, seed, link)``: ``config["layers"]`` random layers (:func:`random_layer_numpy`,
    up to ``max_shape``) in batches of at most ``batch_layers`` (16) that fit ``runner.depth``
    beats, each with a seed and the link pauses (``idle`` / ``backpressure`` of ``config``,
    taken in turn) for the runner's ``run``."""
    max_shape = config.get("max_shape", [2 * params.max_tokens, 3 * params.cols, 3 * params.rows])
    idle, backpressure = config["idle"], config["backpressure"]
    left, index, pending = config["layers"], 0, None
    gen = np.random.default_rng(rng.getrandbits(32))
    while left:
        batch = runner.new_batch()
        while left and len(batch.layers) < config.get("batch_layers", 16):
            x_q, w_t = pending or random_layer_numpy(rng, max_shape, params.act_bits, gen=gen)
            pending = None
            if not batch.add(x_q, w_t, runner.depth):
                if not batch.layers:
                    raise ValueError(f"a layer of shape {list(x_q.shape)} x {list(w_t.shape)} "
                                     f"does not fit the harness's {runner.depth} beats")
                pending = x_q, w_t
                break
            left -= 1
        yield batch, rng.getrandbits(32), {"idle": idle[index % len(idle)],
                                           "backpressure": backpressure[index % len(backpressure)]}
        index += 1


def check_batch(params, batch, results, status, scoreboard, label):
    """Compare each layer of ``batch`` with the golden matmul (:class:`Scoreboard`, the
    first wrong value with the cycle of its beat) and the closing status with no error;
    ``label`` (batch, seed, pauses) starts any failure's message."""
    for index, ((x_q, w_t), layer) in enumerate(zip(batch.layers, results)):
        expected = golden_product(x_q, w_t)
        if index == 0 and not np.array_equal(
                expected, ternary_matmul(torch.from_numpy(x_q), torch.from_numpy(w_t)).numpy()):
            raise AssertionError(f"{label}, layer 0: golden_product differs from ternary_matmul")
        mismatch = first_mismatch(params, layer, expected)
        if mismatch is not None:
            try:
                scoreboard.check(x_q, w_t, *mismatch, expected)
            except AssertionError as failure:
                raise AssertionError(f"{label}, layer {index}: {failure}") from None
        scoreboard.layers += 1
        scoreboard.results += expected.size
    if status.error != ErrorCode.NONE or status.flags:
        raise AssertionError(f"{label}: status error {status.error.name}, flags {status.flags!r} "
                             f"after its layers")


@cocotb.test()
async def status_counters(dut):
    """The counters after one layer: MACs, chunks computed, the cycle classes add up."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    await tb.driver.clear()
    start = tb.transport.now()
    x_q, w_t = random_layer(rng, [params.max_tokens, 2 * params.cols, 2 * params.rows], params.act_bits)
    await tb.matmul_checked(x_q, w_t)
    status = await tb.expect_status()
    elapsed = tb.transport.now() - start
    c = status.counters
    tokens, k = x_q.shape
    n = w_t.shape[0]
    chunks_fed = sum(p.shape[0] * params.chunks(p.shape[1]) * params.row_blocks(p.shape[2])
                     for p, _ in tb.driver.parts)
    checks = {
        "macs": (c["macs"], tokens * k * n),
        "compute": (c["compute"], chunks_fed),
        "cycles = busy + stall_in": (c["cycles"], c["busy"] + c["stall_in"]),
    }
    for name, (got, expected) in checks.items():
        if got != expected:
            raise AssertionError(f"counter {name}: {got}, expected {expected} ({c})")
    if not (c["busy"] >= c["compute"] + c["stall_out"] and 0 < c["cycles"] <= elapsed):
        raise AssertionError(f"counters inconsistent with {elapsed} cycles since CLEAR: {c}")
    _write_summary(config, "status_counters", shape=[tokens, k, n], counters=c, elapsed=elapsed)


@cocotb.test()
async def bad_commands(dut):
    """Each bad command latches its error, drops its payload, and CLEAR recovers."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    cases = bad_command_cases(params, rng)
    for index, (name, (packets, error, flags)) in enumerate(cases.items()):
        tb.set_link_pauses(rng, config, index)
        await tb.driver.clear()
        for packet in packets:
            await tb.driver.send(packet)
        try:
            await tb.expect_status(error, flags, may_run=bool(flags & StatusFlag.RESULTS_PENDING))
        except AssertionError as failure:
            raise AssertionError(f"bad command {name}: {failure}") from None
        await tb.driver.clear()
        await tb.expect_status()
        x_q, w_t = random_layer(rng, [2, params.cols + 1, params.rows + 1], params.act_bits)
        await tb.matmul_checked(x_q, w_t)
    await invalid_weight(tb, rng)
    _write_summary(config, "bad_commands", cases=sorted(cases) + ["invalid_weight"])


@cocotb.test()
async def reset_mid_run(dut):
    """Reset while a multi-part layer is in flight; the unit starts clean and works."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    for _ in range(config["resets"]):
        x_q, w_t = random_layer(rng, [params.max_tokens, 2 * params.cols, 3 * params.rows],
                                params.act_bits)
        task = cocotb.start_soon(tb.driver.matmul(x_q, w_t))
        await ClockCycles(dut.clk, rng.randint(20, 400))
        task.cancel()
        await tb.reset()
        status = await tb.expect_status()
        if status.counters["macs"] or status.counters["busy"]:
            raise AssertionError(f"counters survived the reset: {status.counters}")
        x_q, w_t = random_layer(rng, [3, 2 * params.cols, 2 * params.rows], params.act_bits)
        await tb.matmul_checked(x_q, w_t)
    _write_summary(config, "reset_mid_run", layers=tb.scoreboard.layers)


@cocotb.test()
async def perf_layers(dut):
    """Counters of whole layers for the cycle model (``perf_shapes``: list of [T, K, N];
    nothing to do without it). The command stream is kept full and the response stream
    never pushes back, the model's assumptions, unless ``idle`` / ``backpressure`` are
    given (the model is then a lower bound)."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    measured = []
    for index, (tokens, k, n) in enumerate(config.get("perf_shapes", [])):
        if "idle" in config:
            tb.set_link_pauses(rng, config, index)
        x_q, w_t = random_layer(rng, [tokens, k, n], params.act_bits, exact_shape=True)
        await tb.driver.clear()
        got = await tb.driver.matmul(x_q, w_t, lookahead=len(plan_matmul(params, tokens, k, n)))
        tb.scoreboard.check(x_q, w_t, got, tb.driver.parts)
        status = await tb.expect_status()
        measured.append({"shape": [tokens, k, n], "counters": status.counters})
    _write_summary(config, "perf_layers", layers=measured)


def bitnet(config):
    """The frozen tiny BitNet model and the prompt's token ids ``[1, T]``.

    ``model``: ``"tiny"`` (the trained model, :func:`tritforge.golden.tiny_model`) or
    ``"random"`` (seeded random weights, no training).
    """
    from ..golden import PRESETS, BitNetModel, tiny_model
    if config.get("model", "tiny") == "tiny":
        model = tiny_model()
    else:
        torch.manual_seed(config.get("seed", 0))
        model = BitNetModel(PRESETS["tiny"]).freeze().eval()
    ids = torch.tensor([list(config["prompt"].encode())], dtype=torch.int64)
    return model, ids


@cocotb.test()
async def bitnet_layer(dut):
    """One BitLinear of the tiny BitNet model on the activations it sees for the prompt:
    integer product and float output equal to the golden ones (``bitnet_layer`` config:
    ``model``, ``prompt``, ``layer`` index into the model's BitLinears)."""
    config, params, _ = _setup()
    tb = await TB.create(dut, params)
    layer = config["bitnet_layer"]
    model, ids = bitnet(layer)
    name, linear = model.bitlinears()[layer.get("layer", 0)]
    seen = []
    handle = linear.register_forward_hook(lambda module, args, output: seen.append((args[0], output)))
    with torch.no_grad():
        model(ids)
    handle.remove()
    x, y_golden = seen[0]
    x = x.reshape(-1, x.shape[-1])
    await tb.driver.clear()
    y, y_int, _ = await bitlinear_on_rtl(tb.driver, linear, x)
    x_q, _ = quantize_activations(x, linear.act_bits)
    tb.scoreboard.check(x_q, linear.quantized_weights()[0], y_int.numpy(), tb.driver.parts)
    status = await tb.expect_status()
    match = bool(torch.equal(y, y_golden.reshape(y.shape)))
    if not match:
        raise AssertionError(f"{name}: float output differs from the golden BitLinear's")
    c = status.counters
    _write_summary(config, "bitnet_layer", name=name, shape=[x.shape[0], linear.in_features,
                   linear.out_features], match=match, cycles=c["cycles"], compute=c["compute"],
                   busy=c["busy"], macs=c["macs"], runs=len(tb.driver.parts),
                   utilisation=c["compute"] / c["cycles"],
                   mac_utilisation=c["macs"] / (c["cycles"] * params.rows * params.cols))


@cocotb.test()
async def bitnet_model(dut):
    """The whole tiny BitNet model on the prompt, every BitLinear on the RTL: the logits
    equal the golden model's bit for bit (``bitnet_model`` config: ``model``, ``prompt``)."""
    config, params, _ = _setup()
    tb = await TB.create(dut, params)
    model, ids = bitnet(config["bitnet_model"])
    with torch.no_grad():
        golden = model(ids)
    await tb.driver.clear()
    logits, calls = await model_logits_on_rtl(tb.driver, model, ids)
    status = await tb.expect_status()
    if not torch.equal(logits, golden):
        worst = (logits - golden).abs().max().item()
        raise AssertionError(f"logits differ from the golden model's (max |diff| {worst})")
    if len(calls) != len(model.bitlinears()):
        raise AssertionError(f"{len(calls)} products ran on the RTL, the model has "
                             f"{len(model.bitlinears())} BitLinears")
    _write_summary(config, "bitnet_model", tokens=ids.shape[1], matmuls=len(calls),
                   names=[call.name for call in calls], cycles=status.counters["cycles"],
                   compute=status.counters["compute"], macs=status.counters["macs"])


def first_difference(got, expected, position=0):
    """Where logits ``[B, T, vocab]`` first differ from the golden ones, as text (``None``
    when they are equal); ``position`` is the sequence position of ``got[:, 0]``."""
    if got.shape != expected.shape:
        return f"logits of shape {tuple(got.shape)}, golden {tuple(expected.shape)}"
    wrong = torch.nonzero(got != expected)
    if not len(wrong):
        return None
    batch, t, token = (int(i) for i in wrong[0])
    return (f"sequence {batch}, position {position + t}, token id {token}: RTL {got[batch, t, token].item()!r}, "
            f"golden {expected[batch, t, token].item()!r} ({len(wrong)} of {got.numel()} logits differ)")


@cocotb.test()
async def checkpoint_model(dut):
    """A checkpoint folder's model, every BitLinear on the RTL: the prompt, then greedy
    decoding with the KV cache, one token per step. Each step's logits must equal the pure
    golden model's (its own KV cache) bit for bit. Each product runs as the cycle model
    assumes (``counted``: ``CLEAR``, full command stream, ``READ_STATUS``), and its counters
    are recorded.

    ``checkpoint_model`` config: ``checkpoint`` (folder for
    :func:`~tritforge.golden.load_checkpoint`), ``ids`` (the prompt's token ids),
    ``max_new_tokens`` (0: the prompt's logits only). Summary: ``ids`` (generated),
    ``logits_equal``, ``first_difference``, ``matmuls`` (name, shape ``[T, K, N]`` and
    counters of each product), ``counters`` (their sums), ``cycles`` (their ``cycles``
    sum), ``sim_cycles`` (every cycle simulated, ``CLEAR`` and status reads included),
    ``sim_s`` (seconds from reset to the last step, the golden reference included).
    """
    from ..golden import load_checkpoint
    config, params, _ = _setup()
    run = config["checkpoint_model"]
    model = load_checkpoint(run["checkpoint"])
    started = time.perf_counter()
    tb = await TB.create(dut, params)
    fresh = torch.tensor([run["ids"]], dtype=torch.int64)
    cache, golden_cache = model.new_cache(), model.new_cache()
    new_tokens = run.get("max_new_tokens", 0)
    generated, calls, difference = [], [], None
    start = tb.transport.now()
    for step in range(max(new_tokens, 1)):
        position = len(cache)
        with torch.no_grad():
            golden = model(fresh, cache=golden_cache, last_only=step > 0)
        logits, step_calls = await model_logits_on_rtl(tb.driver, model, fresh, cache=cache,
                                                       last_only=step > 0, counted=True)
        calls += step_calls
        difference = first_difference(logits, golden, position + fresh.shape[1] - logits.shape[1])
        if difference is not None:
            break
        if new_tokens:
            fresh = logits[:, -1].argmax(dim=-1, keepdim=True)
            generated.append(int(fresh))
    counters = {name: sum(call.counters[name] for call in calls) for name in COUNTERS}
    _write_summary(config, "checkpoint_model", ids=generated, logits_equal=difference is None,
                   first_difference=difference, steps=step + 1,
                   matmuls=[{"name": c.name, "shape": list(c.shape), "counters": c.counters} for c in calls],
                   counters=counters, cycles=counters["cycles"], sim_cycles=tb.transport.now() - start,
                   sim_s=round(time.perf_counter() - started, 2))
    if difference is not None:
        raise AssertionError(f"step {step}: logits differ from the golden model's at {difference}")


# --- bad command catalogue ------------------------------------------------------------------

def bad_command_cases(params, rng):
    """``{name: (packets, expected error, expected flags)}``: one case per way a command can
    be bad. The flags show a ``RUN`` left waiting for its results by some cases."""
    p = params
    beat = bytes(p.bytes_per_beat)
    tile, chunk = bytes(p.tile_beats * p.bytes_per_beat), bytes(p.chunk_beats * p.bytes_per_beat)
    cmd = protocol.encode_command
    chunk_k = min(min(p.chunks(p.max_k), p.act_depth) * p.cols, p.max_k)

    def raw(header, *beats):
        return header.to_bytes(4, "little") + bytes(p.bytes_per_beat - 4) + b"".join(beats)

    def arg(value):
        return value.to_bytes(4, "little") + bytes(p.bytes_per_beat - 4)

    def run(tokens, k, n, bank=0):
        return cmd(p, Opcode.RUN, (tokens, k, n), weight_bank=bank, act_bank=bank)

    x_q, w_t = random_layer(rng, [2, p.cols, p.rows], p.act_bits)
    loads = [protocol.load_weights(p, 0, protocol.pack_tiles(p, w_t)),
             protocol.load_acts(p, 0, protocol.pack_chunks(p, x_q))]
    good_run = run(x_q.shape[0], x_q.shape[1], w_t.shape[0])
    load_w = Opcode.LOAD_WEIGHTS
    cases = {
        "unknown_opcode": ([raw(0xEE, beat, beat)], ErrorCode.OPCODE),
        "opcode_zero_alone": ([raw(0x00)], ErrorCode.OPCODE),
        "load_header_only": ([raw(load_w)], ErrorCode.LENGTH),
        "load_without_payload": ([raw(load_w, arg(1))], ErrorCode.LENGTH),
        "load_zero_tiles": ([raw(load_w, arg(0), tile)], ErrorCode.ZERO_SIZE),
        # Values are checked before the payload length: tlast with the count is no LENGTH.
        "load_zero_tiles_no_payload": ([raw(load_w, arg(0))], ErrorCode.ZERO_SIZE),
        "load_zero_chunks_no_payload": ([raw(Opcode.LOAD_ACTS, arg(0))], ErrorCode.ZERO_SIZE),
        "load_over_capacity_no_payload": ([raw(load_w, arg(p.weight_depth + 1))], ErrorCode.CAPACITY),
        "load_over_capacity": ([raw(load_w, arg(p.weight_depth + 1), tile, tile)], ErrorCode.CAPACITY),
        "load_acts_over_capacity": ([raw(Opcode.LOAD_ACTS, arg(2 ** 32 - 1), chunk)], ErrorCode.CAPACITY),
        "load_short": ([raw(load_w, arg(3), tile, tile)], ErrorCode.LENGTH),
        "load_long": ([raw(Opcode.LOAD_ACTS, arg(1), chunk, chunk, beat)], ErrorCode.LENGTH),
        "load_cut_mid_item": ([raw(load_w, arg(1), tile[:-p.bytes_per_beat])]
                              if p.tile_beats > 1 else [raw(load_w, arg(2), tile)], ErrorCode.LENGTH),
        "run_missing_argument": ([raw(Opcode.RUN, arg(1), arg(1))], ErrorCode.LENGTH),
        "run_extra_beat": ([raw(Opcode.RUN, arg(1), arg(1), arg(1), beat)], ErrorCode.LENGTH),
        "run_zero_tokens": ([run(0, 1, 1)], ErrorCode.ZERO_SIZE),
        "run_zero_k": ([run(1, 0, 1)], ErrorCode.ZERO_SIZE),
        "run_zero_n": ([run(1, 1, 0)], ErrorCode.ZERO_SIZE),
        "run_too_many_tokens": ([run(p.max_tokens + 1, 1, 1)], ErrorCode.CAPACITY),
        "run_k_over_max_k": ([run(1, p.max_k + 1, 1)], ErrorCode.CAPACITY),
        "run_n_over_bank": ([run(1, 1, p.weight_depth * p.rows + 1)], ErrorCode.CAPACITY),
        "run_huge_k": ([run(1, 2 ** 32 - 1, 1)], ErrorCode.CAPACITY),
        "run_tiles_over_bank": ([run(1, 2 * p.cols, (p.weight_depth // 2 + 1) * p.rows)]
                                if p.weight_depth > 1 and p.max_k >= 2 * p.cols
                                else [run(1, 1, p.weight_depth * p.rows + 1)], ErrorCode.CAPACITY),
        "run_chunks_over_bank": ([run(p.max_tokens, chunk_k, 1)]
                                 if p.max_tokens * p.chunks(chunk_k) > p.act_depth
                                 else [run(p.max_tokens + 1, 1, 1)], ErrorCode.CAPACITY),
        "read_results_without_run": ([protocol.read_results(p)], ErrorCode.NO_RESULTS),
        "read_status_with_payload": ([raw(Opcode.READ_STATUS, beat)], ErrorCode.LENGTH),
        "clear_with_payload": ([raw(Opcode.CLEAR, beat)], ErrorCode.LENGTH),
    }
    cases = {name: (packets, error, StatusFlag(0)) for name, (packets, error) in cases.items()}
    pending = StatusFlag.RESULTS_PENDING
    cases.update({
        "run_before_results_read": (loads + [good_run, good_run], ErrorCode.RESULTS_PENDING, pending),
        "load_into_bank_of_unread_run": (loads + [good_run, loads[0]], ErrorCode.BANK_BUSY, pending),
        "load_acts_into_bank_of_unread_run": (loads + [good_run, loads[1]], ErrorCode.BANK_BUSY, pending),
        "load_into_bank_of_unread_run_no_payload": (loads + [good_run, raw(load_w, arg(1))],
                                                    ErrorCode.BANK_BUSY, pending),
    })
    for name, (packets, _, _) in cases.items():
        for packet in packets:
            assert len(packet) % p.bytes_per_beat == 0, name
    return cases


async def invalid_weight(tb, rng):
    """Invalid packed weights contribute zero and latch INVALID_WEIGHT; results still come."""
    p = tb.params
    x_q, w_t = random_layer(rng, [3, 2 * p.cols, 2 * p.rows], p.act_bits)
    tiles = [bytearray(t) for t in protocol.pack_tiles(p, w_t)]
    per_byte = weights_per_byte(p.weight_format)
    # A byte that encodes no weights: four code-3 weights, or a base-3 value >= 243.
    bad_byte = 0xFF if p.weight_format == "2bit" else BASE3_LIMIT + 7
    expected_w = w_t.clone()
    row = rng.randrange(min(p.rows, w_t.shape[0]))                           # a real output row
    byte = rng.randrange(min(p.weight_row_bytes, -(-w_t.shape[1] // per_byte)))  # real inputs
    tiles[0][row * p.weight_row_bytes + byte] = bad_byte
    expected_w[row, byte * per_byte:(byte + 1) * per_byte] = 0
    await tb.driver.clear()
    await tb.driver.send(protocol.load_weights(p, 0, [bytes(t) for t in tiles]))
    await tb.driver.send(protocol.load_acts(p, 0, protocol.pack_chunks(p, x_q)))
    await tb.driver.send(protocol.run(p, x_q.shape[0], x_q.shape[1], w_t.shape[0], weight_bank=0, act_bank=0))
    await tb.driver.send(protocol.read_results(p))
    got = protocol.decode_results(p, await tb.transport.recv(), x_q.shape[0], w_t.shape[0])
    tb.scoreboard.check(x_q, expected_w, got, [])
    await tb.expect_status(ErrorCode.INVALID_WEIGHT)
    await tb.driver.clear()
    await tb.expect_status()
