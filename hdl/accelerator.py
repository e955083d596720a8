"""The accelerator top: matrix unit, memories, sequencer and the AXI4-Stream host link."""

from amaranth.hdl import Module, Mux, ResetInserter, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..spec.params import check_params
from ..spec.protocol import COUNTERS, ERROR_MASK_SHIFT, STATUS_HEADER_WORDS, WORD_BITS, StatusFlag
from .accumulator_buffer import AccumulatorBuffer
from .activation_buffer import ActivationBuffer
from .command_decoder import CommandDecoder
from .perf_counters import PerfCounters
from .result_packer import ResultPacker
from .sequencer import Sequencer
from .status_packer import StatusPacker
from .units import accelerator_unit, accelerator_unit_latency
from .weight_memory import WeightMemory

__all__ = ["Accelerator"]


def _bit_position(flag):
    """The bit a single-bit flag sets."""
    if flag <= 0 or flag & (flag - 1):
        raise ValueError(f"{flag!r} is not a single bit")
    return flag.bit_length() - 1


class Accelerator(wiring.Component):
    """A ternary BitNet b1.58 matmul accelerator with an AXI4-Stream host link.

    Computes ``Y[T x N] = X[T x K] . W^T[K x N]`` (int8 activations, ternary weights, exact
    int32 results) for layers that fit its buffers; the host splits bigger ones. Commands
    and data arrive on ``s_axis``, responses leave on ``m_axis``, as
    :mod:`tritforge.spec.protocol` defines.

    Data path::

        s_axis -> CommandDecoder -> WeightMemory (2 banks) ----\\
                                 -> ActivationBuffer (2 banks) -> Sequencer -> matrix unit
        m_axis <- ResultPacker <- AccumulatorBuffer (2 row blocks) <-----------/
               <- StatusPacker <- PerfCounters, errors

    The matrix unit is a :class:`~tritforge.hdl.matrix_unit.TernaryMatrixUnit` (adder tree)
    or a :class:`~tritforge.hdl.lookup_matrix_unit.LookupMatrixUnit` (``unit_kind``; with
    group 5 over the ``base3`` format the weight memory hands it the packed bytes, with no
    decoder). It is built with ``max_k = cols``: it sums one chunk at a time, the
    accumulator buffer (``acc_bits`` for ``max_k``) sums the chunks. ``CLEAR`` resets the
    sequencer, the matrix unit and the accumulator buffer (a run in progress is
    abandoned), the counters and the error; memory contents stay.

    Parameters
    ----------
    params : AcceleratorParams
        The accelerator's parameters (:class:`~tritforge.spec.params.AcceleratorParams`).

    Members
    -------
    s_axis_tdata : ``In(stream_width)``
    s_axis_tvalid : ``In(1)``
    s_axis_tready : ``Out(1)``
    s_axis_tlast : ``In(1)``
        Command channel (AXI4-Stream slave; no ``tkeep``: packets are whole beats).
    m_axis_tdata : ``Out(stream_width)``
    m_axis_tvalid : ``Out(1)``
    m_axis_tready : ``In(1)``
    m_axis_tlast : ``Out(1)``
        Response channel (AXI4-Stream master).
    busy : ``Out(1)``
        The sequencer executes a ``RUN`` (e.g. for an LED).
    error : ``Out(1)``
        An error is latched (cleared by ``CLEAR``).

    The Verilog module also has ``clk`` and ``rst`` (synchronous, active high).

    Reset contract: while ``rst`` is high, from its first cycle on, ``s_axis_tready`` and
    ``m_axis_tvalid`` are low: no beat moves on either channel (a beat offered then is not
    taken, a response packet being sent is cut off). Reset empties everything but the
    memories: no error, no pending results, counters zero; the decoder waits for a header
    beat, which it takes from the first cycle ``rst`` is low. Every block of the top keeps
    the same contract on its own streams (its docstring says so).

    Raises
    ------
    TypeError
        ``params`` is not an :class:`AcceleratorParams` (which checks its own values).
    """

    def __init__(self, params):
        self._params = p = check_params(params)
        w = p.stream_width
        super().__init__({
            "s_axis_tdata": In(w), "s_axis_tvalid": In(1), "s_axis_tready": Out(1),
            "s_axis_tlast": In(1),
            "m_axis_tdata": Out(w), "m_axis_tvalid": Out(1), "m_axis_tready": In(1),
            "m_axis_tlast": Out(1),
            "busy": Out(1), "error": Out(1),
        })

    @property
    def params(self):
        return self._params

    @property
    def unit_latency(self):
        """The matrix unit's latency in cycles."""
        return accelerator_unit_latency(self._params)

    def _make_decoder(self):
        """The command decoder (a formal harness substitutes one that keeps its state
        registers, to state invariants on them)."""
        return CommandDecoder(self._params)

    def elaborate(self, platform):
        m = Module()
        p = self._params
        decoder = m.submodules.decoder = self._make_decoder()
        weights = m.submodules.weights = WeightMemory(p.rows, p.cols, p.weight_format, p.weight_depth,
                                                      raw_bytes=p.unit_reads_bytes)
        acts = m.submodules.acts = ActivationBuffer(p.cols, p.act_bits, p.act_depth)
        # Built here, not in __init__: an accelerator made only to read its parameters
        # then leaves no unused block behind.
        unit = accelerator_unit(p)
        sequencer = Sequencer(p, unit.signature, unit.latency)
        accumulators = AccumulatorBuffer(p.rows, p.partial_bits, p.acc_bits, p.max_tokens)
        # CLEAR abandons the run in progress: everything that holds part of it restarts, a
        # cycle after the strobe: from a register, the reset of a thousand flip-flops is
        # routing only (the strobe itself comes out of the decoder's state logic). No command
        # after CLEAR reaches the datapath that early.
        datapath_clear = Signal()
        m.d.sync += datapath_clear.eq(decoder.clear)
        for name, block in (("unit", unit), ("sequencer", sequencer), ("accumulators", accumulators)):
            m.submodules[name] = ResetInserter(datapath_clear)(block)
        results = m.submodules.results = ResultPacker(p)
        status = m.submodules.status = StatusPacker(p)

        m.d.comb += [
            decoder.s.payload.data.eq(self.s_axis_tdata),
            decoder.s.payload.last.eq(self.s_axis_tlast),
            decoder.s.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(decoder.s.ready),
        ]
        wiring.connect(m, decoder.weights, weights.write)
        wiring.connect(m, decoder.acts, acts.write)
        wiring.connect(m, sequencer.weights, weights.read)
        wiring.connect(m, sequencer.acts, acts.read)
        wiring.connect(m, sequencer.unit_i, unit.i)
        wiring.connect(m, unit.o, sequencer.unit_o)
        wiring.connect(m, sequencer.acc, accumulators.i)
        m.d.comb += [accumulators.claim.eq(sequencer.claim), sequencer.can_claim.eq(accumulators.can_claim)]
        wiring.connect(m, results.drain, accumulators.drain)
        m.d.comb += [
            sequencer.start.eq(decoder.run_start),
            sequencer.run.eq(decoder.run),
            decoder.sequencer_busy.eq(sequencer.busy),
            decoder.invalid_weight.eq(sequencer.invalid_weight),
            results.start.eq(decoder.read_start),
            results.read.eq(decoder.read),
            status.start.eq(decoder.status_start),
            decoder.responding.eq(results.busy | status.busy),
            self.busy.eq(sequencer.busy),
            self.error.eq(decoder.error != 0),
        ]
        self._status_words(m, status, decoder, sequencer, results)
        if p.counter_bits:
            self._counters(m, status, datapath_clear, sequencer)
        self._respond(m, results, status)
        return m

    def _counters(self, m, status, clear, sequencer):
        """The performance counters, in the status words after the first two; zeroed by
        ``clear`` (the registered ``CLEAR`` strobe, as the datapath)."""
        p = self._params
        counters = m.submodules.counters = PerfCounters(p.rows * p.cols, p.counter_bits)
        m.d.comb += counters.clear.eq(clear)
        # The sequencer reports its events under the counters' own names.
        for event in ("busy", "compute", "stall_out", "macs"):
            m.d.comb += getattr(counters, event).eq(getattr(sequencer, event))
        for index, name in enumerate(COUNTERS):
            value = getattr(counters.counters, name)
            for part in range(p.counter_words):
                word = STATUS_HEADER_WORDS + index * p.counter_words + part
                m.d.comb += status.words[word].eq(value[part * WORD_BITS:(part + 1) * WORD_BITS])

    def _status_words(self, m, status, decoder, sequencer, results):
        # Each flag is one bit: wire it to its position (a product with the flag's value
        # would be a multiplier for synthesis to fold).
        for flag, value in ((StatusFlag.RUNNING, sequencer.busy),
                            (StatusFlag.RESULTS_PENDING, decoder.results_pending),
                            (StatusFlag.STREAMING, results.busy)):
            m.d.comb += status.words[1][_bit_position(flag)].eq(value)
        m.d.comb += status.words[0].eq(decoder.error | (decoder.errors << ERROR_MASK_SHIFT))

    def _respond(self, m, results, status):
        """One response packet at a time: the decoder starts a packer only when both idle."""
        m.d.comb += [
            self.m_axis_tvalid.eq(results.o.valid | status.o.valid),
            self.m_axis_tdata.eq(Mux(results.busy, results.o.payload.data, status.o.payload.data)),
            self.m_axis_tlast.eq(Mux(results.busy, results.o.payload.last, status.o.payload.last)),
            results.o.ready.eq(self.m_axis_tready),
            status.o.ready.eq(self.m_axis_tready),
        ]
