"""DSIR: data selection by importance resampling on hashed n-grams (Xie et al. 2023,
"Data Selection for Language Models via Importance Resampling").

    sel = DSIR(buckets=10_000).select(pool, budget="10%", target=Pool.from_jsonl("t.jsonl"), seed=0)

Fit a bag-of-hashed-n-grams model of the target and of the raw pool (on a uniform
sample of it by default), give each document the log importance weight
sum over its n-grams of log p_target - log p_raw, and resample: Gumbel top-k draws
without replacement in proportion to the weights (the paper's choice), or take the top
k. Several targets are each given their share of the budget (`target_proportions`,
default in proportion to their sizes) and chosen in turn, without duplicates.

Unlike the reference implementation (PyPI `data-selection`), documents are not dropped
for being short unless you ask (`min_length`; the reference drops those under 100
tokens by default, which surprises users with short records).

Speed: the featurizer is one compiled pass over the text bytes of Arrow's string buffers
(`thresher.features.ngrams`), so no Python string is built.

Memory: the models are O(buckets x targets). With `streaming=True` the choice keeps only
the best k keys per target (`thresher.select.streaming`) and no per-record score array is
built; the scan still returns each batch's log-weights (8 bytes per record and target)
and the pool index (about 12 bytes per record), which the foundation keeps for any method.
The selection's scores are the log-weights (the best over targets); a record that
`min_length` left out has no score and the reason "too-short"; streaming selections carry
no scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher.errors import UsageError
from thresher.select.base import Context, Param, Scores, ScoreSelector
from thresher.select.registry import register

TOO_SHORT = "too-short"


@dataclass(frozen=True)
class Models:
    """DSIR's fitted state: the raw pool's n-gram counts (buckets,) and the share of the
    pool they were counted on, each target's counts, the targets' shares of the budget
    (t,), and the per-bucket log importance weights (buckets, t)."""

    raw_counts: np.ndarray
    raw_fraction: float
    target_counts: list
    target_shares: np.ndarray
    log_weights: np.ndarray


@register
class DSIR(ScoreSelector):
    """Importance resampling toward one or more targets on hashed unigram+bigram counts."""

    name = "dsir"
    summary = "documents whose hashed n-gram distribution matches the target's (importance resampling)"
    paper = "Xie et al. 2023, Data Selection for Language Models via Importance Resampling"
    needs = ("text", "target")
    default_chooser = "gumbel"
    fit_before_scan = True
    params = {
        "ngrams": Param(2, int, "highest n-gram order (2 = unigrams and bigrams)"),
        "buckets": Param(10_000, int, "size of the hashed n-gram space"),
        "hash_seed": Param(0, int, "seed of the n-gram hash (not of the sampling)"),
        "smoothing": Param(1.0, float, "pseudo-counts per bucket: uniform for the raw model, spread like the raw model for targets"),
        "raw_sample": Param(10_000_000, int, "about how many n-grams of the pool fit the raw model (0 = all; "
                                             "the sample is read before the scoring pass)"),
        "length_norm": Param(False, bool, "divide a document's log-weight by its number of n-grams"),
        "min_length": Param(0, int, "leave out documents with fewer tokens (the reference's default is 100)"),
        "target_proportions": Param("", str, "shares of the budget per target, e.g. 0.3,0.7 (default: by size)"),
        "streaming": Param(False, bool, "choose while reading, keeping only the best k keys (for huge pools)"),
    }

    def validate(self) -> None:
        from thresher.features.ngrams import HashedNgrams

        for name in ("raw_sample", "min_length"):
            if self.config[name] < 0:
                raise UsageError(f"dsir: {name}={self.config[name]} is negative.")
        if not self.config["smoothing"] > 0:
            raise UsageError(f"dsir: smoothing={self.config['smoothing']} must be > 0 (a bucket nobody saw has no log).")
        if self.config["ngrams"] < 1 or self.config["buckets"] < 1:
            raise UsageError(f"dsir: ngrams={self.config['ngrams']} and buckets={self.config['buckets']} must be >= 1.")
        self.featurizer = HashedNgrams(self.config["ngrams"], self.config["buckets"], self.config["hash_seed"])
        self.proportions = _parse_proportions(self.config["target_proportions"])

    def check(self, pool, target) -> None:
        super().check(pool, target)
        targets = _targets(target)
        if self.proportions is not None and len(self.proportions) != len(targets):
            raise UsageError(f"dsir: {len(self.proportions)} target proportions for {len(targets)} targets; "
                             "give one share per --target.")

    # ---- fitting (before the scoring pass) --------------------------------------------
    def fit(self, ctx: Context) -> Models:
        """Fit the target and raw models and the per-bucket log-weights."""
        return self.models(ctx.pool, ctx.target, engine=ctx.engine, workers=ctx.workers)

    def models(self, pool, target, *, engine=None, workers=None) -> Models:
        """The fitted models of `target` (one pool or a list) and of `pool`."""
        from thresher.features.ngram_model import count_pool, count_target, log_weights

        targets = _targets(target)
        target_counts, target_bytes = [], 0
        for one in targets:
            counts, size = count_target(one, self.featurizer, workers=workers)
            target_counts.append(counts)
            target_bytes += size
        ngrams = sum(int(c.sum()) for c in target_counts)
        bytes_per_ngram = target_bytes / ngrams if ngrams else 2.5
        raw_counts, fraction = count_pool(pool, self.featurizer, sample_ngrams=self.config["raw_sample"],
                                          estimate_bytes_per_ngram=bytes_per_ngram, engine=engine, workers=workers)
        sizes = np.array([c.sum() for c in target_counts], dtype=np.float64)
        shares = np.asarray(self.proportions, dtype=np.float64) if self.proportions is not None else sizes
        shares = shares / shares.sum() if shares.sum() > 0 else np.full(len(targets), 1.0 / len(targets))
        return Models(raw_counts, float(fraction), target_counts, shares,
                      log_weights(target_counts, raw_counts, self.config["smoothing"]))

    # ---- scoring (the one full pass) ---------------------------------------------------
    def tasks(self, ctx: Context, models: Models):
        from thresher.features.ngram_model import ScoreTask

        return [ScoreTask(self.featurizer, models.log_weights)]

    def _batches(self, ctx: Context):
        """Per batch: (log-weights (m, t), tokens (m,), eligible (m,) bool)."""
        for scores, tokens, ngrams in ctx.outputs[0] if ctx.outputs else []:
            if self.config["length_norm"]:
                scores = scores / np.maximum(ngrams, 1)[:, None]
            yield scores, tokens, tokens >= self.config["min_length"]

    def score(self, ctx: Context, models: Models) -> Scores:
        t = len(models.target_counts)
        meta = {"raw_sample_fraction": round(models.raw_fraction, 4),
                "target_shares": [round(float(s), 4) for s in models.target_shares]}
        shares = models.target_shares if t > 1 else None
        if self.config["streaming"]:  # never hold every score at once
            return Scores(None, target_shares=shares, meta=meta,
                          batches=lambda: ((s, e) for s, _, e in self._batches(ctx)))
        parts = list(self._batches(ctx))
        scores = np.concatenate([s for s, _, _ in parts]) if parts else np.zeros((0, t))
        tokens = np.concatenate([k for _, k, _ in parts]) if parts else np.zeros(0, np.int32)
        eligible = np.concatenate([e for _, _, e in parts]) if parts else np.zeros(0, bool)
        best = scores.max(axis=1) if t > 1 else scores[:, 0]
        minimum = self.config["min_length"]

        def reasons_for(positions: np.ndarray):
            return [None if eligible[p] else (TOO_SHORT, f"{int(tokens[p])} tokens < min_length {minimum}")
                    for p in positions]

        return Scores(np.where(eligible, best, np.nan), by_target=scores if t > 1 else None, target_shares=shares,
                      reasons_for=reasons_for if minimum > 0 else None, meta=meta)

    def kl_reduction(self, pool, selected, target, *, engine=None, workers=None) -> float:
        """KL reduction (nats) of a pool of selected records under the models fitted on
        `pool` and `target`, averaged over targets: how much closer the selection's hashed
        n-gram distribution is to each target's than the raw pool's is."""
        from thresher.features.kl import kl_reduction
        from thresher.features.ngram_model import CountTask

        models = self.models(pool, target, engine=engine, workers=workers)
        _, outputs = selected.scan([CountTask(self.featurizer)])
        selected_counts = np.sum(outputs[0], axis=0) if outputs else np.zeros(self.featurizer.buckets, np.int64)
        return float(np.mean([kl_reduction(t, models.raw_counts, selected_counts, self.config["smoothing"])
                              for t in models.target_counts]))


def _targets(target: Any) -> list:
    return list(target) if isinstance(target, (list, tuple)) else [target]


def _parse_proportions(text: str) -> list[float] | None:
    if not text:
        return None
    try:
        shares = [float(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"dsir: target proportions {text!r} are not numbers; give e.g. 0.3,0.7.") from None
    if any(not s >= 0 for s in shares) or sum(shares) <= 0:
        raise UsageError(f"dsir: target proportions {text!r} must be >= 0 and not all 0.")
    return shares
