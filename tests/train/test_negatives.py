from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.errors import UsageError  # noqa: E402
from thresher.train import HardNegativeMiner  # noqa: E402


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def planted(seed=0, m=20, d=16, noise=200):
    """Per query: its positive, a near-copy of the positive (a false negative), then hard and random docs."""
    rng = np.random.default_rng(seed)

    def near(rows, distance):
        return unit(rows + distance * rng.normal(size=rows.shape) / np.sqrt(d))

    queries = unit(rng.normal(size=(m, d)))
    positives = near(queries, 0.3)      # cosine ~ 0.96 with the query
    copies = near(positives, 0.02)      # about the positive's score: unlabeled positives
    hard = near(queries, 0.9)           # clearly below the positive (~ 0.75)
    easy = unit(rng.normal(size=(noise, d)))
    docs = np.concatenate([positives, copies, hard, easy])
    return queries, docs, np.arange(m), m


def test_margin_protection_drops_near_copies_of_the_positive():
    queries, docs, positives, m = planted()
    protected = HardNegativeMiner(num_negatives=2, rank_window=(0, 2), margin=0.05, seed=0)
    negatives = protected.mine(queries, docs, positives)
    assert negatives.shape == (m, 2)
    assert all(m + q not in negatives[q] for q in range(m)), "no false negatives with protection"
    assert all(q not in negatives[q] for q in range(m)), "a query's positive is never its negative"
    sims = queries @ docs.T
    for q in range(m):
        window = [d for d in np.argsort(-sims[q]) if d != q][:2]
        if 2 * m + q in window:
            assert 2 * m + q in negatives[q], "a planted hard negative in the window is kept"
    assert protected.dropped_as_false_negative >= m
    unprotected = HardNegativeMiner(num_negatives=2, rank_window=(0, 2), margin=None, seed=0)
    mined = unprotected.mine(queries, docs, positives)
    assert all(m + q in mined[q] for q in range(m)), "without protection the near-copy is mined"
    assert unprotected.dropped_as_false_negative == 0


def test_relative_margin_and_rank_window():
    queries, docs, positives, m = planted()
    miner = HardNegativeMiner(num_negatives=3, rank_window=(1, 6), margin=None, max_ratio=0.97, seed=0)
    negatives = miner.mine(torch.tensor(queries), torch.tensor(docs), positives)
    sims = queries @ docs.T
    for q in range(m):
        window = [d for d in np.argsort(-sims[q]) if d != q][1:6]
        safe = {d for d in window if sims[q, d] <= 0.97 * sims[q, q]}
        assert np.all(sims[q, negatives[q]] <= 0.97 * sims[q, q] + 1e-6)
        if len(safe) >= 3:
            assert set(negatives[q]) <= safe
        else:  # too few safe candidates in the window: all of them, then random fillers
            assert safe <= set(negatives[q])
    assert torch.equal(miner.negatives([0, 3]), torch.from_numpy(negatives[[0, 3]]))


def test_several_positives_per_query_and_too_few_candidates_are_filled():
    queries, docs, _, m = planted(m=4, noise=5)
    positives = [[q, m + q] for q in range(m)]  # the copy is labelled a positive too
    miner = HardNegativeMiner(num_negatives=3, rank_window=(0, 3), margin=0.5, seed=0)
    negatives = miner.mine(queries, docs, positives)
    for q in range(m):
        assert not set(negatives[q]) & {q, m + q}
        assert len(set(negatives[q])) == 3


def test_topic_batches_come_from_one_cluster_and_cover_every_query():
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(4, 8))) * 10
    queries = np.concatenate([c + rng.normal(size=(40, 8)) for c in centres])
    miner = HardNegativeMiner(batch_size=8, topics=4, seed=0).fit(queries)
    batches = list(miner)
    assert sorted(i for b in batches for i in b) == list(range(160))
    assert all(len({i // 40 for i in b}) == 1 for b in batches), "each batch is on one topic"
    assert len(miner) == 20


def test_margin_bins_balance_each_batch():
    margins = np.arange(64, dtype=float)
    miner = HardNegativeMiner(batch_size=8, margin_bins=4, seed=0).fit(num_queries=64, margins=margins)
    for batch in miner:
        assert sorted(np.bincount(np.asarray(batch) // 16, minlength=4)) == [2, 2, 2, 2]


def test_batches_shard_across_replicas_and_state_round_trips(tmp_path):
    queries, docs, positives, m = planted(m=40)
    shards = [HardNegativeMiner(batch_size=4, num_replicas=3, rank=r, seed=1).fit(num_queries=m) for r in range(3)]
    parts = [list(s) for s in shards]
    flat = [i for p in parts for b in p for i in b]
    assert set(flat) == set(range(m)) and len({len(p) for p in parts}) == 1
    assert len(flat) - m < 3 * 4, "only DistributedSampler-style padding repeats queries"
    miner = HardNegativeMiner(batch_size=4, topics=3, seed=1).fit(queries)
    miner.mine(queries, docs, positives)
    miner.set_epoch(2)
    torch.save(miner.state_dict(), tmp_path / "miner.pt")
    restored = HardNegativeMiner(batch_size=4, topics=3, seed=1)
    restored.load_state_dict(torch.load(tmp_path / "miner.pt", weights_only=True))
    assert list(restored) == list(miner)
    assert torch.equal(restored.negatives(range(m)), miner.negatives(range(m)))


def test_bad_input_is_explained():
    with pytest.raises(UsageError, match="rank_window"):
        HardNegativeMiner(num_negatives=5, rank_window=(0, 3))
    with pytest.raises(UsageError, match="mine"):
        HardNegativeMiner().negatives([0])
    with pytest.raises(UsageError, match="dimension"):
        HardNegativeMiner().mine(np.ones((2, 3)), np.ones((5, 4)), [0, 1])
