"""Summary statistics of accuracy-vs-budget curves over seeds.

Accuracies are fractions in [0, 1]; a "point" is 0.01. Budgets are fractions of the pool.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean and its Student-t confidence interval over seeds.

    mean +- t_{(1+level)/2, n-1} * s / sqrt(n), with s the sample standard deviation
    (ddof=1). With one value the interval is (nan, nan): one seed says nothing about spread.
    """
    from scipy.stats import t

    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, math.nan, math.nan
    half = float(t.ppf((1 + level) / 2, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half


def _first_within(budgets: np.ndarray, means: np.ndarray, full: float, tolerance: float) -> float:
    reached = np.flatnonzero(means >= full - tolerance)
    return float(budgets[reached[0]]) if len(reached) else math.inf


def data_to_target(budgets: Sequence[float], accuracies: Mapping[float, Sequence[float]], full: Sequence[float],
                   tolerance: float = 0.01, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """The smallest budget whose mean accuracy is within `tolerance` of the full data's.

    accuracies: budget -> accuracies over seeds; full: the full-data accuracies over seeds.
    The interval comes from a bootstrap that resamples seeds within each budget and within
    the full-data runs (Efron & Tibshirani 1993, "An Introduction to the Bootstrap").
    None means "not reached at any budget measured".
    """
    order = np.argsort(budgets)
    budgets = np.asarray(budgets, dtype=np.float64)[order]
    runs = [np.asarray(accuracies[b], dtype=np.float64) for b in budgets]
    full = np.asarray(full, dtype=np.float64)
    estimate = _first_within(budgets, np.array([r.mean() for r in runs]), float(full.mean()), tolerance)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples)
    for i in range(resamples):
        means = np.array([r[rng.integers(0, len(r), len(r))].mean() for r in runs])
        draws[i] = _first_within(budgets, means, float(full[rng.integers(0, len(full), len(full))].mean()), tolerance)
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")

    def finite(value: float) -> float | None:
        return None if math.isinf(value) else float(value)

    return {"budget": finite(estimate), "low": finite(low), "high": finite(high), "tolerance": tolerance,
            "reached_share": float(np.mean(np.isfinite(draws)))}


def area_vs_random(budgets: Sequence[float], method: Sequence[float], random: Sequence[float]) -> float:
    """The mean gap (method - random, in accuracy fraction) between two curves, averaged over
    log10(budget) by the trapezoid rule, so each decade of budget counts the same."""
    budgets = np.asarray(budgets, dtype=np.float64)
    gap = np.asarray(method, dtype=np.float64) - np.asarray(random, dtype=np.float64)
    order = np.argsort(budgets)
    budgets, gap = budgets[order], gap[order]
    if len(budgets) == 1:
        return float(gap[0])
    x = np.log10(budgets)
    return float(np.sum((gap[1:] + gap[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def paired_vs_random(method: Sequence[float], random: Sequence[float], resamples: int = 2000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """A paired comparison over seeds (seed i of the method against seed i of random).

    Returns the mean difference, a paired-bootstrap interval for it, and the two-sided
    Wilcoxon signed-rank p-value (Wilcoxon 1945; exact for small n; with 5 seeds the
    smallest possible p is 0.0625, so read the interval too).
    """
    from scipy.stats import wilcoxon

    diff = np.asarray(method, dtype=np.float64) - np.asarray(random, dtype=np.float64)
    n = len(diff)
    if n == 0:
        return {"mean_diff": None, "low": None, "high": None, "wilcoxon_p": None, "n": 0}
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, n, (resamples, n))].mean(axis=1)
    low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    if np.all(diff == 0):
        p = 1.0
    elif n < 2:
        p = math.nan
    else:
        p = float(wilcoxon(diff, zero_method="wilcox", alternative="two-sided").pvalue)
    return {"mean_diff": float(diff.mean()), "low": float(low), "high": float(high),
            "wilcoxon_p": None if math.isnan(p) else p, "n": n}
