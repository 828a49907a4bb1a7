"""The step contract, checked on every registered step of both kinds (selectors and
filters): one protocol, parameters checked before any record is read, lossless and
re-cuttable selections, views that chain."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import thresher
from thresher import Pool
from thresher.data import sources
from thresher.errors import UsageError
from thresher.filter import ExactDedup
from thresher.selection import COLUMNS
from thresher.steps import Step, StepContext, get_step, steps

STEPS = sorted(steps())
SELECTORS = sorted(steps("selector"))
SCORE_SELECTORS = [name for name in SELECTORS if steps()[name].shape == "score"]
SET_SELECTORS = [name for name in SELECTORS if steps()[name].shape == "set"]


def _records(n: int = 90) -> list[dict]:
    words = ["river", "wheat", "garden", "stone", "market", "harbour", "winter", "lantern", "copper"]
    return [{"id": f"r{i}", "text": " ".join(words[(i * k) % len(words)] for k in range(1, 4 + i % 5))
             + ("" if i % 10 else " " + " ".join(words)),
             "label": f"c{i % 4}", "domain": f"d{i % 3}"} for i in range(n)]


def _features(n: int) -> np.ndarray:
    return np.random.default_rng(7).normal(size=(n, 8)).astype(np.float32)


@pytest.fixture
def pool_path(tmp_path):
    path = tmp_path / "pool.jsonl"
    records = _records()
    records[5]["text"] = records[3]["text"]  # an exact duplicate
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _open(path) -> Pool:
    pool = Pool.from_jsonl(path, id_field="id", label_field="label", domain_field="domain")
    return pool.with_features(_features(len(pool)))


def _target(path) -> Pool:
    """Six examples of the task, with text (DSIR), embeddings (RDS) and labels (llkd's teacher)."""
    records = _records()[:6]
    table = pa.table({"text": [r["text"] for r in records], "label": [r["label"] for r in records]})
    return Pool.from_arrow(table, label_field="label").with_features(_features(90)[:6])


def _make(name: str, path):
    """A step with default parameters (decontamination gets an evaluation set)."""
    cls = get_step(name)
    if name == "decontaminate":
        return cls(against=[Pool.from_arrow(pa.table({"text": [_records()[0]["text"]]}))], ngram=3)
    return cls()


@pytest.mark.parametrize("name", STEPS)
def test_every_step_runs_through_the_one_protocol(name, pool_path):
    step = _make(name, pool_path)
    assert isinstance(step, Step) and step.kind in ("selector", "filter")
    pool = _open(pool_path)
    context = StepContext(budget=20, target=_target(pool_path), seed=3)
    selection = step.run(pool, context)
    assert selection.table.column_names == list(COLUMNS)
    ids = selection.ids.to_pylist()
    assert len(ids) == len(set(ids)) and set(ids) <= {f"r{i}" for i in range(90)}
    assert selection.meta["method"] == name and selection.meta["n_selected"] == len(selection)
    if step.kind == "selector":
        assert len(selection) == 20
    # Every phase is timed (a selector's fitting included) and the duration covers them all.
    assert selection.meta["duration_s"] >= sum(selection.meta["timings_s"].values()) - 1e-3
    # Positions point at the records the ids name.
    assert pool.ids_at(selection.positions).to_pylist() == ids
    for code in selection.dropped.column("reason").drop_null().to_pylist():
        assert code == code.lower() and " " not in code and ":" not in code
    again = _make(name, pool_path).run(_open(pool_path), context)
    assert again.ids.to_pylist() == ids


@pytest.mark.parametrize("name", STEPS)
def test_a_bad_parameter_is_refused_before_any_record_is_read(name, pool_path, monkeypatch):
    reads = []
    original = sources.FileSource.read
    monkeypatch.setattr(sources.FileSource, "read", lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    cls = get_step(name)
    bad = [(param, "not-a-choice") for param, spec in cls.params.items() if spec.choices]
    bad += [(param, "x") for param, spec in cls.params.items() if spec.kind in (int, float)]
    bad += [(param, value) for param, value in {"rules": "no-such-rules.yaml", "against": ()}.items()
            if param in cls.params]
    if cls.kind == "selector":
        bad.append(("chooser", "softmax"))
    assert bad, f"{name} has no parameter a user can get wrong"
    for param, value in bad:
        with pytest.raises(UsageError, match=param if param != "chooser" else "chooser"):
            cls(**{param: value})
    with pytest.raises(UsageError, match="no parameter"):
        cls(no_such_parameter=1)
    assert reads == []


@pytest.mark.parametrize("name, params", [
    ("semdedup", {"threshold": 5.0}), ("density", {"temperature": 0.0}), ("density", {"neighbours": 0}),
    ("facility-location", {"neighbours": 0}), ("facility-location", {"epsilon": 2.0}), ("rds", {"spread": 0.5}),
    ("dsir", {"smoothing": 0.0}), ("kmeans-quota", {"clusters": -1}), ("prototypicality", {"easy_below": 3.0}),
    ("random", {"chooser": "gumbel(temperature=0)"}), ("random", {"chooser": "quota(by=cluster)"}),
    ("near-dedup", {"num_perm": 1}), ("exact-dedup", {"keep": "priority"}),
])
def test_values_out_of_range_cost_nothing(name, params, pool_path, monkeypatch):
    reads = []
    original = sources.FileSource.read
    monkeypatch.setattr(sources.FileSource, "read", lambda self, *a, **k: reads.append(1) or original(self, *a, **k))
    with pytest.raises(UsageError):
        if get_step(name).kind == "selector":
            thresher.select(str(pool_path), name, 10, **params)
        else:
            get_step(name)(**params)
    assert reads == []


@pytest.mark.parametrize("name", SCORE_SELECTORS)
@pytest.mark.parametrize("budget", [17, "25%"])
def test_recut_at_the_original_budget_is_the_original_selection(name, budget, pool_path):
    selection = get_step(name)().select(_open(pool_path), budget, target=_target(pool_path), seed=4)
    again = selection.recut(budget)
    assert again.ids.to_pylist() == selection.ids.to_pylist()
    assert selection.meta["shape"] == "score" and "chooser" in selection.meta


@pytest.mark.parametrize("chooser", ["gumbel", "gumbel(temperature=0.5)", "quota(by=label,proportions=equal)",
                                     "quota(by=domain)", "threshold(value=-1.0)"])
def test_any_score_can_be_chosen_any_way_and_recut(chooser, pool_path):
    pool = _open(pool_path)
    selection = thresher.select(pool, "prototypicality", 20, seed=2, chooser=chooser)
    assert 0 < len(selection) <= 20 and selection.meta["chooser"] == get_step("random")(chooser=chooser).chooser.spec()
    assert selection.recut(20).ids.to_pylist() == selection.ids.to_pylist()
    if chooser.startswith("quota(by=label"):
        labels = pool.index().labels.take(pa.array(pool.positions_of(selection.ids))).to_pylist()
        assert sorted(labels.count(f"c{k}") for k in range(4)) == [5, 5, 5, 5]


def test_a_quota_by_cluster_uses_the_methods_clusters(pool_path):
    selection = thresher.select(_open(pool_path), "semdedup", 12, clusters=3,
                                chooser="quota(by=cluster,proportions=equal)")
    groups = selection.kept.column("group").to_pylist()
    assert len(selection) == 12 and sorted(groups.count(g) for g in set(groups)) == [4, 4, 4]


@pytest.mark.parametrize("name", SET_SELECTORS)
def test_recut_of_a_set_selection_says_to_run_again(name, pool_path):
    selection = get_step(name)().select(_open(pool_path), 15, target=_target(pool_path), seed=0)
    assert selection.meta["shape"] == "set"
    with pytest.raises(UsageError, match="set selection.*run the method again"):
        selection.recut(15)


def test_kcenter_recut_no_longer_gives_unrelated_records(pool_path):
    """The old kcenter stored final distances as scores; a recut of them shared nothing
    with the selection. Now it is refused rather than wrong."""
    selection = thresher.select(_open(pool_path), "kcenter", 9)
    assert np.isnan(selection.scores[0]) and np.all(selection.scores[1:] > 0)
    with pytest.raises(UsageError):
        selection.recut(9)


def test_dedup_then_restrict_then_random_fills_the_budget_and_keeps_every_reason(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i % 71}"}) + "\n" for i in range(100)))
    pool = Pool.from_jsonl(path, shard_bytes=300)  # several shards: the view's mask spans them
    assert len(pool.source.plan()) > 3
    dedup = ExactDedup().apply(pool)
    assert len(dedup) == 71 and dedup.reason_counts() == {"exact-duplicate": 29}
    old_recipe = thresher.select(pool, "random", "10%") & dedup
    assert len(old_recipe) < 10  # selecting first, then filtering, under-fills
    survivors = pool.restrict(dedup)
    assert len(survivors) == 71
    picked = thresher.select(survivors, "random", "10%", seed=0)
    assert len(picked) == 7  # 10% of the survivors, exactly
    combined = picked & dedup
    assert len(combined) == 7 and combined.reason_counts() == {"exact-duplicate": 29}
    assert combined.dropped.column("detail").drop_null().to_pylist()[0].startswith("of id ")
    # Ids and positions of the view are the whole pool's.
    assert set(picked.ids.to_pylist()) <= set(dedup.ids.to_pylist())
    out = tmp_path / "picked.jsonl"
    survivors.take(picked).write(out)
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert texts == [f"doc {i}" for i in sorted(picked.ids.to_pylist())]


def test_composition_keeps_drop_rows_and_first_reasons(pool_path):
    pool = _open(pool_path)
    dedup = ExactDedup().apply(pool)
    picked = thresher.select(pool, "semdedup", 30, clusters=2)
    chosen, unique = set(picked.ids.to_pylist()), set(dedup.ids.to_pylist())
    assert chosen - unique and chosen & unique  # the test pool repeats some texts
    both = picked & dedup
    assert set(both.ids.to_pylist()) == chosen & unique
    reasons = dict(zip(both.dropped.column("id").to_pylist(), both.dropped.column("reason").to_pylist()))
    assert all(reasons[i] == "exact-duplicate" for i in chosen - unique)  # the first step that dropped it
    assert len(both.table) == len(picked.table)  # every record either looked at keeps its row
    minus = picked - dedup
    assert set(minus.ids.to_pylist()) == chosen - unique
    assert set(minus.dropped.column("reason").to_pylist()) <= {"subtracted", "semantic-duplicate", None}
    either = dedup | picked
    assert set(either.ids.to_pylist()) == chosen | unique


def test_selection_indexes_the_data_it_was_made_from(pool_path):
    torch = pytest.importorskip("torch")
    datasets = pytest.importorskip("datasets")
    pool = _open(pool_path)
    selection = thresher.select(pool, "random", 10, seed=1)
    positions = np.asarray(selection)
    assert positions.dtype == np.int64 and list(selection) == positions.tolist()
    data = datasets.Dataset.from_list(_records())
    assert data.select(selection)["id"] == selection.ids.to_pylist()
    subset = torch.utils.data.Subset(_records(), selection)
    assert [subset[i]["id"] for i in range(len(subset))] == selection.ids.to_pylist()


def test_select_takes_paths_frames_and_says_how_to_wrap_the_rest(pool_path):
    import pandas as pd

    assert len(thresher.select(str(pool_path), "random", 5)) == 5
    assert len(thresher.select(pd.DataFrame(_records()), "random", 5)) == 5
    with pytest.raises(UsageError, match="wrap it in a Pool"):
        thresher.select({"text": ["a"]}, "random", 1)


def test_no_selector_overrides_the_driver():
    from thresher.select.base import ScoreSelector

    with pytest.raises(TypeError, match="overrides select"):
        type("Sneaky", (ScoreSelector,), {"name": "sneaky", "select": lambda self, *a: None})
