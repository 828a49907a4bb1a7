"""SemDeDup: drop records whose meaning repeats another's."""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.select.base import Context, Param
from thresher.select.choosers import rank_descending
from thresher.select.registry import register
from thresher.select._embedding import CLUSTER_PARAM, EMBEDDING_PARAMS, EmbeddingSelector, cluster_count
from thresher.selection import Selection

BLOCK = 1024


@register
class SemDeDup(EmbeddingSelector):
    """Semantic deduplication (Abbas et al. 2023): k-means on the embeddings, then within
    each cluster, with its records in a fixed order (farthest from the centroid first,
    as in the paper, or nearest first, or pool order), compare each record with those
    before it.

    With a `threshold`, a record whose cosine to an earlier *kept* record exceeds it is
    dropped, with the reason "near-duplicate of id X (cos=...)", X being that kept
    record; of a pair of near-duplicates one is always kept; the budget then caps the
    rest. Without one, records are ranked by their highest cosine to any earlier record
    of their cluster, least duplicated first, and the budget sets the cut (the paper
    picks the threshold that reaches the wanted size). Near-duplicates in different
    clusters are not compared, as in the paper. Scores: 1 minus that highest cosine.
    """

    name = "semdedup"
    summary = "semantic dedup: drop records too similar to a kept one in their k-means cluster"
    paper = 'Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale through semantic deduplication"'
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "threshold": Param(None, float, "drop records whose cosine to a kept record is above this (e.g. 0.95); "
                                        "none: rank by duplication and cut at the budget"),
        "keep": Param("hard", str, "which of a group of duplicates stays: the one farthest from the centroid (hard), "
                                   "nearest (easy) or first in the pool", ("hard", "easy", "first")),
    }

    def score(self, ctx: Context) -> np.ndarray:
        from thresher.features.vectors import kmeans

        n = ctx.index.n
        threshold = self.config["threshold"]
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            from thresher.errors import UsageError

            raise UsageError(f"semdedup: threshold={threshold} is a cosine; give a value between -1 and 1, e.g. 0.95.")
        self._found = None
        if n == 0:
            return np.zeros(0)
        features = self.embeddings(ctx)
        _, assign, cosine = kmeans(features, cluster_count(self.config["clusters"], n), ctx.seed)
        ahead = {"hard": cosine, "easy": -cosine, "first": np.zeros(n)}[self.config["keep"]]
        earlier_max, earlier_arg, kept_max, kept_arg = duplicates(features, assign, ahead, threshold)
        self._found = (earlier_max, earlier_arg, kept_max, kept_arg)
        return 1.0 - earlier_max

    def choose(self, ctx: Context, scores: np.ndarray, limit: Limit):
        ranking = rank_descending(scores)
        if self.config["threshold"] is not None and len(scores):
            kept_max = self._found[2]
            ranking = ranking[kept_max[ranking] <= self.config["threshold"]]
        return limit.cut(ranking, ctx.index.tokens), None

    def _build(self, pool, positions: np.ndarray, weights, scores: np.ndarray, meta: dict) -> Selection:
        chosen = np.zeros(len(scores), dtype=bool)
        chosen[positions] = True
        rest = np.flatnonzero(~chosen)
        reasons = None
        if self._found is not None:
            earlier_max, earlier_arg, kept_max, kept_arg = self._found
            by_threshold = self.config["threshold"] is not None
            cos, of = (kept_max, kept_arg) if by_threshold else (earlier_max, earlier_arg)
            duplicate = of[rest] >= 0
            if by_threshold:
                duplicate &= cos[rest] > self.config["threshold"]
            other = pool.ids_at(np.where(duplicate, of[rest], 0)).to_pylist()
            reasons = [f"near-duplicate of id {other[i]} (cos={cos[p]:.3f})" if duplicate[i] else "over budget"
                       for i, p in enumerate(rest)]
            meta["near_duplicates"] = int(duplicate.sum())
        self._found = None
        return Selection.create(pool.ids_at(positions), scores=scores[positions], dropped_ids=pool.ids_at(rest),
                                dropped_scores=scores[rest], dropped_reasons=reasons, meta=meta)


def duplicates(features: np.ndarray, clusters: np.ndarray, ahead: np.ndarray, threshold: float | None):
    """Within each cluster, records ordered by `ahead` (descending; ties by position):

    earlier_max, earlier_arg: each record's highest cosine to an earlier record of its
        cluster and that record's position (-1 / -1 when first);
    kept_max, kept_arg: the same over earlier records that are kept, where a record is
        kept when its kept_max is at most `threshold` (None: every record counts as kept).
    All (n,) arrays; the work is blocked, never a dense cluster x cluster matrix.
    """
    from thresher.features.vectors import rows

    n = len(clusters)
    earlier_max = np.full(n, -1.0)
    earlier_arg = np.full(n, -1, dtype=np.int64)
    kept_max = np.full(n, -1.0)
    kept_arg = np.full(n, -1, dtype=np.int64)
    order = np.lexsort((np.arange(n), -np.asarray(ahead, dtype=np.float64), clusters))
    bounds = np.flatnonzero(np.diff(clusters[order])) + 1
    for members in np.split(order, bounds):
        vectors = rows(features, members)
        m = len(members)
        best = np.full(m, -1.0)
        best_at = np.full(m, -1, dtype=np.int64)
        best_kept = np.full(m, -1.0)
        best_kept_at = np.full(m, -1, dtype=np.int64)
        for a in range(0, m, BLOCK):
            b = min(a + BLOCK, m)
            sims = vectors[a:b] @ vectors[a:].T  # (records a..b) x (records a..m), float32
            # Every earlier record: the strict upper triangle within the block, all of it beyond.
            masked = sims.copy()
            masked[:, : b - a][np.tril(np.ones((b - a, b - a), dtype=bool))] = -np.inf
            _update(best, best_at, masked, a)
            # Earlier kept records: decided in order, since keeping depends on what was kept.
            kept_rows = np.zeros(b - a, dtype=bool)
            for r in range(b - a):
                i = a + r
                if threshold is None or best_kept[i] <= threshold:
                    kept_rows[r] = True
                    row = sims[r, r + 1 : b - a]
                    better = row > best_kept[i + 1 : b]
                    best_kept[i + 1 : b][better] = row[better]
                    best_kept_at[i + 1 : b][better] = i
            if b < m and kept_rows.any():
                _update(best_kept, best_kept_at, np.where(kept_rows[:, None], sims[:, b - a :], -np.inf), a, b)
        earlier_max[members], kept_max[members] = best, best_kept
        earlier_arg[members] = np.where(best_at >= 0, members[np.maximum(best_at, 0)], -1)
        kept_arg[members] = np.where(best_kept_at >= 0, members[np.maximum(best_kept_at, 0)], -1)
    return earlier_max, earlier_arg, kept_max, kept_arg


def _update(best: np.ndarray, best_at: np.ndarray, sims: np.ndarray, a: int, column0: int | None = None) -> None:
    """Raise best[j] to the column maxima of `sims` (rows are records a.., columns j from column0)."""
    column0 = a if column0 is None else column0
    if sims.shape[1] == 0:
        return
    top = np.argmax(sims, axis=0)
    values = sims[top, np.arange(sims.shape[1])]
    target = slice(column0, column0 + sims.shape[1])
    better = values > best[target]
    best[target][better] = values[better]
    best_at[target][better] = a + top[better]
