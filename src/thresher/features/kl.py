"""KL maths on hashed n-gram distributions: how much closer a selection's distribution is
to a target's than the raw pool's is. The data metric of Xie et al. 2023, "Data Selection
for Language Models via Importance Resampling" (section 4), which they find correlates
with downstream accuracy:

    KL reduction = KL(p_target || p_raw) - KL(p_target || p_selection)

in nats, where each p is the Laplace-smoothed distribution of hashed n-gram counts
(buckets,) (`thresher.features.ngrams.HashedNgrams`). Positive means the selection moved
toward the target. Used by DSIR's report and by `thresher.evaluate.selection_kl_reduction`.
"""

from __future__ import annotations

import numpy as np


def ngram_distribution(counts: np.ndarray, smoothing: float = 1.0) -> np.ndarray:
    """Probabilities (buckets,) float64 from counts (buckets,), with `smoothing` added to each."""
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / max(len(counts), 1))


def kl_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p || q) in nats for distributions of the same length (0 log 0 = 0)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError(f"distributions differ in length: {p.shape} vs {q.shape}")
    support = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[support] * (np.log(p[support]) - np.log(q[support]))))


def kl_reduction(target_counts: np.ndarray, raw_counts: np.ndarray, selected_counts: np.ndarray,
                 smoothing: float = 1.0) -> float:
    """KL(target || raw) - KL(target || selected) in nats, from hashed n-gram counts (buckets,)."""
    target = ngram_distribution(target_counts, smoothing)
    return kl_divergence(target, ngram_distribution(raw_counts, smoothing)) - \
        kl_divergence(target, ngram_distribution(selected_counts, smoothing))


__all__ = ["kl_divergence", "kl_reduction", "ngram_distribution"]
