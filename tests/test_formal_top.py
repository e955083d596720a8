"""Formal proofs of the accelerator top and its command decoder (flows/formal.py,
flows/properties.py), each with a test-only mutation that must make its proof fail.

The whole top is too big for induction with Yosys's SAT solver (its induction step finds
unreachable states of the packers and the decoder), so its stream rule is bounded (BMC from
reset); the decoder's properties are inductive on a tiny configuration."""

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
#: BMC depths of the top's stream rule: 15 cycles cover a READ_STATUS and its packet (the
#: first response beat ~6 cycles after the header); 30 cycles (make test-full, ~4 min).
TOP_DEPTH, TOP_DEPTH_SLOW = 15, 30


def test_top_response_stream_holds_bmc():
    result = prove(TopStreamHoldHarness(TINY), "bmc", depth=TOP_DEPTH)
    assert result.proven, result.log[-2000:]


def test_top_hold_proof_fails_when_valid_is_dropped():
    assert not prove(TopStreamHoldHarness(TINY, block=DroppedHoldTop), "bmc", depth=TOP_DEPTH).proven


@pytest.mark.slow
def test_top_response_stream_holds_bmc_deep():
    result = prove(TopStreamHoldHarness(TINY), "bmc", depth=TOP_DEPTH_SLOW)
    assert result.proven, result.log[-2000:]


#: No-deadlock proof of the decoder: ``busy`` and ``responding`` high at most FAIRNESS cycles
#: in a row; bounded from reset (the induction step finds unreachable states of the one-hot
#: state register that never take a beat), DECODER_DEPTH cycles: a RUN's four beats, its checks
#: and a full wait on the sequencer fit.
FAIRNESS, DECODER_DEPTH, DECODER_DEPTH_SLOW = 3, 20, 30


def test_decoder_never_stalls_beyond_its_bound_bmc():
    result = prove(DecoderResponseHarness(TINY, FAIRNESS), "bmc", depth=DECODER_DEPTH)
    assert result.proven, result.log[-2000:]


def test_decoder_response_proof_fails_when_it_deadlocks():
    harness = DecoderResponseHarness(TINY, FAIRNESS, block=LatchedBusyDecoder)
    assert not prove(harness, "bmc", depth=DECODER_DEPTH).proven


def test_decoder_response_bound_is_tight():
    # One cycle less than the bound fails: the bound is the decoder's, not a loose one.
    harness = DecoderResponseHarness(TINY, FAIRNESS)
    harness.bound = lambda: FAIRNESS + DecoderResponseHarness.OVERHEAD - 1
    assert not prove(harness, "bmc", depth=DECODER_DEPTH).proven


@pytest.mark.slow
def test_decoder_never_stalls_beyond_its_bound_bmc_deep():
    result = prove(DecoderResponseHarness(TINY, FAIRNESS), "bmc", depth=DECODER_DEPTH_SLOW)
    assert result.proven, result.log[-2000:]


#: Refused commands change nothing: bounded from reset (the induction step, up to 12 steps,
#: starts from states only accepted commands reach, e.g. PAYLOAD with the input idle).
REFUSED_DEPTH, REFUSED_DEPTH_SLOW = 12, 20


def test_refused_commands_change_nothing_bmc():
    result = prove(RefusedCommandHarness(TINY), "bmc", depth=REFUSED_DEPTH)
    assert result.proven, result.log[-2000:]


def test_refusal_proof_fails_when_a_zero_count_is_missed():
    assert not prove(RefusedCommandHarness(TINY, block=ZeroCountDecoder), "bmc", depth=REFUSED_DEPTH).proven


@pytest.mark.slow
def test_refused_commands_change_nothing_bmc_deep():
    result = prove(RefusedCommandHarness(TINY), "bmc", depth=REFUSED_DEPTH_SLOW)
    assert result.proven, result.log[-2000:]
