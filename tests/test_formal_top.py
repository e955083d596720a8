"""Formal proofs of the accelerator top and its command decoder (flows/formal.py,
flows/properties.py), each with a test-only mutation that must make its proof fail.

All three are bounded (BMC from reset, every register at its reset value, ``rst`` free): the
whole top is too big for Yosys's SAT solver to close an induction step, and the decoder's
induction steps (up to 12 and 20 steps tried) start from states no command sequence reaches
(its one-hot state register with no state set, PAYLOAD with the input idle), which the
decoder's ports cannot rule out."""

import pytest

from tritforge.flows.formal import prove
from tritforge.flows.properties import DecoderResponseHarness, RefusedCommandHarness, TopStreamHoldHarness
from tritforge.spec.params import AcceleratorParams

from formal_mutants import DroppedHoldTop, LatchedBusyDecoder, ZeroCountDecoder

#: The smallest accelerator the parameter checks allow that still has two of everything the
#: checks compare (2 columns, 2 tiles and chunks per bank): 1 x 2, 2-bit activations, K <= 4,
#: T <= 1, no counters (the status packet is 2 words).
TINY = AcceleratorParams(rows=1, cols=2, act_bits=2, max_k=4, weight_depth=2, act_depth=2,
                         max_tokens=1, counter_bits=0)
#: The decoder's environment: ``busy`` and ``responding`` high at most this many cycles in a row.
FAIRNESS = 3

#: name: (harness, its arguments, the mutant block that breaks it, BMC depth in `make test`,
#: BMC depth in `make test-full`). Depths: 15 cycles cover a READ_STATUS and its packet (the
#: first response beat ~6 cycles after the header); 20 a RUN's four beats, its checks and a
#: full wait on the sequencer; 12 a few refused commands with payload.
PROPERTIES = {
    "top_stream_hold": (TopStreamHoldHarness, (TINY,), DroppedHoldTop, 15, 30),
    "decoder_no_deadlock": (DecoderResponseHarness, (TINY, FAIRNESS), LatchedBusyDecoder, 20, 30),
    "refused_commands_change_nothing": (RefusedCommandHarness, (TINY,), ZeroCountDecoder, 12, 20),
}


def _prove(name, depth_index, block=None):
    harness, args, _, *depths = PROPERTIES[name]
    built = harness(*args) if block is None else harness(*args, block=block)
    return prove(built, "bmc", depth=depths[depth_index])


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_holds_bmc(name):
    result = _prove(name, 0)
    assert result.proven, result.log[-2000:]


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_fails_with_its_mutant(name):
    assert not _prove(name, 0, block=PROPERTIES[name][2]).proven


@pytest.mark.slow
@pytest.mark.parametrize("name", PROPERTIES)
def test_property_holds_bmc_deep(name):
    result = _prove(name, 1)
    assert result.proven, result.log[-2000:]


def test_decoder_response_bound_is_tight():
    # One cycle less than the bound fails: the bound is the decoder's, not a loose one.
    harness = DecoderResponseHarness(TINY, FAIRNESS)
    harness.bound = lambda: FAIRNESS + DecoderResponseHarness.OVERHEAD - 1
    assert not prove(harness, "bmc", depth=PROPERTIES["decoder_no_deadlock"][3]).proven
