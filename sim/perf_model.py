"""Analytic cycle model of the accelerator running one layer through the host driver.

The model follows the hardware's documented timing block by block (no per-cycle loop, so a
2048 x 2048 layer with 64 tokens takes milliseconds) and is checked against the RTL's own
counters in ``tests/test_rtl_perf_model.py``. Assumptions: the host keeps the command
stream full (every beat offered as soon as the accelerator can take it) and the response
stream never pushes back; commands are those of :class:`~tritforge.sim.driver.Driver`
after a ``CLEAR``, followed by ``READ_STATUS``.

The model is exact under these assumptions, for every valid configuration (random
configurations are compared with the RTL in the tests). When the host leaves idle cycles on
the command stream or the response stream pushes back, the real counts can only grow:
``model_layer(..., link_stalls=True)`` returns the same figures marked as a lower bound
(``LayerTiming.exact`` is false).

Timing rules (cycle numbers; ``L`` is the matrix unit's latency, ``G`` the beats of a
result group):

* command decoder: every beat is parsed a cycle after it arrives (the input register),
  at one beat per cycle; a header and each argument take a beat; a load spends two more cycles
  (check, bank) before its payload, then one beat per cycle; ``RUN`` spends two check cycles,
  decides in the next cycle after one in which the sequencer is idle (its busy reaches the
  decoder through a register) and starts it a cycle later (the strobe is a register);
  ``READ_RESULTS`` and ``READ_STATUS`` decide once no response is being sent (the decoder
  sees a packet end two cycles after its last beat) and start their packer a cycle later
  (a register);
* sequencer: busy from the cycle after its start; chunk ``j`` enters the unit at
  ``start + 2 + j`` unless the accumulator buffer holds it back; busy ends two cycles after
  the unit's last result was accepted, ``L`` cycles after the last chunk;
* accumulator buffer: a row block's first chunk enters the unit two cycles after the
  packer released the block's half (the half of the block two before it, across runs),
  the sequencer holding it back till then; a complete block is readable three cycles
  after its last update (read, add, write);
* result packer: reads a token every ``G`` cycles (its ``G`` beats follow), one cycle
  after the read; releases a half when it reads the block's last token.
"""

from dataclasses import dataclass, field

from ..hdl.accumulator_buffer import HALVES
from ..hdl.units import accelerator_unit_latency
from ..spec.params import check_params
from .driver import plan_matmul

__all__ = ["LayerTiming", "model_layer", "unit_latency"]

#: Cycles of a load before its payload: header, count, check, bank.
_LOAD_SETUP = 4
#: Beats of a RUN (header and three arguments) plus its two check cycles.
_RUN_SETUP = 6


@dataclass
class LayerTiming:
    """Modeled cycles of one layer.

    ``counters`` are what ``READ_STATUS`` after the layer reports (same names as
    :data:`~tritforge.spec.protocol.COUNTERS`). ``total`` runs from the first beat of the
    layer's first command to its last result beat, and is split into ``compute`` (a chunk
    enters the unit), ``wait_out`` (stalled by the accumulator buffer, plus the tail from
    the end of the last run to the last result beat), ``overhead`` (busy without either:
    start and drain of each run) and ``wait_in`` (the rest: the unit idle, waiting for the
    input link to deliver the next run's data).
    """
    total: int
    compute: int
    wait_in: int
    wait_out: int
    overhead: int
    runs: int
    counters: dict = field(default_factory=dict)
    #: False when the link stalls: then every figure is a lower bound.
    exact: bool = True

    def fractions(self):
        """The split as fractions of ``total``."""
        return {name: getattr(self, name) / self.total
                for name in ("compute", "wait_in", "wait_out", "overhead")}


def unit_latency(params):
    """The matrix unit's latency in the accelerator built from ``params``."""
    return accelerator_unit_latency(params)


class _Timeline:
    """State carried from one run to the next."""

    def __init__(self, origin):
        self.decoder = origin        # cycle the decoder's states take the next header beat
        self.sequencer_free = 0      # first cycle a RUN can start the sequencer
        self.packer_free = 0         # first cycle a READ_RESULTS can start the packer
        self.released = []           # per global row block: cycle its half is free again
        self.busy = self.compute = self.stall_out = 0
        self.last_beat = origin
        self.last_run_end = origin


