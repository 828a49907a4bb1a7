"""Behaviour of the embedding methods on planted structure (small random embeddings,
attached with `pool.with_features`, so no model is needed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import pyarrow as pa
import pyarrow.compute as pc

import thresher
from thresher import Pool


def _pool(features, **columns):
    n = len(features)
    table = pa.table({"id": [f"r{i}" for i in range(n)], "text": ["w"] * n, **columns})
    return Pool.from_arrow(table, id_field="id").with_features(np.asarray(features, dtype=np.float32))


def _positions(selection):
    return [int(i[1:]) for i in selection.ids.to_pylist()]


def _blobs(sizes, d=16, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = np.concatenate([c + spread * rng.normal(size=(s, d)) for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return points, labels


def _planted_pairs(n=200, pairs=40, d=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n + pairs, d))
    x[n:] = x[:pairs] + 0.01 * rng.normal(size=(pairs, d))  # record n+i near-duplicates record i
    return x


def test_semdedup_drops_one_of_each_planted_pair_with_the_reason():
    n, pairs = 200, 40
    pool = _pool(_planted_pairs(n, pairs))
    sel = thresher.select(pool, "semdedup", "100%", threshold=0.95, clusters=4)
    kept = set(_positions(sel))
    assert len(kept) == n  # exactly one of each pair goes, nothing else
    for i in range(pairs):
        assert (i in kept) != (n + i in kept)
    dropped = sel.table.filter(pc.invert(sel.table.column("selected"))).to_pylist()
    assert len(dropped) == pairs and sel.meta["near_duplicates"] == pairs
    for row in dropped:
        i = int(row["id"][1:])
        partner = i - n if i >= n else i + n
        assert row["reason"] == "semantic-duplicate" and row["detail"].startswith(f"of id r{partner}, cosine ")
        assert float(row["detail"].split("cosine ")[1]) > 0.99 and partner in kept


def test_semdedup_without_threshold_cuts_duplicates_first_at_the_budget():
    n, pairs = 200, 40
    pool = _pool(_planted_pairs(n, pairs, seed=1))
    sel = thresher.select(pool, "semdedup", n, clusters=3)
    kept = set(_positions(sel))
    assert len(kept) == n and all((i in kept) != (n + i in kept) for i in range(pairs))


def test_semdedup_keeps_one_of_a_chain_of_copies():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(1, 16))
    x = np.concatenate([base + 0.001 * rng.normal(size=(5, 16)), rng.normal(size=(30, 16))])
    sel = thresher.select(_pool(x), "semdedup", "100%", threshold=0.9, clusters=1)
    kept = _positions(sel)
    assert sum(p < 5 for p in kept) == 1 and len(kept) == 31


def _grid(side):
    return np.array([(a, b) for a in range(side) for b in range(side)], dtype=np.float64)


def _radius(points, centres):
    return np.sqrt(((points[:, None, :] - points[centres][None, :, :]) ** 2).sum(-1)).min(axis=1).max()


def test_kcenter_on_a_grid_covers_within_twice_the_optimal_radius():
    points = _grid(6)
    sel = thresher.select(_pool(points), "kcenter", 3, metric="euclidean")
    chosen = _positions(sel)
    optimum = min(_radius(points, list(c)) for c in itertools.combinations(range(len(points)), 3))
    assert _radius(points, chosen) <= 2 * optimum
    # Spread out: chosen points are far apart, unlike a clump of neighbours.
    gaps = [np.linalg.norm(points[a] - points[b]) for a, b in itertools.combinations(chosen, 2)]
    assert min(gaps) >= _radius(points, chosen)
    gains = sel.scores  # each centre's distance to the centres before it: never below the final radius
    assert np.isnan(gains[0]) and np.all(gains[1:] >= _radius(points, chosen) - 1e-9)
    assert np.all(np.diff(gains[1:]) <= 1e-9)


def test_kcenter_token_budget_stops_before_the_first_record_that_does_not_fit():
    points = _grid(5)
    table_text = ["a b c"] * len(points)
    pool = _pool(points, words=table_text)
    sel = thresher.select(pool, "kcenter", "10 tokens", metric="euclidean")
    assert len(sel) == 10  # one token each ("w")


def test_facility_location_lazy_greedy_matches_dense_greedy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 6))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = np.maximum(unit @ unit.T, 0)
    covered, expected = np.zeros(len(x)), []
    for _ in range(8):
        gains = np.maximum(sim - covered[:, None], 0).sum(axis=0)
        gains[expected] = -1
        best = int(np.argmax(gains))
        assert np.sort(gains)[-2] < gains[best] - 1e-6  # no near-ties, so the order is well defined
        expected.append(best)
        covered = np.maximum(covered, sim[:, best])
    sel = thresher.select(_pool(x), "facility-location", 8, neighbours=39)
    assert _positions(sel) == expected
    stochastic = thresher.select(_pool(x), "facility-location", 8, neighbours=39, optimizer="stochastic")

    def objective(chosen):
        return sim[:, chosen].max(axis=1).sum()

    random_objective = np.mean([objective(rng.choice(40, 8, replace=False)) for _ in range(20)])
    assert objective(expected) >= objective(_positions(stochastic)) * 0.999
    assert objective(_positions(stochastic)) > random_objective


def test_kmeans_quota_covers_clusters_that_random_misses():
    points, labels = _blobs([30] * 10, seed=2)
    pool = _pool(points)
    covered = len(set(labels[_positions(thresher.select(pool, "kmeans-quota", 10, seed=0))]))
    by_chance = np.mean([len(set(labels[_positions(thresher.select(pool, "random", 10, seed=s))])) for s in range(20)])
    assert covered >= 9 and by_chance < 7.5
    big, big_labels = _blobs([400] + [10] * 5, seed=3)
    sized = thresher.select(_pool(big), "kmeans-quota", 20, clusters=6, within="random", proportions="size")
    assert (big_labels[_positions(sized)] == 0).sum() >= 14  # size quotas follow the big cluster


def test_rds_takes_records_near_the_target_and_round_robin_shares_the_budget():
    points, labels = _blobs([100, 100, 100], seed=3)
    pool = _pool(points)
    target = Pool.from_arrow(pa.table({"text": ["t"] * 4})).with_features(
        np.concatenate([points[labels == 1][:3], points[labels == 2][:1]]).astype(np.float32))
    picked = labels[_positions(thresher.select(pool, "rds", 40, target=target))]
    assert set(picked) <= {1, 2} and (picked == 2).sum() == 10  # one target of four: a quarter of the turns
    by_max = labels[_positions(thresher.select(pool, "rds", 40, target=target, aggregation="max"))]
    assert set(by_max) <= {1, 2}


def test_rds_spread_draws_the_budget_from_the_wider_top_of_the_ranking():
    points, labels = _blobs([100, 100, 100], seed=4)
    pool = _pool(points)
    target = Pool.from_arrow(pa.table({"text": ["t"] * 2})).with_features(points[labels == 1][:2].astype(np.float32))
    for aggregation in ("round-robin", "max"):
        top = _positions(thresher.select(pool, "rds", 120, target=target, aggregation=aggregation))
        plain = _positions(thresher.select(pool, "rds", 40, target=target, aggregation=aggregation, spread=1))
        assert set(plain) <= set(top)
        spread = [_positions(thresher.select(pool, "rds", 40, target=target, aggregation=aggregation, spread=3, seed=s))
                  for s in (0, 0, 1)]
        assert len(spread[0]) == 40 and set(spread[0]) <= set(top)  # from the best 3 x 40
        assert spread[0] == spread[1] and set(spread[0]) != set(spread[2])  # seeded
        assert set(spread[0]) != set(plain)
    with pytest.raises(thresher.errors.UsageError):
        thresher.select(pool, "rds", 40, target=target, spread=0.5)


def test_prototypicality_keeps_outliers_when_hard_and_typical_records_when_easy():
    points, _ = _blobs([100], spread=0.05, seed=5)
    rng = np.random.default_rng(55)
    points[:5] = 5 * rng.normal(size=(5, points.shape[1]))  # five outliers, away from the blob's direction
    pool = _pool(points)
    assert set(_positions(thresher.select(pool, "prototypicality", 5, clusters=1, keep="hard"))) == set(range(5))
    easy = _positions(thresher.select(pool, "prototypicality", 5, clusters=1, keep="easy"))
    assert not set(easy) & set(range(5))
    auto = _positions(thresher.select(pool, "prototypicality", 5, clusters=1))  # 5% < easy_below: easy
    assert auto == easy


def test_density_keeps_more_of_a_spread_out_cluster_than_a_tight_one():
    tight, _ = _blobs([200], spread=0.01, seed=6)
    loose, _ = _blobs([200], spread=0.3, seed=7)
    pool = _pool(np.concatenate([tight, loose]))
    picked = np.array(_positions(thresher.select(pool, "density", 60, clusters=2, temperature=0.05, seed=0)))
    assert (picked >= 200).sum() > 2 * (picked < 200).sum()
