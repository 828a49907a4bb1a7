"""SnP: the k-means clusters of the pool nearest the target by Fréchet distance, pruned to the budget."""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.errors import UsageError
from thresher.select.base import Choice, Context, Param, SetSelector
from thresher.select.registry import register
from thresher.select._embedding import (CLUSTER_PARAM, EMBEDDING_PARAMS, EmbeddingSelector, check_clusters,
                                        cluster_count)


@register
class SnP(EmbeddingSelector, SetSelector):
    """Search and pruning, SnP (Yao et al. 2023): search the pool for the clusters whose
    embeddings are distributed most like the target's, then prune what they hold to the
    budget.

    Search: k-means on the unit-length embeddings (`clusters`; 0 picks sqrt(n), at most
    1000), then the Fréchet distance of each cluster to the target examples,
    |mu_c - mu_t|^2 + tr(S_c + S_t - 2 (S_c S_t)^(1/2)), the distance of two Gaussians
    fitted to them (the paper's FID-style measure). Clusters are taken nearest first
    until they hold `reserve` x the budget (records, or tokens for a token budget), or
    the whole pool. Pruning: the budget is taken from those records at random (seeded;
    inner="random", the default) or by highest cosine to the target's mean
    (inner="nearest"). The paper prunes by source identities, for diversity, which a
    text pool does not have; reserve=1 takes the nearest clusters and cuts only the last.

    Covariance: a cluster of a pool holds a few dozen records in hundreds of dimensions,
    so its full sample covariance is singular and mostly noise. covariance="diagonal"
    (the default) keeps the per-dimension variances, and the trace term becomes
    |sqrt(s_c) - sqrt(s_t)|^2, exact for diagonal Gaussians; covariance="shrunk" uses the
    full covariances shrunk towards a scaled identity (Ledoit & Wolf 2004, "A
    well-conditioned estimator for large-dimensional covariance matrices"), one d x d
    eigendecomposition per cluster. Maximum-likelihood estimates (divided by the count),
    so a one-record cluster or target has zero covariance rather than none.

    A set selector: what is chosen depends on which clusters the reserve took. Gains:
    minus the Fréchet distance of each chosen record's cluster (higher = nearer the
    target). Every record's cluster is in the selection's group column; a record not
    chosen has the reason "far-cluster" (its cluster was not searched) or "pruned" (it
    was in the reserve); the clusters taken, nearest first, with their distances, are in
    `meta["snp"]`.
    """

    name = "snp"
    summary = "k-means clusters nearest the target by Fréchet distance, up to reserve x budget, pruned to the budget"
    paper = 'Yao et al. 2023, "Large-scale Training Data Search for Object Re-identification"'
    needs = ("features", "target")
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "reserve": Param(2.0, float, "take the nearest clusters until they hold reserve x the budget (at least 1)"),
        "inner": Param("random", str, "prune the reserve to the budget at random, or nearest the target's mean",
                       ("random", "nearest")),
        "covariance": Param("diagonal", str, "Fréchet distance with per-dimension variances, or full covariances "
                                             "shrunk by Ledoit-Wolf", ("diagonal", "shrunk")),
    }

    def validate(self) -> None:
        check_clusters(self.name, self.config)
        if not (np.isfinite(self.config["reserve"]) and self.config["reserve"] >= 1):
            raise UsageError(f"snp: reserve={self.config['reserve']} must be at least 1 (the reserve must hold "
                             "the budget).")

    def choose(self, ctx: Context, state, limit: Limit) -> Choice:
        from thresher.features.vectors import kmeans, prepare

        n = ctx.index.n
        features = self.embeddings(ctx)
        targets = prepare(self.target_embeddings(ctx.target, features.shape[1]))
        if len(targets) == 0:
            raise UsageError("snp: the target has no examples; give a target with at least one record.")
        if n == 0 or limit.count == 0 or limit.tokens == 0:
            return Choice(np.zeros(0, np.int64))
        centroids, assign, _ = kmeans(features, cluster_count(self.config["clusters"], n), ctx.seed)
        k = len(centroids)
        distance = frechet_distances(features, assign, k, targets, self.config["covariance"])
        sizes = np.bincount(assign, minlength=k)
        nearest = np.flatnonzero(sizes > 0)
        nearest = nearest[np.lexsort((nearest, distance[nearest]))]  # ties: lowest cluster first

        # Search: clusters nearest first until they hold the reserve.
        if limit.count is not None:
            held, wanted = sizes.astype(np.float64), self.config["reserve"] * limit.count
        else:
            held = np.bincount(assign, weights=ctx.index.tokens, minlength=k)
            wanted = self.config["reserve"] * limit.tokens
        enough = np.cumsum(held[nearest]) >= wanted - 1e-9
        taken = nearest[: int(np.argmax(enough)) + 1] if enough.any() else nearest
        reserve = np.flatnonzero(np.isin(assign, taken))

        # Pruning: the budget from the reserve.
        if self.config["inner"] == "random":
            order = ctx.rng.permutation(reserve)
        else:
            similarity = rows_cosine(features, reserve, targets.mean(axis=0))
            order = reserve[np.lexsort((reserve, -similarity))]
        positions = limit.cut(order, ctx.index.tokens)
        in_reserve = np.zeros(k, dtype=bool)
        in_reserve[taken] = True

        def reasons_for(dropped: np.ndarray) -> list[tuple[str, str]]:
            return [("pruned", f"cluster {c}, in the reserve") if in_reserve[c] else
                    ("far-cluster", f"cluster {c}, Fréchet distance {distance[c]:.4g}") for c in assign[dropped]]

        meta = {"clusters": k, "snp": {"clusters_taken": [int(c) for c in taken],
                                       "frechet_taken": [round(float(distance[c]), 6) for c in taken],
                                       "reserve_records": int(len(reserve))}}
        return Choice(positions, gains=-distance[assign[positions]], groups=assign.astype(np.int64),
                      reasons_for=reasons_for, meta=meta)


