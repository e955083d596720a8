"""cocotb fuzzer of the accelerator top: random command streams against a model of the protocol.

Run through :func:`tritforge.sim.build.run_accelerator` (``tests/test_rtl_fuzz.py``); the
configuration (:func:`~tritforge.sim.runner.tb_config`): ``params``, ``seed``, ``episodes``,
``commands`` (hostile commands per episode), ``idle`` / ``backpressure`` (lists of pause
probabilities, one taken per episode) and ``summary``.

An *episode* is a seeded random stream of commands: valid and unknown opcodes, zero, fitting,
over-capacity and huge sizes, arguments missing or extra, payloads whole, short, cut inside
an item or too long, runs, reads of results and status, ``CLEAR``, and sometimes a reset in
the middle of a packet. :class:`ProtocolModel` follows the decoder's rules
(:data:`~tritforge.spec.protocol.CHECKS`) and the banks' contents, so every status response
is compared with the errors and flags it predicts and every result packet with the integer
products of what the banks hold. Each response must come within a bound derived from what
was sent since the previous one (the watchdog): otherwise the accelerator hangs. The episode
ends with ``CLEAR``, a clean status and a random layer through the driver, checked exactly.

A failure names the seed and the last commands, so ``TRITFORGE_FUZZ_SEED`` replays it.
"""

from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout

from ..spec.protocol import ARGUMENTS, ErrorCode, Opcode, StatusFlag
from . import protocol
from .tb_accelerator import PERIOD_NS, TB, _setup, _write_summary, random_layer

#: Cycles a response may take beyond what the bound charges for the traffic and the runs.
WATCHDOG_BASE = 500
#: Cycles charged per beat sent and per unit of run work (pauses on both streams included).
WATCHDOG_PER_BEAT = 12


@dataclass
class Command:
    """A command packet and what it is: ``opcode`` (any byte), ``banks``, ``args`` as sent,
    and the payload ``items`` (the values each one holds) as whole beats, ``payload_beats``
    of them actually sent."""
    opcode: int
    banks: tuple
    args: list
    items: list
    packet: bytes
    payload_beats: int

    def describe(self):
        name = Opcode(self.opcode).name if self.opcode in set(Opcode) else f"opcode {self.opcode:#04x}"
        return (f"{name} banks {self.banks} args {self.args} items {len(self.items)} "
                f"payload beats {self.payload_beats} ({len(self.packet)} bytes)")


