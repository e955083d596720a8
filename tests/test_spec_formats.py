"""spec.formats: the torch-free formats agree with the golden model, bit for bit."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tritforge import golden
from tritforge.golden import packing
from tritforge.spec import formats
from tritforge.spec.errors import ParameterError
from tritforge.spec.formats import WeightCode


def test_weight_codes_match_golden_packing():
    assert [c.value for c in WeightCode] == [
        packing.CODE_NEG, packing.CODE_ZERO, packing.CODE_POS, packing.CODE_INVALID]
    for w, code in ((-1, WeightCode.NEG), (0, WeightCode.ZERO), (1, WeightCode.POS)):
        assert code == w + 1 == WeightCode.of(w)
    with pytest.raises(ParameterError, match=r"^a ternary weight must be -1, 0 or 1, not 2$"):
        WeightCode.of(2)


ternary_matrices = st.integers(1, 9).flatmap(lambda n: st.integers(1, 23).flatmap(
    lambda k: arrays(np.int8, (n, k), elements=st.integers(-1, 1))))


@settings(max_examples=200, deadline=None)
@given(w_t=ternary_matrices)
def test_numpy_packers_equal_golden(w_t):
    golden_packers = {"2bit": packing.pack_2bit, "base3": packing.pack_base3}
    for name, pack in golden_packers.items():
        expected = pack(torch.from_numpy(w_t)).numpy()
        packed = formats.pack_weights(w_t, name)
        assert packed.dtype == np.uint8 and np.array_equal(packed, expected), name
        assert packed.shape[1] == formats.packed_row_bytes(w_t.shape[1], name)


def test_bits_per_weight():
    assert formats.bits_per_weight("2bit") == 2 and formats.bits_per_weight("base3") == 1.6


@pytest.mark.parametrize("w_t, message", [
    (np.zeros(4, dtype=np.int8), r"^w_t must be a 2-D \[N, K\] array, not shape \(4,\)$"),
    (np.zeros((1, 2)), r"^w_t must be an integer array, not float64$"),
    (np.full((1, 2), 2), r"^w_t must hold only -1, 0 and 1, found values in \[2, 2\]$"),
])
def test_pack_wrong(w_t, message):
    with pytest.raises(ParameterError, match=message):
        formats.pack_weights(w_t, "2bit")


def test_format_wrong():
    with pytest.raises(ParameterError, match=r"^weight_format must be one of 2bit, base3, not '3bit'$"):
        formats.packed_row_bytes(4, "3bit")


def test_golden_uses_the_accumulator_rule():
    assert golden.accumulator_bits is formats.accumulator_bits
    assert formats.accumulator_bits(4096) == 21 and formats.accumulator_bits(1, 2) == 3


@pytest.mark.parametrize("name", list(formats.MODEL_SHAPES))
def test_model_shapes_are_the_golden_presets(name):
    config = golden.PRESETS[name]
    assert config.shape == formats.model_shape(name)
    assert config.linear_shapes() == formats.model_shape(name).linear_shapes()


def test_model_shape_wrong():
    with pytest.raises(ParameterError, match=r"^model preset must be one of 2b4t, 700M, 1\.3B, 3B, tiny, not '7B'$"):
        formats.model_shape("7B")
