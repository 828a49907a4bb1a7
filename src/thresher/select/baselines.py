"""The baselines every method must beat: uniform random and stratified random selection."""

from __future__ import annotations

import numpy as np

from thresher.errors import UsageError
from thresher.select.base import Context, Param, Scores, ScoreSelector
from thresher.select.choosers import Chooser, Quota, parse_chooser
from thresher.select.registry import register


@register
class Random(ScoreSelector):
    """Uniform random selection without replacement (or with, when asked).

    Published reruns find it a strong baseline that many methods fail to beat. Scores: a
    random ranking of the pool (its first k records are the selection of k), of which
    the selection keeps the chosen records' part. With replacement, each chosen id
    appears once, its weight the number of times it was drawn.
    """

    name = "random"
    summary = "uniform random sample; the baseline every method must beat"
    paper = None
    supports_replace = True

    def score(self, ctx: Context, state) -> Scores:
        n = ctx.index.n
        if ctx.replace:
            return Scores(np.zeros(n), ranking=False, kept_only=True)  # equal scores: uniform draws
        ranks = np.empty(n, dtype=np.float64)
        order = ctx.rng.permutation(n)
        # ranks[order] = n, n - 1, ..., 1, in blocks: the (n,) float64 arange beside the
        # permutation was a third of this step's memory on pools of millions of records.
        for start in range(0, n, 1 << 16):
            stop = min(start + (1 << 16), n)
            ranks[order[start:stop]] = np.arange(n - start, n - stop, -1, dtype=np.float64)
        return Scores(ranks, kept_only=True)


@register
class Stratified(ScoreSelector):
    """Random selection that keeps the label (or domain) proportions of the pool, or,
    with balance=True, takes equal numbers per class (small classes give the rest to
    the others). Covering every class is what helps most at small budgets on many-class
    sets; balancing hurts when the test labels are skewed. Scores: random numbers,
    chosen by per-group quotas (`quota(by=label)`)."""

    name = "stratified"
    summary = "random within each label/domain, keeping pool proportions (or equal with balance)"
    paper = None
    default_chooser = ""
    params = {
        "by": Param("label", str, "group by the label or the domain field", ("label", "domain")),
        "balance": Param(False, bool, "equal numbers per group instead of pool proportions"),
    }

    def make_chooser(self) -> Chooser:
        if self.config["chooser"]:
            chooser = parse_chooser(self.config["chooser"])
            if not isinstance(chooser, Quota):
                raise UsageError(f"stratified chooses by quotas; chooser {chooser.spec()} would ignore the groups "
                                 "(use random with that chooser instead).")
            return chooser
        return Quota("equal" if self.config["balance"] else "size", by=self.config["by"])

    def score(self, ctx: Context, state) -> Scores:
        return Scores(ctx.rng.random(ctx.index.n))