def frechet_distances(features: np.ndarray, assign: np.ndarray, k: int, targets: np.ndarray,
                      covariance: str = "diagonal") -> np.ndarray:
    """The Fréchet distance (k,) float64 between the unit rows of each cluster of
    `features` (n, d) (`assign` (n,) in 0..k-1) and the unit rows `targets` (m, d): a
    Gaussian with each side's mean and covariance (diagonal, or Ledoit-Wolf shrunk).
    Empty clusters get inf."""
    from scipy.sparse import csr_matrix

    from thresher.features.vectors import blocks, rows

    d = features.shape[1]
    sizes = np.bincount(assign, minlength=k).astype(np.float64)
    sums = np.zeros((k, d))
    squares = np.zeros((k, d))
    for start, block in blocks(features):
        part = assign[start : start + len(block)]
        members = csr_matrix((np.ones(len(part)), (part, np.arange(len(part)))), shape=(k, len(part)))
        block = block.astype(np.float64)
        sums += members @ block
        squares += members @ (block * block)
    means = sums / np.maximum(sizes, 1)[:, None]
    target = targets.astype(np.float64)
    target_mean = target.mean(axis=0)
    gap = ((means - target_mean) ** 2).sum(axis=1)
    if covariance == "diagonal":
        variances = np.maximum(squares / np.maximum(sizes, 1)[:, None] - means**2, 0.0)
        target_variance = target.var(axis=0)
        spread = ((np.sqrt(variances) - np.sqrt(target_variance)) ** 2).sum(axis=1)
    else:
        target_cov = _shrunk(target)
        values, vectors = np.linalg.eigh(target_cov)
        root = (vectors * np.sqrt(np.maximum(values, 0.0))) @ vectors.T
        order = np.argsort(assign, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(sizes.astype(np.int64))])
        spread = np.zeros(k)
        for c in np.flatnonzero(sizes > 0):
            cov = _shrunk(rows(features, order[bounds[c] : bounds[c + 1]]).astype(np.float64))
            cross = np.sqrt(np.maximum(np.linalg.eigvalsh(root @ cov @ root), 0.0)).sum()
            spread[c] = max(np.trace(cov) + np.trace(target_cov) - 2.0 * cross, 0.0)
    return np.where(sizes > 0, gap + spread, np.inf)


def _shrunk(points: np.ndarray) -> np.ndarray:
    """Ledoit-Wolf covariance (d, d) of `points` (k, d); zeros for fewer than two points."""
    if len(points) < 2:
        return np.zeros((points.shape[1], points.shape[1]))
    from sklearn.covariance import ledoit_wolf

    return ledoit_wolf(points)[0]


def rows_cosine(features: np.ndarray, positions: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Cosine (k,) float64 of the rows at `positions` to `direction` (d,), in blocks."""
    from thresher.features.vectors import BLOCK, prepare, rows

    unit = prepare(direction[None, :])[0]
    out = np.empty(len(positions), dtype=np.float64)
    for start in range(0, len(positions), BLOCK):
        out[start : start + BLOCK] = rows(features, positions[start : start + BLOCK]) @ unit
    return out
