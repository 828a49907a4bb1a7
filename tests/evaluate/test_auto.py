"""auto races the methods on the pool it is given and keeps random unless another one is
measurably better there; it reads nothing but that pool (and a target, when given)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import thresher
from thresher import Pool
from thresher.errors import UsageError


def _tight_classes(classes: int = 20, per: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Many tight, well separated classes: a selection of one record per class is perfect,
    a random one of the same size misses about a third of the classes."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, 16)) * 3
    labels = np.repeat(np.arange(classes), per)
    features = (centers[labels] + rng.normal(size=(len(labels), 16)) * 0.3).astype(np.float32)
    return features, np.array([f"c{k}" for k in labels])


def _pool(classes: int = 20, per: int = 60, seed: int = 0) -> Pool:
    features, labels = _tight_classes(classes, per, seed)
    return Pool.from_numpy(features, labels=labels)


def test_a_method_that_covers_every_class_beats_random_at_a_small_budget():
    selection = thresher.select(_pool(), "auto", 25, seed=0)
    race = selection.meta["race"]
    assert race["decision"] in ("stratified", "kmeans-quota", "facility-location")
    assert "beat random" in race["why"] and not race["fallback"]
    assert len(selection) == 25
    rows = {row["method"]: row for row in race["candidates"]}
    assert {"random", "stratified", "kmeans-quota", "facility-location"} <= set(rows)
    assert race["skipped"].keys() == {"dsir", "rds"}  # no text, no target
    winner = rows[race["decision"]]
    assert winner["vs_random"]["low"] > 0 and winner["mean"] > rows["random"]["mean"]
    assert len(rows["random"]["accuracy"]) == 3 and race["seeds"] == [0, 1, 2]
    assert race["validation"]["n"] == 240 and race["race_pool"] == 960 and race["race_budget"] == 20
    assert race["cpu_s"] > 0 and race["full_fit_cpu_s"] > 0 and "measured" in race["full_fit_cpu_s_how"]
    # The winner's selection from the whole pool covers (nearly) every class.
    labels = np.asarray(_tight_classes()[1])[selection.positions]
    assert len(set(labels)) >= 19
    json.dumps(selection.meta)  # the race is plain data: it goes into a manifest


def test_the_signal_methods_race_when_torch_is_installed_and_are_skipped_with_the_install_line_without():
    pytest.importorskip("torch")
    from thresher.evaluate.auto import SIGNAL_CANDIDATES

    race = thresher.select(_pool(), "auto", "50%", seed=0).meta["race"]
    assert set(SIGNAL_CANDIDATES) <= {row["method"] for row in race["candidates"]}
    assert len(SIGNAL_CANDIDATES) == 7 and all(len(row["accuracy"]) == 3 for row in race["candidates"])


def test_without_torch_the_signal_candidates_are_skipped_with_the_install_line(monkeypatch):
    import importlib.util

    from thresher.evaluate.auto import SIGNAL_CANDIDATES

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    race = thresher.select(_pool(), "auto", 25, seed=0).meta["race"]
    assert race["skipped"].keys() == {"dsir", "rds", *SIGNAL_CANDIDATES}
    assert all("thresher[signals]" in race["skipped"][name] for name in SIGNAL_CANDIDATES)
    assert race["decision"] in ("stratified", "kmeans-quota", "facility-location")


def test_when_no_candidate_is_better_random_is_kept_and_it_says_so():
    selection = thresher.select(_pool(), "auto", "100%", seed=1)
    race = selection.meta["race"]
    assert race["decision"] == "random" and race["why"].startswith("random kept")
    assert all(row["vs_random"]["mean_diff"] == 0 for row in race["candidates"] if "vs_random" in row)
    assert len(selection) == 1200


def test_the_race_is_deterministic_for_a_seed():
    def run(seed):
        selection = thresher.select(_pool(), "auto", 40, seed=seed, candidates="random,stratified")
        return selection.ids.to_pylist(), selection.meta["race"]["candidates"], selection.meta["race"]["decision"]

    first = run(3)
    assert run(3) == first
    assert run(4)[0] != first[0]


def test_it_decides_from_the_pool_and_seed_alone_never_from_a_test_split():
    """A bench (or a user) holds a test split out; auto is never given it. Scrambling those
    labels cannot change what auto decides or selects: only the pool and seed can."""
    pool_x, pool_y = _tight_classes(seed=0)
    test_x, test_y = _tight_classes(seed=0, per=20)
    outcomes = []
    for scramble in (False, True):
        held_out = np.random.default_rng(9).permutation(test_y) if scramble else test_y
        assert len(held_out) == len(test_x)  # in hand, never passed on
        selection = thresher.select(Pool.from_numpy(pool_x, labels=pool_y), "auto", 25, seed=2,
                                    candidates="random,stratified")
        outcomes.append((selection.meta["race"]["decision"], selection.meta["race"]["candidates"],
                         selection.ids.to_pylist()))
    assert outcomes[0] == outcomes[1]
    # What it scores on is carved from the pool it was given.
    assert "carved from the pool" in selection.meta["race"]["validation"]["source"]


def test_without_labels_it_says_what_it_needs():
    features, _ = _tight_classes()
    with pytest.raises(UsageError, match="--label-field"):
        thresher.select(Pool.from_numpy(features), "auto", 25)


def test_a_pool_too_small_to_race_falls_back_to_stratified_with_the_reason():
    selection = thresher.select(_pool(classes=4, per=20), "auto", 10, seed=0)
    race = selection.meta["race"]
    assert race["decision"] == "stratified" and race["fallback"]
    assert race["why"].startswith("too small to race") and "stratified instead" in race["why"]
    assert len(selection) == 10


def test_a_cpu_cap_stops_racing_and_says_which_were_not_raced():
    selection = thresher.select(_pool(), "auto", 25, seed=0, max_cpu_s=1e-9)
    race = selection.meta["race"]
    assert [row["method"] for row in race["candidates"]] == ["random"]
    assert race["not_raced"] and race["decision"] == "random" and "CPU cap" in race["why"]


def test_a_labelled_target_is_the_validation_set():
    features, labels = _tight_classes(per=60)
    target_x, target_y = _tight_classes(per=15)
    target = Pool.from_numpy(target_x, labels=target_y)
    selection = thresher.select(Pool.from_numpy(features, labels=labels), "auto", 25, seed=0, target=target,
                                candidates="random,stratified")
    race = selection.meta["race"]
    assert race["validation"] == {"source": "the labelled target", "n": 300}
    assert race["race_pool"] == 1200 and race["decision"] == "stratified"


@pytest.mark.parametrize("params, message", [
    ({"seeds": 2}, "seeds"), ({"validation_share": 0.9}, "validation_share"), ({"level": 1.5}, "level"),
    ({"max_cpu_s": -1}, "max_cpu_s"), ({"candidates": "random,nope"}, "nope"), ({"candidates": "auto,random"}, "auto"),
])
def test_bad_parameters_are_refused_at_construction(params, message):
    from thresher.select import get_method

    with pytest.raises(UsageError, match=message):
        get_method("auto")(**params)


def test_the_cli_summary_shows_the_decision(tmp_path):
    from thresher.cli import main

    features, labels = _tight_classes()
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"text": f"record {i}", "label": str(label)}) + "\n"
                            for i, label in enumerate(labels)))
    np.save(tmp_path / "emb.npy", features)
    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(main, ["select", str(pool), "-m", "auto", "-b", "25", "--label-field", "label",
                                       "--embeddings", str(tmp_path / "emb.npy"), "--candidates", "random,stratified",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "decision" in result.output and "stratified" in result.output and "beat random" in result.output
    assert len(out.read_text().splitlines()) == 25
