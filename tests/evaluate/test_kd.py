"""Knowledge distillation in the proof: "+kd" methods train the proxy on the same selection
with the full-pool proxy's soft labels."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.errors import UsageError
from thresher.evaluate.protocol import run_bench
from thresher.evaluate.proxy import distilled_rows, fit_proxy, kd_weight, soft_targets, teacher_probabilities


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (3, 5))
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(0, 1.5, (n, 5))).astype(np.float32), y


def test_soft_targets_with_no_teacher_share_are_the_labels_exactly():
    x, y = _data()
    teacher = teacher_probabilities(1.0, x, y, 3)
    assert teacher.shape == (300, 3) and np.allclose(teacher.sum(axis=1), 1)
    rows, labels, weights = distilled_rows(x, soft_targets(teacher, y, 0.0), None)
    plain, distilled = fit_proxy("logreg", 1.0, x, y), fit_proxy("logreg", 1.0, rows, labels, weights)
    np.testing.assert_allclose(distilled.coef_, plain.coef_, rtol=1e-5, atol=1e-6)
    targets = soft_targets(teacher, y, 0.7)
    assert np.allclose(targets.sum(axis=1), 1) and np.all(targets[np.arange(300), y] >= 0.3)


def test_the_teacher_share_grows_as_the_budget_shrinks():
    assert kd_weight(0.01) == 0.9 and kd_weight(0.5) == 0.5 and kd_weight(1.0) == 0.1
    assert kd_weight(0.05) > kd_weight(0.2) > kd_weight(0.4)


def test_kd_methods_run_beside_their_plain_selection():
    from tests.evaluate.test_protocol import planted_task

    task, _, _ = planted_task()
    run = run_bench(task, ["random", "random+kd"], ["5%", "30%"], seeds=2, tune_repeats=1)
    plain = {(p["budget"], p["seed"]): p for p in run["points"] if p["method"] == "random"}
    distilled = [p for p in run["points"] if p["method"] == "random+kd"]
    assert len(distilled) == 4 and all(p["kd_weight"] == kd_weight(p["fraction"]) for p in distilled)
    # The same records: the selection does not change, only how the proxy is trained on it.
    assert all(p["n_selected"] == plain[(p["budget"], p["seed"])]["n_selected"] for p in distilled)
    # 40% of the planted labels are wrong; the full-pool teacher averages them out.
    assert np.mean([p["accuracy"] for p in distilled]) > np.mean([p["accuracy"] for p in plain.values()])
    with pytest.raises(UsageError, match="logistic-regression proxy"):
        run_bench(task, ["random+kd"], ["5%"], seeds=1, tune_repeats=1, model="mlp")


def test_a_resumed_run_with_every_kd_point_done_fits_no_teacher(tmp_path, monkeypatch):
    import thresher.evaluate.proxy as proxy
    from tests.evaluate.test_protocol import planted_task
    from thresher.evaluate.protocol import CellLog

    task, _, _ = planted_task()
    log = tmp_path / "cells.jsonl"
    first = run_bench(task, ["random+kd"], ["10%"], seeds=2, tune_repeats=1, cells=CellLog(log, {"s": 1}))

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher was fitted for points the log already holds")

    monkeypatch.setattr(proxy, "teacher_probabilities", no_teacher)
    again = run_bench(task, ["random+kd"], ["10%"], seeds=2, tune_repeats=1, cells=CellLog(log, {"s": 1}))
    assert [p["accuracy"] for p in again["points"]] == [p["accuracy"] for p in first["points"]]
