"""Per-shard checkpoints: a scan that is stopped resumes at the shards it had not finished,
with the same index and outputs as an uninterrupted scan; the CLI clears them on success."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner

from thresher import Pool
from thresher.cli import main
from tests.conftest import write_jsonl

CALLS: list[int] = []
STOP_AT = {"call": None}


@dataclass
class Lengths:
    """A task that records its calls and can be made to fail at a given call (an interruption)."""

    scale: int = 1

    def __call__(self, batch):
        CALLS.append(batch.num_rows)
        if STOP_AT["call"] is not None and len(CALLS) == STOP_AT["call"]:
            raise KeyboardInterrupt
        return np.array([len(t) * self.scale for t in batch.column("text").to_pylist()])


def _pool(path, folder):
    pool = Pool.from_jsonl(path, shard_bytes=3000)
    pool.checkpoint_dir = folder
    return pool


@pytest.fixture
def corpus(tmp_path):
    records = [{"text": f"record {i} " + "word " * (i % 17)} for i in range(400)]
    return write_jsonl(tmp_path / "pool.jsonl", records)


def test_an_interrupted_scan_resumes_at_the_unfinished_shards(corpus, tmp_path):
    whole_index, whole = Pool.from_jsonl(corpus, shard_bytes=3000).scan([Lengths()])
    shards = len(Pool.from_jsonl(corpus, shard_bytes=3000).source.plan())
    assert shards >= 5

    CALLS.clear()
    STOP_AT["call"] = 4
    with pytest.raises(KeyboardInterrupt):
        _pool(corpus, tmp_path / "ckpt").scan([Lengths()])
    kept = list((tmp_path / "ckpt").glob("*.shard"))
    assert len(kept) == 3  # the shards finished before the stop

    CALLS.clear()
    STOP_AT["call"] = None
    index, outputs = _pool(corpus, tmp_path / "ckpt").scan([Lengths()])
    assert len(CALLS) == shards - 3  # only the rest was read
    assert np.array_equal(np.concatenate(outputs[0]), np.concatenate(whole[0]))
    assert index.n == whole_index.n and np.array_equal(index.locations, whole_index.locations)

    CALLS.clear()  # other task settings: nothing matches, everything is read
    _pool(corpus, tmp_path / "ckpt").scan([Lengths(scale=2)])
    assert len(CALLS) == shards


def test_a_changed_file_is_read_again(corpus, tmp_path):
    CALLS.clear()
    _pool(corpus, tmp_path / "ckpt").scan([Lengths()])
    first = len(CALLS)
    CALLS.clear()
    _pool(corpus, tmp_path / "ckpt").scan([Lengths()])
    assert CALLS == []  # all from the checkpoint
    with open(corpus, "a") as handle:
        handle.write(json.dumps({"text": "one more"}) + "\n")
    CALLS.clear()
    index, _ = _pool(corpus, tmp_path / "ckpt").scan([Lengths()])
    # Shards are keyed by their bytes: only the last one, which changed, is read again.
    assert 1 <= len(CALLS) < first and index.n == 401


def test_the_cli_uses_and_then_clears_the_checkpoint(corpus, tmp_path):
    folder = tmp_path / "ckpt"
    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(main, ["select", str(corpus), "--method", "random", "--budget", "10%", "--out", str(out),
                                       "--checkpoint", str(folder)])
    assert result.exit_code == 0, result.output
    assert folder.is_dir() and not list(folder.glob("*.shard"))  # done: nothing left to resume
    assert len(out.read_text().splitlines()) == 40


def test_tasks_whose_results_are_files_of_the_run_are_not_checkpointed(corpus, tmp_path):
    from thresher.filter import NearDedup

    pool = _pool(corpus, tmp_path / "ckpt")
    first = NearDedup(threshold=0.8).apply(pool)
    assert not list((tmp_path / "ckpt").glob("*.shard"))
    again = NearDedup(threshold=0.8).apply(_pool(corpus, tmp_path / "ckpt"))
    assert first.table.equals(again.table)


def test_a_task_that_cannot_be_described_keeps_no_checkpoints(corpus, tmp_path):
    @dataclass
    class Unpicklable:  # defined in a function: two such classes may share a name, so its settings cannot be keyed
        scale: int = 1

        def __call__(self, batch):
            return batch.num_rows * self.scale

    first = _pool(corpus, tmp_path / "ckpt").scan([Unpicklable(1)])[1]
    assert not list((tmp_path / "ckpt").glob("*.shard"))
    assert _pool(corpus, tmp_path / "ckpt").scan([Unpicklable(2)])[1][0] == [2 * n for n in first[0]]