@dataclass
class ProtocolModel:
    """What the accelerator holds and reports, command by command (``spec.protocol``)."""
    params: object
    pending: bool = False
    run_banks: tuple = (0, 0)
    error: ErrorCode = ErrorCode.NONE
    errors: set = field(default_factory=set)
    weights: list = field(default_factory=lambda: [{}, {}])     # bank -> {address: tile}
    acts: list = field(default_factory=lambda: [{}, {}])        # bank -> {address: chunk}
    results: tuple = None                                       # (tokens, n, expected or None)
    failures: int = 0                                           # commands refused

    def reset(self):
        """A reset: the registers restart; the banks are unknown (a write may have been cut)."""
        self.__init__(self.params, failures=self.failures)

    def forget_banks(self):
        self.weights, self.acts = [{}, {}], [{}, {}]

    def clear(self):
        self.pending, self.error, self.errors = False, ErrorCode.NONE, set()

    def fail(self, error):
        self.failures += 1
        if self.error == ErrorCode.NONE:
            self.error = error
        self.errors.add(error)

    def execute(self, cmd):
        """Apply ``cmd``; return the response it asks for: ``None``, ``"status"`` or
        ``("results", tokens, n, expected)`` (expected ``None`` when a bank was unknown)."""
        p = self.params
        beats = len(cmd.packet) // p.bytes_per_beat
        if cmd.opcode not in set(Opcode):
            return self.fail(ErrorCode.OPCODE)
        opcode = Opcode(cmd.opcode)
        arguments = len(ARGUMENTS[opcode])
        if beats < 1 + arguments or (arguments == 0 and beats > 1) or (arguments and beats == 1):
            return self.fail(ErrorCode.LENGTH)
        if opcode == Opcode.RUN:
            return self._run(cmd, beats)
        if opcode in (Opcode.LOAD_WEIGHTS, Opcode.LOAD_ACTS):
            return self._load(opcode, cmd)
        if opcode == Opcode.READ_STATUS:
            return "status"
        if opcode == Opcode.CLEAR:
            return self.clear()
        if not self.pending:
            return self.fail(ErrorCode.NO_RESULTS)
        self.pending = False
        return ("results", *self.results)

    def _run(self, cmd, beats):
        tokens, k, n = cmd.args
        refused = ErrorCode.LENGTH if beats > 4 else self.params.check_run(tokens, k, n)
        if refused == ErrorCode.NONE and self.pending:
            refused = ErrorCode.RESULTS_PENDING
        if refused != ErrorCode.NONE:
            return self.fail(refused)
        self.pending, self.run_banks = True, cmd.banks
        self.results = (tokens, n, self._products(tokens, k, n, *cmd.banks))

    def _products(self, tokens, k, n, weight_bank, act_bank):
        """The results of a run from the banks' contents (every lane of a chunk counts: the
        hardware masks nothing), ``None`` if an item it reads is unknown."""
        p = self.params
        chunks, blocks = p.chunks(k), p.row_blocks(n)
        y = np.zeros((tokens, blocks * p.rows), dtype=np.int64)
        for b in range(blocks):
            for kc in range(chunks):
                tile = self.weights[weight_bank].get(b * chunks + kc)
                if tile is None:
                    return None
                for t in range(tokens):
                    chunk = self.acts[act_bank].get(t * chunks + kc)
                    if chunk is None:
                        return None
                    y[t, b * p.rows:(b + 1) * p.rows] += tile.astype(np.int64) @ chunk
        return y[:, :n].astype(np.int32)

    def _load(self, opcode, cmd):
        p = self.params
        weights = opcode == Opcode.LOAD_WEIGHTS
        count = cmd.args[0]
        depth, item_beats = (p.weight_depth, p.tile_beats) if weights else (p.act_depth, p.chunk_beats)
        bank = cmd.banks[0] if weights else cmd.banks[1]
        if count == 0:
            return self.fail(ErrorCode.ZERO_SIZE)
        if count > depth:
            return self.fail(ErrorCode.CAPACITY)
        if self.pending and bank == self.run_banks[0 if weights else 1]:
            return self.fail(ErrorCode.BANK_BUSY)
        if cmd.payload_beats == 0:
            return self.fail(ErrorCode.LENGTH)
        memory = (self.weights if weights else self.acts)[bank]
        for address in range(min(count, cmd.payload_beats // item_beats)):
            memory[address] = cmd.items[address]
        if cmd.payload_beats != count * item_beats:
            self.fail(ErrorCode.LENGTH)


class CommandGenerator:
    """Seeded random commands, valid and hostile (module docstring)."""

    def __init__(self, params, rng):
        self.params, self.rng = params, rng

    def size(self, fitting, limit):
        """A size: mostly within ``1..fitting``, sometimes 0, just over ``limit`` or huge."""
        r = self.rng.random()
        if r < 0.08:
            return 0
        if r < 0.16:
            return limit + self.rng.randint(1, 3)
        if r < 0.2:
            return self.rng.randrange(2 ** 32)
        return self.rng.randint(1, max(1, fitting))

    def __call__(self):
        kinds = ("load_weights", "load_acts", "run", "read_results", "read_status", "clear", "unknown")
        kind = self.rng.choices(kinds, weights=(5, 5, 6, 5, 2, 1, 1))[0]
        return getattr(self, kind)()

    def load_weights(self):
        p, rng = self.params, self.rng
        count = self.size(p.weight_depth, p.weight_depth)
        items = [np.array([[rng.choice((-1, 0, 0, 1)) for _ in range(p.cols)] for _ in range(p.rows)],
                          dtype=np.int8) for _ in range(min(count, p.weight_depth + 1))]
        packed = [protocol.pack_tiles(p, item)[0] for item in items]
        return self._load(Opcode.LOAD_WEIGHTS, count, items, packed, p.tile_beats)

    def load_acts(self):
        p, rng = self.params, self.rng
        count = self.size(min(p.act_depth, 3 * p.max_tokens), p.act_depth)
        high = 2 ** (p.act_bits - 1)
        items = [np.array([rng.randrange(-high, high) for _ in range(p.cols)], dtype=np.int64)
                 for _ in range(min(count, p.act_depth + 1))]
        packed = [protocol.pack_chunks(p, item[None, :])[0] for item in items]
        return self._load(Opcode.LOAD_ACTS, count, items, packed, p.chunk_beats)

    def _load(self, opcode, count, items, packed, item_beats):
        """A load of ``count`` items whose payload is whole, missing, short, cut inside an
        item or too long."""
        p, rng = self.params, self.rng
        beat = p.bytes_per_beat
        payload = b"".join(item + bytes(-len(item) % beat) for item in packed)
        whole = len(payload) // beat
        shape = rng.choices(("whole", "none", "short", "cut", "long"), weights=(6, 1, 1, 1, 1))[0]
        beats = {"whole": whole, "none": 0, "short": max(whole - item_beats, 0),
                 "cut": max(whole - 1, 0), "long": whole + rng.randint(1, 2 * item_beats)}[shape]
        payload = (payload + bytes(beat * max(beats - whole, 0)))[:beats * beat]
        banks = (rng.randint(0, 1), rng.randint(0, 1))
        return self._packet(opcode, banks, [count], payload, items=items, payload_beats=beats)

    def run(self):
        p, rng = self.params, self.rng
        chunk_limit = min(p.max_k, p.act_depth * p.cols)
        # Mostly small runs, so that the banks often hold all they read (results checked).
        args = [self.size(max(p.max_tokens // 2, 1), p.max_tokens),
                self.size(min(2 * p.cols, chunk_limit), p.max_k),
                self.size(2 * p.rows, p.weight_depth * p.rows)]
        # Sometimes an argument missing or an extra beat.
        count = rng.choices((3, 2, 1, 4), weights=(12, 1, 1, 1))[0]
        extra = bytes(p.bytes_per_beat) if count == 4 else b""
        return self._packet(Opcode.RUN, (rng.randint(0, 1), rng.randint(0, 1)), args[:count], extra)

    def read_results(self):
        return self._bare(Opcode.READ_RESULTS)

    def read_status(self):
        return self._bare(Opcode.READ_STATUS)

    def forget_banks(self):
        self.weights, self.acts = [{}, {}], [{}, {}]

    def clear(self):
        return self._bare(Opcode.CLEAR)

    def unknown(self):
        opcode = self.rng.choice([op for op in range(256) if op not in set(Opcode)])
        return self._packet(opcode, (0, 0), [], bytes(self.params.bytes_per_beat * self.rng.randint(0, 3)))

    def _bare(self, opcode):
        """A command without arguments, now and then with a beat too many."""
        extra = bytes(self.params.bytes_per_beat) if self.rng.random() < 0.1 else b""
        return self._packet(opcode, (0, 0), [], extra)

    def _packet(self, opcode, banks, args, payload, *, items=(), payload_beats=0):
        p = self.params
        beat = p.bytes_per_beat
        header = opcode | banks[0] << 8 | banks[1] << 9
        packet = b"".join(value.to_bytes(4, "little") + bytes(beat - 4) for value in [header, *args])
        return Command(opcode, banks, list(args), list(items), packet + payload, payload_beats)


class Fuzzer:
    """Sends commands, checks every response against the model, runs the watchdog."""

    def __init__(self, tb, seed, rng):
        self.tb, self.seed, self.rng = tb, seed, rng
        self.model = ProtocolModel(tb.params)
        self.generate = CommandGenerator(tb.params, rng)
        self.history = []
        self.debt = 0                 # cycles of traffic and runs since the last response
        self.counts = {"commands": 0, "statuses": 0, "results": 0, "checked_results": 0,
                       "resets": 0, "layers": 0}

    def failure(self, message):
        last = "\n  ".join(self.history[-15:])
        return AssertionError(f"fuzz seed {self.seed} (replay: TRITFORGE_FUZZ_SEED={self.seed}): "
                              f"{message}\n last commands:\n  {last}")

    async def send(self, cmd):
        p = self.tb.params
        self.history.append(cmd.describe())
        self.counts["commands"] += 1
        runs_before = self.model.results
        expected = self.model.execute(cmd)
        self.debt += len(cmd.packet) // p.bytes_per_beat
        if self.model.results is not runs_before:           # a run accepted: its compute time
            tokens, k, n = cmd.args
            self.debt += tokens * p.chunks(k) * p.row_blocks(n) * (1 + p.group_beats) + 50
        await self.tb.driver.send(cmd.packet)
        if expected == "status":
            await self.check_status()
        elif expected is not None:
            await self.check_results(*expected[1:])

    async def response(self):
        bound = WATCHDOG_BASE + WATCHDOG_PER_BEAT * self.debt
        try:
            packet = await with_timeout(self.tb.transport.sink.recv(), bound * PERIOD_NS, "ns")
        except SimTimeoutError:
            raise self.failure(f"hang: no response within {bound} cycles") from None
        self.debt = 0
        return bytes(packet.tdata)

    async def check_status(self):
        self.history.append("  (status)")
        self.counts["statuses"] += 1
        try:
            status = protocol.decode_status(self.tb.params, await self.response())
        except protocol.ProtocolError as error:
            raise self.failure(f"status response: {error}") from None
        pending = bool(status.flags & StatusFlag.RESULTS_PENDING)
        got = (status.error, status.errors, pending)
        want = (self.model.error, frozenset(self.model.errors), self.model.pending)
        if got != want:
            raise self.failure(f"status (first error, errors, results pending) {got}, expected {want}")

    async def check_results(self, tokens, n, expected):
        self.counts["results"] += 1
        try:
            got = protocol.decode_results(self.tb.params, await self.response(), tokens, n)
        except protocol.ProtocolError as error:
            raise self.failure(f"result response: {error}") from None
        if expected is not None:
            self.counts["checked_results"] += 1
            if not np.array_equal(got, expected):
                wrong = np.argwhere(got != expected)[0]
                raise self.failure(f"results of a {tokens} x {n} run differ at {tuple(wrong)}: "
                                   f"{got[tuple(wrong)]}, expected {expected[tuple(wrong)]}")

    async def reset_mid_command(self):
        """Start a load and reset the accelerator while its beats are still arriving."""
        cmd = self.generate.load_weights()
        self.history.append(f"{cmd.describe()}, reset while it is sent")
        await self.tb.driver.send(cmd.packet)
        beats = len(cmd.packet) // self.tb.params.bytes_per_beat
        await ClockCycles(self.tb.dut.clk, self.rng.randint(1, beats + 5))
        await self.tb.reset()
        self.model.reset()
        self.debt = 0
        self.counts["resets"] += 1

    async def episode(self, commands):
        for _ in range(commands):
            if self.rng.random() < 0.03:
                await self.reset_mid_command()
            else:
                await self.send(self.generate())
        status = self.generate._packet(Opcode.READ_STATUS, (0, 0), [], b"")
        await self.send(status)
        # After CLEAR, the next valid command computes exactly.
        self.history.append("CLEAR, then a layer through the driver")
        await self.send(self.generate._packet(Opcode.CLEAR, (0, 0), [], b""))
        await self.send(status)
        p = self.tb.params
        x_q, w_t = random_layer(self.rng, [p.max_tokens, 2 * p.cols, 2 * p.rows], p.act_bits)
        try:
            await with_timeout(self.tb.matmul_checked(x_q, w_t), 200_000 * PERIOD_NS, "ns")
        except (AssertionError, SimTimeoutError) as error:
            raise self.failure(f"the layer after CLEAR: {error!r}") from None
        part = self.tb.driver.parts[-1][0]
        self.model.forget_banks()     # the driver's loads: the banks are its business now
        self.model.run_banks = (part.weight_bank, part.act_bank)
        self.counts["layers"] += 1
        if not self.tb.transport.sink.empty():
            raise self.failure("a response nobody asked for")


@cocotb.test()
async def fuzz_commands(dut):
    """Random command streams (module docstring)."""
    config, params, rng = _setup()
    tb = await TB.create(dut, params)
    fuzzer = Fuzzer(tb, config.get("seed", 1), rng)
    start = tb.transport.now()
    for index in range(config["episodes"]):
        tb.set_link_pauses(rng, config, index)
        await fuzzer.episode(config["commands"])
    _write_summary(config, "fuzz_commands", **fuzzer.counts, refused=fuzzer.model.failures,
                   cycles=tb.transport.now() - start)
