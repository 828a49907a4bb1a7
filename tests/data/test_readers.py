"""Each reader round-trips a small pool through take with every field intact."""

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

import thresher
from thresher import Pool
from thresher.errors import UsageError

from ..conftest import write_jsonl


def _pick(pool, k=10, seed=3):
    return thresher.select(pool, "random", k, seed=seed)


def _by_id(rows):
    return {row["id"]: row for row in rows}


def test_jsonl_take_copies_chosen_lines_byte_for_byte(tmp_path, records):
    path = tmp_path / "pool.jsonl"
    lines = [json.dumps(r, indent=None, separators=(", ", ":  ")) for r in records]  # odd spacing survives
    path.write_text("\n".join(lines) + "\n")
    pool = Pool.from_jsonl(path)
    sel = _pick(pool)
    pool.take(sel).to_jsonl(tmp_path / "out.jsonl")
    written = (tmp_path / "out.jsonl").read_text().splitlines()
    positions = sorted(sel.ids.to_pylist())
    assert written == [lines[p] for p in positions]


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl_round_trip(tmp_path, records, suffix):
    path = tmp_path / f"pool{suffix}"
    data = ("\n".join(json.dumps(r) for r in records) + "\n").encode()
    with pa.output_stream(str(path), compression="gzip" if suffix.endswith("gz") else "zstd") as out:
        out.write(data)
    pool = Pool.from_files(path, id_field="id")
    assert len(pool) == len(records)
    sel = _pick(pool)
    out = tmp_path / f"out{suffix}"
    pool.take(sel).write(out)
    with pa.input_stream(str(out), compression="detect") as stream:
        rows = [json.loads(line) for line in stream.read().decode().splitlines()]
    expected = _by_id(records)
    assert {row["id"] for row in rows} == set(sel.ids.to_pylist())
    assert all(row == expected[row["id"]] for row in rows)


def test_parquet_round_trip_keeps_every_column_and_type(tmp_path, records):
    table = pa.Table.from_pylist(records)
    pq.write_table(table, tmp_path / "pool.parquet", row_group_size=16)
    pool = Pool.from_parquet(tmp_path / "pool.parquet", id_field="id", label_field="label")
    sel = _pick(pool)
    pool.take(sel).write(tmp_path / "out.parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema == table.schema
    expected = _by_id(records)
    assert all(row == expected[row["id"]] for row in out.to_pylist())
    assert out.column("id").to_pylist() == sorted(sel.ids.to_pylist(), key=lambda i: int(i.split("-")[1]))


def test_csv_round_trip_keeps_values_as_written(tmp_path):
    path = tmp_path / "pool.csv"
    path.write_text('id,text,zip\n1,"hello, world",007\n2,"two\nlines",010\n3,plain,999\n')
    pool = Pool.from_csv(path, id_field="id")
    assert len(pool) == 3
    pool.take(thresher.select(pool, "random", 3)).write(tmp_path / "out.csv")
    out = pa_csv.read_csv(tmp_path / "out.csv", convert_options=pa_csv.ConvertOptions(column_types={"zip": pa.string()}))
    assert sorted(out.column("zip").to_pylist()) == ["007", "010", "999"]
    assert "two\nlines" in out.column("text").to_pylist()


def test_pandas_round_trip(records):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(records)
    pool = Pool.from_pandas(frame, label_field="label")
    sel = _pick(pool)
    picked = pool.take(sel).to_pandas()
    assert list(picked.columns) == list(frame.columns)
    assert picked.equals(frame.iloc[sorted(sel.ids.to_pylist())])


def test_numpy_pool_takes_features_and_labels():
    features = np.arange(40, dtype=np.float32).reshape(20, 2)
    labels = np.arange(20) % 4
    pool = Pool.from_numpy(features, labels)
    sel = thresher.select(pool, "stratified", 8)
    x, y = pool.take(sel).to_numpy()
    assert x.shape == (8, 2) and np.all(x[:, 0] // 2 == np.sort(sel.ids.to_numpy()))
    assert sorted(np.bincount(y).tolist()) == [2, 2, 2, 2]


def test_hf_dataset_round_trip(records):
    datasets = pytest.importorskip("datasets")
    dataset = datasets.Dataset.from_list(records)
    pool = Pool.from_hf(dataset, id_field="id")
    sel = _pick(pool)
    picked = pool.take(sel).to_hf()
    assert sorted(picked["id"]) == sorted(sel.ids.to_pylist())


def test_several_files_and_globs_make_one_pool(tmp_path, records):
    write_jsonl(tmp_path / "a.jsonl", records[:25])
    write_jsonl(tmp_path / "b.jsonl", records[25:])
    pool = Pool.from_jsonl(str(tmp_path / "*.jsonl"), id_field="id")
    assert len(pool) == len(records)
    index = pool.index()
    assert index.files.tolist() == [0] * 25 + [1] * 35
    assert index.locations[25] == 1  # lines count per file
    pool.take(thresher.select(pool, "random", len(records))).to_jsonl(tmp_path / "all.out.jsonl")
    assert [json.loads(l) for l in (tmp_path / "all.out.jsonl").read_text().splitlines()] == records


def test_template_builds_text_from_several_fields(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "Q?", "completion": "A!", "n": 3}])
    pool = Pool.from_jsonl(path, template="{prompt}\n{completion} ({n})")
    _, outputs = pool.scan([_texts])
    assert outputs[0] == [["Q?\nA! (3)"]]


