import os

import pyarrow as pa
import pytest

import thresher
from thresher import Pool
from thresher.data import take as take_module
from thresher.errors import UsageError
from thresher.io import atomic_path

from .conftest import make_records, write_jsonl


def test_an_interrupted_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half of it")
            raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_an_interrupted_take_keeps_the_old_output(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "pool.jsonl", make_records(50))
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    pool = Pool.from_jsonl(path)
    sel = thresher.select(pool, "random", 20)

    def explode(*args, **kwargs):
        yield 0, b'{"text": "first line"}'
        raise RuntimeError("disk full")

    monkeypatch.setattr(take_module.Subset, "iter_lines", explode)
    with pytest.raises(RuntimeError):
        pool.take(sel).to_jsonl(out, overwrite=True)
    assert out.read_text() == "old\n"
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl", "pool.jsonl"]


def test_existing_output_needs_overwrite_and_input_is_never_the_output(tmp_path):
    path = write_jsonl(tmp_path / "pool.jsonl", make_records(5))
    before = path.read_bytes()
    pool = Pool.from_jsonl(path)
    sel = thresher.select(pool, "random", 2)
    with pytest.raises(UsageError, match="input"):
        pool.take(sel).to_jsonl(path, overwrite=True)
    assert path.read_bytes() == before
    (tmp_path / "out.jsonl").write_text("x")
    with pytest.raises(UsageError, match="--overwrite"):
        pool.take(sel).to_jsonl(tmp_path / "out.jsonl")
    pool.take(sel).to_jsonl(tmp_path / "out.jsonl", overwrite=True)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_memory_pools_write_any_format(tmp_path):
    pool = Pool.from_arrow(pa.table({"text": ["a", "b"], "n": [1, 2]}))
    sel = thresher.select(pool, "random", 2)
    for name in ("o.jsonl", "o.parquet", "o.csv", "o.jsonl.gz"):
        assert pool.take(sel).write(tmp_path / name) == 2
