"""Per-shard checkpoints: a long pass over a big pool resumes where it stopped.

    pool.checkpoint_dir = "ckpt/"        # or: thresher select ... --checkpoint ckpt/
    pool.scan(tasks)                      # each finished shard's result is kept in ckpt/
    # interrupted? the same scan again reads the finished shards back and reads only the rest

A shard's result (its index part and the tasks' outputs) is written to
`<dir>/<key>.shard` as soon as the shard is done, to a temporary name then renamed, in a
format that holds only data (`thresher.data._shard_codec`: JSON and arrays, no pickle),
so a file planted in the folder cannot run code; one that does not parse is read again.
The folder must be the user's own and writable by no one else (it is created 0700, its
files 0600). The key hashes everything the result depends on: thresher's version, the
shard's bytes (a content hash, so a file rewritten with the same size and time is read
again), its place in the pool and range, the format, fields, bad-record policy, whether
tokens are counted and the tasks' configuration (their dataclass fields, arrays by dtype,
shape and bytes, e.g. DSIR's fitted log-weights). Change any of them and the shard is
read again. A task whose configuration cannot be described that way, or whose outputs
the format cannot hold, keeps no checkpoints. A `thresher` command that finishes removes
the checkpoints it used; one that fails or is stopped leaves them for the next try. A
scan with a task marked `checkpoint = False` keeps none (near-duplicate signatures,
which live in files of the run's own temporary folder).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xxhash

from thresher._version import __version__
from thresher.data import _shard_codec
from thresher.io import atomic_path

log = logging.getLogger(__name__)

SUFFIX = ".shard"
_used: set[Path] = set()


class _Undescribable(TypeError):
    """A configuration that cannot be told apart from another one reliably."""


def tasks_digest(fields, policy: str, tokens: bool, tasks: Sequence[Any]) -> str | None:
    """What every shard's key shares: the reading options and the tasks' configuration
    (hashed once per scan: a task may carry megabytes, e.g. evaluation-set n-grams).
    None when a task's configuration cannot be described (see `_describe`), so such a
    scan keeps no checkpoints."""
    digest = xxhash.xxh3_128()
    try:
        _describe((2, __version__, fields, policy, bool(tokens), list(tasks)), digest)
    except (_Undescribable, RecursionError):
        return None
    return digest.hexdigest()


def _describe(value: Any, digest) -> None:
    """Feed a stable, unambiguous description of `value` to `digest`: plain values by type
    and text, containers item by item, NumPy arrays by dtype, shape and bytes, dataclass
    instances by class name and fields. Anything else (a plain object, a function, a
    class defined inside a function) raises _Undescribable: its behaviour may depend on
    state or code a description cannot see."""

    def put(tag: str, data: bytes = b"") -> None:
        digest.update(b"%s:%d:" % (tag.encode(), len(data)))
        digest.update(data)

    if value is None or type(value) in (bool, int, float, str):
        put(type(value).__name__, repr(value).encode())
    elif type(value) is bytes:
        put("bytes", value)
    elif isinstance(value, (np.ndarray, np.generic)):
        array = np.ascontiguousarray(value)
        if array.dtype.hasobject:
            raise _Undescribable(f"a NumPy array of dtype {array.dtype}")
        put("ndarray", f"{array.dtype.str}{array.shape}{'scalar' if isinstance(value, np.generic) else ''}".encode())
        put("data", array.tobytes())
    elif type(value) in (list, tuple):
        put(type(value).__name__, str(len(value)).encode())
        for item in value:
            _describe(item, digest)
    elif type(value) is dict:
        put("dict", str(len(value)).encode())
        for key, item in value.items():
            _describe(key, digest)
            _describe(item, digest)
    elif type(value) in (set, frozenset):
        parts = sorted(_digest_of(item) for item in value)
        put(type(value).__name__, "".join(parts).encode())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        kind = type(value)
        if "<locals>" in kind.__qualname__:
            raise _Undescribable(f"{kind.__qualname__} is defined inside a function")
        put("dataclass", f"{kind.__module__}.{kind.__qualname__}".encode())
        for field in dataclasses.fields(value):
            put("field", field.name.encode())
            _describe(getattr(value, field.name), digest)
    else:
        raise _Undescribable(f"a {type(value).__module__}.{type(value).__qualname__}")


def _digest_of(value: Any) -> str:
    """The description digest of one value (for the members of a set, which have no order)."""
    digest = xxhash.xxh3_128()
    _describe(value, digest)
    return digest.hexdigest()


def shard_key(source, shard, common: str, content: str | None = None) -> str:
    """The checkpoint key of one shard of a file source; `common` from `tasks_digest`,
    `content` the hash of the bytes the shard reads (computed when not given)."""
    if content is None:
        content = _content_digest(source, shard)
    described = (common, source.format, source.options(), shard.file_index, shard.start, shard.end, content)
    return xxhash.xxh3_128_hexdigest(repr(described).encode())


def shard_keys(source, shards: Sequence[Any], common: str) -> list[str]:
    """Every shard's key, reading each file once: a shard that is a byte range of a JSON
    lines file is keyed by the hash of that range, any other (row groups of a Parquet
    file, a compressed or CSV file) by the hash of its whole file, computed once."""
    whole: dict[int, str] = {}
    keys = []
    for shard in shards:
        if _is_byte_range(source, shard):
            keys.append(shard_key(source, shard, common))
            continue
        if shard.file_index not in whole:
            whole[shard.file_index] = _hash_bytes(source.paths[shard.file_index], 0, None)
        keys.append(shard_key(source, shard, common, whole[shard.file_index]))
    return keys


def _is_byte_range(source, shard) -> bool:
    from thresher.data import jsonl

    return source.format == "jsonl" and jsonl.compression_of(source.paths[shard.file_index]) is None


def _content_digest(source, shard) -> str:
    if _is_byte_range(source, shard):
        return _hash_bytes(source.paths[shard.file_index], shard.start, shard.end)
    return _hash_bytes(source.paths[shard.file_index], 0, None)


def _hash_bytes(path: str, start: int, end: int | None) -> str:
    """xxh3-128 of bytes [start, end) of a file (to its end when `end` is None)."""
    digest = xxhash.xxh3_128()
    with open(path, "rb") as handle:
        handle.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            chunk = handle.read(8 << 20 if left is None else min(8 << 20, left))
            if not chunk:
                break
            digest.update(chunk)
            if left is not None:
                left -= len(chunk)
    return digest.hexdigest()


def load(folder: Path, key: str) -> Any | None:
    """The saved result for `key`, or None: missing, or not a shard (a warning says so; it
    is computed again). Nothing in the file can run code."""
    from thresher.data.scan import ShardResult

    path = Path(folder) / f"{key}{SUFFIX}"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        log.warning("checkpoint %s cannot be read (%s); the shard is read again.", path, err.strerror or err)
        return None
    try:
        result = _shard_codec.decode(data)
        if not isinstance(result, ShardResult):
            raise _shard_codec.Undecodable("it holds no shard result")
    except _shard_codec.Undecodable as err:
        log.warning("checkpoint %s is not a thresher shard (%s); the shard is read again.", path, err)
        return None
    _used.add(path)
    return result


def save(folder: Path, key: str, result: Any) -> bool:
    """Keep `result` for `key` (a private file, 0600); False when the format cannot hold it
    (then nothing is written)."""
    try:
        data = _shard_codec.encode(result)
    except _shard_codec.Unencodable as err:
        log.debug("no checkpoint for this shard: its result holds %s.", err)
        return False
    path = Path(folder) / f"{key}{SUFFIX}"
    with atomic_path(path, overwrite=True) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with open(fd, "wb") as handle:
            handle.write(data)
    _used.add(path)
    return True


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
    """The checkpoint folder, created 0700 if missing. A folder someone else owns, or one
    that its group or others may write to, is refused: whoever can write there could
    plant results for the next run."""
    from thresher.errors import UsageError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"checkpoint folder {folder} is a file; give a folder.")
    if not folder.exists():
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise UsageError(f"checkpoint folder {folder} cannot be created ({err.strerror or err}); "
                             "give a folder you can write to.") from None
    if hasattr(os, "getuid"):
        info = folder.stat()
        if info.st_uid != os.getuid():
            raise UsageError(f"checkpoint folder {folder} belongs to another user (uid {info.st_uid}); "
                             "its files would be read back as this run's results. Give a folder of your own.")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise UsageError(f"checkpoint folder {folder} can be written by others (mode "
                             f"{stat.S_IMODE(info.st_mode):04o}); their files would be read back as this run's "
                             f"results. Run: chmod 700 {folder}, or give a folder of your own.")
    return folder


__all__ = ["clear_used", "load", "prepare", "save", "shard_key", "shard_keys", "tasks_digest"]
