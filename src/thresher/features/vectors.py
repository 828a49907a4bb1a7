"""Vector kernels for embedding methods: blocked similarity, k-means and k-nearest
neighbours, none of which ever builds an n x n matrix.

Embeddings may be a large memory map (n, d) of float32 or float16; every function here
reads them in row blocks of `BLOCK` rows, converted to float32 and (for cosine geometry)
L2-normalised on the fly, so memory stays at a few blocks whatever n is. faiss (the
`[embed]` extra) does k-means and neighbour search; without it scikit-learn and numpy do
the same work, more slowly.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from thresher.errors import UsageError
from thresher.progress import progress

BLOCK = 8192
EXACT_KNN_LIMIT = 10_000  # above this many points, neighbours come from an inverted-file index


def faiss_module():
    """faiss, or None when it is not installed."""
    try:
        import faiss
    except ImportError:
        return None
    return faiss


class faiss_threads:
    """Run faiss on one thread when the work is small: on busy shared cores its OpenMP
    threads spin-wait, and a 100-point k-means took 0.4 s instead of 3 ms."""

    def __init__(self, work: float, small: float = 5e8):
        self.one = work < small
        self.saved = None

    def __enter__(self):
        faiss = faiss_module()
        if faiss is not None and self.one:
            self.saved = faiss.omp_get_max_threads()
            faiss.omp_set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            faiss_module().omp_set_num_threads(self.saved)


def check_matrix(features: np.ndarray, n: int | None = None, name: str = "embeddings") -> np.ndarray:
    """`features` as a 2-d numeric array with `n` rows (not copied)."""
    features = features if isinstance(features, np.ndarray) else np.asarray(features)
    if features.ndim != 2 or features.dtype.kind not in "fiu":
        raise UsageError(f"{name} must be a 2-d numeric array (n, d); got {features.dtype} {features.shape}.")
    if n is not None and len(features) != n:
        raise UsageError(f"{name} has {len(features):,} rows, but the pool has {n:,} records.")
    return features


def prepare(block: np.ndarray, normalize: bool = True) -> np.ndarray:
    """A block as C-contiguous float32, rows scaled to unit length when `normalize` (zero rows stay zero)."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    if normalize:
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))
        block = block / np.where(norms > 0, norms, 1.0)[:, None]
    return block


def blocks(features: np.ndarray, normalize: bool = True, size: int = BLOCK) -> Iterator[tuple[int, np.ndarray]]:
    """(start, float32 block) over the rows of `features`, in order."""
    for start in range(0, len(features), size):
        yield start, prepare(features[start : start + size], normalize)


def rows(features: np.ndarray, positions: np.ndarray, normalize: bool = True) -> np.ndarray:
    """The rows at `positions` as a float32 array (k, d)."""
    positions = np.asarray(positions, dtype=np.int64)
    order = np.argsort(positions, kind="stable")
    picked = np.empty((len(positions), features.shape[1]), dtype=np.float32)
    picked[order] = prepare(features[positions[order]], normalize)  # sorted reads are kinder to a memory map
    return picked


FULL_KMEANS_WORK = 5e7  # rows x clusters up to which k-means trains on every row


