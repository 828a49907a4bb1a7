"""Choosers: turn scores into a choice, shared by every method.

A method computes scores (higher = better); a chooser picks positions from them within a
budget `Limit` (a count, or a token total with per-record `costs`). Every chooser
returns pool positions (k,) int64 in choice order (best first), and breaks ties by pool
position, so the same scores and seed always give the same choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.budget import Limit
from thresher.errors import UsageError


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """All positions, highest score first; equal scores in pool order. NaN ranks last."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = np.where(np.isnan(scores), -np.inf, scores)
    return np.lexsort((np.arange(len(scores)), -keys))


def top_positions(scores: np.ndarray, limit: Limit, costs: np.ndarray | None = None) -> np.ndarray:
    """The best positions that fit `limit`, best first."""
    n = len(scores)
    if limit.count is not None and limit.count < n // 4:
        keys = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=np.float64))
        # Partition first, then order only the candidates (ties at the cut included).
        kth = np.partition(keys, n - limit.count)[n - limit.count] if limit.count else np.inf
        candidates = np.flatnonzero(keys >= kth)
        order = candidates[np.lexsort((candidates, -keys[candidates]))]
        return order[: limit.count]
    return limit.cut(rank_descending(scores), costs)


@dataclass(frozen=True)
class TopK:
    """The highest-scoring records."""

    name: ClassVar[str] = "top-k"

    def choose(self, scores: np.ndarray, limit: Limit, rng: np.random.Generator, costs: np.ndarray | None = None) -> np.ndarray:
        return top_positions(scores, limit, costs)


@dataclass(frozen=True)
class GumbelTopK:
    """Sampling without replacement, each record drawn with probability proportional to
    exp(score): scores are log-weights. Adds Gumbel noise and takes the top
    (Kool et al. 2019, "Stochastic Beams and Where to Find Them")."""

    name: ClassVar[str] = "gumbel"
    temperature: float = 1.0

    def choose(self, scores: np.ndarray, limit: Limit, rng: np.random.Generator, costs: np.ndarray | None = None) -> np.ndarray:
        keys = np.asarray(scores, dtype=np.float64) / self.temperature + rng.gumbel(size=len(scores))
        return top_positions(keys, limit, costs)


@dataclass(frozen=True)
class Threshold:
    """Every record scoring at least `threshold` (then cut to the budget, best first)."""

    name: ClassVar[str] = "threshold"
    threshold: float = 0.0

    def choose(self, scores: np.ndarray, limit: Limit | None, rng: np.random.Generator, costs: np.ndarray | None = None) -> np.ndarray:
        order = rank_descending(scores)
        order = order[np.asarray(scores)[order] >= self.threshold]
        return order if limit is None else limit.cut(order, costs)


def group_codes(values: pa.Array) -> tuple[np.ndarray, list]:
    """(codes (n,) int64, sorted distinct values) for a label or domain column."""
    encoded = pc.dictionary_encode(values).combine_chunks() if isinstance(values, pa.ChunkedArray) else pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    sorter = pc.sort_indices(dictionary).to_numpy()
    remap = np.empty(len(sorter), dtype=np.int64)
    remap[sorter] = np.arange(len(sorter))
    codes = remap[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, dictionary.take(pa.array(sorter)).to_pylist()


def allocate(capacity: np.ndarray, total: int, shares: np.ndarray) -> np.ndarray:
    """Split `total` over groups in proportion to `shares`, never above `capacity`.

    Largest-remainder rounding; what a full group cannot take goes to the others in
    their shares (water-filling). Returns (g,) int64 quotas summing to
    min(total, capacity.sum()).
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    quota = np.zeros(len(capacity), dtype=np.int64)
    remaining = int(min(total, capacity.sum()))
    while remaining > 0:
        active = quota < capacity
        weight = np.where(active, shares, 0.0)
        if weight.sum() <= 0:
            weight = active.astype(np.float64)
        ideal = remaining * weight / weight.sum()
        add = np.floor(ideal).astype(np.int64)
        left = remaining - int(add.sum())
        if left:
            remainders = np.where(active, ideal - add, -1.0)
            # Among equal remainders, the group with least so far (per share) goes first.
            fill = (quota + add) / np.maximum(shares, 1e-12)
            add[np.lexsort((np.arange(len(add)), fill, -np.round(remainders, 12)))[:left]] += 1
        add = np.minimum(add, capacity - quota)
        quota += add
        remaining -= int(add.sum())
    return quota


@dataclass(frozen=True)
class Quota:
    """Per-group quotas: split the budget over groups (labels, domains, clusters) in
    proportion to group size ("size") or equally ("equal"), then take each group's best
    records by score. Small groups that cannot fill an equal share give the rest to the
    others. The choice is interleaved across groups, so any prefix stays balanced."""

    name: ClassVar[str] = "quota"
    proportions: str = "size"

    def __post_init__(self) -> None:
        if self.proportions not in ("size", "equal"):
            raise UsageError(f"quota proportions {self.proportions!r}: use 'size' or 'equal'.")

    def choose(self, scores: np.ndarray, limit: Limit, rng: np.random.Generator, costs: np.ndarray | None = None,
               *, groups: np.ndarray) -> np.ndarray:
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        order = rank_descending(scores)
        by_group = order[np.argsort(groups[order], kind="stable")]
        sizes = np.bincount(groups, minlength=n_groups)
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        rank_in_group = np.arange(len(by_group)) - starts[groups[by_group]]
        if limit.count is not None:
            shares = sizes if self.proportions == "size" else (sizes > 0).astype(np.float64)
            quota = allocate(sizes, limit.count, shares)
            chosen = by_group[rank_in_group < quota[groups[by_group]]]
            position_in_quota = rank_in_group[rank_in_group < quota[groups[by_group]]]
            fill = (position_in_quota + 0.5) / quota[groups[chosen]]
        else:
            assert costs is not None, "a token budget needs per-record costs"
            group_tokens = np.bincount(groups, weights=costs, minlength=n_groups).astype(np.int64)
            shares = group_tokens if self.proportions == "size" else (sizes > 0).astype(np.float64)
            quota = allocate(group_tokens, limit.tokens, shares)
            spent = np.cumsum(costs[by_group]) - np.concatenate([[0], np.cumsum(group_tokens)])[:-1][groups[by_group]]
            fits = spent <= quota[groups[by_group]]
            chosen = by_group[fits]
            fill = spent[fits] / np.maximum(quota[groups[chosen]], 1)
        return chosen[np.lexsort((groups[chosen], fill))]


CHOOSERS = {chooser.name: chooser for chooser in (TopK, GumbelTopK, Threshold, Quota)}
