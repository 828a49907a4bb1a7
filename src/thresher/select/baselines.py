"""The baselines every method must beat: uniform random and stratified random selection."""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.select.base import Context, Param, Selector
from thresher.select.choosers import Quota, group_codes
from thresher.select.registry import register


@register
class Random(Selector):
    """Uniform random selection without replacement (or with, when asked).

    Published reruns find it a strong baseline that many methods fail to beat. With
    replacement, each chosen id appears once, its weight the number of times it was drawn.
    """

    name = "random"
    summary = "uniform random sample; the baseline every method must beat"
    paper = None
    supports_replace = True

    def choose(self, ctx: Context, scores, limit: Limit):
        n = ctx.index.n
        if not ctx.replace:
            return limit.cut(ctx.rng.permutation(n), ctx.index.tokens), None
        if n == 0:
            return np.zeros(0, np.int64), None
        if limit.count is not None:
            draws = ctx.rng.integers(0, n, size=limit.count)
        else:
            draws = _draw_tokens(ctx.rng, n, ctx.index.tokens, limit.tokens)
        unique, first, counts = np.unique(draws, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return unique[order], counts[order].astype(np.float64)


def _draw_tokens(rng: np.random.Generator, n: int, costs: np.ndarray, tokens: int) -> np.ndarray:
    """Uniform draws with replacement until the next one would pass `tokens`."""
    mean = max(float(costs.mean()), 1.0)
    draws = np.zeros(0, dtype=np.int64)
    while True:
        more = rng.integers(0, n, size=int(tokens / mean * 1.1) + 16)
        draws = np.concatenate([draws, more])
        spent = np.cumsum(costs[draws])
        if spent[-1] > tokens or (spent[-1] == tokens and tokens == 0):
            return draws[: int(np.searchsorted(spent, tokens, side="right"))]
        if costs.max() == 0:
            return draws


@register
class Stratified(Selector):
    """Random selection that keeps the label (or domain) proportions of the pool, or,
    with balance=True, takes equal numbers per class (small classes give the rest to
    the others). Covering every class is what helps most at small budgets on many-class
    sets; balancing hurts when the test labels are skewed."""

    name = "stratified"
    summary = "random within each label/domain, keeping pool proportions (or equal with balance)"
    paper = None
    params = {
        "by": Param("label", str, "group by the label or the domain field", ("label", "domain")),
        "balance": Param(False, bool, "equal numbers per group instead of pool proportions"),
    }

    def check(self, pool, target) -> None:
        super().check(pool, target)
        field = pool.fields.label_field if self.config["by"] == "label" else pool.fields.domain_field
        if not field:
            from thresher.errors import UsageError

            option = "--label-field" if self.config["by"] == "label" else "--domain-field"
            raise UsageError(f"method stratified groups by {self.config['by']}; name that field with {option}.")

    def choose(self, ctx: Context, scores, limit: Limit):
        values = ctx.index.labels if self.config["by"] == "label" else ctx.index.domains
        groups, _ = group_codes(values)
        random_scores = ctx.rng.random(ctx.index.n)
        quota = Quota("equal" if self.config["balance"] else "size")
        return quota.choose(random_scores, limit, ctx.rng, ctx.index.tokens, groups=groups), None
