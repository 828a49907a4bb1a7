import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from thresher import Selection
from thresher.cli import main

from .conftest import make_records, write_jsonl


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_select_random_writes_output_and_summary(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(200))
    result = run("select", pool, "--method", "random", "--budget", "10%", "--out", tmp_path / "picked.jsonl")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "picked.jsonl").read_text().splitlines()) == 20
    for word in ("read", "selected", "written", "time"):
        assert word in result.output


def test_select_stratified_parquet_with_manifest(tmp_path):
    records = make_records(300, classes=4)
    for r in records:
        r["intent"] = r.pop("label")
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "pool.parquet")
    result = run("select", tmp_path / "pool.parquet", "--method", "stratified", "--label-field", "intent",
                 "--budget", "200", "--out", tmp_path / "picked.parquet", "--manifest", tmp_path / "m.parquet")
    assert result.exit_code == 0, result.output
    picked = pq.read_table(tmp_path / "picked.parquet")
    assert picked.num_rows == 200
    assert sorted(picked.column("intent").value_counts().to_pylist(), key=str) == sorted(
        [{"values": f"class-{i}", "counts": 50} for i in range(4)], key=str)
    manifest = Selection.load(tmp_path / "m.parquet")
    assert manifest.meta["method"] == "stratified" and len(manifest) == 200


def test_usage_errors_exit_2_without_traceback(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(10))
    cases = [
        ("select", pool, "-b", "50", "-o", tmp_path / "o.jsonl"),  # budget above pool
        ("select", pool, "-b", "ten", "-o", tmp_path / "o.jsonl"),
        ("select", pool, "-b", "5", "-o", pool, "--overwrite"),  # output = input
        ("select", pool, "-m", "nope", "-b", "5", "-o", tmp_path / "o.jsonl"),
        ("select", tmp_path / "missing.jsonl", "-b", "5", "-o", tmp_path / "o.jsonl"),
        ("select", pool, "-b", "5"),  # no --out
    ]
    for case in cases:
        result = run(*case)
        assert result.exit_code == 2, (case, result.output)
        assert "Traceback" not in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_info_reports_counts_tokens_and_labels(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(30), raw_lines={5: b"{oops"})
    result = run("info", pool, "--label-field", "label", "--on-bad-record", "quarantine", "--json",
                 "--quarantine", tmp_path / "q.jsonl")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["records"] == 30 and facts["bad_records"] == 1
    assert facts["labels"]["distinct"] == 3
    assert facts["tokens"] > 0
    assert (tmp_path / "q.jsonl").exists()


def test_methods_lists_the_registry():
    result = run("methods", "--json")
    names = [m["name"] for m in json.loads(result.output)]
    assert {"random", "stratified"} <= set(names)


def test_param_option_reaches_the_method(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(90, domains=3))
    result = run("select", pool, "-m", "stratified", "-p", "by=domain", "--domain-field", "domain", "-b", "9",
                 "-o", tmp_path / "o.jsonl", "--order", "selection")
    assert result.exit_code == 0, result.output
    domains = [json.loads(l)["domain"] for l in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert sorted(domains) == ["d0"] * 3 + ["d1"] * 3 + ["d2"] * 3


def test_import_thresher_stays_light():
    code = "import sys, thresher; print(sorted(m for m in ('torch', 'ray', 'datasets', 'pandas', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_console_script_help_explains_options():
    out = subprocess.run([sys.executable, "-m", "thresher.cli", "select", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for option in ("--budget", "--on-bad-record", "--workers", "Examples"):
        assert option in out.stdout
