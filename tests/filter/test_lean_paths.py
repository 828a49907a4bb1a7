"""The memory-lean paths of #13 D12 give what the plain ones gave: exact dedup's
blockwise grouping, reasons for some records only (`Reasons`), composing filter
selections by position, writing a subset in blocks of lines, the compact pool index."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher import Pool
from thresher.data import take
from thresher.filter import ExactDedup, NearDedup, exact
from thresher.filter.base import Reasons, build_selection, prefixed
from thresher.selection import Selection

from ..conftest import write_jsonl


def _records(n: int, seed: int = 0) -> list[dict]:
    """Short texts, a third of them repeats (changed in case or spacing) of earlier ones."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for i in range(n):
        if i and rng.random() < 0.3:
            text = texts[int(rng.integers(0, i))]
            text = text.upper() if i % 2 else f"  {text}  "
        else:
            text = " ".join(f"w{v}" for v in rng.integers(0, 50, size=int(rng.integers(1, 4))))
        texts.append(text)
    return [{"id": f"r{i}", "text": text} for i, text in enumerate(texts)]


@pytest.mark.parametrize("keep", ["first", "longest"])
def test_exact_dedup_same_in_tiny_blocks(tmp_path, monkeypatch, keep):
    pool = Pool.from_jsonl(write_jsonl(tmp_path / "pool.jsonl", _records(400)), id_field="id")
    whole = ExactDedup(keep=keep).apply(pool)
    monkeypatch.setattr(exact, "_BLOCK", 3)  # groups and drops straddle many block edges
    blocks = ExactDedup(keep=keep).apply(Pool.from_jsonl(tmp_path / "pool.jsonl", id_field="id"))
    assert blocks.table.equals(whole.table)
    # Against the definition: a record is dropped iff an earlier one has the same normalised text.
    seen, expected = {}, []
    for record in _records(400):
        key = " ".join(record["text"].lower().split())
        if keep == "first" and key in seen:
            expected.append((record["id"], f"of id {seen[key]}"))
        seen.setdefault(key, record["id"])
    if keep == "first":
        dropped = whole.dropped
        assert list(zip(dropped.column("id").to_pylist(), dropped.column("detail").to_pylist())) == expected


def test_reasons_for_some_records_match_a_reason_per_record():
    pool = Pool.from_arrow(pa.table({"text": [f"t{i}" for i in range(10)]}))
    keep = np.array([1, 0, 1, 1, 0, 0, 1, 1, 1, 0], dtype=bool)
    listed = np.array([1, 3, 4, 9])  # a kept record (3) may carry a reason too
    codes = pa.array(["a", "flag", "b", "c"])
    details = pa.array(["x", None, "y", "z"])
    per_record = [None] * 10
    for position, code, detail in zip(listed, codes.to_pylist(), details.to_pylist()):
        per_record[position] = (code, detail)
    fast = build_selection(pool, keep, Reasons(listed, codes, details), None, {})
    plain = build_selection(pool, keep, per_record, None, {})
    assert fast.table.equals(plain.table)
    with pytest.raises(ValueError):
        Reasons(np.array([0]), pa.array(["Not A Code"]), pa.array([None], pa.string()))


def test_prefixed_writes_ids_as_python_does():
    assert prefixed("of id ", pa.array([0, 17, -3])).to_pylist() == ["of id 0", "of id 17", "of id -3"]
    assert prefixed("of id ", pa.array(["doc-1"])).to_pylist() == ["of id doc-1"]
    assert prefixed("of id ", pa.array([1.5])).to_pylist() == ["of id 1.5"]


def test_and_by_position_matches_and_by_id(monkeypatch):
    rng = np.random.default_rng(0)

    def selection(n: int) -> Selection:
        order = rng.permutation(n)
        k = int(rng.integers(0, n + 1))
        d = int(rng.integers(0, n - k + 1))
        kept, dropped = order[:k], order[k:k + d]
        reasons = pa.array([None if rng.random() < 0.3 else "dup" for _ in dropped], pa.string())
        return Selection.create(pa.array([f"id{p}" for p in kept], pa.string()), positions=kept, scores=rng.random(k),
                                dropped_ids=pa.array([f"id{p}" for p in dropped], pa.string()),
                                dropped_positions=dropped, dropped_scores=rng.random(d), dropped_reasons=reasons,
                                dropped_details=reasons, meta={"pool_fingerprint": "same", "method": "m"})

    for _ in range(100):
        n = int(rng.integers(1, 40))
        a, b = selection(n), selection(n)
        assert a._by_position(b)
        fast = a & b
        monkeypatch.setattr(Selection, "_by_position", lambda self, other: False)
        assert fast.table.equals((a & b).table)
        monkeypatch.undo()


def test_filters_composed_by_position_as_by_id(tmp_path, monkeypatch):
    pool = Pool.from_jsonl(write_jsonl(tmp_path / "pool.jsonl", _records(300)))
    first, second = ExactDedup().apply(pool), NearDedup(threshold=0.5, ngram=1).apply(pool)
    fast = first & second
    monkeypatch.setattr(Selection, "_by_position", lambda self, other: False)
    assert fast.table.equals((first & second).table)


def test_subset_written_in_blocks_is_the_same(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "pool.jsonl", _records(50))
    pool = Pool.from_jsonl(path)
    chosen = [3, 4, 9, 20, 21, 22, 49]
    pool.take(chosen).write(tmp_path / "whole.jsonl")
    monkeypatch.setattr(take, "_BLOCK", 2)
    pool.take(chosen).write(tmp_path / "blocks.jsonl")
    pool.take(chosen[::-1], order="selection").write(tmp_path / "reversed.jsonl")
    lines = path.read_bytes().splitlines(keepends=True)
    assert (tmp_path / "blocks.jsonl").read_bytes() == (tmp_path / "whole.jsonl").read_bytes() \
        == b"".join(lines[i] for i in chosen)
    assert (tmp_path / "reversed.jsonl").read_bytes() == b"".join(lines[i] for i in chosen[::-1])
    assert take.non_decreasing(np.array([1, 1, 2, 5])) and not take.non_decreasing(np.array([1, 3, 2]))


def test_compact_index_holds_the_same_numbers(tmp_path):
    path = write_jsonl(tmp_path / "pool.jsonl", _records(200))
    whole = Pool.from_jsonl(path).index()
    sharded = Pool.from_files(path, shard_bytes=256).index()
    assert whole.files.dtype == np.uint8 and whole.locations.dtype == np.int32 and whole.lengths.dtype == np.int32
    assert sharded.locations.tolist() == whole.locations.tolist() == list(range(1, 201))
    assert sharded.offsets.tolist() == whole.offsets.tolist()
    sizes = [len(line) for line in path.read_bytes().splitlines()]
    assert whole.lengths.tolist() == sizes
