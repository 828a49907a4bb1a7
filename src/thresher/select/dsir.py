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

Speed: the featurizer is one compiled pass over the text bytes (`thresher.features.ngrams`);
a JSON lines pool read for its text alone is not even parsed into Arrow: a compiled
scanner finds each line's text and the featurizer decodes its escapes while hashing
(`thresher.data.jsonl.text_spans`; a block with anything unusual is parsed as usual).

Memory: the models are O(buckets x targets). With `streaming=True` the choice keeps only
the best k keys per target (`thresher.select.streaming`) and no per-record score array is
built; the scan still returns each batch's log-weights (8 bytes per record and target)
and the pool index (about 12 bytes per record), which the foundation keeps for any method.
The selection's scores are the log-weights (the best over targets), NaN where
`min_length` left a record out; streaming selections carry no scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher.budget import Budget, Limit
from thresher.errors import UsageError
from thresher.select.base import Context, Param, Selector
from thresher.select.choosers import GumbelTopK, TopK
from thresher.select.registry import register
from thresher.select.streaming import StreamingTopK

TOO_SHORT = "shorter than min_length"


@register
class DSIR(Selector):
    """Importance resampling toward one or more targets on hashed unigram+bigram counts."""

    name = "dsir"
    summary = "documents whose hashed n-gram distribution matches the target's (importance resampling)"
    paper = "Xie et al. 2023, Data Selection for Language Models via Importance Resampling"
    needs = ("text", "target")
    params = {
        "ngrams": Param(2, int, "highest n-gram order (2 = unigrams and bigrams)"),
        "buckets": Param(10_000, int, "size of the hashed n-gram space"),
        "hash_seed": Param(0, int, "seed of the n-gram hash (not of the sampling)"),
        "smoothing": Param(1.0, float, "pseudo-counts per bucket: uniform for the raw model, spread like the raw model for targets"),
        "raw_sample": Param(10_000_000, int, "about how many n-grams of the pool fit the raw model (0 = all; "
                                             "the sample is read before the scoring pass)"),
        "chooser": Param("gumbel", str, "gumbel: sample in proportion to the weights; top-k: the highest",
                         ("gumbel", "top-k")),
        "length_norm": Param(False, bool, "divide a document's log-weight by its number of n-grams"),
        "min_length": Param(0, int, "leave out documents with fewer tokens (the reference's default is 100)"),
        "target_proportions": Param("", str, "shares of the budget per target, e.g. 0.3,0.7 (default: by size)"),
        "streaming": Param(False, bool, "choose while reading, keeping only the best k keys (for huge pools)"),
    }

    def __init__(self, **params: Any):
        super().__init__(**params)
        from thresher.features.ngrams import HashedNgrams

        for name in ("raw_sample", "min_length"):
            if self.config[name] < 0:
                raise UsageError(f"dsir: {name}={self.config[name]} is negative.")
        if not self.config["smoothing"] > 0:
            raise UsageError(f"dsir: smoothing={self.config['smoothing']} must be > 0 (a bucket nobody saw has no log).")
        self.featurizer = HashedNgrams(self.config["ngrams"], self.config["buckets"], self.config["hash_seed"])
        self.proportions = _parse_proportions(self.config["target_proportions"])
        self.model_: dict[str, Any] | None = None

    # ---- fitting (before the scoring pass) --------------------------------------------
    def select(self, pool, budget, target=None, seed=0, *, engine=None, workers=None, replace=False):
        Budget.parse(budget)  # a bad budget is reported before any work
        self.check(pool, target)
        if not pool.fields.has_text:
            raise UsageError(f"method {self.name} reads text; this pool has none (give --text-field or --template).")
        targets = list(target) if isinstance(target, (list, tuple)) else [target]
        if self.proportions is not None and len(self.proportions) != len(targets):
            raise UsageError(f"dsir: {len(self.proportions)} target proportions for {len(targets)} targets; "
                             "give one share per --target.")
        self.model_ = self.fit(pool, targets, engine=engine, workers=workers)
        return super().select(pool, budget, target=target, seed=seed, engine=engine, workers=workers, replace=replace)

    def fit(self, pool, targets: list, *, engine=None, workers=None) -> dict[str, Any]:
        """Fit the target and raw models; returns them with the per-bucket log-weights."""
        from thresher.features.ngram_model import count_pool, count_target, log_weights

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
        return {
            "raw_counts": raw_counts,
            "raw_fraction": fraction,
            "target_counts": target_counts,
            "target_shares": shares,
            "log_weights": log_weights(target_counts, raw_counts, self.config["smoothing"]),
        }

    # ---- scoring (the one full pass) ---------------------------------------------------
    def tasks(self, target):
        from thresher.features.ngram_model import ScoreTask

        return [ScoreTask(self.featurizer, self.model_["log_weights"])]

    def _batches(self, ctx: Context):
        """Per batch: (log-weights (m, t), tokens (m,), eligible (m,) bool)."""
        for scores, tokens, ngrams in ctx.outputs[0] if ctx.outputs else []:
            if self.config["length_norm"]:
                scores = scores / np.maximum(ngrams, 1)[:, None]
            yield scores, tokens, tokens >= self.config["min_length"]

    def score(self, ctx: Context) -> np.ndarray | None:
        if self.config["streaming"]:
            return None  # never hold every score at once
        parts = list(self._batches(ctx))
        t = len(self.model_["target_counts"])
        scores = np.concatenate([s for s, _, _ in parts]) if parts else np.zeros((0, t))
        eligible = np.concatenate([e for _, _, e in parts]) if parts else np.zeros(0, bool)
        self._eligible = eligible
        best = scores.max(axis=1) if t > 1 else scores[:, 0]
        self._all_scores = scores
        return np.where(eligible, best, np.nan)

    # ---- choosing ----------------------------------------------------------------------
    def choose(self, ctx: Context, scores, limit: Limit):
        shares = self.model_["target_shares"]
        limits = _split(limit, shares)
        # One generator per target, so that each target's Gumbel noise is drawn in pool
        # order whether the choice streams or not.
        rngs = [np.random.default_rng(child) for child in np.random.SeedSequence(ctx.seed).spawn(len(shares))]
        costs = ctx.index.tokens
        ranked = self._ranked_streaming(ctx, limits, rngs) if self.config["streaming"] else \
            self._ranked_in_memory(ctx, limits, rngs, costs)
        chosen: list[np.ndarray] = []
        taken = np.zeros(ctx.index.n, dtype=bool)
        for (positions, _), one in zip(ranked, limits):
            positions = positions[~taken[positions]]
            positions = one.cut(positions, costs)
            taken[positions] = True
            chosen.append(positions)
        self._all_scores = self._eligible = None
        return _interleave(chosen), None

    def _ranked_in_memory(self, ctx, limits, rngs, costs):
        eligible = np.flatnonzero(self._eligible)
        chooser = GumbelTopK() if self.config["chooser"] == "gumbel" else TopK()
        out = []
        before = 0
        for t, (one, rng) in enumerate(zip(limits, rngs)):
            wide = _widen(one, before, len(eligible))
            local_costs = costs[eligible] if costs is not None else None
            picked = eligible[chooser.choose(self._all_scores[eligible, t], wide, rng, local_costs)]
            out.append((picked, None))
            before += one.count if one.count is not None else one.tokens
        return out

    def _ranked_streaming(self, ctx, limits, rngs):
        before, streams = 0, []
        for one, rng in zip(limits, rngs):
            streams.append(StreamingTopK(_widen(one, before, None), rng, gumbel=self.config["chooser"] == "gumbel"))
            before += one.count if one.count is not None else one.tokens
        costs = ctx.index.tokens
        start = 0
        for scores, _, eligible in self._batches(ctx):
            positions = start + np.flatnonzero(eligible)
            for t, stream in enumerate(streams):
                stream.update(scores[eligible, t], costs[positions] if costs is not None else None, positions)
            start += len(scores)
        return [stream.ranked() for stream in streams]

    def _build(self, pool, positions, weights, scores, meta):
        meta["raw_sample_fraction"] = round(float(self.model_["raw_fraction"]), 4)
        meta["target_shares"] = [round(float(s), 4) for s in self.model_["target_shares"]]
        selection = super()._build(pool, positions, weights, scores, meta)
        if scores is not None and self.config["min_length"] > 0 and np.isnan(scores).any():
            import pyarrow as pa

            from thresher.selection import Selection

            table = selection.table
            reasons = np.where(np.isnan(table.column("score").to_numpy(zero_copy_only=False)) & ~table.column("selected").to_numpy(
                zero_copy_only=False), TOO_SHORT, None)
            selection = Selection(table.set_column(table.schema.get_field_index("reason"), "reason",
                                                   pa.array(reasons.tolist(), pa.string())), selection.meta)
        return selection

    def kl_reduction(self, selected) -> float:
        """KL reduction (nats) of a pool of selected records under this fitted model,
        averaged over targets: how much closer the selection's hashed n-gram distribution
        is to each target's than the raw pool's is (see `thresher.evaluate.kl`)."""
        from thresher.features.kl import kl_reduction
        from thresher.features.ngram_model import CountTask

        if self.model_ is None:
            raise UsageError("dsir: select() first; the KL reduction uses the fitted models.")
        _, outputs = selected.scan([CountTask(self.featurizer)])
        selected_counts = np.sum(outputs[0], axis=0) if outputs else np.zeros(self.featurizer.buckets, np.int64)
        return float(np.mean([kl_reduction(t, self.model_["raw_counts"], selected_counts, self.config["smoothing"])
                              for t in self.model_["target_counts"]]))


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


