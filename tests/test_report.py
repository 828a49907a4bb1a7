"""Reports for people: `thresher select --report` writes one self-contained page on what a
selection kept, and the bench report plots the paired difference against random."""

from __future__ import annotations

import copy
import html
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from thresher.cli import main
from thresher.data import Pool
from thresher.report import selection_report
from thresher.select import get_method

PLANTED = "<script>alert(1)</script>"
CLASSES = 12


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def pool_path(tmp_path):
    """A labelled pool of 240 records in 12 classes and 3 domains; the first record has
    hostile text and a label that is Rich markup."""
    records = [{"id": f"doc-{i}", "text": f"record {i} about topic {i % CLASSES} " + "word " * (i % 9),
                "label": f"class-{i % CLASSES}", "domain": f"d{i % 3}"} for i in range(240)]
    records[0].update(text=PLANTED, label="[/bold]")
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _select(pool_path, tmp_path, *args):
    report = tmp_path / "picked.html"
    result = run("select", pool_path, "--label-field", "label", "--domain-field", "domain", "--id-field", "id",
                 "--out", tmp_path / "picked.jsonl", "--report", report, *args)
    assert result.exit_code == 0, result.output
    assert "report" in result.output
    return report.read_text()


def test_report_shows_class_bars_histogram_and_escaped_cards(pool_path, tmp_path):
    target = tmp_path / "target.jsonl"
    target.write_text("".join(json.dumps({"text": f"topic {i % 3} word"}) + "\n" for i in range(30)))
    page = _select(pool_path, tmp_path, "--method", "dsir", "--target", target, "--budget", "25%")
    assert "<script" not in page and "alert(1)</script>" not in page
    assert html.escape(PLANTED) in page  # the hostile record appears as text, in a card
    for label in ["[/bold]"] + [f"class-{i}" for i in range(CLASSES)]:
        assert f">{html.escape(label)}<title>" in page, label  # one bar row per class
    assert "By domain" in page and ">d2<title>" in page
    assert page.count('class="bar-0"') >= CLASSES and page.count('class="bar-1"') >= CLASSES
    assert 'class="bin"' in page and 'class="cut"' in page  # the histogram with its cut
    assert "Examples of kept records" in page and "Examples of dropped records" in page
    assert page.count("class=card") >= 4 and "doc-" in page
    assert "spent (records)</th><td>60 of 60 (100.0%)" in page and "240 records" in page


def test_a_tiny_budget_names_the_classes_with_no_kept_record(pool_path, tmp_path):
    page = _select(pool_path, tmp_path, "--method", "random", "--budget", "3")
    note = re.search(r"(\d+) of (\d+) classes have no record in the selection: (.*?)\. A larger", page)
    kept = {json.loads(line)["label"] for line in (tmp_path / "picked.jsonl").read_text().splitlines()}
    assert note and note.group(2) == str(CLASSES + 1)  # class-0 .. class-11 and "[/bold]"
    assert note.group(1) == str(CLASSES + 1 - len(kept))
    assert not any(html.escape(label) in note.group(3).split(", ") for label in kept)
    assert "<script" not in page
    assert html.escape(PLANTED) in page  # kept or among the first records not chosen


def test_a_token_budget_reports_tokens_spent(pool_path, tmp_path):
    page = _select(pool_path, tmp_path, "--method", "random", "--budget", "100 tokens")
    assert re.search(r"spent \(tokens\)</th><td>\d+ of 100 \(", page)


@pytest.mark.parametrize("same_as", ["pool", "out"])
def test_a_report_path_that_is_an_input_or_another_output_is_refused_before_work(pool_path, tmp_path, same_as,
                                                                                  monkeypatch):
    from thresher.select import base

    ran = []
    monkeypatch.setattr(base.Selector, "select", lambda *a, **k: ran.append(1))
    before = pool_path.read_bytes()
    report = pool_path if same_as == "pool" else tmp_path / "picked.jsonl"
    result = run("select", pool_path, "-m", "random", "-b", "5", "--out", tmp_path / "picked.jsonl",
                 "--report", report)
    assert result.exit_code == 2, result.output
    assert "--report" in result.output and not ran
    assert pool_path.read_bytes() == before and not (tmp_path / "picked.jsonl").exists()


def test_selection_report_in_python_shows_cluster_shares(tmp_path):
    rng = np.random.default_rng(0)
    vectors = np.concatenate([rng.normal(c, 0.1, (40, 4)) for c in (0, 3, 6)]).astype(np.float32)
    pool = Pool.from_numpy(vectors, labels=np.array([f"c{i // 40}" for i in range(120)]))
    selection = get_method("prototypicality")(chooser="quota(by=cluster)", clusters=3).select(pool, 30, seed=0)
    path = selection_report(pool, selection, tmp_path / "r.html")
    page = path.read_text()
    assert "By cluster" in page and "By class" in page and "<script" not in page


@pytest.fixture(scope="module")
def bench_run():
    """A small bench run of random and an oracle (keeps only correctly labelled records)."""
    from thresher.evaluate.protocol import run_bench

    from .evaluate.test_protocol import PlantedChoice, planted_task

    task, clean, _ = planted_task()
    return run_bench(task, ["random", PlantedChoice("oracle", clean)], ["5%", "20%"], seeds=2, tune_repeats=1)


def _bench_page(run: dict) -> str:
    from thresher.evaluate.report import render_html
    from thresher.evaluate.results import results_document, summarize

    run["summary"] = summarize(run)
    return render_html(results_document([run], "test", 1.0))


def test_bench_report_plots_the_paired_difference_against_random(bench_run):
    page = _bench_page(copy.deepcopy(bench_run))
    assert "paired difference against random" in page
    assert page.count('class="interval"') == 2  # oracle at 5% and 20%
    assert "oracle @ 5%" in page and "<script" not in page
    assert "Domain precision" not in page


def test_bench_report_draws_domain_precision_in_target_aware_runs(bench_run):
    run = copy.deepcopy(bench_run)
    for point in run["points"]:
        point["domain_precision"] = 0.25 if point["method"] == "random" else 0.75
    run["target_domain"] = "<b>target</b>"
    page = _bench_page(run)
    assert "Domain precision" in page and "25.0%" in page and "75.0%" in page and "<b>target" not in page
