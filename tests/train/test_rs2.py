from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")

from thresher.train import RS2Sampler  # noqa: E402


@pytest.mark.parametrize("n,fraction", [(100, 0.1), (103, 0.2), (57, 0.3), (10, 1.0), (7, 0.5)])
def test_every_example_is_seen_within_ceil_one_over_fraction_epochs(n, fraction):
    sampler = RS2Sampler(n, fraction=fraction, seed=0)
    k = math.ceil(fraction * n)
    rounds = math.ceil(1 / fraction)
    for start in (0, rounds):  # the first round and the next one
        seen = set()
        for epoch in range(start, start + rounds):
            sampler.set_epoch(epoch)
            indices = list(sampler)
            assert len(indices) == k and len(set(indices)) == k, "a fixed-size subset without repeats"
            seen.update(indices)
        assert seen == set(range(n))


def test_without_replacement_a_round_does_not_repeat_until_the_pool_is_used():
    sampler = RS2Sampler(100, fraction=0.25, seed=1)
    subsets = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        subsets.append(set(sampler))
    assert sum(len(s) for s in subsets) == len(set.union(*subsets)) == 100


def test_with_replacement_subsets_are_independent_draws():
    sampler = RS2Sampler(100, num_samples=50, replacement=True, seed=1)
    union = set()
    for epoch in range(2):
        sampler.set_epoch(epoch)
        chosen = list(sampler)
        assert len(set(chosen)) == 50
        union |= set(chosen)
    assert len(union) < 100  # overlap between epochs is allowed (and, here, happens)


def test_epochs_differ_and_order_is_shuffled():
    sampler = RS2Sampler(1000, fraction=0.5, seed=0)
    sampler.set_epoch(0)
    first = list(sampler)
    assert first != sorted(first)
    sampler.set_epoch(2)  # a new round: a new random half
    assert set(sampler) != set(first)
    assert np.isclose(sampler.fraction, 0.5)
