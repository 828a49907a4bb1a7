"""`thresher bench` on the user's own files: --train/--test, --pool carving, suite mappings,
`thresher.evaluate.bench`; clear errors and warnings for bad labels."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from thresher.cli import main
from thresher.data import Pool
from thresher.evaluate import bench
from thresher.evaluate.user_data import dataset_entry, load_entry
from tests.conftest import write_jsonl
from tests.evaluate.conftest import timeless

WORDS = {"refund": "refund money back charge", "weather": "rain sunny forecast cloud",
         "music": "song guitar album play"}
FAST = ["--features", "tfidf", "--seeds", "2", "--budgets", "20%,50%", "--tune-repeats", "1", "--workers", "1"]


def records(n: int, start: int = 0, field: str = "intent") -> list[dict]:
    """n records cycling over 3 classes, each with its class's obvious words and a unique number."""
    classes = list(WORDS)
    return [{"text": f"{WORDS[classes[i % 3]]} please {i} item{i % 5}", field: classes[i % 3]}
            for i in range(start, start + n)]


def write_files(folder, train=60, test=30):
    folder.mkdir(parents=True, exist_ok=True)
    return (write_jsonl(folder / "train.jsonl", records(train)),
            write_jsonl(folder / "test.jsonl", records(test, start=1000)))


def test_bench_from_train_and_test_files(tmp_path):
    train, test = write_files(tmp_path / "my")
    out, report = tmp_path / "r.json", tmp_path / "r.html"
    result = CliRunner().invoke(main, ["bench", "--train", str(train), "--test", str(test), "--label-field", "intent",
                                       "--methods", "random,stratified", *FAST, "--out", str(out),
                                       "--report", str(report)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["dataset"] == "train"  # the train file's name
    info = run["dataset_info"]
    assert str(train) in info["source"] and str(test) in info["source"]
    assert (info["train"], info["validation"], info["test"]) == (54, 6, 30)
    assert info["splits"]["validation"] == {"carved_from": "train", "share": 0.1, "seed": 0, "stratified": True,
                                            "n": 6}
    assert any("validation" in note and "carved" in note for note in info["notes"])
    assert [b["n"] for b in run["budgets"]] == [10, 27]
    assert run["summary"]["full"]["mean"] > 0.9  # the classes' words are obvious
    page = report.read_text()
    assert "train" in page and str(train) in page and "banking77" not in page


def test_bench_carves_test_and_validation_from_a_pool(tmp_path):
    path = tmp_path / "all.parquet"
    pq.write_table(pa.Table.from_pylist(records(150, field="y")), path)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--pool", str(path), "--label-field", "y", "--test-share", "0.2",
                                       "--name", "mine", "--split-seed", "3", *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["dataset"] == "mine"
    info = run["dataset_info"]
    assert (info["train"], info["validation"], info["test"]) == (108, 12, 30)
    assert info["splits"]["test"] == {"carved_from": "pool", "share": 0.2, "seed": 3, "stratified": True, "n": 30}
    assert info["splits"]["validation"]["carved_from"] == "pool" and info["source"] == f"pool={path}"
    assert any(note.startswith("test: 30 records") for note in info["notes"])

    dataset = load_entry(dataset_entry({"pool": str(path), "label_field": "y", "split_seed": 3}))
    parts = [set(dataset.train.texts), set(dataset.validation.texts), set(dataset.test.texts)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])  # disjoint
    assert len(parts[0] | parts[1] | parts[2]) == 150
    assert Counter(dataset.test.labels.tolist()) == {c: 10 for c in WORDS}  # 20% of each class
    assert Counter(dataset.validation.labels.tolist()) == {c: 4 for c in WORDS}
    other = load_entry(dataset_entry({"pool": str(path), "label_field": "y", "split_seed": 4}))
    assert set(other.test.texts) != parts[2]  # the seed decides which records


def test_bench_resume_on_own_files_gives_the_same_points(tmp_path, counted_fits):
    train, test = write_files(tmp_path / "my")
    command = ["bench", "--train", str(train), "--test", str(test), "--label-field", "intent",
               "--methods", "random,stratified", "--budgets", "20%", "--features", "tfidf", "--seeds", "2",
               "--tune-repeats", "1", "--workers", "1"]
    whole = tmp_path / "whole.json"
    assert CliRunner().invoke(main, command + ["--out", str(whole)]).exit_code == 0
    total, fits = len(counted_fits.calls), 2 * 2 + 1
    expected = json.loads(whole.read_text())["runs"][0]

    out = tmp_path / "bench.json"
    counted_fits.stop_at_third_point(command, out, total, fits)
    result, run = counted_fits.resume(command, out)
    assert result.exit_code == 0, result.output
    assert len(counted_fits.calls) == fits - 2  # no tuning, two points and the full fit
    assert timeless(run["points"]) == timeless(expected["points"])

    write_jsonl(train, records(63))  # a changed train file: nothing finished is reused
    result, _ = counted_fits.resume(command, out)
    assert result.exit_code == 0
    assert len(counted_fits.calls) > fits


def test_a_record_without_its_label_is_a_clear_error_or_set_aside(tmp_path):
    train, test = write_files(tmp_path / "my")
    rows = records(60)
    del rows[4]["intent"]
    write_jsonl(train, rows)
    command = ["bench", "--train", str(train), "--test", str(test), "--label-field", "intent", *FAST]
    result = CliRunner().invoke(main, command)
    assert result.exit_code != 0
    assert f'{train} line 5: field "intent" is missing' in result.output and "Traceback" not in result.output

    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, command + ["--on-bad-record", "quarantine", "--out", str(out)])
    assert result.exit_code == 0, result.output
    info = json.loads(out.read_text())["runs"][0]["dataset_info"]
    assert info["train"] + info["validation"] == 59
    quarantine = tmp_path / "r.json.train.quarantine.jsonl"
    assert any("1 bad records left out" in note and str(quarantine) in note for note in info["notes"])
    (bad,) = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert bad["line"] == 5 and bad["file"] == str(train) and '"intent" is missing' in bad["reason"]


