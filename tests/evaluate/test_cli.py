"""`thresher demo` and `thresher bench` end to end, in reduced settings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from thresher.cli import main
from thresher.evaluate.results import markdown_table
from tests.evaluate.test_datasets import intent_records, make_banking
from tests.conftest import write_jsonl
from tests.evaluate.conftest import timeless


def test_demo_runs_end_to_end(tmp_path):
    out, report = tmp_path / "demo.json", tmp_path / "demo.html"
    result = CliRunner().invoke(main, ["demo", "--methods", "random,stratified", "--seeds", "2", "--budgets", "20%",
                                       "--out", str(out),
                                       "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "random" in result.output and "stratified" in result.output and "full data" in result.output
    document = json.loads(out.read_text())
    run = document["runs"][0]
    assert run["dataset"] == "digits" and run["features"]["name"] == "pixels"
    assert {p["method"] for p in run["points"]} >= {"random", "stratified"}
    assert len([p for p in run["points"] if p["method"] == "random"]) == 2
    assert run["summary"]["full"]["mean"] > 0.9  # logistic regression on all the digits
    assert document["machine"]["cpus"] and document["thresher_version"]
    page = report.read_text()
    assert "<svg" in page and "polygon" in page and "<script" not in page


def test_bench_on_a_local_folder_with_tfidf(tmp_path):
    make_banking(tmp_path / "data", train=90, test=30)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", "--dataset", "banking77", "--data-dir", str(tmp_path / "data"),
                                       "--features", "tfidf", "--budgets", "10%,50%", "--seeds", "2",
                                       "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["features"]["name"] == "tfidf-svd"
    assert [b["n"] for b in run["budgets"]] == [8, 40]


def test_bench_target_scenario_reports_domain_precision(tmp_path):
    data = tmp_path / "data"
    make_banking(data, train=90, test=30)
    trec = data / "trec"
    trec.mkdir()
    questions = [{"text": f"what is the capital number {i}", "label": "LOC" if i % 2 else "NUM"} for i in range(90)]
    write_jsonl(trec / "train.jsonl", questions)
    write_jsonl(trec / "test.jsonl", questions[:20])
    sst = data / "sst2"
    sst.mkdir()
    for split in ("train", "validation", "test"):
        write_jsonl(sst / f"{split}.jsonl", [{"text": f"a fine movie {i}", "label": "positive" if i % 2 else
                                              "negative"} for i in range(30)])
    out = tmp_path / "target.json"
    result = CliRunner().invoke(main, ["bench", "--target", "banking77", "--mix", "trec,sst2",
                                       "--target-size", "5", "--data-dir", str(data), "--features", "tfidf",
                                       "--budgets", "20%", "--seeds", "2", "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["scenario"] == "target" and run["target_domain"] == "banking77"
    share = 81 / (81 + 81 + 30)  # banking77 pool (90 less 10% validation), trec pool, sst2 train
    precision = [p["domain_precision"] for p in run["points"]]
    assert all(0 <= p <= 1 for p in precision) and abs(sum(precision) / len(precision) - share) < 0.25
    assert "domain precision" in result.output


def test_bench_missing_dataset_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["bench", "--dataset", "sst2", "--data-dir", str(tmp_path), "--source", "local"])
    assert result.exit_code == 1
    assert "was not found" in result.output and str(tmp_path / "sst2") in result.output


def test_bench_lists_datasets_and_reads_a_suite_file(tmp_path):
    listing = CliRunner().invoke(main, ["bench", "--list"])
    assert listing.exit_code == 0 and "mnist_test10k" in listing.output and "digits" in listing.output
    suite = tmp_path / "suite.yaml"
    suite.write_text("datasets: [digits]\nbudgets: ['20%']\nseeds: 1\ntune_repeats: 1\nbogus: 1\n")
    result = CliRunner().invoke(main, ["bench", "--config", str(suite)])
    assert result.exit_code == 2 and "bogus" in result.output
    suite.write_text("datasets: [digits]\nbudgets: ['20%']\nseeds: 1\ntune_repeats: 1\n")
    out = tmp_path / "suite.json"
    result = CliRunner().invoke(main, ["bench", "--config", str(suite), "--workers", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["runs"][0]["dataset"] == "digits"
    table = markdown_table(document).splitlines()
    assert table[0] == "| dataset (pool, features) | method | 20% | full |"
    assert table[2].startswith("| digits (1,211, pixels) | random | ")


def test_bench_resume_keeps_finished_datasets_and_runs_the_rest(tmp_path, monkeypatch):
    import thresher.evaluate.protocol as protocol

    make_banking(tmp_path / "data", train=90, test=30)
    out = tmp_path / "bench.json"
    command = ["bench", "--dataset", "banking77,digits", "--data-dir", str(tmp_path / "data"), "--features", "tfidf",
               "--budgets", "20%", "--seeds", "1", "--tune-repeats", "1", "--workers", "1", "--out", str(out)]
    real, ran = protocol.run_bench, []

    def stopped_at_digits(task, *args, **kwargs):
        ran.append(task.name)
        if task.name == "digits":
            raise KeyboardInterrupt
        return real(task, *args, **kwargs)

    monkeypatch.setattr(protocol, "run_bench", stopped_at_digits)
    CliRunner().invoke(main, command)
    assert ran == ["banking77", "digits"]
    assert [run["dataset"] for run in json.loads(out.read_text())["runs"]] == ["banking77"]  # kept what finished
    first = json.loads(out.read_text())["runs"][0]

    ran.clear()
    monkeypatch.setattr(protocol, "run_bench", lambda task, *a, **k: (ran.append(task.name), real(task, *a, **k))[1])
    result = CliRunner().invoke(main, command + ["--resume"])
    assert result.exit_code == 0, result.output
    assert ran == ["digits"]  # banking77 came from the file
    runs = json.loads(out.read_text())["runs"]
    assert [run["dataset"] for run in runs] == ["banking77", "digits"] and runs[0]["points"] == first["points"]

    ran.clear()  # other settings: nothing in the file matches, so everything runs
    result = CliRunner().invoke(main, [c if c != "20%" else "30%" for c in command] + ["--resume"])
    assert result.exit_code == 0, result.output
    assert ran == ["banking77", "digits"]

    out.write_text("not json")
    result = CliRunner().invoke(main, command + ["--resume"])
    assert result.exit_code != 0 and "is not a results file" in result.output and str(out) in result.output


def test_bench_resume_redoes_only_the_points_a_stopped_run_had_not_finished(tmp_path, counted_fits):
    command = ["bench", "--dataset", "digits", "--methods", "random,stratified", "--budgets", "20%", "--seeds", "2",
               "--tune-repeats", "1", "--workers", "1"]
    whole = tmp_path / "whole.json"
    assert CliRunner().invoke(main, command + ["--out", str(whole)]).exit_code == 0
    total, fits = len(counted_fits.calls), 2 * 2 + 1  # 4 points and the full-data fit come after the tuning
    expected = json.loads(whole.read_text())["runs"][0]

    out = tmp_path / "bench.json"
    counted_fits.stop_at_third_point(command, out, total, fits)
    cells = tmp_path / "bench.json.cells.jsonl"
    assert [json.loads(line)["kind"] for line in cells.read_text().splitlines()] == ["tuned", "point", "point"]

    result, run = counted_fits.resume(command, out)
    assert result.exit_code == 0, result.output
    assert len(counted_fits.calls) == fits - 2  # no tuning, two points and the full fit
    assert timeless(run["points"]) == timeless(expected["points"])
    assert run["full"]["points"] == expected["full"]["points"]
    assert not cells.exists()  # finished: everything is in --out


def test_report_merges_budgets_measured_in_separate_runs(tmp_path):
    common = ["bench", "--dataset", "digits", "--methods", "random,stratified", "--seeds", "2", "--tune-repeats", "1",
              "--workers", "1"]
    low, high = tmp_path / "low.json", tmp_path / "high.json"
    assert CliRunner().invoke(main, common + ["--budgets", "10%", "--out", str(low)]).exit_code == 0
    assert CliRunner().invoke(main, common + ["--budgets", "50%", "--out", str(high)]).exit_code == 0
    other = tmp_path / "other.json"  # another protocol (3 seeds): kept apart, not merged
    assert CliRunner().invoke(main, [c if c != "2" else "3" for c in common] + ["--budgets", "50%", "--out",
                                                                              str(other)]).exit_code == 0
    html, merged = tmp_path / "report.html", tmp_path / "all.json"
    result = CliRunner().invoke(main, ["report", str(low), str(high), str(other), "--out", str(html),
                                       "--merged", str(merged)])
    assert result.exit_code == 0, result.output
    runs = json.loads(merged.read_text())["runs"]
    assert len(runs) == 2
    assert [b["budget"] for b in runs[0]["budgets"]] == ["10%", "50%"] and len(runs[0]["points"]) == 8
    assert set(runs[0]["summary"]["methods"]["stratified"]["curve"]) == {"10%", "50%"}
    assert "| 10% | 50% | full |" in result.output and "<svg" in html.read_text()

    (tmp_path / "bad.json").write_text("{}")
    result = CliRunner().invoke(main, ["report", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "not a results file" in result.output
