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


def test_methods_lists_selectors_and_filters_with_kind_and_shape():
    listing = json.loads(run("methods", "--json").output)
    by_name = {m["name"]: m for m in listing}
    assert by_name["random"]["kind"] == "selector" and by_name["random"]["shape"] == "score"
    assert by_name["kcenter"]["shape"] == "set"
    assert by_name["near-dedup"]["kind"] == "filter" and "threshold" in by_name["near-dedup"]["params"]
    filters = json.loads(run("methods", "--kind", "filter", "--json").output)
    assert {m["name"] for m in filters} == {"exact-dedup", "near-dedup", "quality", "decontaminate"}
    table = run("methods").output
    assert "thresher selectors" in table and "thresher filters" in table and "near-dedup" in table


def test_every_selector_parameter_is_an_option_of_select():
    from thresher.cli.select import method_parameters, select

    options = {opt for param in select.params for opt in param.opts}
    for name in method_parameters():
        assert "--" + name.replace("_", "-") in options, name


def test_a_generated_method_flag_reaches_the_method(tmp_path):
    records = make_records(90, classes=3)
    for r in records[:60]:
        r["label"] = "class-0"  # 70 of class-0, 10 of each other class
    pool = write_jsonl(tmp_path / "pool.jsonl", records)
    result = run("select", pool, "-m", "stratified", "--label-field", "label", "--balance", "-b", "30",
                 "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 0, result.output
    labels = [json.loads(l)["label"] for l in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert sorted(labels.count(c) for c in set(labels)) == [10, 10, 10]
    result = run("select", pool, "-m", "stratified", "--label-field", "label", "--no-balance", "-b", "30",
                 "-o", tmp_path / "p.jsonl")
    labels = [json.loads(l)["label"] for l in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert labels.count("class-0") == 23  # in pool proportions: 70 of 90


def test_a_method_flag_the_method_lacks_is_a_usage_error_naming_its_parameters(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(20))
    result = run("select", pool, "-m", "random", "--threshold", "0.9", "-b", "5", "-o", tmp_path / "o.jsonl")
    assert result.exit_code == 2, result.output
    assert "--threshold is not a parameter of random" in result.stderr and "--chooser" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_a_method_parameter_named_like_a_command_option_is_left_to_p(monkeypatch):
    import click

    from thresher.cli import select as module
    from thresher.params import Param

    monkeypatch.setattr(module, "method_parameters", lambda: {
        "seed": [("fake", Param(0, int, "a method's own seed"))],
        "fancy_knob": [("fake", Param(1.0, float, "a knob"))],
    })
    command = click.command()(click.option("--seed", type=int)(lambda seed, **kw: None))
    module.add_method_options(command)
    opts = [opt for param in command.params for opt in param.opts]
    assert opts.count("--seed") == 1 and "--fancy-knob" in opts
