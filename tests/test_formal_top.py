"""Formal proofs of the accelerator top and its command decoder (flows/formal.py,
flows/properties.py), each with a test-only mutation that must make its proof fail.

The whole top is too big for induction with Yosys's SAT solver (its induction step finds
unreachable states of the packers and the decoder), so its stream rule is bounded (BMC from
reset); the decoder's properties are inductive on a tiny configuration."""

import pytest

from tritforge.flows.formal import prove
from tritforge.flows.properties import TopStreamHoldHarness
from tritforge.spec.params import AcceleratorParams

from formal_mutants import DroppedHoldTop

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
