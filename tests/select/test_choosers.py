import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thresher.budget import Limit
from thresher.select.choosers import GumbelTopK, Quota, Threshold, TopK, allocate, group_codes


def test_top_k_orders_by_score_and_breaks_ties_by_position():
    scores = np.array([0.5, 0.9, 0.5, np.nan, 0.9])
    assert TopK().choose(scores, Limit(4, None), np.random.default_rng(0)).tolist() == [1, 4, 0, 2]


def test_top_k_respects_a_token_limit():
    scores = np.array([3.0, 2.0, 1.0])
    costs = np.array([5, 5, 1])
    assert TopK().choose(scores, Limit(None, 10), np.random.default_rng(0), costs).tolist() == [0, 1]


def test_gumbel_top_k_samples_in_proportion_to_weights():
    weights = np.array([1.0, 2.0, 7.0])
    rng = np.random.default_rng(0)
    firsts = [GumbelTopK().choose(np.log(weights), Limit(1, None), rng)[0] for _ in range(4000)]
    frequencies = np.bincount(firsts, minlength=3) / 4000
    assert np.allclose(frequencies, weights / weights.sum(), atol=0.03)


def test_threshold_keeps_scores_at_or_above():
    scores = np.array([0.1, 0.7, 0.5, 0.9])
    assert Threshold(0.5).choose(scores, None, np.random.default_rng(0)).tolist() == [3, 1, 2]


@settings(max_examples=200, deadline=None)
@given(capacity=st.lists(st.integers(0, 50), min_size=1, max_size=8), total=st.integers(0, 300),
       equal=st.booleans())
def test_allocate_fills_the_total_within_capacity(capacity, total, equal):
    capacity = np.array(capacity)
    shares = np.ones(len(capacity)) if equal else capacity.astype(float)
    quota = allocate(capacity, total, shares)
    assert quota.sum() == min(total, capacity.sum())
    assert np.all(quota <= capacity) and np.all(quota >= 0)
    if equal:
        # Water-filling: a group below its capacity has at least as many as any other group, minus one.
        open_groups = quota < capacity
        if open_groups.any():
            assert quota[open_groups].min() >= quota.max() - 1


def test_quota_takes_best_per_group():
    groups = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([1.0, 3.0, 2.0, 6.0, 4.0, 5.0])
    chosen = Quota("equal").choose(scores, Limit(4, None), np.random.default_rng(0), groups=groups)
    assert sorted(chosen.tolist()) == [1, 2, 3, 5]


def test_group_codes_are_sorted_values():
    import pyarrow as pa

    codes, values = group_codes(pa.array(["b", "a", "c", "a"]))
    assert values == ["a", "b", "c"] and codes.tolist() == [1, 0, 2, 0]


def test_quota_rejects_unknown_proportions():
    with pytest.raises(ValueError):
        Quota("cubic")
