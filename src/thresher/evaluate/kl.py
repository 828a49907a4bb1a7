"""KL reduction: how much closer a selection's hashed n-gram distribution is to a
target's than the raw pool's is. The data metric of Xie et al. 2023, "Data Selection for
Language Models via Importance Resampling" (section 4), which they find correlates with
downstream accuracy:

    KL reduction = mean over targets of KL(p_target || p_raw) - KL(p_target || p_selection)

in nats, where each p is the Laplace-smoothed distribution of unigram + bigram counts
hashed into 10,000 buckets (`thresher.features.ngrams.HashedNgrams`). Positive means the
selection moved toward the target; a uniform random sample gets about 0, once it is large
enough (millions of n-grams) that the smoothing does not dominate its distribution.

    from thresher.evaluate import selection_kl_reduction
    selection_kl_reduction(pool, sel, target)          # one float
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from thresher.features.kl import kl_divergence, kl_reduction, ngram_distribution  # noqa: F401  (re-exported; the maths live there)


def selection_kl_reduction(pool: Any, selection: Any, target: Any, *, ngrams: int = 2, buckets: int = 10_000,
                           hash_seed: int = 0, smoothing: float = 1.0, workers: int | None = None) -> float:
    """KL reduction of `selection` (a Selection of `pool`) toward `target` (a Pool, or a
    list of Pools whose reductions are averaged). Reads the pool once, the targets once,
    and the selected records once."""
    from thresher.data.scan import standard_batch
    from thresher.features.ngram_model import CountTask
    from thresher.features.ngrams import HashedNgrams

    featurizer = HashedNgrams(ngrams, buckets, hash_seed)
    _, outputs = pool.scan([CountTask(featurizer)], workers=workers)
    raw = _total(outputs, buckets)
    selected = np.zeros(buckets, dtype=np.int64)
    for _, table in pool.take(selection).iter_tables():
        featurizer.transform(standard_batch(table, pool.fields).column("text"), counts=selected)
    targets: Sequence[Any] = target if isinstance(target, (list, tuple)) else [target]
    reductions = []
    for one in targets:
        _, outputs = one.scan([CountTask(featurizer)], workers=workers)
        reductions.append(kl_reduction(_total(outputs, buckets), raw, selected, smoothing))
    return float(np.mean(reductions))


def _total(outputs: list, buckets: int) -> np.ndarray:
    return np.sum(outputs[0], axis=0) if outputs and outputs[0] else np.zeros(buckets, dtype=np.int64)


__all__ = ["kl_divergence", "kl_reduction", "ngram_distribution", "selection_kl_reduction"]
