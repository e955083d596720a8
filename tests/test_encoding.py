"""The hardware's plain constants equal the golden model's definitions."""

import pytest

from tritforge import golden
from tritforge.golden import packing
from tritforge.hdl import encoding


def test_weight_codes_match_golden_packing():
    assert [c.value for c in encoding.WeightCode] == [
        packing.CODE_NEG, packing.CODE_ZERO, packing.CODE_POS, packing.CODE_INVALID]
    for w, code in ((-1, encoding.WeightCode.NEG), (0, encoding.WeightCode.ZERO), (1, encoding.WeightCode.POS)):
        assert code == w + 1


@pytest.mark.parametrize("k", [1, 3, 16, 1000, 4096, 6912, 2 ** 20])
@pytest.mark.parametrize("act_bits", [2, 8, 16])
def test_accumulator_rule_matches_golden(k, act_bits):
    assert encoding.accumulator_bits(k, act_bits) == golden.accumulator_bits(k, act_bits)