def _texts(batch):
    return batch.column("text").to_pylist()


def test_token_counts_are_whitespace_tokens(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": t} for t in ["", "one", " two  words ", "a\tb\nc", "é ü"]])
    pool = Pool.from_jsonl(path)
    assert pool.index(tokens=True).tokens.tolist() == [0, 1, 2, 3, 2]


def test_blank_lines_are_not_records(tmp_path, records):
    path = write_jsonl(tmp_path / "p.jsonl", records[:5], raw_lines={2: b"", 4: b"   "})
    pool = Pool.from_jsonl(path, id_field="id")
    assert len(pool) == 5
    assert pool.index().blank_lines == 2
    assert pool.index().locations.tolist() == [1, 2, 4, 6, 7]


def test_empty_text_is_a_valid_record(tmp_path):
    pool = Pool.from_jsonl(write_jsonl(tmp_path / "p.jsonl", [{"text": ""}, {"text": "x"}]))
    assert len(pool) == 2


def test_unknown_format_and_missing_file_are_usage_errors(tmp_path):
    (tmp_path / "pool.txt").write_text("hi")
    with pytest.raises(UsageError, match="format"):
        Pool.from_files(tmp_path / "pool.txt")
    with pytest.raises(UsageError, match="does not exist"):
        Pool.from_files(tmp_path / "nope.jsonl")
    with pytest.raises(UsageError, match="no file matches"):
        Pool.from_files(str(tmp_path / "*.parquet"))


def test_missing_column_in_parquet_names_the_option(tmp_path):
    pq.write_table(pa.table({"prompt": ["a"], "completion": ["b"]}), tmp_path / "p.parquet")
    with pytest.raises(UsageError, match=r'(?s)field "text" is missing.*--text-field.*prompt, completion'):
        Pool.from_parquet(tmp_path / "p.parquet")


def test_duplicate_ids_are_an_error(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [{"id": 1, "text": "a"}, {"id": 2, "text": "b"}, {"id": 1, "text": "c"}])
    with pytest.raises(thresher.ThresherError, match="more than once"):
        len(Pool.from_jsonl(path, id_field="id"))


def test_fingerprint_follows_content_and_options_not_names(tmp_path, records):
    a = write_jsonl(tmp_path / "a.jsonl", records)
    b = write_jsonl(tmp_path / "b.jsonl", records)
    c = write_jsonl(tmp_path / "c.jsonl", records[:-1])
    assert Pool.from_jsonl(a).fingerprint == Pool.from_jsonl(b).fingerprint
    assert Pool.from_jsonl(a).fingerprint != Pool.from_jsonl(c).fingerprint
    assert Pool.from_jsonl(a).fingerprint != Pool.from_jsonl(a, label_field="label").fingerprint


def test_large_pool_is_split_into_shards_that_read_the_same(tmp_path, records):
    path = write_jsonl(tmp_path / "p.jsonl", records * 20)
    whole = Pool.from_jsonl(path)
    sharded = Pool.from_jsonl(path, shard_bytes=1000)
    assert len(sharded.source.plan()) > 10
    assert whole.index().locations.tolist() == sharded.index().locations.tolist()


def test_blocks_hold_whole_lines_even_when_a_line_is_longer_than_a_block(tmp_path):
    from thresher.data.jsonl import iter_file_blocks, line_spans

    lines = [b"a" * 5, b"b" * 300, b"", b"c" * 40, b"d"]
    path = tmp_path / "x.jsonl"
    path.write_bytes(b"\n".join(lines))  # no newline at the end
    blocks = list(iter_file_blocks(str(path), block_bytes=64))
    assert b"".join(block for _, block in blocks) == path.read_bytes()
    assert all(block.endswith(b"\n") for _, block in blocks[:-1])
    offsets = [offset for offset, _ in blocks]
    assert offsets == [0] + list(np.cumsum([len(b) for _, b in blocks[:-1]]))
    spans = [block[s:e] for _, block in blocks for s, e in zip(*line_spans(block))]
    assert spans == lines


def test_crlf_lines_are_copied_as_they_are(tmp_path):
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(b'{"text": "a"}\r\n{"text": "b"}\r\n{"text": "c"}\r\n')
    pool = Pool.from_jsonl(path)
    pool.take(thresher.Selection.create([0, 2])).to_jsonl(tmp_path / "out.jsonl")
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"text": "a"}\r\n{"text": "c"}\r\n'
