"""Pool.features (a read-only mapping by name), with_features, the content fingerprint,
and the reads that go through the Pool's scanning machinery (stream, scan(sample=))."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from thresher import Pool
from thresher.data.content import texts_fingerprint
from thresher.errors import BadRecordError, UsageError
from tests.conftest import make_records, write_jsonl


def test_features_are_a_read_only_mapping_added_by_name():
    pool = Pool.from_arrow(pa.table({"text": ["a", "b", "c"]}))
    assert dict(pool.features) == {}
    embedded = pool.with_features(np.eye(3, dtype=np.float32))
    both = embedded.with_features(np.arange(3.0).reshape(3, 1), name="losses")
    assert dict(pool.features) == {} and list(embedded.features) == ["embeddings"]  # the pools themselves unchanged
    assert sorted(both.features) == ["embeddings", "losses"] and both.features["losses"][:, 0].tolist() == [0, 1, 2]
    with pytest.raises(TypeError):
        both.features["embeddings"] = np.zeros((3, 3))
    with pytest.raises(AttributeError):
        pool.features = np.zeros((3, 3))
    with pytest.raises(UsageError, match="'losses' has 2 rows, but the pool has 3"):
        pool.with_features(np.zeros((2, 1)), name="losses")
    # Features are part of an in-memory pool's fingerprint, by name and value.
    assert len({pool.fingerprint, embedded.fingerprint, both.fingerprint}) == 3
    assert embedded.with_features(np.eye(3, dtype=np.float32) * 2).fingerprint != embedded.fingerprint


def test_from_numpy_pools_carry_their_vectors_as_embeddings():
    vectors = np.random.default_rng(0).normal(size=(5, 3))
    pool = Pool.from_numpy(vectors, labels=np.array([0, 1, 0, 1, 1]))
    assert list(pool.features) == ["embeddings"] and np.array_equal(pool.features["embeddings"], vectors)
    features, labels = pool.take([1, 3]).to_numpy()
    assert np.array_equal(features, vectors[[1, 3]]) and labels.tolist() == [1, 1]
    with pytest.raises(UsageError, match="from_numpy"):
        Pool.from_arrow(pa.table({"text": ["a"]})).with_features(np.ones((1, 2))).take([0]).to_numpy()


def test_content_fingerprint_follows_the_texts_not_the_reading_options(tmp_path):
    records = make_records(20)
    path = write_jsonl(tmp_path / "pool.jsonl", records)
    pq.write_table(pa.Table.from_pylist([{"text": r["text"], "label": r["label"]} for r in records]),
                   tmp_path / "pool.parquet")
    plain = Pool.from_jsonl(path)
    same = [Pool.from_jsonl(path, label_field="label", domain_field="domain", id_field="id"),
            Pool.from_jsonl(path, shard_bytes=300),  # another shard layout
            Pool.from_parquet(tmp_path / "pool.parquet", label_field="label"),
            Pool.from_arrow(pa.table({"text": [r["text"] for r in records]}))]
    for pool in same:
        assert pool.content_fingerprint == plain.content_fingerprint, pool
    assert texts_fingerprint([r["text"] for r in records]) == plain.content_fingerprint
    other = [Pool.from_jsonl(path, template="{label}: {text}"), Pool.from_jsonl(path, text_field="label"),
             Pool.from_arrow(pa.table({"text": [r["text"] for r in records[:-1]]}))]
    assert len({plain.content_fingerprint, *(p.content_fingerprint for p in other)}) == 4


def test_stream_yields_the_pools_records_in_order_under_its_bad_record_policy(tmp_path):
    records = make_records(30)
    path = write_jsonl(tmp_path / "pool.jsonl", records, raw_lines={4: b"{broken", 17: b"[1, 2]"})
    for policy in ("skip", "quarantine"):
        pool = Pool.from_jsonl(path, shard_bytes=200, id_field="id", on_bad_record=policy)
        batches = list(pool.stream(["text", "id"]))
        assert len(batches) > 1
        ids = [i for b in batches for i in b.column("id").to_pylist()]
        assert ids == [r["id"] for r in records] == pool.ids_at(np.arange(len(pool))).to_pylist()
        assert [t for b in batches for t in b.column("text").to_pylist()] == [r["text"] for r in records]
    with pytest.raises(BadRecordError, match="line 5"):
        list(Pool.from_jsonl(path, shard_bytes=200).stream())


def test_a_sampled_scan_reads_part_of_every_shard_and_keeps_the_full_index(tmp_path):
    path = write_jsonl(tmp_path / "pool.jsonl", make_records(400))
    pool = Pool.from_jsonl(path, shard_bytes=4000)
    sample, _ = pool.scan(sample=0.25)
    assert 0.15 * 400 < sample.n < 0.4 * 400
    assert len(pool) == 400  # the sample did not become the pool's index
    assert pool.scan(sample=1.0)[0].n == 400
    with pytest.raises(UsageError, match="sample"):
        pool.scan(sample=0)
