"""Hashed n-gram features: the bag-of-words representation of DSIR.

    featurizer = HashedNgrams(ngrams=2, buckets=10_000, seed=0)
    featurizer.buckets_of("Hello, world!")       # (7,) int32: hello | , | "hello ," | world | ", world" | ! | "world !"
    featurizer.counts(texts)                      # (10_000,) int64 histogram over documents

Text is lowercased and split into runs of word characters and runs of punctuation (the
WordPunctTokenizer pattern `\\w+|[^\\w\\s]+` used by the reference DSIR), then every
unigram up to every `ngrams`-gram is hashed into one shared space of `buckets`
(Xie et al. 2023, "Data Selection for Language Models via Importance Resampling", use
unigrams + bigrams in 10,000 buckets). The hash is FNV-1a with a xorshift-multiply finalizer,
seeded by `seed`: stable across machines and runs, unlike Python's salted `hash()`.
The loop is compiled with numba (cached on disk after the first call), and reads the
Arrow string buffers directly: a few hundred MB of text per CPU-second.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa

from thresher.data.scan import string_buffers
from thresher.errors import UsageError

MAX_BUCKETS = 1 << 30


@dataclass(frozen=True)
class HashedNgrams:
    """Hash each document's 1..`ngrams`-grams of lowercased word/punctuation tokens into `buckets`.

    ngrams: highest n-gram order (2 = unigrams and bigrams). buckets: size of the
    hashed space. seed: hash seed (the same seed gives the same buckets everywhere).
    """

    ngrams: int = 2
    buckets: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low, high in (("ngrams", 1, 8), ("buckets", 1, MAX_BUCKETS), ("seed", 0, 2**63 - 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not low <= value <= high:
                raise UsageError(f"hashed n-grams: {name}={value!r}; give a whole number from {low} to {high}.")

    def buckets_of(self, text: str) -> np.ndarray:
        """The bucket of every n-gram of one document: (m,) int32, in text order (for each
        token its unigram, then the bigram ending at it, ...)."""
        doc_buckets = _kernels().doc_buckets
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        out = np.empty(self.ngrams * len(data) + 1, dtype=np.int32)
        hashes = np.empty(len(data) + 1, dtype=np.uint64)
        written, _ = doc_buckets(data, 0, len(data), self.ngrams, self.buckets, self.seed, out, hashes)
        return out[:written].copy()

    def transform(self, texts, weights: np.ndarray | None = None, counts: np.ndarray | None = None
                  ) -> tuple[np.ndarray | None, np.ndarray]:
        """Featurize a batch of documents in one compiled pass.

        texts: Arrow string array (or chunked array, or list of str); nulls count as empty.
        weights: (buckets, t) float64 per-bucket log-weights, or None. Returns
        scores (n, t) float64 (each document's summed weights over its n-grams; None
        without weights) and tokens (n,) int64. counts: optional (buckets,) int64
        histogram that every n-gram is added to, in place.
        """
        data, offsets = text_buffers(texts)
        return self.transform_spans(data, offsets[:-1], offsets[1:], weights=weights, counts=counts)

    def transform_spans(self, data: np.ndarray, starts: np.ndarray, ends: np.ndarray, *,
                        weights: np.ndarray | None = None, counts: np.ndarray | None = None
                        ) -> tuple[np.ndarray | None, np.ndarray]:
        """`transform` over documents data[starts[i]:ends[i]] of a UTF-8 byte buffer (uint8)."""
        featurize = _kernels().featurize
        n = len(starts)
        with_scores = weights is not None
        if with_scores:
            weights = np.ascontiguousarray(weights, dtype=np.float64)
            if weights.ndim != 2 or weights.shape[0] != self.buckets:
                raise ValueError(f"weights must have shape ({self.buckets}, t); got {weights.shape}")
            scores = np.zeros((n, weights.shape[1]), dtype=np.float64)
        else:
            weights = np.zeros((self.buckets, 1), dtype=np.float64)
            scores = np.zeros((0, 1), dtype=np.float64)
        if counts is None:
            counts_out = np.zeros(0, dtype=np.int64)
        else:
            if counts.shape != (self.buckets,) or counts.dtype != np.int64:
                raise ValueError(f"counts must be a ({self.buckets},) int64 array")
            counts_out = counts
        tokens = np.zeros(n, dtype=np.int64)
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        ends = np.ascontiguousarray(ends, dtype=np.int64)
        longest = int((ends - starts).max()) if n else 0
        out, hashes = _scratch(self.ngrams * longest + 1, longest + 1)
        featurize(data, starts, ends, self.ngrams, self.buckets, self.seed, counts_out, weights, scores, tokens,
                  out, hashes)
        return (scores if with_scores else None), tokens

    def counts(self, texts) -> np.ndarray:
        """Histogram of every n-gram of every document: (buckets,) int64."""
        counts = np.zeros(self.buckets, dtype=np.int64)
        self.transform(texts, counts=counts)
        return counts

    def counts_of_batches(self, batches: Iterable[pa.RecordBatch | pa.Table], column: str = "text") -> np.ndarray:
        """Histogram over the `column` of several Arrow batches: (buckets,) int64."""
        counts = np.zeros(self.buckets, dtype=np.int64)
        for batch in batches:
            self.transform(batch.column(column), counts=counts)
        return counts


_SCRATCH = threading.local()


def _scratch(n_out: int, n_hashes: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's scratch buffers, grown to fit and kept for the next batch: allocating
    and freeing them per batch left the process's heap fragmented (about 14 MB more peak
    RSS over a 300 MB pool). One pair per thread."""
    out, hashes = getattr(_SCRATCH, "out", None), getattr(_SCRATCH, "hashes", None)
    if out is None or len(out) < n_out:
        out = _SCRATCH.out = np.empty(max(n_out, 1 << 16), dtype=np.int32)
    if hashes is None or len(hashes) < n_hashes:
        hashes = _SCRATCH.hashes = np.empty(max(n_hashes, 1 << 15), dtype=np.uint64)
    return out, hashes


def _kernels():
    """The compiled loops, imported on first use so that `import thresher` stays light."""
    from thresher._startup import load_kernels

    try:
        return load_kernels("thresher.features._ngram_kernels", _warm_up)
    except ModuleNotFoundError as err:
        if err.name in ("numba", "llvmlite"):
            from thresher.errors import MissingDependencyError

            raise MissingDependencyError("numba", "all", "hashed n-gram features (dsir)") from None
        raise


def _warm_up(kernels) -> None:
    kernels.featurize(np.zeros(1, np.uint8), np.zeros(1, np.int64), np.ones(1, np.int64), 1, 1, 0,
                      np.zeros(0, np.int64), np.zeros((1, 1)), np.zeros((0, 1)), np.zeros(1, np.int64), *_scratch(2, 2))


def text_buffers(texts) -> tuple[np.ndarray, np.ndarray]:
    """(data (bytes,) uint8, offsets (n + 1,) int64) of a string array, without copying the text.

    Null entries read as empty documents.
    """
    if not isinstance(texts, (pa.Array, pa.ChunkedArray)):
        texts = pa.array(list(texts), type=pa.string())
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        raise UsageError(f"hashed n-grams read text; got a column of type {texts.type}.")
    return string_buffers(texts)