def model_layer(params, tokens, k, n, *, latency=None, status_delay=2, link_stalls=False):
    """:class:`LayerTiming` of ``Y[tokens x n] = X[tokens x k] . W^T`` on ``params``.

    ``latency`` defaults to :func:`unit_latency`. ``status_delay``: cycles from the last
    result beat to the ``READ_STATUS`` header (the driver asks for the status once it has
    the results; 2 for cocotbext-axi's sink and source; negative when the header was sent
    before, and waits for the results to leave), which only the ``cycles`` and ``stall_in``
    counters see. ``link_stalls``: the host leaves idle cycles on the command
    stream or pushes back on the responses; the figures are then lower bounds
    (``exact`` false), except ``compute`` and ``macs``, which stay exact.
    """
    check_params(params)
    latency = unit_latency(params) if latency is None else latency
    # CLEAR: header on the link at cycle 0, parsed at 1, executed at 2; the next header is
    # parsed at 3; the counters see the clear a cycle later and count from cycle 4 on.
    origin = 4
    line = _Timeline(origin - 1)
    parts = plan_matmul(params, tokens, k, n)
    macs = 0
    for part in parts:
        part_tokens, part_k, part_n = part.shape
        chunks, blocks = params.chunks(part_k), params.row_blocks(part_n)
        if part.load_acts:
            line.decoder += _LOAD_SETUP + part_tokens * chunks * params.chunk_beats
        line.decoder += _LOAD_SETUP + chunks * blocks * params.tile_beats
        _run(params, line, part_tokens, chunks, blocks, latency)
        macs += part_tokens * part_k * part_n
    # READ_STATUS: its header comes status_delay cycles after the last result beat, is
    # parsed a cycle later and decided the next cycle, not before the decoder has seen the
    # results leave (two cycles after their last beat); the snapshot follows a cycle later
    # (the strobe is a register).
    snapshot = line.last_beat + max(status_delay + 2, 2) + 1
    cycles = snapshot - origin
    counters = {"cycles": cycles, "busy": line.busy, "compute": line.compute,
                "stall_in": cycles - line.busy, "stall_out": line.stall_out, "macs": macs}
    total = line.last_beat - origin + 1
    tail = line.last_beat + 1 - line.last_run_end
    overhead = line.busy - line.compute - line.stall_out
    wait_out = line.stall_out + tail
    return LayerTiming(total=total, compute=line.compute, wait_out=wait_out, overhead=overhead,
                       wait_in=total - line.compute - wait_out - overhead, runs=len(parts),
                       counters=counters, exact=not link_stalls)


def _run(params, line, tokens, chunks, blocks, latency):
    """One RUN and its READ_RESULTS, appended to ``line``."""
    # The decoder hands the run over once it sees the sequencer idle (its busy reaches the
    # decoder through a register); the strobe is a register too.
    start = max(line.decoder + _RUN_SETUP, line.sequencer_free + 1) + 1
    read = max(start + 1, line.packer_free)      # READ_RESULTS header, then its decision
    line.decoder = read + 1
    issue = start + 2
    fetch = read + 2                             # the packer's start strobe is a register
    group_beats = params.group_beats
    per_block = tokens * chunks
    for _ in range(blocks):
        block = len(line.released)
        free = line.released[block - HALVES] + 1 if block >= HALVES else 0
        # The block's first chunk waits for its half: claimable the cycle after `free`.
        delay = max(0, free + 1 - issue)
        line.stall_out += delay
        issue += delay
        last_accept = issue + per_block - 1 + latency
        issue += per_block
        # The packer reads the block's tokens once it is complete.
        first_fetch = max(fetch, last_accept + 3)
        last_fetch = first_fetch + (tokens - 1) * group_beats
        line.released.append(last_fetch)
        fetch = last_fetch + group_beats
    end = last_accept + 2
    line.busy += end - (start + 1)
    line.compute += per_block * blocks
    line.sequencer_free = end
    line.last_run_end = end
    line.last_beat = fetch
    line.packer_free = fetch + 2
