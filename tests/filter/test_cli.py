"""The dedup, filter and decontaminate commands: outputs, summary, report, --dry-run."""

from __future__ import annotations

import json

from click.testing import CliRunner

from thresher.cli import main

from ..conftest import write_jsonl
from .test_quality import DOCS


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _pool_file(tmp_path):
    rows = [{"id": name, "text": text} for name, text in DOCS.items()]
    rows.append({"id": "copy", "text": DOCS["good"].upper()})
    return write_jsonl(tmp_path / "pool.jsonl", rows)


def test_dedup_writes_kept_records_summary_and_report(tmp_path):
    pool = _pool_file(tmp_path)
    out, report = tmp_path / "deduped.jsonl", tmp_path / "dedup.html"
    result = run("dedup", pool, "--exact", "--near", "--id-field", "id", "--out", out, "--report", report)
    assert result.exit_code == 0, result.output
    kept = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    # "copy" is the good text upper-cased; three more documents are the good text plus a little
    assert kept == ["good", "short", "no_stop_words", "bullets", "numbers"]
    assert "exact-duplicate" in result.output and "banding" in result.output
    page = report.read_text()
    assert "of id good" in page and "<!doctype html>" in page and "<script" not in page


def test_dry_run_writes_nothing_and_shows_examples(tmp_path):
    pool = _pool_file(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    out = tmp_path / "clean.jsonl"
    for args in (("dedup", pool, "--exact", "--near"), ("filter", pool, "--rules", "default"),
                 ("decontaminate", pool, "--against", pool)):
        result = run(*args, "--out", out, "--report", tmp_path / "r.html", "--dry-run", "--id-field", "id")
        assert result.exit_code == 0, result.output
        assert "nothing (--dry-run)" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    filtered = run("filter", pool, "--dry-run", "--id-field", "id")
    assert "id short: word_count: 11 < min 50" in filtered.output


def test_filter_saves_scores_and_rethresholds(tmp_path):
    pool = _pool_file(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  word_count: {min: 5}\n")
    scores = tmp_path / "scores.parquet"
    first = run("filter", pool, "--out", tmp_path / "a.jsonl", "--save-scores", scores, "--id-field", "id")
    assert first.exit_code == 0, first.output
    second = run("filter", pool, "--rules", rules, "--scores-from", scores, "--out", tmp_path / "b.jsonl", "--id-field", "id")
    assert second.exit_code == 0, second.output
    kept = [json.loads(line)["id"] for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert "short" in kept and "bullets" not in kept


def test_usage_errors(tmp_path):
    pool = _pool_file(tmp_path)
    assert run("dedup", pool, "--out", tmp_path / "o.jsonl").exit_code == 2  # neither --exact nor --near
    assert run("dedup", pool, "--exact").exit_code == 2  # no --out and no --dry-run
    bad_rules = tmp_path / "bad.yaml"
    bad_rules.write_text("rules:\n  nope: true\n")
    result = run("filter", pool, "--rules", bad_rules, "--dry-run")
    assert result.exit_code == 2 and "unknown rule 'nope'" in result.output
