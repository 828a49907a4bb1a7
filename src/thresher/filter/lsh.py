"""Locality-sensitive hashing for MinHash signatures: choosing bands and rows, and
turning band collisions into candidate pairs without holding the signatures in memory.

With b bands of r rows, two records of Jaccard similarity s share at least one band
with probability P(s) = 1 - (1 - s^r)^b (Leskovec, Rajaraman & Ullman, "Mining of
Massive Datasets", ch. 3, 2014). `choose_banding` picks (b, r) for a target threshold:
records at the threshold become candidates with probability >= `recall_at_threshold`,
and among such choices the one with the fewest expected false candidates wins.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from thresher.errors import UsageError


@dataclass(frozen=True)
class Banding:
    """b bands of r rows over a signature of `num_perm` values, and what to expect of it.

    p_at_threshold: chance that a pair exactly at the threshold becomes a candidate.
    false_positive: mean candidate chance of pairs with similarity uniform in [0, t).
    false_negative: mean miss chance of pairs with similarity uniform in [t, 1].
    """

    bands: int
    rows: int
    num_perm: int
    threshold: float
    p_at_threshold: float
    false_positive: float
    false_negative: float

    def describe(self) -> str:
        return (f"{self.bands} bands x {self.rows} rows of {self.num_perm} (threshold {self.threshold:g}): "
                f"P(candidate | J={self.threshold:g}) = {self.p_at_threshold:.3f}, "
                f"expected false-positive rate {self.false_positive:.4f} (J < {self.threshold:g}), "
                f"false-negative rate {self.false_negative:.4f} (J >= {self.threshold:g})")


def candidate_probability(similarity: float | np.ndarray, bands: int, rows: int):
    """P(two records of Jaccard `similarity` share a band) = 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=np.float64) ** rows) ** bands


def _mean_over(lo: float, hi: float, fn, steps: int = 400) -> float:
    if hi <= lo:
        return 0.0
    grid = np.linspace(lo, hi, steps + 1)
    values = fn(grid)
    return float(np.sum((values[1:] + values[:-1]) * 0.5) * (hi - lo) / steps / (hi - lo))


def banding_rates(bands: int, rows: int, num_perm: int, threshold: float) -> Banding:
    """The expected behaviour of a given banding at a threshold."""
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise UsageError(f"bands={bands} x rows={rows} must be >= 1 each and use at most num_perm={num_perm} values.")
    return Banding(
        bands, rows, num_perm, threshold,
        p_at_threshold=float(candidate_probability(threshold, bands, rows)),
        false_positive=_mean_over(0.0, threshold, lambda s: candidate_probability(s, bands, rows)),
        false_negative=_mean_over(threshold, 1.0, lambda s: 1.0 - candidate_probability(s, bands, rows)),
    )


def choose_banding(threshold: float, num_perm: int, recall_at_threshold: float = 0.9) -> Banding:
    """Bands and rows for a Jaccard `threshold`: the fewest expected false candidates
    among choices that find a pair at the threshold with probability >= `recall_at_threshold`
    (the most likely to find it, when none reaches that)."""
    if not 0.0 < threshold < 1.0:
        raise UsageError(f"threshold={threshold!r}: give a Jaccard similarity between 0 and 1 (e.g. 0.8).")
    if num_perm < 2:
        raise UsageError(f"num_perm={num_perm!r}: give at least 2 permutations (128 is usual).")
    options = [banding_rates(b, r, num_perm, threshold)
               for r in range(1, num_perm + 1) for b in [num_perm // r] if b >= 1]
    good = [o for o in options if o.p_at_threshold >= recall_at_threshold]
    if not good:
        return max(options, key=lambda o: (o.p_at_threshold, -o.false_positive))
    return min(good, key=lambda o: (o.false_positive, -o.p_at_threshold))


def read_band(parts: list, band: int) -> np.ndarray:
    """Band `band`'s keys for the whole pool, (n,) uint64, read from the per-batch key
    files (each stored band-major, so one band is one contiguous read per file)."""
    pieces = []
    for part in parts:
        if part.n:
            pieces.append(np.fromfile(part.path("keys"), dtype=np.uint64, count=part.n, offset=band * part.n * 8))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.uint64)


def candidate_pairs(parts: list, n: int, bands: int, usable: np.ndarray, all_pairs_up_to: int = 4,
                    bar=None) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate pairs (left < right) of pool positions that share any band.

    usable: (n,) bool, records with at least one shingle (empty texts are never paired).
    """
    from thresher.filter import _clusters

    positions = np.flatnonzero(usable)
    merged = np.zeros(0, np.int64)
    for band in range(bands):
        keys = read_band(parts, band)[positions]
        order = np.argsort(keys, kind="stable")
        left, right = _clusters.bucket_pairs(keys[order], order, all_pairs_up_to)
        del keys, order
        if len(left):
            # Merged band by band: a pair of close duplicates shares most bands, and keeping
            # every band's copy until the end held `bands` times the distinct pairs.
            merged = np.union1d(merged, positions[left] * np.int64(n) + positions[right])
        if bar is not None:
            bar.advance(1)
    if not len(merged):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return merged // n, merged % n


def concatenate_files(paths: list[str], out: str) -> None:
    """Join files into one, in order, by a kernel-side copy where the OS has one."""
    with open(out, "wb") as target:
        for path in paths:
            with open(path, "rb") as source:
                size = os.fstat(source.fileno()).st_size
                copied = 0
                while copied < size:
                    try:
                        step = os.copy_file_range(source.fileno(), target.fileno(), size - copied)
                    except (AttributeError, OSError):
                        source.seek(copied)
                        target.write(source.read())
                        break
                    if step == 0:
                        break
                    copied += step


def check_threshold(threshold: float) -> None:
    if not isinstance(threshold, (int, float)) or math.isnan(threshold) or not 0.0 < threshold < 1.0:
        raise UsageError(f"threshold={threshold!r}: give a Jaccard similarity between 0 and 1 (e.g. 0.8).")
