"""Deliberately broken blocks, test-only: each breaks one proven property, and the tests of
tests/test_formal_*.py check that the proof of that property then fails (so it can fail)."""

from amaranth.hdl import Signal

from tritforge.hdl.accelerator import Accelerator
from tritforge.hdl.base3_decoder import Base3Decoder
from tritforge.hdl.command_decoder import CommandDecoder
from tritforge.hdl.matrix_unit import TernaryMatrixUnit
from tritforge.hdl.sequencer import Sequencer
from tritforge.spec.formats import WeightCode

#: The byte the broken decoder gets wrong: 100 = 1 + 0*3 + 2*9 + 0*27 + 1*81, trit 2 is POS.
WRONG_BYTE = 100


class WrongTritDecoder(Base3Decoder):
    """Decodes trit 2 of byte :data:`WRONG_BYTE` in lane 0 as NEG instead of POS."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        with m.If(self.packed[0] == WRONG_BYTE):
            m.d.comb += self.codes[0][2].eq(WeightCode.NEG)
        return m


class DroppedHoldUnit(TernaryMatrixUnit):
    """Withdraws a result after one cycle of backpressure (``o.valid`` falls before ``o.ready``)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        waited = Signal()
        m.d.sync += waited.eq(self.o.valid & ~self.o.ready)
        with m.If(waited):
            m.d.comb += self.o.valid.eq(0)
        return m


class DroppedHoldTop(Accelerator):
    """Withdraws a response beat after one cycle of backpressure (``m_axis_tvalid`` falls
    before ``m_axis_tready``)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        waited = Signal()
        m.d.sync += waited.eq(self.m_axis_tvalid & ~self.m_axis_tready)
        with m.If(waited):
            m.d.comb += self.m_axis_tvalid.eq(0)
        return m


class LatchedBusyDecoder(CommandDecoder):
    """Stops taking beats for good once the sequencer has been busy (as if it waited for a
    ``busy`` that never falls): a deadlock."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        seen_busy = Signal()
        m.d.sync += seen_busy.eq(seen_busy | self.sequencer_busy)
        with m.If(seen_busy):
            m.d.comb += self.s.ready.eq(0)
        return m


class ZeroCountDecoder(CommandDecoder):
    """Misses a first argument of 0: a load of 0 items (and a RUN with T = 0) is taken."""

    def _load_states(self, m, c):
        c.args[0].zero = Signal()   # never set
        super()._load_states(m, c)


class StuckSequencer(Sequencer):
    """Never ends a run once the accumulator buffer had no half free (``can_claim`` low while
    busy): a deadlock under backpressure."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        stuck = Signal()
        m.d.sync += stuck.eq(stuck | (self.busy & ~self.can_claim))
        with m.If(stuck):
            m.d.comb += self.busy.eq(1)
        return m


class NarrowAccUnit(TernaryMatrixUnit):
    """Accumulators one bit narrower than ``max_k`` and ``act_bits`` need."""

    def _required_acc_bits(self):
        return super()._required_acc_bits() - 1
