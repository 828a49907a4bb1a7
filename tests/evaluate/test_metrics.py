"""Confidence intervals, data-to-target budgets, areas and paired tests, against hand computations."""

from __future__ import annotations

import math

import pytest

from thresher.evaluate.metrics import area_vs_random, data_to_target, mean_ci, paired_vs_random


def test_mean_ci_matches_a_hand_computation():
    # mean 0.84; s = sqrt(0.004 / 4) = 0.0316228; t(0.975, 4) = 2.776445; half = t * s / sqrt(5) = 0.039264
    mean, low, high = mean_ci([0.80, 0.82, 0.84, 0.86, 0.88])
    assert mean == pytest.approx(0.84)
    assert low == pytest.approx(0.84 - 0.039264, abs=1e-6)
    assert high == pytest.approx(0.84 + 0.039264, abs=1e-6)


def test_mean_ci_two_values_and_one_value():
    # n=2: t(0.975, 1) = 12.706205; s = 0.1 / sqrt(2); half = 12.706205 * 0.05 = 0.635310
    mean, low, high = mean_ci([0.5, 0.6])
    assert (mean, high - mean) == (pytest.approx(0.55), pytest.approx(0.635310, abs=1e-6))
    mean, low, high = mean_ci([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)


def test_data_to_target_finds_the_first_budget_within_a_point():
    accuracies = {0.01: [0.60, 0.61, 0.62], 0.1: [0.80, 0.80, 0.80], 0.3: [0.895, 0.895, 0.895], 0.5: [0.90] * 3}
    result = data_to_target(list(accuracies), accuracies, [0.90, 0.90, 0.90])
    assert result["budget"] == 0.3 and result["low"] == 0.3 and result["high"] == 0.3
    never = data_to_target([0.01], {0.01: [0.5, 0.5]}, [0.9, 0.9])
    assert never["budget"] is None and never["reached_share"] == 0.0


def test_area_vs_random_is_the_mean_gap_over_log_budget():
    # gaps 0.10 at 1%, 0.0 at 10%, 0.0 at 100%: trapezoids 0.05 * 1 + 0 over 2 decades = 0.025
    assert area_vs_random([0.01, 0.1, 1.0], [0.7, 0.8, 0.9], [0.6, 0.8, 0.9]) == pytest.approx(0.025)
    assert area_vs_random([0.05], [0.7], [0.65]) == pytest.approx(0.05)


def test_paired_vs_random():
    same_gap = paired_vs_random([0.7, 0.8, 0.9], [0.6, 0.7, 0.8])
    assert same_gap["mean_diff"] == pytest.approx(0.1)
    assert same_gap["low"] == pytest.approx(0.1) and same_gap["high"] == pytest.approx(0.1)
    assert same_gap["wilcoxon_p"] == pytest.approx(0.25)  # exact: 2 / 2^3
    equal = paired_vs_random([0.5, 0.5], [0.5, 0.5])
    assert equal["wilcoxon_p"] == 1.0 and equal["mean_diff"] == 0.0
