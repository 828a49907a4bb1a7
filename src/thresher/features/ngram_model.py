"""Bag-of-hashed-n-gram models of a pool and of targets, and the per-bucket log-weights
of importance resampling (Xie et al. 2023, "Data Selection for Language Models via
Importance Resampling", DSIR).

The raw pool's model may be fit on a uniform sample: the first part of every shard (a
slice of each file's bytes, or of each in-memory table's rows), sized to hold about
`sample_ngrams` n-grams. Fitting then costs a fraction of a pass, and scoring makes the
one full pass over the pool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pyarrow as pa

from thresher.data.pool import Pool
from thresher.data.sample import sample_shards  # noqa: F401  (re-exported: it lived here)
from thresher.data.sources import MemorySource
from thresher.engine import Engine
from thresher.errors import UsageError
from thresher.features.ngrams import HashedNgrams


SAMPLE_BYTES_PER_WORKER = 64 << 20


@dataclass(frozen=True)
class CountTask:
    """Per-batch task: the histogram (buckets,) int64 of the batch's n-grams."""

    featurizer: HashedNgrams

    def __call__(self, batch: pa.RecordBatch) -> np.ndarray:
        return self.featurizer.counts(batch.column("text"))


@dataclass(frozen=True)
class ScoreTask:
    """Per-batch task: (log importance weights (m, t) float64, tokens (m,) int32, n-grams (m,) int32).

    log_weights: (buckets, t) per-bucket log p_target - log p_raw, one column per target.
    """

    featurizer: HashedNgrams
    log_weights: np.ndarray

    def __call__(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._finish(*self.featurizer.transform(batch.column("text"), weights=self.log_weights))

    def _finish(self, scores: np.ndarray, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = self.featurizer.ngrams
        # Every token starts one n-gram of each order that fits before it.
        ngrams = sum(np.maximum(tokens - k, 0) for k in range(order))
        return scores, tokens.astype(np.int32), ngrams.astype(np.int32)


def smoothed(counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Laplace-smoothed distribution (buckets,) float64 from counts (buckets,)."""
    counts = np.asarray(counts, dtype=np.float64) + smoothing
    total = counts.sum()
    return counts / total if total > 0 else np.full(len(counts), 1.0 / len(counts))


def log_weights(target_counts: Sequence[np.ndarray], raw_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """Per-bucket log importance weights (buckets, t): log p_target_t - log p_raw.

    The raw model is add-`smoothing` (Laplace) smoothed. Each target model gets the same
    number of pseudo-counts per bucket, `smoothing`, but spread like the raw model (a
    Dirichlet prior whose base measure is p_raw): with a small target, a bucket it never
    saw gets a small constant penalty, log(s B / (N + s B)), instead of a weight that
    rewards whatever is rare in the pool, which uniform add-one smoothing over 10,000
    buckets does when the target has only a few thousand n-grams.
    """
    raw = smoothed(raw_counts, smoothing)
    pseudo = smoothing * len(raw)
    columns = []
    for counts in target_counts:
        counts = np.asarray(counts, dtype=np.float64)
        total = counts.sum() + pseudo
        target = (counts + pseudo * raw) / total if total > 0 else raw
        columns.append(np.log(target) - np.log(raw))
    return np.stack(columns, axis=1)


def count_pool(pool: Pool, featurizer: HashedNgrams, *, sample_ngrams: int = 0, estimate_bytes_per_ngram: float = 2.5,
               engine: Engine | str | None = None, workers: int | None = None) -> tuple[np.ndarray, float]:
    """N-gram histogram (buckets,) int64 of a pool, or of a uniform sample of it.

    sample_ngrams: about how many n-grams to count (0 = the whole pool). The sample is
    the first part of every shard, sized from `estimate_bytes_per_ngram`. Returns the
    counts and the fraction of the pool's bytes (or rows) that was read.
    """
    fraction = 1.0
    if sample_ngrams > 0:
        size = _pool_bytes(pool)
        if size > 0:
            fraction = min(1.0, sample_ngrams * estimate_bytes_per_ngram / size)
    if isinstance(pool.source, MemorySource) or fraction * _pool_bytes(pool) <= SAMPLE_BYTES_PER_WORKER:
        engine, workers = "local", 1  # starting worker processes would cost more than the reading
    # Through Pool.scan, so the pool's bad-record policy, engine and progress apply to the sample too.
    _, outputs = pool.scan([CountTask(featurizer)], sample=fraction if fraction < 1.0 else None,
                           engine=engine, workers=workers)
    counts = np.zeros(featurizer.buckets, dtype=np.int64)
    for per_batch in outputs[0] if outputs else []:
        counts += per_batch
    return counts, fraction


def count_target(target: Pool, featurizer: HashedNgrams, *, workers: int | None = None) -> tuple[np.ndarray, int]:
    """N-gram histogram (buckets,) int64 of a whole target pool, and its text bytes."""
    if not target.fields.has_text:
        raise UsageError("the target has no text; read it with the pool's --text-field or --template.")
    # Targets are small (tens to thousands of examples): worker processes would cost more.
    index, outputs = target.scan([CountTask(featurizer), _TextBytes()], workers=1)
    if index.n == 0:
        raise UsageError(f"the target {target.paths[0]} has no records; give examples of the task you care about.")
    counts = np.sum(outputs[0], axis=0) if outputs else np.zeros(featurizer.buckets, np.int64)
    text_bytes = outputs[1] if outputs else []
    return counts.astype(np.int64), int(sum(text_bytes))


@dataclass(frozen=True)
class _TextBytes:
    def __call__(self, batch: pa.RecordBatch) -> int:
        column = batch.column("text")
        return int(column.nbytes)


def _pool_bytes(pool: Pool) -> int:
    if isinstance(pool.source, MemorySource):
        table = pool.source.table
        return int(sum(table.column(name).nbytes for name in pool.fields.text_sources))
    return int(sum(os.path.getsize(path) for path in pool.source.paths))
