"""Bad records are never dropped silently: error names the line, quarantine keeps reasons."""

import json

import pytest

import thresher
from thresher import BadRecordError, Pool
from thresher.cli import main

from ..conftest import make_records, write_jsonl

BROKEN = b'{"text": "broken", '
NOT_UTF8 = b'{"text": "caf\xe9"}'
NO_TEXT = b'{"prompt": "where is my text", "label": "class-0"}'


@pytest.fixture
def bad_pool(tmp_path):
    records = make_records(30)
    return write_jsonl(tmp_path / "pool.jsonl", records, raw_lines={3: BROKEN, 10: NOT_UTF8, 20: NO_TEXT})


def test_error_stops_at_the_first_bad_line_and_names_it(bad_pool):
    with pytest.raises(BadRecordError) as caught:
        len(Pool.from_jsonl(bad_pool))
    assert caught.value.line == 4
    assert "pool.jsonl line 4" in str(caught.value) and "not valid JSON" in str(caught.value)
    assert "--on-bad-record=quarantine" in str(caught.value)


def test_missing_field_error_suggests_the_field_option(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "completion": "b"}])
    with pytest.raises(BadRecordError, match=r'(?s)line 1: field "text" is missing \(found: prompt, completion\).*--text-field'):
        len(Pool.from_jsonl(path))


def test_quarantine_keeps_all_three_with_reasons_and_selects_from_the_rest(bad_pool, tmp_path):
    before = bad_pool.read_bytes()
    pool = Pool.from_jsonl(bad_pool, on_bad_record="quarantine")
    sel = thresher.select(pool, "random", "100%")
    assert len(sel) == 30
    reasons = {record.line: record.reason for record in pool.bad_records.records}
    assert set(reasons) == {4, 11, 21}
    assert reasons[4].startswith("not valid JSON")
    assert reasons[11].startswith("not valid UTF-8")
    assert reasons[21].startswith('field "text" is missing')
    pool.write_quarantine(tmp_path / "q.jsonl")
    quarantined = [json.loads(line) for line in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantined] == [4, 11, 21]
    assert quarantined[0]["record"] == BROKEN.decode() and quarantined[0]["file"] == str(bad_pool)
    assert "\\xe9" in quarantined[1]["record"]
    assert bad_pool.read_bytes() == before


def test_skip_still_counts(bad_pool):
    pool = Pool.from_jsonl(bad_pool, on_bad_record="skip")
    assert len(pool) == 30
    assert len(pool.bad_records) == 3


def test_bad_lines_found_in_every_shard_with_file_line_numbers(tmp_path):
    records = make_records(400)
    path = write_jsonl(tmp_path / "pool.jsonl", records, raw_lines={50: BROKEN, 300: NOT_UTF8})
    pool = Pool.from_jsonl(path, on_bad_record="quarantine", shard_bytes=2000)
    assert len(pool.source.plan()) > 5
    assert [r.line for r in pool.bad_records.records] == [51, 301]
    assert len(pool) == 400


def test_wrong_label_type_is_a_bad_record(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": [1]}, {"text": "c", "label": 2}])
    pool = Pool.from_jsonl(path, label_field="label", on_bad_record="quarantine")
    assert pool.index().labels.to_pylist() == [1, 2]
    assert "list" in pool.bad_records.records[0].reason


def test_cli_quarantine_writes_next_to_the_output(bad_pool, tmp_path):
    from click.testing import CliRunner

    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(main, ["select", str(bad_pool), "-b", "10", "-o", str(out), "--on-bad-record", "quarantine"])
    assert result.exit_code == 0, result.output
    quarantine = tmp_path / "picked.jsonl.quarantine.jsonl"
    assert len(quarantine.read_text().splitlines()) == 3
    assert "bad" in result.output and "3" in result.output
    assert len(out.read_text().splitlines()) == 10


def test_cli_error_is_one_message_with_exit_code_1(bad_pool, tmp_path):
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["select", str(bad_pool), "-b", "10", "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert "line 4" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.jsonl").exists()
