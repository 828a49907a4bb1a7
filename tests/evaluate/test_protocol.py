"""The harness ranks selections by how much they help: an oracle that keeps only the
informative (correctly labelled) records beats random, and random beats an adversary
that keeps only the mislabelled ones."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.evaluate.protocol import Task, encode_labels, run_bench
from thresher.evaluate.results import summarize
from thresher.select import Choice, SetSelector, methods


class PlantedChoice(SetSelector):
    """Picks uniformly at random among given pool positions (never registered)."""

    name = "planted"

    def __init__(self, name: str, positions: np.ndarray):
        super().__init__()
        self.name = name
        self.positions = positions

    def choose(self, ctx, state, limit):
        return Choice(ctx.rng.permutation(self.positions)[: limit.count])


def planted_task(seed: int = 0) -> tuple[Task, np.ndarray, np.ndarray]:
    """Four Gaussian classes in 8-d; 40% of the pool carries a random wrong label."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (4, 8))

    def draw(n):
        y = rng.integers(0, 4, n)
        return (centers[y] + rng.normal(0, 1.5, (n, 8))).astype(np.float32), y

    train_x, true_y = draw(800)
    noisy = rng.random(800) < 0.4
    train_y = true_y.copy()
    train_y[noisy] = (true_y[noisy] + rng.integers(1, 4, noisy.sum())) % 4
    val_x, val_y = draw(200)
    test_x, test_y = draw(600)
    classes, (train_c, val_c, test_c) = encode_labels(*(np.array([f"c{v}" for v in y], dtype=object)
                                                        for y in (train_y, val_y, test_y)))
    from thresher.data import Pool

    pool = Pool.from_numpy(train_x, labels=np.array([classes[c] for c in train_c]))
    task = Task("planted", pool, train_x, train_c, val_x, val_c, test_x, test_c, classes,
                {"name": "synthetic"}, {"name": "planted", "notes": []})
    return task, np.flatnonzero(~noisy), np.flatnonzero(noisy)


@pytest.fixture(scope="module")
def planted_run():
    task, clean, noisy = planted_task()
    selectors = ["random", PlantedChoice("oracle", clean), PlantedChoice("adversary", noisy)]
    run = run_bench(task, selectors, ["5%", "10%", "30%"], seeds=3, tune_repeats=1)
    run["summary"] = summarize(run)
    return run


def test_oracle_beats_random_beats_adversary(planted_run):
    curves = {m: r["curve"] for m, r in planted_run["summary"]["methods"].items()}
    for budget in ("5%", "10%", "30%"):
        assert curves["oracle"][budget]["mean"] > curves["random"][budget]["mean"] > curves["adversary"][budget]["mean"]
    areas = {m: r.get("area_vs_random") for m, r in planted_run["summary"]["methods"].items()}
    assert areas["oracle"] > 0.02 and areas["adversary"] < -0.1
    assert planted_run["summary"]["methods"]["oracle"]["curve"]["30%"]["vs_random"]["mean_diff"] > 0


def test_every_point_is_recorded_with_the_same_budget_and_tuning(planted_run):
    points = planted_run["points"]
    assert len(points) == 3 * 3 * 3
    for budget in planted_run["budgets"]:
        at = [p for p in points if p["budget"] == budget["budget"]]
        assert {p["n_selected"] for p in at} == {budget["n"]}
        assert {p["C"] for p in at} == {budget["tuned"]["value"]}
    assert all(0 <= p["accuracy"] <= 1 and p["select_s"] >= 0 for p in points)
    assert len(planted_run["full"]["points"]) == 3


def test_test_only_selectors_are_not_registered(planted_run):
    assert "oracle" not in methods() and "adversary" not in methods() and "planted" not in methods()


class Weighted(SetSelector):
    """Keeps the first k records with weight 2.0, and a class missing entirely at k=3."""

    name = "weighted-first"

    def choose(self, ctx, state, limit):
        return Choice(np.arange(limit.count), weights=np.full(limit.count, 2.0))


def test_weights_tiny_selections_and_missing_classes_do_not_crash():
    task, _, _ = planted_task(seed=1)
    run = run_bench(task, [Weighted(), "random"], [1, 3], seeds=2, tune_repeats=1)
    assert {p["n_selected"] for p in run["points"]} == {1, 3}
    assert all(p["weighted"] for p in run["points"] if p["method"] == "weighted-first")
    one = [p for p in run["points"] if p["n"] == 1]
    assert all(0 <= p["accuracy"] <= 1 for p in one)


class Broken(SetSelector):
    name = "broken"

    def choose(self, ctx, state, limit):
        raise RuntimeError("boom")


class NeedsTarget(SetSelector):
    name = "needs-target"
    needs = ("target",)


def test_a_broken_or_inapplicable_method_is_reported_not_fatal():
    task, _, _ = planted_task(seed=2)
    run = run_bench(task, [Broken(), NeedsTarget(), "random"], ["10%"], seeds=1, tune_repeats=1)
    assert "boom" in run["failed"]["broken"]
    assert "target" in run["skipped"]["needs-target"]
    assert {p["method"] for p in run["points"]} == {"random"}


def test_methods_can_carry_parameters():
    from thresher.errors import UsageError
    from thresher.evaluate.protocol import resolve_methods

    (name, selector), = resolve_methods("rds:spread=3:aggregation=max")
    assert name == "rds:spread=3:aggregation=max"
    assert selector.config["spread"] == 3.0 and selector.config["aggregation"] == "max"
    with pytest.raises(UsageError):
        resolve_methods("rds:spread")
    with pytest.raises(UsageError):
        resolve_methods("rds:nope=1")


def test_marked_tables_show_where_a_method_beats_or_loses_to_random(planted_run):
    import copy

    from thresher.evaluate.results import markdown_table, race_markdown, summarize

    run = copy.deepcopy(planted_run)
    table = markdown_table({"runs": [run]}, ("random", "oracle", "adversary"), marks=True)
    oracle = next(line for line in table.splitlines() if "| oracle |" in line)
    adversary = next(line for line in table.splitlines() if "| adversary |" in line)
    assert oracle.count("↑") == 3 and "↓" not in oracle and adversary.count("↓") == 3
    for point in run["points"]:  # as auto's points carry them: who won each race
        if point["method"] == "oracle":
            point["race"] = {"decision": "kmeans-quota" if point["seed"] else "random"}
    run["summary"] = summarize(run)
    races = race_markdown({"runs": [run]}, method="oracle")
    assert "| planted | random, kmeans-quota 2: +" in races
