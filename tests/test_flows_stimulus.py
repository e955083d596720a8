"""flows.stimulus: the random chunk workload of the switching-activity estimate."""

import numpy as np
import pytest

from tritforge.flows.stimulus import make_workload


def test_zero_share_and_products():
    chunks = make_workload("ternary", 4, 16, 400, zero_share=0.25, seed=3)
    weights = np.array([c["weights"] for c in chunks])
    assert set(np.unique(weights)) == {-1, 0, 1}
    assert abs((weights == 0).mean() - 0.25) < 0.02
    assert [c["first"] for c in chunks[:5]] == [True, False, False, False, True]
    assert [c["last"] for c in chunks[:4]] == [False, False, False, True]
    acts = np.array([c["act"] for c in chunks])
    assert acts.min() >= -127 and acts.max() <= 127


def test_int_weights():
    chunks = make_workload("int", 2, 8, 100, zero_share=0.0)
    weights = np.array([c["weights"] for c in chunks])
    assert (weights != 0).all() and np.abs(weights).max() > 1


def test_seeded():
    assert make_workload("int", 2, 8, 10, zero_share=0.5, seed=7) == \
        make_workload("int", 2, 8, 10, zero_share=0.5, seed=7)


def test_kind_wrong():
    with pytest.raises(ValueError, match=r"^kind must be one of ternary, lookup, int, not 'fp16'$"):
        make_workload("fp16", 1, 1, 1, zero_share=0)


def test_zero_share_wrong():
    with pytest.raises(ValueError, match=r"^zero_share must be a number in 0\.\.1, not 1\.5$"):
        make_workload("ternary", 1, 1, 1, zero_share=1.5)


def test_cycles_wrong():
    with pytest.raises(ValueError, match=r"^cycles must be a positive integer, not 0$"):
        make_workload("ternary", 1, 1, 0, zero_share=0)
