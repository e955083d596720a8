"""Formal proofs of the accelerator top and its command decoder (flows/formal.py,
flows/properties.py), each with a test-only mutation that must make its proof fail.

Every proof here is inductive (holds in every reachable state); the top's and the decoder's
harnesses also assert invariants on the blocks' inner state, which rule out the unreachable
states an induction step would otherwise start from. See docs/verification.md, "Formal
proofs"."""

import pytest

from tritforge.flows.formal import prove
from tritforge.flows.properties import (DecoderResponseHarness, RefusedCommandHarness,
                                        SequencerResponseHarness, TopStreamHoldHarness)
from tritforge.spec.params import AcceleratorParams

from formal_mutants import DroppedHoldTop, LatchedBusyDecoder, StuckSequencer, ZeroCountDecoder

#: The smallest accelerator the parameter checks allow that still has two of everything the
#: checks compare (2 columns, 2 tiles and chunks per bank): 1 x 2, 2-bit activations, K <= 4,
#: T <= 1, no counters (the status packet is 2 words).
TINY = AcceleratorParams(rows=1, cols=2, act_bits=2, max_k=4, weight_depth=2, act_depth=2,
                         max_tokens=1, counter_bits=0)
#: The same with T <= 2 and 4 tiles and chunks per bank: runs of up to 2 x 2 x 2 chunks.
SMALL = AcceleratorParams(rows=1, cols=2, act_bits=2, max_k=4, weight_depth=4, act_depth=4,
                          max_tokens=2, counter_bits=0)
#: The tiny unit with banks of 16 and T <= 4: runs of up to 4 x 16 chunks, 16 row blocks (the
#: sequencer's measure-based proof at a size its plain k-induction could not reach).
MEDIUM = AcceleratorParams(rows=1, cols=2, act_bits=2, max_k=128, weight_depth=16, act_depth=16,
                           max_tokens=4, counter_bits=0)
#: The default accelerator (4 x 16, int8, max_k 4096, banks of 64, T <= 16, counters).
DEFAULT = AcceleratorParams()
#: The environment's fairness: the decoder's ``busy`` and ``responding``, and the sequencer's
#: ``can_claim`` low, last at most this many cycles in a row.
FAIRNESS = 3

#: name: (harness, its arguments, the mutant block that breaks it, induction step limit, free
#: memories). Every proof is inductive; the steps at which each closes: the top's 2, the
#: decoder's no-deadlock 7, its refusal 2, the sequencer's 2 (its progress measure). The default top's proof
#: removes the banks (free read data: `prove`'s `free_memories`), which a property about the
#: response stream does not need (as flip-flops they were ~38,000 bits of state).
PROPERTIES = {
    "top_stream_hold": (TopStreamHoldHarness, (TINY,), DroppedHoldTop, 4, False),
    "top_stream_hold_default": (TopStreamHoldHarness, (DEFAULT,), DroppedHoldTop, 4, True),
    "decoder_no_deadlock": (DecoderResponseHarness, (TINY, FAIRNESS), LatchedBusyDecoder, 10, False),
    "decoder_no_deadlock_default": (DecoderResponseHarness, (DEFAULT, FAIRNESS), LatchedBusyDecoder, 10,
                                    False),
    "refused_commands_change_nothing": (RefusedCommandHarness, (TINY,), ZeroCountDecoder, 6, False),
    "refused_commands_change_nothing_default": (RefusedCommandHarness, (DEFAULT,), ZeroCountDecoder, 6,
                                                False),
    "sequencer_no_deadlock": (SequencerResponseHarness, (TINY, FAIRNESS), StuckSequencer, 6, False),
    "sequencer_no_deadlock_small": (SequencerResponseHarness, (SMALL, FAIRNESS), StuckSequencer, 6, False),
    "sequencer_no_deadlock_medium": (SequencerResponseHarness, (MEDIUM, FAIRNESS), StuckSequencer, 6,
                                     False),
}


def _prove(name, block=None):
    harness, args, _, depth, free_memories = PROPERTIES[name]
    built = harness(*args) if block is None else harness(*args, block=block)
    return prove(built, "induction", depth=depth, free_memories=free_memories)


@pytest.mark.parametrize("name", PROPERTIES)
def test_property_holds(name):
    result = _prove(name)
    assert result.proven, result.log[-2000:]


#: The default configuration's mutants run in `make test-full` (5-20 s each; the default top's
#: induction runs to its step limit); TINY's show the same proofs can fail in `make test`.
SLOW_MUTANTS = {"top_stream_hold_default", "decoder_no_deadlock_default",
                "refused_commands_change_nothing_default", "sequencer_no_deadlock_medium"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_MUTANTS
                                  else name for name in PROPERTIES])
def test_property_fails_with_its_mutant(name):
    assert not _prove(name, block=PROPERTIES[name][2]).proven


@pytest.mark.parametrize("name", ["decoder_no_deadlock", "sequencer_no_deadlock",
                                  "sequencer_no_deadlock_small"])
def test_response_bound_is_tight(name, monkeypatch):
    # One cycle less than the bound fails: the bound is the block's, not a loose one.
    harness = PROPERTIES[name][0]
    monkeypatch.setattr(harness, "OVERHEAD", harness.OVERHEAD - 1)
    assert not _prove(name).proven


@pytest.mark.slow
def test_top_stream_hold_default_with_banks():
    # The default top with its banks as flip-flops (~38,000 bits of state): ~165 s.
    result = prove(TopStreamHoldHarness(DEFAULT), "induction", depth=4)
    assert result.proven, result.log[-2000:]


def test_run_shapes_are_the_runs_the_decoder_accepts():
    # benchmarks/formal_shapes.py proves every one of these on the default accelerator.
    shapes = SequencerResponseHarness.run_shapes(DEFAULT)
    assert len(shapes) == len(set(shapes)) == 211 and {(16, 4), (1, 1), (1, 64), (64 // 16, 16)} <= set(shapes)
    assert all(t * c <= DEFAULT.act_depth and t <= DEFAULT.max_tokens for t, c in shapes)
    assert (DEFAULT.max_tokens, DEFAULT.act_depth // DEFAULT.max_tokens + 1) not in shapes


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(16, 4), (1, 1)])
def test_sequencer_no_deadlock_default_shape(shape):
    # The default accelerator, the bound asserted for the runs of one (T, chunks) (any row
    # blocks: 16 x 4 x 16 = 1,024 chunks, the longest runs; 1 x 1 x 64, the most row blocks),
    # with T and chunks as constants; 10-60 s each (load). Every shape (211):
    # benchmarks/formal_shapes.py. The stuck sequencer fails on the same shape.
    result = prove(SequencerResponseHarness(DEFAULT, FAIRNESS, shape=shape), "induction", depth=4)
    assert result.proven, result.log[-2000:]
    stuck = SequencerResponseHarness(DEFAULT, FAIRNESS, block=StuckSequencer, shape=shape)
    assert not prove(stuck, "induction", depth=4).proven
