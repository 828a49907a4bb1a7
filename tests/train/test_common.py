"""Contracts every training-time sampler keeps: valid indices, seeds, sharding, saved state."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.errors import UsageError  # noqa: E402
from thresher.train import CurriculumSampler, DynamicPruner, MixtureSampler, RS2Sampler  # noqa: E402

N = 103


def make(kind: str, **shard):
    if kind == "rs2":
        return RS2Sampler(N, fraction=0.2, seed=3, **shard)
    if kind == "pruner":
        return DynamicPruner(N, prune_ratio=0.5, epochs=6, anneal_epochs=1, seed=3, **shard)
    if kind == "seta":
        return DynamicPruner(N, prune_ratio=0.3, mode="seta", clusters=5, window=3, seed=3, **shard)
    if kind == "curriculum":
        return CurriculumSampler(N, np.linspace(0, 1, N), order="cyclical", ramp_epochs=2, seed=3, **shard)
    if kind == "mixture":
        return MixtureSampler(np.repeat(["a", "b", "c"], [80, 20, 3]), mode="temperature", seed=3, **shard)
    return MixtureSampler(np.repeat(["a", "b", "c"], [80, 20, 3]), mode="online", block_size=12, seed=3, **shard)


KINDS = ["rs2", "pruner", "seta", "curriculum", "mixture", "online"]


def feed(sampler, epoch: int, indices) -> None:
    """Deterministic fake losses, so feedback samplers have something to act on."""
    indices = np.asarray(indices)
    sampler.update(torch.as_tensor(indices), torch.as_tensor(((indices * 37 + epoch * 11) % 17) / 17.0))


def run(sampler, epochs: int = 5) -> list[list[int]]:
    seen = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        indices = list(sampler)
        assert len(indices) == len(sampler)
        feed(sampler, epoch, indices)
        seen.append(indices)
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_indices_are_valid_positions(kind):
    for indices in run(make(kind)):
        assert indices and all(isinstance(i, int) and 0 <= i < N for i in indices)


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_schedule_other_seed_differs(kind):
    assert run(make(kind)) == run(make(kind))
    other = make(kind)
    other.seed = 4
    assert run(other) != run(make(kind))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("replicas", [2, 3])
def test_sharding_has_no_overlap_and_covers_the_plan(kind, replicas):
    single = make(kind)
    shards = [make(kind, num_replicas=replicas, rank=r) for r in range(replicas)]
    for epoch in range(4):
        single.set_epoch(epoch)
        for shard in shards:
            shard.set_epoch(epoch)
        full = list(single)
        parts = [list(shard) for shard in shards]
        assert len({len(p) for p in parts}) == 1, "every replica gets the same number of indices"
        merged = [i for p in parts for i in p]
        pad = len(merged) - len(full)
        assert 0 <= pad < replicas
        # Interleaving the shards back gives the single-replica plan (plus the DistributedSampler padding).
        interleaved = [parts[r][j] for j in range(len(parts[0])) for r in range(replicas)]
        assert interleaved[: len(full)] == full
        assert set(merged) == set(full)
        # Every replica gets the same feedback (as after gather_feedback), so plans stay in step.
        feed(single, epoch, full)
        for shard in shards:
            feed(shard, epoch, full)


@pytest.mark.parametrize("kind", KINDS)
def test_state_round_trip_continues_the_same_schedule(kind, tmp_path):
    reference = make(kind)
    expected = run(reference, epochs=6)

    first = make(kind)
    run(first, epochs=3)
    torch.save(first.state_dict(), tmp_path / "sampler.pt")
    resumed = make(kind)
    resumed.load_state_dict(torch.load(tmp_path / "sampler.pt", weights_only=True))
    later = []
    for epoch in range(3, 6):
        resumed.set_epoch(epoch)
        indices = list(resumed)
        feed(resumed, epoch, indices)
        later.append(indices)
    assert later == expected[3:]


def test_state_from_another_sampler_is_refused():
    with pytest.raises(UsageError, match="RS2Sampler"):
        DynamicPruner(N).load_state_dict(RS2Sampler(N, fraction=0.5).state_dict())


def test_bad_parameters_name_the_value():
    with pytest.raises(UsageError, match="fraction"):
        RS2Sampler(10, fraction=1.5)
    with pytest.raises(UsageError, match="rank"):
        RS2Sampler(10, fraction=0.5, num_replicas=2, rank=2)
    with pytest.raises(UsageError, match="epochs="):
        DynamicPruner(10, anneal_epochs=1)
    with pytest.raises(UsageError, match="mode"):
        MixtureSampler(["a", "b"], mode="uniform")
