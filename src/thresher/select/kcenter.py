"""Greedy k-center: a coreset whose points cover the pool with the smallest radius."""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.select.base import Choice, Context, Param, SetSelector
from thresher.select.registry import register
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector, Walk


@register
class KCenter(EmbeddingSelector, SetSelector):
    """Greedy k-center coreset (Sener & Savarese 2018): start from the record nearest the
    mean, then repeatedly take the record farthest from everything taken so far.

    It keeps records that cover the whole embedding space: every record lies within a
    small radius of a kept one (at most twice the best possible radius). It takes
    outliers first, so at small budgets it often loses to random on classification;
    it pays off when coverage matters more than typicality. Gains: each chosen record's
    distance to the nearest record chosen before it (the covering radius it closed; none
    for the first).

    Distances are cosine-geometry (unit rows) by default, or Euclidean on the raw
    features. Each step touches only records whose nearest centre could change (by the
    triangle inequality), and reads the embeddings in blocks, so memory stays at a few
    arrays of n numbers.
    """

    name = "kcenter"
    summary = "greedy k-center coreset: the record farthest from those taken, again and again"
    paper = 'Sener & Savarese 2018, "Active Learning for Convolutional Neural Networks: A Core-Set Approach"'
    params = {
        **EMBEDDING_PARAMS,
        "metric": Param("cosine", str, "cosine (unit-length rows) or euclidean on the features as given",
                        ("cosine", "euclidean")),
    }

    def choose(self, ctx: Context, state, limit: Limit) -> Choice:
        walk = Walk(limit, ctx.index.tokens, ctx.index.n)
        if not walk.open:
            return Choice(walk.positions())
        gains = greedy_k_center(self.embeddings(ctx), walk, self.config["metric"] == "cosine")
        return Choice(walk.positions(), gains=gains)


def greedy_k_center(features: np.ndarray, walk: Walk, normalize: bool) -> np.ndarray:
    """Offer records to `walk` in greedy k-center order until it is full; returns the
    distance (k,) float64 of each taken record to the nearest centre before it (NaN for
    the first).

    Ties (equal distances) go to the lowest pool position, so the order is reproducible.
    """
    from thresher.features.vectors import blocks, rows

    n = len(features)
    norms = np.empty(n, dtype=np.float64)
    for start, block in blocks(features, normalize=False):
        norms[start : start + len(block)] = np.einsum("ij,ij->i", block, block)
    if normalize and np.all(np.abs(norms - 1.0) < 1e-4):
        normalize = False  # already unit length: skip rescaling on every pass
    elif normalize:
        norms = (norms > 0).astype(np.float64)
    total = np.zeros(features.shape[1], dtype=np.float64)
    for start, block in blocks(features, normalize):
        total += block.sum(axis=0, dtype=np.float64)
    mean = (total / max(n, 1)).astype(np.float32)
    # The first centre: the record nearest the mean (a typical record, not an outlier).
    first = int(np.argmin(_distances(features, mean, norms, normalize)))
    nearest = np.full(n, np.inf)            # distance to the nearest centre; -1 once taken
    owner = np.zeros(n, dtype=np.int64)     # which centre that is
    centres = np.empty((min(walk.capacity, n, 1024), features.shape[1]), dtype=np.float32)
    squares = np.empty(len(centres), dtype=np.float32)  # squared norms of the centres
    count = 0
    candidate = first
    gains: list[float] = []
    while walk.offer(candidate):
        gains.append(float(nearest[candidate]) if count else float("nan"))
        if count == len(centres):
            centres = np.concatenate([centres, np.empty_like(centres)])
            squares = np.concatenate([squares, np.empty_like(squares)])
        centre = centres[count] = rows(features, np.array([candidate]), normalize)[0]
        squares[count] = centre @ centre
        if count == 0:
            update = None
        else:
            # A record can only move to the new centre if it is nearer to it than to its
            # own centre; by the triangle inequality that needs d(own, new) < 2 d(x, own).
            between = np.sqrt(np.maximum(squares[:count] + squares[count] - 2.0 * (centres[:count] @ centre), 0.0))
            update = np.flatnonzero(between[owner] < 2.0 * nearest)
        if update is None or len(update) > n // 4:
            distance = _distances(features, centre, norms, normalize)
            moved = distance < nearest
            nearest[moved], owner[moved] = distance[moved], count
        else:
            distance = _distances_at(features, update, centre, norms, normalize)
            moved = distance < nearest[update]
            nearest[update[moved]], owner[update[moved]] = distance[moved], count
        nearest[candidate] = -1.0
        count += 1
        candidate = int(np.argmax(nearest))
        if nearest[candidate] < 0:  # every record is a centre
            break
    return np.array(gains, dtype=np.float64)


def _distances(features: np.ndarray, centre: np.ndarray, norms: np.ndarray, normalize: bool) -> np.ndarray:
    """Distance (n,) float64 of every row to `centre`, read in blocks."""
    from thresher.features.vectors import blocks

    out = np.empty(len(features), dtype=np.float64)
    centre_norm = float(centre @ centre)
    # Large blocks: a matrix-vector product per block costs a fixed few ms in BLAS calls.
    for start, block in blocks(features, normalize, size=65536):
        squared = norms[start : start + len(block)] + centre_norm - 2.0 * (block @ centre)
        out[start : start + len(block)] = np.sqrt(np.maximum(squared, 0.0))
    return out


def _distances_at(features: np.ndarray, positions: np.ndarray, centre: np.ndarray, norms: np.ndarray,
                  normalize: bool) -> np.ndarray:
    from thresher.features.vectors import BLOCK, rows

    out = np.empty(len(positions), dtype=np.float64)
    for start in range(0, len(positions), BLOCK):
        part = positions[start : start + BLOCK]
        squared = norms[part] + float(centre @ centre) - 2.0 * (rows(features, part, normalize) @ centre)
        out[start : start + len(part)] = np.sqrt(np.maximum(squared, 0.0))
    return out
