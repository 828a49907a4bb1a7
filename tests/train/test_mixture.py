from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.train import MixtureSampler  # noqa: E402

DOMAINS = np.repeat(["big", "mid", "small"], [1000, 100, 10])
COUNTS = np.array([1000, 100, 10], dtype=float)


def domain_counts(sampler, epoch=0):
    sampler.set_epoch(epoch)
    return np.bincount(sampler.domain_of[np.array(list(sampler))], minlength=3)


def test_natural_stratified_and_temperature_proportions():
    n = len(DOMAINS)
    assert list(domain_counts(MixtureSampler(DOMAINS, "natural"))) == [1000, 100, 10]
    assert list(domain_counts(MixtureSampler(DOMAINS, "stratified", num_samples=300))) == [100, 100, 100]
    shares = {"big": 0.5, "mid": 0.3, "small": 0.2}
    assert list(domain_counts(MixtureSampler(DOMAINS, "stratified", proportions=shares, num_samples=100))) == [50, 30, 20]
    sampler = MixtureSampler(DOMAINS, "temperature", temperature=2.0)
    expected = np.sqrt(COUNTS) / np.sqrt(COUNTS).sum()
    assert np.allclose(domain_counts(sampler) / n, expected, atol=1 / n)
    # The small domain is upsampled: its 10 examples are each repeated, cycling through all of them.
    sampler.set_epoch(0)
    small = [i for i in sampler if DOMAINS[i] == "small"]
    assert set(small) == set(range(1100, 1110))


def test_upweight_samples_naturally_and_weights_toward_the_temperature_mixture():
    sampler = MixtureSampler(DOMAINS, "upweight", temperature=2.0)
    assert list(domain_counts(sampler)) == [1000, 100, 10]
    weights = sampler.domain_weights()
    natural = COUNTS / COUNTS.sum()
    assert np.isclose((natural * weights).sum(), 1.0), "the average weight under natural sampling is 1"
    assert np.allclose(natural * weights, np.sqrt(COUNTS) / np.sqrt(COUNTS).sum())
    idx = torch.tensor([0, 1100])
    weights = sampler.weights(idx)
    assert float(weights[1] / weights[0]) == pytest.approx(10.0, rel=1e-5), "sqrt(1000 / 10) with T=2"


def test_cooldown_moves_from_upsampling_to_upweighting_with_the_same_objective():
    sampler = MixtureSampler(DOMAINS, "cooldown", temperature=4.0, cooldown_epochs=4)
    target = sampler.target()
    small_share = [sampler.probabilities(e)[2] for e in range(6)]
    assert np.isclose(small_share[0], target[2]) and np.isclose(small_share[4], 10 / 1110)
    assert all(a > b for a, b in zip(small_share[:4], small_share[1:5]))
    for epoch in range(6):
        sampler.set_epoch(epoch)
        assert np.allclose(sampler.probabilities() * sampler.domain_weights(), target)
    assert np.allclose(MixtureSampler(DOMAINS, "cooldown").domain_weights(), 1.0), "epoch 0: pure upsampling"


def test_online_mixer_moves_weight_toward_the_domain_whose_loss_stays_high():
    sampler = MixtureSampler(DOMAINS, "online", learning_rate=0.2, smoothing=0.01, block_size=64)
    start = sampler.probabilities().copy()
    assert np.allclose(start, 1 / 3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = np.array(list(sampler))
        for batch in np.array_split(indices, 20):
            domain = sampler.domain_of[batch]
            # "mid" stays hard, the others are being learned.
            losses = np.where(domain == 1, 2.0, 1.0 / (1 + epoch))
            sampler.update(torch.as_tensor(batch), torch.as_tensor(losses))
    end = sampler.probabilities()
    assert end[1] > 0.9 and end[1] > start[1]
    assert np.all(np.diff([h[1] for h in sampler.history]) >= -1e-12), "its share only grows"
    # Within an epoch, later blocks already follow the updated weights.
    sampler.set_epoch(3)
    assert (sampler.domain_of[np.array(list(sampler))] == 1).mean() > 0.8


def test_online_with_reference_losses_stops_pushing_a_domain_that_reached_its_reference():
    sampler = MixtureSampler(DOMAINS, "online", reference_losses=[0.5, 0.5, 3.0], learning_rate=0.5, smoothing=0.0)
    for _ in range(40):
        sampler.update_domains([1.0, 0.5, 2.0])  # only "big" is above its reference
    p = sampler.probabilities()
    assert p[0] > 0.99 and np.isclose(p[1], p[2])
