"""The worked byte-level example of ``docs/accelerator.md``: every beat of one small layer.

The commands are encoded by :mod:`.protocol` and run through the accelerator top in Amaranth's
simulator (:func:`.top_sim.exchange`); the responses shown are the ones the RTL sent. The
Markdown goes between ``<!-- begin generated: example -->`` and ``<!-- end generated: example -->``
of the docs; ``tests/test_spec_contract.py`` regenerates it and fails when the docs differ::

    python -m tritforge.sim.contract_example --write docs/accelerator.md
"""

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..spec.contract import WORKED_EXAMPLE, replace_block, unit_latency
from ..spec.formats import pack_weights
from ..spec.protocol import COUNTERS, ErrorCode, StatusFlag
from . import protocol
from .top_sim import exchange

__all__ = ["BLOCK", "X", "W", "Example", "run_example", "counting_window", "render_example", "main"]

BLOCK = "example"
#: The layer: T = 2 tokens, K = 6 inputs, N = 3 outputs (neither a multiple of the 2 x 4 unit,
#: so the example shows the padding), with the extreme activations -128 and 127.
X = np.array([[1, -2, 3, -4, 5, -6], [-128, 127, 0, 7, -1, 2]])
W = np.array([[1, 0, -1, 1, -1, 0], [0, 1, 1, -1, 0, -1], [-1, -1, 0, 1, 1, 1]])
WEIGHT_BANK, ACT_BANK = 1, 0


@dataclass(frozen=True)
class Example:
    """The example's command packets (name, bytes) and what the RTL answered."""
    params: object
    commands: list
    trace: object


def run_example(params=WORKED_EXAMPLE):
    """``CLEAR``, both loads, ``RUN``, ``READ_RESULTS`` and ``READ_STATUS`` of :data:`X` and
    :data:`W`, back to back, through the RTL."""
    tokens, k = X.shape
    commands = [
        ("CLEAR", protocol.clear(params)),
        ("LOAD_ACTS", protocol.load_acts(params, ACT_BANK, protocol.pack_chunks(params, X))),
        ("LOAD_WEIGHTS", protocol.load_weights(params, WEIGHT_BANK, protocol.pack_tiles(params, W))),
        ("RUN", protocol.run(params, tokens, k, len(W), weight_bank=WEIGHT_BANK, act_bank=ACT_BANK)),
        ("READ_RESULTS", protocol.read_results(params)),
        ("READ_STATUS", protocol.read_status(params)),
    ]
    return Example(params, commands, exchange(params, [packet for _, packet in commands], 2))


# --- what each beat means -------------------------------------------------------------------

def command_meanings(params, name):
    """One text per beat of the example's command ``name``."""
    p = params
    tokens, k = X.shape
    chunks, blocks = p.chunks(k), p.row_blocks(len(W))
    if name == "LOAD_ACTS":
        items = [_chunk_meaning(p, index, *divmod(index, chunks)) for index in range(tokens * chunks)]
        return [f"header: `LOAD_ACTS`, act_bank {ACT_BANK}", f"argument `chunks` = {len(items)}",
                *_item_beats(items, p.chunk_beats)]
    if name == "LOAD_WEIGHTS":
        items = [_tile_meaning(p, index, *divmod(index, chunks)) for index in range(blocks * chunks)]
        return [f"header: `LOAD_WEIGHTS`, weight_bank {WEIGHT_BANK}", f"argument `tiles` = {len(items)}",
                *_item_beats(items, p.tile_beats)]
    if name == "RUN":
        return [f"header: `RUN`, weight_bank {WEIGHT_BANK}, act_bank {ACT_BANK}",
                f"argument `tokens` = {tokens}", f"argument `k` = {k}", f"argument `n` = {len(W)}"]
    return [f"header: `{name}`"]


def _item_beats(items, beats):
    return [item if beats == 1 else f"{item} (beat {i} of {beats})" for item in items for i in range(beats)]


def _lanes(params, kc, k):
    """``(inputs of chunk kc's lanes, how many are real)`` for a layer of ``k`` inputs."""
    first = kc * params.cols
    return f"inputs {first}..{first + params.cols - 1}", max(0, min(params.cols, k - first))


