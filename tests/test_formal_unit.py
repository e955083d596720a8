"""Formal proofs of the matrix unit and the base-3 decoder (flows/formal.py, flows/properties.py),
each with a test-only mutation that must make its proof fail."""

import pytest

from tritforge.flows.formal import prove
from tritforge.flows.properties import Base3Harness, StreamHoldHarness, UnitOverflowHarness, base3_table
from tritforge.spec.formats import packed_row_bytes
from tritforge.spec.params import AcceleratorParams, UnitParams

from formal_mutants import DroppedHoldUnit, NarrowAccUnit, WrongTritDecoder

#: The accelerator's own unit (default AcceleratorParams: 4 x 16, int8, max_k = cols) and a
#: small standalone unit whose products span several chunks (max_k = 10 over 4 columns).
DEFAULT_UNIT = AcceleratorParams().unit
SMALL_UNIT = UnitParams(rows=2, cols=4, act_bits=4, max_k=10, pipeline=1)
#: Lanes of the decoder in the default base-3 accelerator (16 columns) and a single lane.
BASE3_LANES = (packed_row_bytes(AcceleratorParams().cols, "base3"), 1)


def test_base3_table_is_the_spec_mapping():
    table = base3_table()
    assert len(table) == 243 and set(table) == set(range(243))
    assert [int(code) for code in table[100]] == [1, 0, 2, 0, 1]   # 100 = 1 + 2*9 + 81


@pytest.mark.parametrize("lanes", BASE3_LANES)
def test_base3_decoder_proof(lanes):
    result = prove(Base3Harness(lanes), "induction", depth=1)
    assert result.proven, result.log[-2000:]


def test_base3_decoder_proof_fails_with_a_wrong_trit():
    assert not prove(Base3Harness(1, block=WrongTritDecoder), "induction", depth=1).proven


@pytest.mark.parametrize("params", [DEFAULT_UNIT, SMALL_UNIT], ids=["default", "small"])
def test_unit_result_stream_holds(params):
    result = prove(StreamHoldHarness(params), "induction", depth=4)
    assert result.proven, result.log[-2000:]


def test_unit_hold_proof_fails_when_valid_is_dropped():
    assert not prove(StreamHoldHarness(SMALL_UNIT, block=DroppedHoldUnit), "induction", depth=4).proven


#: Overflow proofs compare with the exact sums, an equivalence of adder trees: beyond 10
#: minutes for the default 4 x 16 int8 unit (and a 1 x 8 int8 row) with Yosys's SAT solver,
#: so only small units are proven: one as the accelerator uses it (max_k = cols, every chunk a
#: whole product) and SMALL_UNIT with multi-chunk products (bounded).
CHUNK_UNIT = UnitParams(rows=2, cols=4, act_bits=4, max_k=4, pipeline=1)


def test_unit_never_overflows_single_chunk_products():
    result = prove(UnitOverflowHarness(CHUNK_UNIT, single_chunk=True), "induction", depth=6)
    assert result.proven, result.log[-2000:]


def test_unit_overflow_proof_fails_with_a_narrow_accumulator():
    assert not prove(UnitOverflowHarness(CHUNK_UNIT, block=NarrowAccUnit, single_chunk=True),
                     "induction", depth=6).proven


@pytest.mark.slow
def test_unit_never_overflows_multi_chunk_products_bmc():
    # Products of up to 3 chunks (max_k = 10, 4 columns): bounded, 5 cycles from reset (a
    # 3-chunk product and its result, latency 2).
    result = prove(UnitOverflowHarness(SMALL_UNIT), "bmc", depth=5)
    assert result.proven, result.log[-2000:]


@pytest.mark.parametrize("method, depth", [("sim", 4), ("bmc", 0)])
def test_prove_refuses_a_bad_method_or_depth(method, depth):
    with pytest.raises(ValueError):
        prove(Base3Harness(1), method, depth)
