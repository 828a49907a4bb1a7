"""Checkpoint folders are read back by a later run: nothing in them may run code, a
shard of other bytes is never reused, and a folder others can write to is refused."""

from __future__ import annotations

import logging
import os
import pickle
import stat
from dataclasses import dataclass

import numpy as np
import pytest

from thresher import Pool
from thresher.data import checkpoint
from thresher.errors import UsageError
from tests.conftest import write_jsonl


@dataclass
class Lengths:
    """Text lengths per batch, with a tuple and a dict beside them (outputs of many shapes)."""

    scale: int = 1

    def __call__(self, batch):
        lengths = np.array([len(t) * self.scale for t in batch.column("text").to_pylist()])
        return lengths, {"rows": batch.num_rows, "first": batch.column("text")[0].as_py()}


class _Planted:
    """Unpickled, it creates `marker`: what an attacker would put in a shared folder."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').close()",)


def _pool(path, folder, **options):
    pool = Pool.from_jsonl(path, shard_bytes=3000, **options)
    pool.checkpoint_dir = folder
    return pool


def _keys(pool, tasks):
    shards = pool.source.plan()
    common = checkpoint.tasks_digest(pool.fields, pool.on_bad_record, False, tasks)
    assert common is not None
    return [checkpoint.shard_key(pool.source, shard, common) for shard in shards]


@pytest.fixture
def corpus(tmp_path):
    records = [{"text": f"record {i} " + "word " * (i % 17), "label": i % 3} for i in range(400)]
    return write_jsonl(tmp_path / "pool.jsonl", records)


def test_a_planted_pickle_in_the_checkpoint_folder_does_not_run(corpus, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir(mode=0o700)
    trial = tmp_path / "trial"
    pickle.loads(pickle.dumps(_Planted(trial)))
    assert trial.exists()  # the payload is live: unpickling it runs code

    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Planted(marker))
    pool = _pool(corpus, folder, label_field="label")
    for key in _keys(pool, [Lengths()]):
        (folder / f"{key}{checkpoint.SUFFIX}").write_bytes(payload)

    index, outputs = pool.scan([Lengths()])
    assert not marker.exists()
    whole_index, whole = Pool.from_jsonl(corpus, shard_bytes=3000, label_field="label").scan([Lengths()])
    assert index.n == whole_index.n == 400
    assert np.array_equal(np.concatenate([o[0] for o in outputs[0]]), np.concatenate([o[0] for o in whole[0]]))
    assert index.labels.equals(whole_index.labels)


def test_a_shard_read_back_gives_the_same_index_and_outputs(corpus, tmp_path):
    folder = tmp_path / "ckpt"
    first_index, first = _pool(corpus, folder, label_field="label", id_field=None).scan([Lengths()], tokens=True)
    assert list(folder.glob(f"*{checkpoint.SUFFIX}"))
    again_index, again = _pool(corpus, folder, label_field="label").scan([Lengths()], tokens=True)
    assert again_index.labels.equals(first_index.labels)
    assert np.array_equal(again_index.tokens, first_index.tokens)
    assert np.array_equal(again_index.offsets, first_index.offsets)
    for (lengths_a, extra_a), (lengths_b, extra_b) in zip(first[0], again[0]):
        assert np.array_equal(lengths_a, lengths_b) and lengths_a.dtype == lengths_b.dtype
        assert extra_a == extra_b


def test_checkpoint_files_are_stored_without_pickle_and_private(corpus, tmp_path):
    folder = tmp_path / "new" / "ckpt"
    _pool(corpus, folder).scan([Lengths()])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.glob(f"*{checkpoint.SUFFIX}"))
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        with pytest.raises(Exception):
            pickle.loads(path.read_bytes())


def test_a_shard_that_does_not_parse_is_read_again_with_a_warning(corpus, tmp_path, caplog):
    folder = tmp_path / "ckpt"
    _pool(corpus, folder).scan([Lengths()])
    for path in folder.glob(f"*{checkpoint.SUFFIX}"):
        path.write_bytes(b"PK\x03\x04 not a shard at all")
    with caplog.at_level(logging.WARNING, logger="thresher"):
        index, outputs = _pool(corpus, folder).scan([Lengths()])
    assert index.n == 400
    assert "is read again" in caplog.text


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777])
def test_a_folder_others_can_write_to_is_refused(corpus, tmp_path, mode):
    folder = tmp_path / "shared"
    folder.mkdir()
    os.chmod(folder, mode)
    with pytest.raises(UsageError, match="chmod 700"):
        _pool(corpus, folder).scan([Lengths()])
    assert not list(folder.iterdir())


def test_a_rewritten_input_with_the_same_size_and_time_is_read_again(corpus, tmp_path):
    folder = tmp_path / "ckpt"
    _pool(corpus, folder).scan([Lengths()])
    before = os.stat(corpus)
    lines = corpus.read_bytes().splitlines(keepends=True)
    # Two lines of other lengths swap places: the same size, the same shard ranges, other texts.
    lines[1], lines[2] = lines[2], lines[1]
    corpus.write_bytes(b"".join(lines))
    os.utime(corpus, ns=(before.st_atime_ns, before.st_mtime_ns))  # as cp -p or rsync -t leave it
    assert os.stat(corpus).st_size == before.st_size and os.stat(corpus).st_mtime_ns == before.st_mtime_ns

    index, outputs = _pool(corpus, folder).scan([Lengths()])
    fresh_index, fresh = Pool.from_jsonl(corpus, shard_bytes=3000).scan([Lengths()])
    assert np.array_equal(np.concatenate([o[0] for o in outputs[0]]), np.concatenate([o[0] for o in fresh[0]]))
    assert np.array_equal(index.offsets, fresh_index.offsets)
    assert index.n == fresh_index.n == 400


def test_other_task_settings_or_reading_options_do_not_share_keys(corpus, tmp_path):
    pool = _pool(corpus, tmp_path / "ckpt")
    assert _keys(pool, [Lengths(1)]) != _keys(pool, [Lengths(2)])
    weights = np.arange(6, dtype=np.float64)
    digest = checkpoint.tasks_digest(pool.fields, "error", False, [Weighted(weights)])
    assert digest == checkpoint.tasks_digest(pool.fields, "error", False, [Weighted(weights.copy())])
    assert digest != checkpoint.tasks_digest(pool.fields, "error", False, [Weighted(weights.astype(np.float32))])
    assert digest != checkpoint.tasks_digest(pool.fields, "error", False, [Weighted(weights.reshape(2, 3))])
    assert digest != checkpoint.tasks_digest(pool.fields, "skip", False, [Weighted(weights)])


@dataclass
class Weighted:
    weights: np.ndarray

    def __call__(self, batch):
        return batch.num_rows


class Opaque:
    """Not a dataclass: its configuration cannot be described, so it keeps no checkpoints."""

    def __call__(self, batch):
        return batch.num_rows


@dataclass
class Strange:
    def __call__(self, batch):
        return object()  # an output no checkpoint can hold


def test_tasks_or_outputs_that_cannot_be_described_keep_no_checkpoints(corpus, tmp_path):
    folder = tmp_path / "ckpt"
    assert _pool(corpus, folder).scan([Opaque()])[0].n == 400
    assert not list(folder.glob(f"*{checkpoint.SUFFIX}"))
    index, outputs = _pool(corpus, folder).scan([Strange()])
    assert index.n == 400 and len(outputs[0]) > 1
    assert not list(folder.glob(f"*{checkpoint.SUFFIX}"))


def test_the_cli_refuses_a_shared_checkpoint_folder(corpus, tmp_path):
    from click.testing import CliRunner

    from thresher.cli import main

    folder = tmp_path / "ck"
    folder.mkdir()
    os.chmod(folder, 0o777)
    result = CliRunner().invoke(main, ["info", str(corpus), "--checkpoint", str(folder)])
    assert result.exit_code == 2, result.output
    assert "chmod 700" in result.output and str(folder) in result.output
    assert "Traceback" not in result.output
