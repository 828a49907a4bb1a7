"""Vector kernels and ways to give a pool its embeddings."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import thresher
from thresher import Pool
from thresher.features.vectors import column_vectors, kmeans, knn


def _points(n=300, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_knn_matches_brute_force_cosine():
    x = _points()
    neighbours, sims = knn(x, 5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    dense = unit @ unit.T
    expected = np.argsort(-dense, axis=1, kind="stable")[:, :5]
    assert (neighbours[:, 0] == np.arange(len(x))).all()  # every point is its own nearest
    assert np.allclose(np.sort(sims, axis=1), np.sort(np.take_along_axis(dense, expected, 1), axis=1), atol=1e-5)


def test_kmeans_is_deterministic_and_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16)) * 10
    x = np.concatenate([c + rng.normal(size=(50, 16)) for c in centres]).astype(np.float32)
    _, assign, cosine = kmeans(x, 4, seed=3)
    _, again, _ = kmeans(x, 4, seed=3)
    assert (assign == again).all()
    for block in range(4):  # each true cluster lands in one k-means cluster
        assert len(set(assign[block * 50 : (block + 1) * 50])) == 1
    assert len(set(assign)) == 4 and cosine.min() > 0.5


def test_with_features_checks_rows_and_reads_npy(tmp_path):
    pool = Pool.from_arrow(pa.table({"text": ["a", "b", "c"]}))
    with pytest.raises(thresher.UsageError, match="3 records"):
        pool.with_features(np.zeros((2, 4)))
    np.save(tmp_path / "e.npy", np.arange(12, dtype=np.float32).reshape(3, 4))
    featured = pool.with_features(tmp_path / "e.npy")
    assert dict(pool.features) == {} and featured.features["embeddings"].shape == (3, 4)
    assert isinstance(featured.features["embeddings"], np.memmap)


def test_embeddings_from_a_column_skip_quarantined_records(tmp_path):
    lines = [json.dumps({"text": f"t{i}", "emb": [float(i), 1.0]}) for i in range(5)]
    lines.insert(2, "{not json")
    path = tmp_path / "pool.jsonl"
    path.write_text("\n".join(lines) + "\n")
    pool = Pool.from_jsonl(path, on_bad_record="skip")
    vectors = column_vectors(pool, "emb")
    assert vectors[:, 0].tolist() == [0, 1, 2, 3, 4]
    table = pa.table({"text": ["a", "b"], "emb": [[1.0, 0.0], [0.0, 1.0]]})
    assert column_vectors(Pool.from_arrow(table), "emb").tolist() == [[1, 0], [0, 1]]
    with pytest.raises(thresher.UsageError, match='no column "vec"'):
        column_vectors(Pool.from_arrow(table), "vec")


def test_selection_reads_embeddings_param_from_npy_or_column(tmp_path):
    x = _points(40, 4)
    np.save(tmp_path / "x.npy", x)
    table = pa.table({"text": ["w"] * 40, "emb": x.tolist()})
    by_file = thresher.select(Pool.from_arrow(table), "kcenter", 5, embeddings=str(tmp_path / "x.npy"))
    by_column = thresher.select(Pool.from_arrow(table), "kcenter", 5, embeddings="emb")
    attached = thresher.select(Pool.from_arrow(table).with_features(x), "kcenter", 5)
    assert by_file.ids.to_pylist() == by_column.ids.to_pylist() == attached.ids.to_pylist()
    with pytest.raises(thresher.UsageError, match="does not exist"):
        thresher.select(Pool.from_arrow(table), "kcenter", 5, embeddings=str(tmp_path / "missing.npy"))


def test_greedy_seeding_leaves_less_spread_than_plain_seeding_and_is_deterministic():
    from thresher.features.vectors import plus_plus

    rng = np.random.default_rng(2)
    centres = rng.normal(size=(12, 16)) * 6
    sizes = rng.integers(5, 300, size=12)  # lopsided clusters, where plain k-means++ doubles up on big ones
    x = np.concatenate([c + rng.normal(size=(m, 16)) for c, m in zip(centres, sizes)]).astype(np.float32)

    def spread(seeds):  # the k-means potential: squared distance of every point to its nearest seed
        return float(((x[:, None, :] - seeds[None]) ** 2).sum(-1).min(axis=1).sum())

    greedy = [spread(plus_plus(x, 12, np.random.default_rng(seed), sample=len(x))) for seed in range(10)]
    plain = [spread(plus_plus(x, 12, np.random.default_rng(seed), sample=len(x), trials=1)) for seed in range(10)]
    assert np.mean(greedy) < 0.8 * np.mean(plain)
    first = plus_plus(x, 12, np.random.default_rng(7), sample=len(x))
    assert np.array_equal(first, plus_plus(x, 12, np.random.default_rng(7), sample=len(x)))


def test_kmeans_on_a_sample_and_without_faiss_still_finds_the_clusters(monkeypatch):
    import thresher.features.vectors as vectors

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 16)) * 10
    x = np.concatenate([c + rng.normal(size=(300, 16)) for c in centres]).astype(np.float32)
    monkeypatch.setattr(vectors, "FULL_KMEANS_WORK", 100)  # the sampled path: 64 rows per cluster
    for faiss in (vectors.faiss_module(), None):
        monkeypatch.setattr(vectors, "faiss_module", lambda: faiss)
        _, assign, _ = vectors.kmeans(x, 4, seed=0, sample_per_cluster=64)
        assert all(len(set(assign[b * 300 : (b + 1) * 300])) == 1 for b in range(4)) and len(set(assign)) == 4


def test_knn_above_the_exact_limit_joins_lists_and_finds_nearly_every_true_neighbour(monkeypatch):
    import thresher.features.vectors as vectors

    rng = np.random.default_rng(4)
    centres = rng.normal(size=(20, 16)) * 3
    x = np.concatenate([c + rng.normal(size=(100, 16)) for c in centres]).astype(np.float32)
    monkeypatch.setattr(vectors, "EXACT_KNN_LIMIT", 100)
    neighbours, sims = vectors.knn(x, 10, seed=0)
    again, _ = vectors.knn(x, 10, seed=0)
    assert np.array_equal(neighbours, again)
    assert (neighbours[:, 0] == np.arange(len(x))).all() and np.allclose(sims[:, 0], 1.0, atol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-6).all()  # most similar first
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = np.argsort(-(unit @ unit.T), axis=1, kind="stable")[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(neighbours, exact)])
    assert recall > 0.95
    found = np.take_along_axis(unit @ unit.T, neighbours, axis=1)
    assert np.allclose(found, sims, atol=1e-5)  # the similarities are the exact ones of the neighbours found