def test_a_test_class_absent_from_train_is_warned_about(tmp_path):
    train, test = write_files(tmp_path / "my")
    write_jsonl(test, records(30, start=1000) + [{"text": "an unseen sort of thing 1", "intent": "unseen"}])
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--train", str(train), "--test", str(test), "--label-field", "intent",
                                       *FAST, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 test class(es) never appear in train" in result.output and "unseen" in result.output
    run = json.loads(out.read_text())["runs"][0]
    assert any("unseen" in note for note in run["dataset_info"]["notes"])
    assert run["summary"]["full"]["mean"] < 1.0  # the unseen class counts as an error


def test_usage_errors_name_what_to_give(tmp_path):
    train, test = write_files(tmp_path / "my")
    result = CliRunner().invoke(main, ["bench", "--train", str(train), "--test", str(test), *FAST])
    assert result.exit_code == 2 and "label_field" in result.output
    result = CliRunner().invoke(main, ["bench", "--train", str(train), "--label-field", "intent"])
    assert result.exit_code == 2 and "--test is missing" in result.output
    result = CliRunner().invoke(main, ["bench", "--dataset", "digits", "--label-field", "intent"])
    assert result.exit_code == 2 and "--label-field reads your own files" in result.output
    result = CliRunner().invoke(main, ["bench", "--pool", str(train), "--test", str(test), "--label-field", "intent"])
    assert result.exit_code == 2 and "not both" in result.output


def test_suite_file_datasets_may_be_mappings_with_paths(tmp_path, monkeypatch):
    write_files(tmp_path / "suite" / "my")
    pq.write_table(pa.Table.from_pylist(records(90, field="y")), tmp_path / "suite" / "all.parquet")
    suite = tmp_path / "suite" / "suite.yaml"
    suite.write_text("datasets:\n"
                     "  - {name: mine, train: my/train.jsonl, test: my/test.jsonl, label_field: intent}\n"
                     "  - {name: whole, pool: all.parquet, test_share: 0.2, label_field: y}\n"
                     "methods: [random]\nbudgets: ['20%']\nseeds: 2\ntune_repeats: 1\nfeatures: tfidf\n")
    monkeypatch.chdir(tmp_path)  # paths are relative to the suite file, not the working folder
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(main, ["bench", "--config", str(suite), "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    runs = json.loads(out.read_text())["runs"]
    assert [run["dataset"] for run in runs] == ["mine", "whole"]
    assert str(tmp_path / "suite" / "my" / "train.jsonl") in runs[0]["dataset_info"]["source"]
    assert runs[1]["dataset_info"]["test"] == 18

    suite.write_text("datasets:\n  - {name: mine, train: my/train.jsonl, test: my/test.jsonl, labels: intent}\n")
    result = CliRunner().invoke(main, ["bench", "--config", str(suite)])
    assert result.exit_code == 2 and "unknown key 'labels'" in result.output


def test_python_entry_point_takes_paths_or_pools(tmp_path):
    train, test = write_files(tmp_path / "my")
    out = tmp_path / "r.json"
    document = bench(str(train), str(test), label_field="intent", methods=["random", "stratified"],
                     budgets=["20%", "50%"], seeds=2, features="tfidf", tune_repeats=1, name="mine", out=out)
    run = document["runs"][0]
    assert run["dataset"] == "mine" and json.loads(out.read_text())["runs"][0]["points"] == run["points"]
    assert set(run["summary"]["methods"]) == {"random", "stratified"} and len(run["points"]) == 8

    pools = bench(Pool.from_jsonl(str(train), label_field="intent"), Pool.from_jsonl(str(test), label_field="intent"),
                  budgets="20%,50%", seeds=2, features="tfidf", tune_repeats=1)
    assert pools["runs"][0]["dataset"] == "train"
    assert [p["accuracy"] for p in pools["runs"][0]["points"]] == [p["accuracy"] for p in run["points"]
                                                                   if p["method"] == "random"]
    try:
        bench(Pool.from_jsonl(str(train)), str(test), label_field="intent", features="tfidf")
    except Exception as err:
        assert "has no label field" in str(err) and "label_field" in str(err)
    else:
        raise AssertionError("a pool without labels was accepted")


def test_carved_splits_are_embedded_as_the_whole_file(tmp_path, monkeypatch):
    import numpy as np

    import thresher.evaluate.features as features

    asked = []

    def fake_embed(texts, model, cache_dir=None):  # one row per text: its number, so slices can be checked
        asked.append(list(texts))
        return np.array([[float(t.split(" please ")[1].split()[0]), 1.0] for t in texts], dtype=np.float32)

    monkeypatch.setattr(features, "embed_texts", fake_embed)
    monkeypatch.setattr(features, "embed_available", lambda: True)
    path = write_jsonl(tmp_path / "all.jsonl", records(90, field="y"))
    dataset = load_entry(dataset_entry({"pool": str(path), "label_field": "y"}))
    found = features.featurize(dataset, "embed")
    whole = [r["text"] for r in records(90, field="y")]
    assert all(texts == whole for texts in asked)  # the file's texts, as `thresher select` embeds them
    for split, matrix in (("train", found.train), ("validation", found.validation), ("test", found.test)):
        numbers = [float(t.split(" please ")[1].split()[0]) for t in getattr(dataset, split).texts]
        assert matrix[:, 0].tolist() == numbers
