"""The feature store: per-record arrays (embeddings, per-record model signals) cached on
disk, keyed by what they were computed from, memory-mapped on read.

    store = FeatureStore("embeddings")                  # <cache>/embeddings/
    key = store.key(pool.content_fingerprint, {"model": "packaged:all-MiniLM-L6-v2:1", "dtype": "float32"})
    values = store.get(key)                             # (rows, columns) memory map, or None
    with store.lock(key), store.writer(key, rows, columns, "float32", window=16384) as out:
        for start, block in blocks:                     # skip blocks that end before out.done
            out.write(start, block, truncated=3)        # rows [start, start + len(block)), then progress
        values = out.finish({"model": ...})

Key: the pool's content fingerprint (`Pool.content_fingerprint`: a hash of the standardised
text of each record in pool order, see `thresher.data.content`) and the featurizer's key
(model identity and every option that changes the values), hashed together. Labels,
domains, ids, file names and formats are not in it, so the same texts hit the same entry
whether they come from a JSON lines file read with or without --label-field, a Parquet
file, or a list of strings (the benchmark's).

Folder: `root`, else $THRESHER_CACHE, else $XDG_CACHE_HOME/thresher, else
~/.cache/thresher; one subfolder per kind of feature. Folders are 0700, files 0600.

An entry is `<key>.npy` (an ordinary .npy) with `<key>.json` (its rows, columns, dtype and
what the featurizer recorded). Writing goes to `<key>.partial.npy`, allocated for real up
front (posix_fallocate, else written zeros), so a full disk is an error naming the path
at the start instead of a SIGBUS half way through a sparse memory map; rows are written
with ordinary writes, synced, then `<key>.partial.json` records how many are done, so an
interrupted run resumes at its last finished window. The metadata is written first and
the vectors renamed into place last: a `<key>.npy` is always complete. An entry that does
not read back (truncated, a bad header, a shape that is not its metadata's) is reported
with a warning, removed and computed again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xxhash

from thresher.errors import ThresherError

STORE_VERSION = 1
log = logging.getLogger(__name__)


def cache_root(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: `path`, else $THRESHER_CACHE, else $XDG_CACHE_HOME/thresher, else ~/.cache/thresher."""
    base = path or os.environ.get("THRESHER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thresher"
    return Path(base)


def store_contents(root: str | os.PathLike | None = None) -> dict[str, dict]:
    """What the cache folder holds: per kind of feature ("embeddings", "signals", ...), the
    finished entries and their size on disk (MB)."""
    base = cache_root(root)
    contents = {}
    if not base.is_dir():
        return contents
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        entries = [p for p in folder.glob("*.npy") if not p.name.endswith(".partial.npy")]
        if entries:
            size = sum(p.stat().st_size for p in entries)
            contents[folder.name] = {"entries": len(entries), "mb": round(size / 2**20, 1)}
    return contents


class FeatureStore:
    """Named per-record arrays of one kind ("embeddings", "losses", ...) under the cache folder."""

    def __init__(self, kind: str, root: str | os.PathLike | None = None):
        self.kind = kind
        self.folder = cache_root(root) / kind

    @staticmethod
    def key(content: str, featurizer: Mapping[str, Any]) -> str:
        """The entry key (32 hex digits) of a pool's content fingerprint and a featurizer's options."""
        options = {"store": STORE_VERSION, "content": content, "featurizer": dict(featurizer)}
        return xxhash.xxh3_128(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()

    def path(self, key: str) -> Path:
        """Where the finished entry's values live (`<key>.npy`; its metadata is `<key>.json`)."""
        return self.folder / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The entry's values (rows, columns), memory-mapped read-only; None when there is none.
        A corrupt entry is reported (a warning), removed, and None returned."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            values = np.load(path, mmap_mode="r", allow_pickle=False)
            expected = (int(meta["rows"]), int(meta["columns"]))
            if values.shape != expected or str(values.dtype) != meta["dtype"]:
                raise ValueError(f"its shape is {values.dtype} {values.shape}, its metadata says {meta['dtype']} {expected}")
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("cached %s %s cannot be read back (%s); removing it and computing it again.",
                        self.kind, path, err)
            self.remove(key)
            return None
        return values

    def meta(self, key: str) -> dict:
        """What was recorded with a finished entry ({} when there is none)."""
        try:
            return json.loads(self.path(key).with_suffix(".json").read_text())
        except (OSError, ValueError):
            return {}

    def remove(self, key: str) -> None:
        """Delete a finished entry (values first, so what is left never looks finished)."""
        path = self.path(key)
        for leftover in (path, path.with_suffix(".json")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def lock(self, key: str) -> "_Exclusive":
        """An exclusive lock on the entry while one process computes it (others wait, then read it)."""
        _private_folder(self.folder)
        return _Exclusive(self.folder / f"{key}.lock")

    def writer(self, key: str, rows: int, columns: int, dtype: str, window: int) -> "EntryWriter":
        """Write the entry window by window; resumes an interrupted write of the same shape."""
        _private_folder(self.folder)
        return EntryWriter(self, key, rows, columns, np.dtype(dtype), window)


class EntryWriter:
    """An entry being written: `done` rows are finished (from an interrupted run, or so far),
    `counts` are the featurizer's running totals saved with them (e.g. truncated texts)."""

    def __init__(self, store: FeatureStore, key: str, rows: int, columns: int, dtype: np.dtype, window: int):
        self.store, self.key = store, key
        self.partial = store.folder / f"{key}.partial.npy"
        self.progress = store.folder / f"{key}.partial.json"
        self.shape = {"rows": int(rows), "columns": int(columns), "dtype": str(dtype), "window": int(window)}
        self.dtype, self.row_bytes = dtype, int(columns) * dtype.itemsize
        self.done, self.counts, self.resumed_from = 0, {}, 0
        self.handle = None
        self.data_offset = 0

    def __enter__(self) -> "EntryWriter":
        saved = _read_json(self.progress)
        if saved and all(saved.get(k) == v for k, v in self.shape.items()) and self.partial.exists():
            self.handle = open(self.partial, "rb+")
            self.data_offset = _header_length(self.handle)
            if self.data_offset and os.path.getsize(self.partial) == self.data_offset + self.shape["rows"] * self.row_bytes:
                self.done, self.counts = int(saved.get("done", 0)), dict(saved.get("counts", {}))
                self.resumed_from = self.done
                return self
            self.handle.close()
        self.progress.unlink(missing_ok=True)
        self._allocate()
        return self

    def _allocate(self) -> None:
        """A fresh partial file: the .npy header, then every row's bytes allocated on disk."""
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                  "shape": (self.shape["rows"], self.shape["columns"])}
        total = self.shape["rows"] * self.row_bytes
        try:
            self.handle = os.fdopen(os.open(self.partial, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600), "rb+")
            np.lib.format.write_array_header_1_0(self.handle, header)
            self.handle.flush()
            self.data_offset = self.handle.tell()
            _allocate(self.handle.fileno(), self.data_offset, total)
        except OSError as err:
            self._discard()
            raise _write_error(self.partial, err, total) from None

    def write(self, start: int, values: np.ndarray, **counts: int) -> None:
        """Rows [start, start + len(values)) are `values`; then they are synced and recorded as done."""
        block = np.ascontiguousarray(values, dtype=self.dtype)
        if block.ndim != 2 or block.shape[1] != self.shape["columns"] or start + len(block) > self.shape["rows"]:
            raise ValueError(f"rows {start}..{start + len(block)} of shape {block.shape} do not fit {self.shape}")
        data = memoryview(block.reshape(-1).view(np.uint8))
        offset = self.data_offset + start * self.row_bytes
        try:
            while data:
                written = os.pwrite(self.handle.fileno(), data, offset)
                data, offset = data[written:], offset + written
            os.fsync(self.handle.fileno())
        except OSError as err:
            raise _write_error(self.partial, err, len(block) * self.row_bytes) from None
        done, totals = max(self.done, start + len(block)), dict(self.counts)
        for name, value in counts.items():
            totals[name] = int(totals.get(name, 0)) + int(value)
        try:
            _write_private(self.progress, json.dumps({**self.shape, "done": done, "counts": totals}))
        except OSError as err:
            raise _write_error(self.progress, err, 0) from None
        self.done, self.counts = done, totals

    def finish(self, meta: Mapping[str, Any]) -> np.ndarray:
        """Put the finished entry in place (metadata, then the values, renamed); its memory map."""
        if self.done < self.shape["rows"]:
            raise ValueError(f"{self.partial}: only {self.done} of {self.shape['rows']} rows were written")
        os.fsync(self.handle.fileno())
        self.handle.close()
        self.handle = None
        path = self.store.path(self.key)
        record = {**dict(meta), **self.counts, "rows": self.shape["rows"], "columns": self.shape["columns"],
                  "dtype": self.shape["dtype"], "resumed_from": self.resumed_from}
        try:
            _write_private(path.with_suffix(".json"), json.dumps(record, indent=1, default=str))
        except OSError as err:
            raise _write_error(path.with_suffix(".json"), err, 0) from None
        os.replace(self.partial, path)
        self.progress.unlink(missing_ok=True)
        return np.load(path, mmap_mode="r", allow_pickle=False)

    def _discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        for leftover in (self.partial, self.progress):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()

    def __exit__(self, *exc) -> None:
        if self.handle is not None:  # stopped before finishing: the partial file stays for a resume
            self.handle.close()
            self.handle = None


def _allocate(fd: int, offset: int, length: int) -> None:
    """Reserve [offset, offset + length) on disk so that running out of space fails here."""
    if length <= 0:
        return
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, offset, length)
            return
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    zeros = bytes(min(length, 8 << 20))  # no fallocate here: ordinary writes, which report ENOSPC
    written = 0
    while written < length:
        written += os.pwrite(fd, zeros[: min(len(zeros), length - written)], offset + written)


def _write_error(path: Path, err: OSError, size: int) -> ThresherError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return ThresherError(f"{path}: no space left to write {size / 2**20:,.1f} MiB of cached features ({err.strerror}). "
                             "Free some space, or set THRESHER_CACHE to a folder on a larger disk.")
    return ThresherError(f"{path}: cannot write cached features ({err.strerror or err}). "
                         "Check the folder's permissions, or set THRESHER_CACHE to another folder.")


def _header_length(handle) -> int:
    """Where the values start in an .npy file (0 when its header does not read)."""
    try:
        handle.seek(0)
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        read(handle)
        return handle.tell()
    except (ValueError, OSError, SyntaxError):
        return 0


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a temporary file beside it, renamed), mode 0600."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _private_folder(folder: Path) -> None:
    """Create the cache folder and its parent, readable by this user only (0700)."""
    for part in (folder.parent, folder):
        if not part.exists():
            part.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(part, 0o700)


class _Exclusive:
    """An exclusive lock on `path` (POSIX advisory lock; none where fcntl is missing),
    waited for with a message when another process holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def __enter__(self) -> "_Exclusive":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.handle = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is computing these features (%s); waiting for it.", self.path)
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()  # closing releases the lock


__all__ = ["EntryWriter", "FeatureStore", "cache_root"]

