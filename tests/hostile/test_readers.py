"""Readers on hostile input: odd file names, fields whose type changes late, ragged CSV
rows, corrupt, truncated or misnamed files. Each gives the records or one line that
names the file and what to do; never a traceback."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from thresher import Pool
from thresher.cli import main
from thresher.errors import ThresherError
from tests.conftest import make_records, write_jsonl


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_file_name_with_brackets_is_taken_literally(tmp_path):
    path = write_jsonl(tmp_path / "pool[1].jsonl", make_records(20))
    assert len(Pool.from_jsonl(str(path))) == 20
    result = run("info", path, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["records"] == 20


def test_a_glob_still_matches_when_no_file_has_its_literal_name(tmp_path):
    for i in (1, 2):
        write_jsonl(tmp_path / f"pool{i}.jsonl", make_records(10))
    assert len(Pool.from_jsonl(str(tmp_path / "pool[12].jsonl"))) == 20


@pytest.mark.parametrize("field", ["label", "domain", "id"])
def test_a_field_that_turns_from_int_to_text_after_the_sample_is_read_as_text(tmp_path, field):
    records = [{"text": f"record {i}", field: i} for i in range(1200)]
    records += [{"text": f"late {i}", field: f"name-{i}"} for i in range(300)]
    path = write_jsonl(tmp_path / "pool.jsonl", records)
    pool = Pool.from_jsonl(path, **{f"{field}_field": field}, shard_bytes=8000)
    index = pool.index()
    assert index.n == 1500 and len(index.bad) == 0
    column = {"label": index.labels, "domain": index.domains, "id": index.ids}[field]
    assert pa.types.is_string(column.type)
    values = column.to_pylist()
    assert values[:3] == ["0", "1", "2"] and values[-1] == "name-299"
    again = Pool.from_jsonl(path, **{f"{field}_field": field}, shard_bytes=1 << 20).index()  # any sharding: the same
    assert {"label": again.labels, "domain": again.domains, "id": again.ids}[field].equals(column)


def test_an_int_id_column_stays_int(tmp_path):
    path = write_jsonl(tmp_path / "pool.jsonl", [{"text": f"r {i}", "id": i * 3} for i in range(1500)])
    ids = Pool.from_jsonl(path, id_field="id", shard_bytes=8000).index().ids
    assert pa.types.is_int64(ids.type) and ids.to_pylist()[-1] == 1499 * 3


def test_mixed_ids_that_collide_as_text_are_reported(tmp_path):
    records = [{"text": f"r {i}", "id": i} for i in range(1200)] + [{"text": "late", "id": "7"}]
    path = write_jsonl(tmp_path / "pool.jsonl", records)
    with pytest.raises(ThresherError, match="more than once"):
        Pool.from_jsonl(path, id_field="id").index()


def test_a_ragged_csv_row_near_the_start_is_quarantined(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text("text,label\nhello,a\nbad,row,extra\nworld,b\n")
    result = run("info", path, "--label-field", "label", "--on-bad-record", "quarantine", "--json")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.output)
    assert facts["records"] == 2 and facts["bad_records"] == 1
    assert "expected 2 columns, found 3" in next(iter(facts["bad_reasons"]))


@pytest.mark.parametrize("content", [b"PAR1garbagegarbagePAR1", b'{"text": "json, not parquet"}\n', b""])
def test_a_corrupt_or_misnamed_parquet_file_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "c.parquet"
    path.write_bytes(content)
    result = run("info", path)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert str(path) in result.output and "Parquet" in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_a_parquet_file_cut_short_is_named(tmp_path):
    path = tmp_path / "pool.parquet"
    pq.write_table(pa.Table.from_pylist(make_records(500)), path, row_group_size=100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = run("info", path)
    assert result.exit_code == 1 and str(path) in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
def test_a_truncated_compressed_pool_names_the_file(tmp_path, codec):
    data = b"".join(json.dumps({"text": f"record {i} " * 30}).encode() + b"\n" for i in range(3000))
    if codec == "gzip":
        path = tmp_path / "pool.jsonl.gz"
        packed = gzip.compress(data)
    else:
        path = tmp_path / "pool.jsonl.zst"
        sink = pa.BufferOutputStream()
        with pa.CompressedOutputStream(sink, "zstd") as stream:
            stream.write(data)
        packed = sink.getvalue().to_pybytes()
    path.write_bytes(packed[: len(packed) // 2])
    result = run("info", path)
    assert result.exit_code == 1, result.output
    assert str(path) in result.output and "truncated or corrupt" in result.output
    assert "Traceback" not in result.output


def test_a_corrupt_gzip_pool_names_the_file(tmp_path):
    packed = bytearray(gzip.compress(b"".join(json.dumps({"text": f"r {i}"}).encode() + b"\n" for i in range(2000))))
    packed[40:60] = b"\xff" * 20
    path = tmp_path / "pool.jsonl.gz"
    path.write_bytes(bytes(packed))
    result = run("info", path)
    assert result.exit_code == 1, result.output
    assert str(path) in result.output and "Traceback" not in result.output
