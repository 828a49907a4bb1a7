"""SemDeDup: drop records whose meaning repeats another's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresher.errors import UsageError
from thresher.select.base import Context, Param, Scores, ScoreSelector
from thresher.select.registry import register
from thresher.select._embedding import CLUSTER_PARAM, EMBEDDING_PARAMS, EmbeddingSelector, check_clusters
from thresher.select.clusters import fit_clusters

BLOCK = 1024
DUPLICATE = "semantic-duplicate"


@dataclass(frozen=True)
class Found:
    """SemDeDup's state: each record's cluster (n,), and (see `duplicates`) its highest
    cosine to an earlier record of its cluster and to an earlier kept one, with positions."""

    assign: np.ndarray
    earlier_max: np.ndarray
    earlier_arg: np.ndarray
    kept_max: np.ndarray
    kept_arg: np.ndarray


@register
class SemDeDup(EmbeddingSelector, ScoreSelector):
    """Semantic deduplication (Abbas et al. 2023): k-means on the embeddings, then within
    each cluster, with its records in a fixed order (farthest from the centroid first,
    as in the paper, or nearest first, or pool order), compare each record with those
    before it.

    With a `threshold`, a record whose cosine to an earlier *kept* record exceeds it is
    dropped with the reason "semantic-duplicate" ("of id X, cosine 0.973"), X being that
    kept record; of a pair of near-duplicates one is always kept; the budget then caps
    the rest. Without one, records are ranked by their highest cosine to any earlier
    record of their cluster, least duplicated first, and the budget sets the cut (the
    paper picks the threshold that reaches the wanted size); dropped records name their
    closest earlier record. Near-duplicates in different clusters are not compared, as
    in the paper. Scores: 1 minus that highest cosine.
    """

    name = "semdedup"
    summary = "semantic dedup: drop records too similar to a kept one in their k-means cluster"
    paper = 'Abbas et al. 2023, "SemDeDup: Data-efficient learning at web-scale through semantic deduplication"'
    provides_clusters = True
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "threshold": Param(None, float, "drop records whose cosine to a kept record is above this (e.g. 0.95); "
                                        "none: rank by duplication and cut at the budget"),
        "keep": Param("hard", str, "which of a group of duplicates stays: the one farthest from the centroid (hard), "
                                   "nearest (easy) or first in the pool", ("hard", "easy", "first")),
    }

    def validate(self) -> None:
        check_clusters(self.name, self.config)
        threshold = self.config["threshold"]
        if threshold is not None and not -1.0 <= threshold <= 1.0:
            raise UsageError(f"semdedup: threshold={threshold} is a cosine; give a value between -1 and 1, e.g. 0.95.")

    def fit(self, ctx: Context) -> Found:
        n = ctx.index.n
        clusters = fit_clusters(self, ctx, self.config["clusters"])
        if n == 0:
            empty = np.zeros(0)
            return Found(clusters.assign, empty, empty.astype(np.int64), empty, empty.astype(np.int64))
        ahead = {"hard": clusters.cosine, "easy": -clusters.cosine, "first": np.zeros(n)}[self.config["keep"]]
        return Found(clusters.assign, *duplicates(self.embeddings(ctx), clusters.assign, ahead,
                                                  self.config["threshold"]))

    def score(self, ctx: Context, found: Found) -> Scores:
        threshold = self.config["threshold"]
        values = 1.0 - found.earlier_max
        by_threshold = threshold is not None
        cos, of = (found.kept_max, found.kept_arg) if by_threshold else (found.earlier_max, found.earlier_arg)
        if by_threshold:
            values = np.where(found.kept_max > threshold, np.nan, values)  # duplicates are never chosen
        ids_at = ctx.pool.ids_at

        def reasons_for(positions: np.ndarray):
            duplicate = of[positions] >= 0
            if by_threshold:
                duplicate &= cos[positions] > threshold
            other = ids_at(np.where(duplicate, of[positions], 0)).to_pylist()
            return [(DUPLICATE, f"of id {other[i]}, cosine {cos[p]:.3f}") if duplicate[i] else None
                    for i, p in enumerate(positions)]

        duplicates_found = int((found.kept_max > threshold).sum()) if by_threshold else int((of >= 0).sum())
        return Scores(values, clusters=found.assign, reasons_for=reasons_for, meta={"near_duplicates": duplicates_found})


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