def _with_padding(values, real):
    """Lane values as text, the padding lanes marked."""
    parts = [" ".join(values[:real]), f"padding {' '.join(values[real:])}" if values[real:] else ""]
    return " + ".join(part for part in parts if part)


def _chunk_meaning(params, index, t, kc):
    inputs, real = _lanes(params, kc, X.shape[1])
    values = [str(v) for v in X[t, kc * params.cols:kc * params.cols + real]] + ["0"] * (params.cols - real)
    return f"chunk {index} (t {t}, kc {kc}): X[{t}, {inputs}] = {_with_padding(values, real)}"


def _tile_meaning(params, index, b, kc):
    inputs, real = _lanes(params, kc, W.shape[1])
    rows = []
    for r in range(params.rows):
        n = b * params.rows + r
        row = np.zeros(params.cols, dtype=np.int64)
        if n < len(W):
            row[:real] = W[n, kc * params.cols:kc * params.cols + real]
        packed = pack_weights(row[None, :], params.weight_format).tobytes()
        codes = [str(w + 1) for w in row]
        where = f"output {n}" if n < len(W) else f"output {n} (padding)"
        rows.append(f"row {r} = {where}: codes {_with_padding(codes, real if n < len(W) else 0)} "
                    f"→ `{packed.hex()}`")
    return f"tile {index} (b {b}, kc {kc}, {inputs}): " + "; ".join(rows)


def results_meanings(params):
    """One text per word of the example's result packet."""
    tokens, n = X.shape[0], len(W)
    group_words = params.group_beats * params.words_per_beat
    y = X @ W.T
    words = []
    for b in range(params.row_blocks(n)):
        for t in range(tokens):
            for r in range(group_words):
                output = b * params.rows + r
                if r >= params.rows:
                    words.append("0 (group padding)")
                elif output >= n:
                    words.append(f"block {b}, token {t}, row {r}: output {output} (padding) = 0")
                else:
                    words.append(f"block {b}, token {t}, row {r}: Y[{t}, {output}] = {y[t, output]}")
    return words


def status_meanings(params, packet):
    """One text per word of a status packet."""
    status = protocol.decode_status(params, packet)
    errors = ", ".join(sorted(error.name for error in status.errors)) or "none"
    words = [f"error {ErrorCode(status.error).name}, error set: {errors}",
             f"flags: {_flag_names(status.flags)}"]
    for name in COUNTERS if params.counter_words else ():
        for part in range(params.counter_words):
            half = "" if params.counter_words == 1 else (" low word" if part == 0 else " high word")
            words.append(f"`{name}`{half}" + (f" = {status.counters[name]}" if part == 0 else ""))
    padding = params.status_beats * params.words_per_beat - len(words)
    return words + ["0 (padding)"] * padding


def _flag_names(flags):
    return " \\| ".join(flag.name for flag in StatusFlag if flags & flag) or "none"


# --- Markdown -------------------------------------------------------------------------------

def render_example(example=None):
    """The docs block: the layer, then every beat of every packet with its meaning."""
    example = example or run_example()
    p, trace = example.params, example.trace
    sections = [_intro(p, trace)]
    responses = iter(zip(trace.responses, trace.response_end_cycles))
    for (name, packet), cycle in zip(example.commands, trace.header_cycles):
        sections.append(f"**{name}** (command, header beat at cycle {cycle}):\n\n"
                        + _beat_table(p, packet, command_meanings(p, name)))
        if name in ("READ_RESULTS", "READ_STATUS"):
            response, end = next(responses)
            meanings = results_meanings(p) if name == "READ_RESULTS" else status_meanings(p, response)
            sections.append(f"**{name} response** (last beat at cycle {end}):\n\n"
                            + _beat_table(p, response, _per_beat(p, meanings)))
    sections.append(_window_note(example))
    return "\n\n".join(sections) + "\n"