def kmeans(features: np.ndarray, k: int, seed: int, iterations: int = 25,
           sample_per_cluster: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means of the rows of `features` (scaled to unit length), by cosine.

    Seeded by greedy k-means++ (`plus_plus`), then Lloyd iterations: faiss's spherical
    k-means for `iterations` (scikit-learn's Lloyd to convergence without faiss). Small
    problems (rows x k up to `FULL_KMEANS_WORK`, e.g. 50,000 rows into 1,000 clusters) seed
    and train on every row; larger ones train on at most `sample_per_cluster * k` rows drawn
    with `seed` (seeded from 16 per cluster of them), then assign every row in blocks. Greedy seeding is what quality needs: with
    plain k-means++ the clusters of clinc150's 15,000 MiniLM embeddings were looser (mean
    cosine to the centroid 0.710 against 0.718) and the record nearest each centroid trained
    a classifier to 67.3% instead of 71.6% at 1%; this path matches scikit-learn's exact
    k-means at a fraction of its cost (benchmarks/kmeans_speed.py). Returns centroids (k, d)
    float32 (unit length), assignments (n,) int64 and each row's cosine to its centroid (n,)
    float32. The same inputs and seed give the same result.
    """
    n, d = features.shape
    k = int(max(1, min(k, n)))
    rng = np.random.default_rng(seed)
    full = float(n) * k <= FULL_KMEANS_WORK
    if full:
        train = prepare(np.asarray(features))
    else:
        sample = np.sort(rng.choice(n, size=min(n, sample_per_cluster * k), replace=False))
        train = rows(features, sample)
    if k == 1 or n == 0:
        centroid = train.mean(axis=0, keepdims=True) if n else np.zeros((1, d), np.float32)
        centroids = prepare(centroid) if np.any(centroid) else np.eye(1, d, dtype=np.float32)
    else:
        with progress(f"k-means ({k:,} clusters of {len(train):,} rows): seeds, then Lloyd", k + iterations) as bar:
            seeds = plus_plus(train, k, rng, sample=len(train) if full else 16, bar=bar)
            faiss = faiss_module()
            if faiss is not None:
                clustering = faiss.Kmeans(d, k, niter=iterations, seed=int(seed % 2**31), spherical=True,
                                          verbose=False, min_points_per_centroid=1, max_points_per_centroid=len(train))
                with faiss_threads(float(len(train)) * k * d * iterations):
                    clustering.train(train, init_centroids=seeds)
                centroids = prepare(clustering.centroids)
            else:
                from sklearn.cluster import KMeans

                centroids = prepare(KMeans(n_clusters=k, init=seeds, n_init=1).fit(train).cluster_centers_)
            bar.advance(iterations)
    assign, cosine = nearest_centroids(features, centroids)
    return centroids, assign, cosine


def plus_plus(points: np.ndarray, k: int, rng: np.random.Generator, sample: int = 16,
              trials: int | None = None, bar=None) -> np.ndarray:
    """Greedy k-means++ seeds (Arthur & Vassilvitskii 2007, "k-means++: The Advantages of
    Careful Seeding"; the greedy variant scikit-learn uses): each next seed is the best of
    `trials` (default 2 + log k) candidates drawn with probability proportional to their
    squared distance from the seeds so far, the one that lowers the total squared distance
    most; over at most `sample * k` of the points. Returns (k, d) float32.

    Random seeds put several centroids in one big cluster and none in small ones; this
    spreads them, which is what per-cluster quotas need. The candidates of a step are
    measured in one matrix product, so the greedy step costs about what a plain one does:
    both read every point once per seed."""
    if len(points) > sample * k:
        points = points[np.sort(rng.choice(len(points), size=sample * k, replace=False))]
    n = len(points)
    trials = int(trials or 2 + int(np.log(k)))
    seeds = np.empty((k, points.shape[1]), dtype=np.float32)
    seeds[0] = points[rng.integers(n)]
    squares = np.einsum("ij,ij->i", points, points).astype(np.float64)
    nearest = np.maximum(squares + float(seeds[0] @ seeds[0]) - 2 * (points @ seeds[0]), 0)
    for c in range(1, k):
        total = nearest.sum()
        if total > 0:
            candidates = np.minimum(np.searchsorted(np.cumsum(nearest), rng.random(trials) * total), n - 1)
        else:
            candidates = rng.integers(n, size=trials)
        chosen = points[candidates]
        distances = squares[:, None] + np.einsum("ij,ij->i", chosen, chosen)[None, :] - 2 * (points @ chosen.T)
        after = np.minimum(nearest[:, None], np.maximum(distances, 0))
        best = int(np.argmin(after.sum(axis=0)))
        seeds[c], nearest = chosen[best], after[:, best]
        if bar is not None and c % 64 == 0:
            bar.advance(64)
    if bar is not None:
        bar.advance((k - 1) % 64 + 1)
    return seeds


def nearest_centroids(features: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the centroid of highest cosine (ties: lowest index) and that cosine."""
    n = len(features)
    assign = np.empty(n, dtype=np.int64)
    cosine = np.empty(n, dtype=np.float32)
    for start, block in blocks(features):
        sims = block @ centroids.T
        best = np.argmax(sims, axis=1)
        assign[start : start + len(block)] = best
        cosine[start : start + len(block)] = sims[np.arange(len(block)), best]
    return assign, cosine


def knn(features: np.ndarray, k: int, seed: int = 0, probes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The k most similar rows (cosine) of every row, itself included.

    Exact for up to EXACT_KNN_LIMIT rows (faiss's flat index, else numpy); above that
    approximate, by an inverted-file self-join (`_knn_by_lists`): the rows are split into
    2 sqrt(n) lists by k-means, and each row is compared with the rows of its `probes`
    nearest lists, which is the search of faiss's IndexIVFFlat with nprobe=`probes`, done
    list by list as matrix products so that no copy of the vectors is held. Returns
    neighbours (n, k) int64 (-1 where fewer exist) and similarities (n, k) float32, most
    similar first.
    """
    n, d = features.shape
    k = int(max(1, min(k, n)))
    if n > EXACT_KNN_LIMIT:
        return _knn_by_lists(features, k, seed, probes)
    faiss = faiss_module()
    if faiss is None:
        return _knn_numpy(features, k)
    index = faiss.IndexFlatIP(d)
    for _, block in blocks(features):
        index.add(block)
    neighbours = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    with faiss_threads(float(n) * n * d):
        for start, block in blocks(features):
            sims[start : start + len(block)], neighbours[start : start + len(block)] = index.search(block, k)
    return neighbours, sims


def _knn_by_lists(features: np.ndarray, k: int, seed: int, probes: int, chunk: int = 4096
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Approximate k nearest neighbours of every row by an inverted-file self-join.

    Lists: 10 rounds of k-means from random seeds (what faiss trains an IVF index with) on
    32 rows per list drawn with `seed`. Each row lives in its nearest list and searches its
    `probes` nearest. Then, list by list, the rows that search it (in chunks of `chunk`) are
    multiplied with the rows that live in it, and each keeps its best k so far. Memory
    beyond the inputs: the best k of every row (12 bytes each) and one list's rows at a
    time. Each row's neighbours come ordered by similarity, then row.
    """
    n = len(features)
    lists = int(2 * np.sqrt(n))
    probes = int(min(probes, lists))
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, size=min(n, 32 * lists), replace=False))
    centroids = _coarse_centroids(rows(features, sample), lists, seed)
    searched = np.empty((n, probes), dtype=np.int32)
    home = np.empty(n, dtype=np.int32)
    with progress(f"neighbours ({n:,} rows, {lists:,} lists, {probes} searched each)", 2 * n) as bar:
        for start, block in blocks(features):
            sims = block @ centroids.T
            top = np.argpartition(-sims, probes - 1, axis=1)[:, :probes] if probes < lists else \
                np.tile(np.arange(lists), (len(block), 1))
            searched[start : start + len(block)] = top
            home[start : start + len(block)] = top[np.arange(len(block)), np.argmax(np.take_along_axis(sims, top, 1), 1)]
            bar.advance(len(block))
        residents = np.argsort(home, kind="stable")
        resident_bounds = np.searchsorted(home[residents], np.arange(lists + 1))
        flat = searched.ravel()
        visits = np.argsort(flat, kind="stable")  # (row, probe) slots grouped by list, rows ascending
        visit_bounds = np.searchsorted(flat[visits], np.arange(lists + 1))
        del searched, flat
        best_id = np.full((n, k), -1, dtype=np.int64)
        best_sim = np.full((n, k), -np.inf, dtype=np.float32)
        for lst in range(lists):
            members = residents[resident_bounds[lst] : resident_bounds[lst + 1]]
            visitors = visits[visit_bounds[lst] : visit_bounds[lst + 1]] // probes
            if not len(members) or not len(visitors):
                continue
            stored = rows(features, members)
            for at in range(0, len(visitors), chunk):
                mine = visitors[at : at + chunk]
                _merge_best(best_id, best_sim, mine, members, rows(features, mine) @ stored.T, k)
            bar.advance(len(visitors) / probes)
    order = np.lexsort((best_id, -best_sim), axis=1)
    neighbours = np.take_along_axis(best_id, order, 1)
    sims = np.take_along_axis(best_sim, order, 1)
    sims[neighbours < 0] = 0.0
    return neighbours, sims


def _coarse_centroids(train: np.ndarray, lists: int, seed: int) -> np.ndarray:
    """(lists, d) unit centroids of 10 Lloyd rounds from random rows (an IVF index's lists)."""
    faiss = faiss_module()
    if faiss is not None:
        clustering = faiss.Kmeans(train.shape[1], lists, niter=10, seed=int(seed % 2**31), spherical=True,
                                  verbose=False, min_points_per_centroid=1, max_points_per_centroid=len(train))
        clustering.train(train)
        return prepare(clustering.centroids)
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=lists, init="random", n_init=1, max_iter=10, random_state=int(seed % 2**32))
    return prepare(model.fit(train).cluster_centers_)


def _merge_best(best_id: np.ndarray, best_sim: np.ndarray, mine: np.ndarray, members: np.ndarray,
                sims: np.ndarray, k: int) -> None:
    """Fold the similarities (len(mine), len(members)) into the best k of rows `mine`, in place."""
    if sims.shape[1] > k:
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        sims = np.take_along_axis(sims, top, 1)
        ids = members[top]
    else:
        ids = np.broadcast_to(members, sims.shape)
    pooled_sim = np.concatenate([best_sim[mine], sims], axis=1)
    pooled_id = np.concatenate([best_id[mine], ids], axis=1)
    keep = np.argpartition(-pooled_sim, k - 1, axis=1)[:, :k]
    best_sim[mine] = np.take_along_axis(pooled_sim, keep, 1)
    best_id[mine] = np.take_along_axis(pooled_id, keep, 1)


def _knn_numpy(features: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(features)
    neighbours = np.empty((n, k), dtype=np.int64)
    sims = np.empty((n, k), dtype=np.float32)
    for start, block in blocks(features, size=1024):
        scores = np.concatenate([block @ other.T for _, other in blocks(features)], axis=1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(block), 1))
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.lexsort((top, -top_scores), axis=1)
        neighbours[start : start + len(block)] = np.take_along_axis(top, order, axis=1)
        sims[start : start + len(block)] = np.take_along_axis(top_scores, order, axis=1)
    return neighbours, sims


def column_vectors(pool, column: str) -> np.ndarray:
    """Precomputed embeddings from a list/vector column of the pool's records: (n, d) float32.

    Rows follow the pool's index (records set aside as bad are left out), so they line
    up with pool positions. Works for in-memory tables, Parquet and JSON Lines files.
    """
    index = pool.index()
    source = pool.source
    parts = []
    for file_index, path in enumerate(source.paths):
        wanted = index.locations[index.files == file_index] - 1  # 1-based line or row -> 0-based
        if source.format == "memory":
            values = source.table.column(column) if column in source.table.column_names else None
        elif source.format == "parquet":
            import pyarrow.parquet as pq

            names = pq.ParquetFile(path).schema_arrow.names
            values = pq.read_table(path, columns=[column]).column(column) if column in names else None
        elif source.format == "jsonl":
            values = _jsonl_column(path, column, wanted)
            wanted = np.arange(len(wanted))
        else:
            raise UsageError(f"embeddings from a column need Parquet, JSON Lines or a table; {path} is {source.format}.")
        if values is None:
            raise UsageError(f'{path}: no column "{column}" to read embeddings from; give a .npy file or a column name.')
        picked = values.take(wanted) if hasattr(values, "take") else [values[i] for i in wanted]
        parts.append(_as_rows(picked.to_pylist() if hasattr(picked, "to_pylist") else picked, path, column))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def _jsonl_column(path: str, column: str, lines: np.ndarray) -> list:
    """The `column` value of each 0-based line in sorted `lines`, in that order."""
    import json

    from thresher.data.jsonl import iter_selected_lines

    values = []
    for number, line in iter_selected_lines(path, lines + 1):
        record = json.loads(line)
        if column not in record:
            raise UsageError(f'{path} line {number}: field "{column}" is missing; it should hold the embedding.')
        values.append(record[column])
    return values


def _as_rows(values: list, path: str, column: str) -> np.ndarray:
    try:
        matrix = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError):
        raise UsageError(f'{path}: column "{column}" does not hold equal-length lists of numbers.') from None
    if matrix.ndim != 2:
        raise UsageError(f'{path}: column "{column}" does not hold equal-length lists of numbers.')
    return matrix
