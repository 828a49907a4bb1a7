"""Per-shard checkpoints: a long pass over a big pool resumes where it stopped.

    pool.checkpoint_dir = "ckpt/"        # or: thresher select ... --checkpoint ckpt/
    pool.scan(tasks)                      # each finished shard's result is kept in ckpt/
    # interrupted? the same scan again reads the finished shards back and reads only the rest

A shard's result (its index part and the tasks' outputs) is pickled to
`<dir>/<key>.shard` as soon as the shard is done, written to a temporary name and
renamed. The key hashes everything the result depends on: thresher's version, the file
(its absolute path, size and modification time), the shard's range, the fields, the
bad-record policy, whether tokens are counted and the tasks themselves (their pickled
configuration, e.g. DSIR's fitted log-weights). Change any of them and the shard is read
again. A `thresher` command that finishes removes the checkpoints it used; one that
fails or is stopped leaves them for the next try. A scan with a task marked
`checkpoint = False` keeps none (near-duplicate signatures, which live in files of the
run's own temporary folder).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any, Sequence

import xxhash

from thresher.io import atomic_path

SUFFIX = ".shard"
_used: set[Path] = set()


def tasks_digest(fields, policy: str, tokens: bool, tasks: Sequence[Any]) -> str | None:
    """What every shard's key shares: the reading options and the tasks' configuration
    (hashed once per scan: a task may carry megabytes, e.g. evaluation-set n-grams).
    None when a task cannot be pickled: its configuration cannot be told apart reliably
    (a repr cuts long arrays short), so such a scan keeps no checkpoints."""
    from thresher import __version__

    described = (1, __version__, fields, policy, bool(tokens), list(tasks))
    try:
        payload = pickle.dumps(described, protocol=4)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return xxhash.xxh3_128_hexdigest(payload)


def shard_key(source, shard, common: str) -> str:
    """The checkpoint key of one shard of a file source; `common` from `tasks_digest`."""
    path = os.path.abspath(source.paths[shard.file_index])
    stat = os.stat(path)
    return xxhash.xxh3_128_hexdigest(repr((common, path, stat.st_size, stat.st_mtime_ns, shard.start, shard.end)).encode())


def load(folder: Path, key: str) -> Any | None:
    """The saved result for `key`, or None (missing or unreadable: it is computed again)."""
    path = Path(folder) / f"{key}{SUFFIX}"
    try:
        with open(path, "rb") as handle:
            result = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
        return None
    _used.add(path)
    return result


def save(folder: Path, key: str, result: Any) -> None:
    path = Path(folder) / f"{key}{SUFFIX}"
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
    _used.add(path)


def clear_used() -> int:
    """Remove every checkpoint this process wrote or read back; returns how many."""
    removed = 0
    for path in list(_used):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        _used.discard(path)
    return removed


def prepare(folder: str | os.PathLike) -> Path:
    """The checkpoint folder, created if missing."""
    from thresher.errors import UsageError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"checkpoint folder {folder} is a file; give a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


__all__ = ["clear_used", "load", "prepare", "save", "shard_key", "tasks_digest"]