def _split(limit: Limit, shares: np.ndarray) -> list[Limit]:
    """One limit per target: the budget in proportion to `shares` (largest remainder)."""
    from thresher.select.choosers import allocate

    total = limit.count if limit.count is not None else limit.tokens
    parts = allocate(np.full(len(shares), total, dtype=np.int64), total, shares)
    return [Limit(count=int(p), tokens=None) if limit.count is not None else Limit(count=None, tokens=int(p)) for p in parts]


def _widen(limit: Limit, before: int, available: int | None) -> Limit:
    """A limit that ranks enough candidates for a target after earlier targets took `before`."""
    if limit.count is not None:
        count = limit.count + before
        return Limit(count=count if available is None else min(count, available), tokens=None)
    if available is not None:
        return Limit(count=available, tokens=None)  # in memory: the whole ranking
    return Limit(count=None, tokens=limit.tokens + before)


def _interleave(chosen: list[np.ndarray]) -> np.ndarray:
    """Merge per-target choices so that any prefix keeps the targets' shares."""
    if len(chosen) == 1:
        return chosen[0]
    positions = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    fill = np.concatenate([(np.arange(len(c)) + 0.5) / max(len(c), 1) for c in chosen]) if chosen else np.zeros(0)
    group = np.concatenate([np.full(len(c), i) for i, c in enumerate(chosen)]) if chosen else np.zeros(0)
    return positions[np.lexsort((group, fill))]
