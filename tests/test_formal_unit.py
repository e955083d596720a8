# amaranth: UnusedElaboratable=no
"""Formal proofs of the matrix unit and the base-3 decoder (flows/formal.py, flows/properties.py),
each with a test-only mutation that must make its proof fail."""

import pytest

from tritforge.flows.formal import prove
from tritforge.flows.properties import Base3Harness, StreamHoldHarness, UnitOverflowHarness, base3_table
from tritforge.spec.formats import packed_row_bytes
from tritforge.spec.params import AcceleratorParams, UnitParams

from formal_mutants import DroppedHoldUnit, NarrowAccUnit, WrongTritDecoder

#: The accelerator's own unit (default AcceleratorParams: 4 x 16, int8, max_k = cols) and a
#: small standalone unit whose products span several chunks (max_k = 10 over 4 columns, not a
#: multiple: the contract counts non-ZERO weights).
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


#: The standalone unit's defaults (UnitParams: 4 x 16, int8, max_k 4096: products of up to 256
#: chunks).
LONG_UNIT = UnitParams()


# Overflow proofs are inductive and closed at one step (the harness states invariants on the
# tree's registers and the accumulator; flows/properties.py). The solver's time grows faster
# than the rows, so 4-row units are proven row by row (each row's invariants are inductive on
# their own): ~5-8 s a row against ~60-90 s for the four at once.
def _overflow(params, rows=None, block=None):
    extra = {} if block is None else {"block": block}
    return prove(UnitOverflowHarness(params, rows=rows, **extra), "induction", depth=2)


def test_unit_never_overflows_multi_chunk_products():
    result = _overflow(SMALL_UNIT)
    assert result.proven and result.steps == 1, result.log[-2000:]


@pytest.mark.parametrize("row", [0] + [pytest.param(row, marks=pytest.mark.slow)
                                     for row in range(1, DEFAULT_UNIT.rows)])
def test_default_unit_never_overflows(row):
    # Row 0 in `make test` (~10 s), the other rows in `make test-full`.
    result = _overflow(DEFAULT_UNIT, rows=[row])
    assert result.proven and result.steps == 1, result.log[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("row", range(LONG_UNIT.rows))
def test_long_products_never_overflow(row):
    result = _overflow(LONG_UNIT, rows=[row])
    assert result.proven and result.steps == 1, result.log[-2000:]


@pytest.mark.parametrize("params, rows", [
    (SMALL_UNIT, None), pytest.param(DEFAULT_UNIT, [0], marks=pytest.mark.slow),
    pytest.param(LONG_UNIT, [0], marks=pytest.mark.slow)], ids=["small", "default", "long"])
def test_unit_overflow_proof_fails_with_a_narrow_accumulator(params, rows):
    assert not _overflow(params, rows, block=NarrowAccUnit).proven


@pytest.mark.parametrize("pipeline, cols, rows", [(0, 4, None), (1, 1, None), (1, 4, []), (1, 4, [2])])
def test_unit_overflow_harness_refuses_what_it_cannot_prove(pipeline, cols, rows):
    with pytest.raises(ValueError):
        UnitOverflowHarness(UnitParams(rows=2, cols=cols, act_bits=4, max_k=8, pipeline=pipeline), rows=rows)


@pytest.mark.parametrize("method, depth", [("sim", 4), ("bmc", 0)])
def test_prove_refuses_a_bad_method_or_depth(method, depth):
    with pytest.raises(ValueError):
        prove(Base3Harness(1), method, depth)