def _intro(p, trace):
    tokens, k = X.shape
    return (
        "<!-- generated by `python -m tritforge.sim.contract_example --write docs/accelerator.md`: "
        "the commands from sim/protocol.py's encoders, the responses from the RTL (Amaranth's "
        "simulator) -->\n\n"
        f"Configuration: `{_params_text(p)}`: a {p.rows} x {p.cols} unit, `{p.weight_format}` weights, "
        f"`act_bits` {p.act_bits}, `W` = {p.stream_width}, `counter_bits` {p.counter_bits}, "
        f"`pipeline` {p.pipeline} (`L` = {unit_latency(p.cols, p.pipeline)}). A tile has "
        f"{p.tile_bits} bits ({p.tile_beats} beat), a chunk {p.chunk_bits} bits ({p.chunk_beats} "
        f"beat), a result group {p.rows} words ({p.group_beats} beats), the status "
        f"{p.status_words} words.\n\n"
        f"Layer: `T` = {tokens}, `K` = {k}, `N` = {len(W)}, so `KC` = {p.chunks(k)}, `NB` = "
        f"{p.row_blocks(len(W))}; weights in bank {WEIGHT_BANK}, activations in bank {ACT_BANK}.\n\n"
        f"```\nX = {_matrix(X)}\nW = {_matrix(W)}\nY = X . W^T = {_matrix(X @ W.T)}\n```\n\n"
        "The host sends the six commands back to back and keeps `m_axis_tready` high; cycle 0 "
        "is the cycle the `CLEAR` header beat moves. `tdata` is shown as a number (bit 0 on the "
        "right), bytes in link order (byte 0 first).")


def _params_text(p):
    default = type(p)()
    changed = [f"{field.name}={getattr(p, field.name)!r}" for field in dataclasses.fields(p)
               if getattr(p, field.name) != getattr(default, field.name)]
    return f"AcceleratorParams({', '.join(changed)})"


def _matrix(a):
    return "[" + ", ".join("[" + ", ".join(str(v) for v in row) + "]" for row in a.tolist()) + "]"


def _per_beat(p, word_meanings):
    per = p.words_per_beat
    return ["; ".join(word_meanings[i:i + per]) for i in range(0, len(word_meanings), per)]


def _beat_table(p, packet, meanings):
    size = p.bytes_per_beat
    beats = [packet[i:i + size] for i in range(0, len(packet), size)]
    if len(beats) != len(meanings):
        raise ValueError(f"{len(beats)} beats but {len(meanings)} meanings")
    lines = ["| beat | `tdata` | `tlast` | bytes | meaning |", "|---:|---|---|---|---|"]
    for index, (beat, meaning) in enumerate(zip(beats, meanings)):
        value = f"0x{int.from_bytes(beat, 'little'):0{2 * size}x}"
        last = int(index == len(beats) - 1)
        lines.append(f"| {index} | `{value}` | {last} | `{beat.hex(' ')}` | {meaning} |")
    return "\n".join(lines)


def counting_window(example):
    """``(cycle CLEAR executed, cycle READ_STATUS took its snapshot)`` by the docs' rule:
    three cycles after the header beat, or after the last beat of a response then in
    flight if later."""
    trace = example.trace
    clear_executes = trace.header_cycles[0] + 3
    status_header, results_end = trace.header_cycles[-1], trace.response_end_cycles[0]
    return clear_executes, max(status_header + 3, results_end + 3)


def _window_note(example):
    status = protocol.decode_status(example.params, example.trace.responses[1])
    clear_executes, snapshot = counting_window(example)
    in_flight = example.trace.header_cycles[-1] + 1 <= example.trace.response_end_cycles[0]
    when = ("the results were still being sent, so it took its snapshot three cycles after their "
            "last beat" if in_flight else "no response was in flight, so it took its snapshot three "
            "cycles after its header")
    return (
        f"`cycles` = {status.counters['cycles']}: `CLEAR` executed in cycle {clear_executes}; when "
        f"the `READ_STATUS` header moved, {when}, cycle {snapshot}; the counters counted cycles "
        f"{clear_executes + 1} to {snapshot - 1}. `busy` = `2 + F + L` = 2 + "
        f"{status.counters['compute']} + {unit_latency(example.params.cols, example.params.pipeline)}.")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tritforge.sim.contract_example",
                                     description="Rewrite the worked example block of the docs.")
    parser.add_argument("--write", metavar="DOC", type=Path, required=True)
    args = parser.parse_args(argv)
    args.write.write_text(replace_block(args.write.read_text(), render_example(), BLOCK))
    return 0


if __name__ == "__main__":
    sys.exit(main())
