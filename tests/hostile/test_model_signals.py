"""Hostile input for model signals: a record without its label, embeddings of the wrong
size, an output on top of the input, and a planted corrupt store entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from thresher.cli import main  # noqa: E402


@pytest.fixture
def pool_file(tmp_path, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 90)
    x = (np.eye(3, 8)[labels] * 3 + rng.normal(0, 1, (90, 8))).astype(np.float32)
    np.save(tmp_path / "emb.npy", x)
    path = tmp_path / "pool.jsonl"
    with open(path, "w") as handle:
        for i, label in enumerate(labels):
            handle.write(json.dumps({"text": f"r{i}", "y": f"c{label}"}) + "\n")
    return path


def _signals(*args):
    return CliRunner().invoke(main, ["signals", *map(str, args), "--epochs", "2", "--proxy-seeds", "1"])


def test_signals_without_a_label_field_says_what_to_give_and_writes_nothing(pool_file, tmp_path):
    result = _signals(pool_file, "--embeddings", tmp_path / "emb.npy", "-o", tmp_path / "s.csv")
    assert result.exit_code == 2 and "--label-field" in result.output
    assert not (tmp_path / "s.csv").exists()


def test_embeddings_of_the_wrong_size_are_refused_with_both_counts(pool_file, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((50, 8), np.float32))
    result = _signals(pool_file, "--label-field", "y", "--embeddings", tmp_path / "short.npy")
    assert result.exit_code == 2 and "50" in result.output and "90" in result.output


def test_an_output_on_top_of_the_pool_is_refused_and_the_pool_kept(pool_file, tmp_path):
    before = pool_file.read_bytes()
    csv = tmp_path / "pool.csv"
    csv.write_bytes(b"x\n1\n")
    result = _signals(csv, "--label-field", "x", "--embeddings", tmp_path / "emb.npy", "-o", csv)
    assert result.exit_code != 0 and csv.read_bytes() == b"x\n1\n"
    assert pool_file.read_bytes() == before


def test_a_corrupt_signals_entry_is_recomputed_with_a_warning(pool_file, tmp_path, caplog):
    from thresher.features.signals import ARRAYS

    args = (pool_file, "--label-field", "y", "--embeddings", tmp_path / "emb.npy")
    first = _signals(*args)
    assert first.exit_code == 0, first.output
    entries = sorted((tmp_path / "cache" / "signals").glob("*.npy"))
    assert len(entries) == 2  # one proxy seed, and the out-of-fold probabilities
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[:100])  # truncated by a full disk, say
    again = _signals(*args)
    assert again.exit_code == 0, again.output
    assert "cannot be read back" in caplog.text
    assert sorted(np.load(e).shape[1] for e in entries) == [3, 2 * len(ARRAYS)]  # 3 classes; 2 epochs x 6


def test_a_record_without_its_label_names_the_file_and_line(pool_file, tmp_path):
    lines = pool_file.read_text().splitlines()
    lines[7] = json.dumps({"text": "r7"})
    pool_file.write_text("\n".join(lines) + "\n")
    result = _signals(pool_file, "--label-field", "y", "--embeddings", tmp_path / "emb.npy")
    assert result.exit_code != 0 and "pool.jsonl" in result.output and "8" in result.output
