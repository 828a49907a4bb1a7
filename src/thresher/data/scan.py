"""One pass over a pool: read every shard, set bad records aside, build the pool's index
(ids, labels, domains, token counts, where each record lives) and run per-batch tasks.

The per-shard function runs in any process; the merge runs in order, so the result is
the same for any number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
import pyarrow as pa

from thresher.data.fields import FieldSpec
from thresher.data.records import BadRecord, BadRecordLog
from thresher.data.sources import Shard

_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 11, 12, 13, 32]] = True

# A task maps a standard batch (columns text/label/domain/id, as configured) to any result.
Task = Callable[[pa.RecordBatch], Any]


def string_buffers(text: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(data (bytes,) uint8, offsets (n + 1,) int64) of an Arrow string or large_string
    array, without copying the text: entry i is data[offsets[i]:offsets[i + 1]]. Null
    entries read as empty."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks() if text.num_chunks != 1 else text.chunk(0)
    if len(text) == 0:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64)
    if text.null_count:
        text = text.fill_null("")
    offset_type = np.int64 if pa.types.is_large_string(text.type) else np.int32
    buffers = text.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[text.offset : text.offset + len(text) + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def count_tokens(text: pa.Array) -> np.ndarray:
    """Whitespace-separated tokens per string: (n,) int64. ASCII whitespace separates."""
    if len(text) == 0:
        return np.zeros(0, dtype=np.int64)
    data, offsets = string_buffers(text)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = data[lo:hi]
    offsets = offsets - lo
    if len(data) == 0:
        return np.zeros(len(text), dtype=np.int64)
    space = _WHITESPACE[data]
    after_space = np.empty_like(space)
    after_space[0] = True
    after_space[1:] = space[:-1]
    starts = offsets[:-1][offsets[:-1] < len(data)]
    after_space[starts] = True
    begins = np.concatenate([[0], np.cumsum(~space & after_space, dtype=np.int64)])
    return begins[offsets[1:]] - begins[offsets[:-1]]


@dataclass
class ShardResult:
    """What one shard yielded: good records' index columns and locations, bad records, task outputs."""

    file_index: int
    locations: np.ndarray
    columns: dict[str, pa.Array]
    tokens: np.ndarray | None
    bad: list[tuple[int, str, str]]
    n_lines: int
    blank: int
    outputs: list[Any] = field(default_factory=list)
    offsets: np.ndarray | None = None
    lengths: np.ndarray | None = None


def standard_batch(table: pa.Table, spec: FieldSpec) -> pa.RecordBatch:
    """The columns methods see: text (template applied), label, domain, id."""
    columns: dict[str, pa.Array] = {}
    if spec.has_text:
        raw = {name: table.column(name).combine_chunks() for name in spec.text_sources}
        columns["text"] = spec.build_text(raw)
    for column, name in spec.other_sources.items():
        columns[column] = table.column(name).combine_chunks()
    if not columns:
        return pa.RecordBatch.from_pydict({"_": pa.nulls(table.num_rows)})
    return pa.RecordBatch.from_pydict(columns)


def scan_shard(job: tuple) -> ShardResult:
    """Read one shard. Runs in a worker process; `job` must pickle."""
    source, spec, shard, policy, want_tokens, tasks, keep = job
    seen = 0  # good records of this shard so far: where the view's mask (`keep`) is at
    locations, bad, outputs, offsets, lengths = [], [], [], [], []
    columns: dict[str, list] = {name: [] for name in spec.other_sources}
    tokens = [] if want_tokens and spec.has_text else None
    blank = n_lines = 0
    for raw in source.read(shard, spec):
        if keep is not None:
            raw, seen = _restrict(raw, keep, seen)
        bad.extend(raw.bad)
        blank += raw.blank
        n_lines += raw.lines
        if policy == "error" and raw.bad:
            break
        locations.append(raw.locations)
        offsets.append(raw.offsets)
        lengths.append(raw.lengths)
        batch = standard_batch(raw.table, spec)
        for name in columns:
            columns[name].append(batch.column(name))
        if tokens is not None:
            tokens.append(count_tokens(batch.column("text")))
        if tasks:
            outputs.append([task(batch) for task in tasks])
    return ShardResult(
        file_index=shard.file_index,
        # Narrowed here, not only in `merge`: the results of every shard wait in memory for the merge.
        locations=_joined_narrow(locations) if locations else np.zeros(0, np.int64),
        columns={name: pa.chunked_array(same_type(parts)).combine_chunks() if parts else None
                 for name, parts in columns.items()},
        tokens=np.concatenate(tokens) if tokens else (np.zeros(0, np.int64) if tokens is not None else None),
        bad=bad,
        n_lines=n_lines,
        blank=blank,
        outputs=outputs,
        offsets=_joined_or_none(offsets),
        lengths=None if any(part is None for part in lengths) else _joined_narrow(lengths),
    )


def _joined_narrow(parts: list[np.ndarray]) -> np.ndarray:
    """Per-batch non-negative integers (line numbers, line lengths) joined as int32 when
    they fit, else int64. Joined straight into the narrow type: an int64 join then a cast
    frees a shard-sized block per shard, which the allocator kept (measured: +60 MB on 7.6M records)."""
    largest = max((int(part.max()) for part in parts if len(part)), default=0)
    return np.concatenate(parts, dtype=np.int32 if largest < 2**31 else np.int64) if parts else np.zeros(0, np.int64)


def same_type(parts: list[pa.Array]) -> list[pa.Array]:
    """Parts of one column as one type: as they are when they agree, else all as strings
    (a JSON lines field whose values turned from numbers to text part way, files whose
    columns differ). Ints become their digits, other values their Python text, as the
    line-by-line reader writes them."""
    if len({part.type for part in parts}) <= 1:
        return parts
    return [part if pa.types.is_string(part.type) else _as_text(part) for part in parts]


def _as_text(part: pa.Array) -> pa.Array:
    if pa.types.is_integer(part.type) or pa.types.is_null(part.type) or pa.types.is_large_string(part.type):
        return part.cast(pa.string())
    return pa.array([None if value is None else str(value) for value in part.to_pylist()], pa.string())


def _joined_or_none(parts: list) -> np.ndarray | None:
    """One array from per-batch parts, or None when any part is missing."""
    if any(part is None for part in parts):
        return None
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


@dataclass
class PoolIndex:
    """What thresher keeps in memory about a pool: one entry per good record, in pool order.

    n: number of good records. ids: the id column, or None (ids are positions 0..n-1).
    labels, domains: (n,) arrays or None. tokens: (n,) int64 whitespace-token counts or
    None when not computed. files: (n,) file index (uint8 unless there are more files);
    locations: (n,) 1-based line (JSONL, CSV) or row (Parquet, tables) in that file
    (int32 unless a file has more lines). offsets: (n,) int64 and lengths: (n,) int32
    (int64 for a line over 2 GiB) byte span of each record's line, for uncompressed JSONL
    (else None), so writing a selection reads only the chosen lines.
    """

    n: int
    ids: pa.Array | None
    labels: pa.Array | None
    domains: pa.Array | None
    tokens: np.ndarray | None
    files: np.ndarray
    locations: np.ndarray
    bad: BadRecordLog
    blank_lines: int = 0
    offsets: np.ndarray | None = None
    lengths: np.ndarray | None = None
    shard_sizes: np.ndarray | None = None  # (shards,) good records per shard, in plan order

    @property
    def total_tokens(self) -> int | None:
        return None if self.tokens is None else int(self.tokens.sum())


def merge(results: Sequence[ShardResult], paths: Sequence[str], unit: str) -> tuple[PoolIndex, list[Any]]:
    """Join shard results in order, turning shard-local line numbers into file line numbers.

    The index keeps a few numbers per record for the whole run, and on a pool of millions
    of short records they are most of thresher's memory. So each per-record column is
    filled in place, and each shard's arrays are let go (set to None in its result) once
    copied, never holding all the parts and their concatenation at once; and line numbers
    and line lengths are int32 and file indices uint8 unless their values need more.
    """
    line_base: dict[int, int] = {}
    bases = []
    for result in results:
        bases.append(line_base.get(result.file_index, 0))
        line_base[result.file_index] = bases[-1] + result.n_lines
    sizes = np.array([len(result.locations) for result in results], dtype=np.int64)
    n = int(sizes.sum())
    spans = all(result.offsets is not None and result.lengths is not None for result in results)
    with_tokens = all(result.tokens is not None for result in results)
    last_line = max((int(r.locations.max()) + base for r, base in zip(results, bases) if len(r.locations)), default=0)
    longest = max((int(r.lengths.max()) for r in results if spans and len(r.lengths)), default=0)
    locations = np.empty(n, dtype=_fitting(last_line))
    files = np.empty(n, dtype=np.min_scalar_type(max(len(paths) - 1, 0)))
    offsets = np.empty(n, dtype=np.int64) if spans else None
    lengths = np.empty(n, dtype=_fitting(longest)) if spans else None
    tokens = np.empty(n, dtype=np.int64) if with_tokens else None
    bad, outputs = [], []
    columns: dict[str, list] = {}
    blank = at = 0
    for result, base in zip(results, bases):
        stop = at + len(result.locations)
        locations[at:stop] = result.locations.astype(np.int64) + base  # a shard's int32 + base may not fit int32
        files[at:stop] = result.file_index
        if spans:
            offsets[at:stop], lengths[at:stop] = result.offsets, result.lengths
        if with_tokens:
            tokens[at:stop] = result.tokens
        result.locations, result.offsets, result.lengths, result.tokens = np.zeros(0, np.int64), None, None, None
        at = stop
        for line, reason, raw in result.bad:
            bad.append(BadRecord(paths[result.file_index], line + base, reason, raw, unit))
        for name, column in result.columns.items():
            columns.setdefault(name, [])
            if column is not None:
                columns[name].append(column)
        blank += result.blank
        outputs.extend(result.outputs)

    def joined(name: str) -> pa.Array | None:
        if name not in columns:
            return None
        parts = same_type(columns[name])
        return pa.chunked_array(parts).combine_chunks() if parts else pa.array([])

    if outputs:
        # outputs[task][batch], so a scorer can concatenate its own results.
        outputs = [list(per_task) for per_task in zip(*outputs)]
    index = PoolIndex(
        n=n,
        shard_sizes=sizes,
        ids=joined("id"),
        labels=joined("label"),
        domains=joined("domain"),
        tokens=tokens,
        files=files,
        locations=locations,
        bad=BadRecordLog(bad),
        blank_lines=blank,
        offsets=offsets,
        lengths=lengths,
    )
    release_freed_memory()  # the shards' arrays, let go above
    return index, outputs


def release_freed_memory() -> None:
    """Give the pages of freed small blocks back to the system (glibc's `malloc_trim`; a
    no-op elsewhere). A scan frees thousands of per-batch arrays of a few tens of KB, and
    glibc keeps their pages for reuse, so the large array built next (a pool's hashes)
    came on top of them: 76 MB of the peak of exact dedup on 7.6M records."""
    global _malloc_trim
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _fitting(largest: int) -> type:
    """int32 when it holds every value up to `largest`, else int64."""
    return np.int32 if largest < 2**31 else np.int64


def jobs(source, spec: FieldSpec, shards: list[Shard], policy: str, want_tokens: bool, tasks: Sequence[Task],
         masks: dict | None = None) -> list[tuple]:
    """One picklable job per shard. masks: for a view of a pool (`Pool.restrict`), which
    good records of each shard, keyed by (file_index, start), the view keeps."""
    return [(source, spec, shard, policy, want_tokens, list(tasks),
             None if masks is None else masks.get((shard.file_index, shard.start), np.zeros(0, bool)))
            for shard in shards]


def _restrict(raw, keep: np.ndarray, seen: int):
    """`raw` with only the good records the view keeps (bad ones pass, to be reported as
    for the whole pool); and the count of good records read so far."""
    import dataclasses

    n = len(raw.locations)
    mine = np.zeros(n, dtype=bool)
    part = keep[seen : seen + n]
    mine[: len(part)] = part
    return dataclasses.replace(
        raw, table=raw.table.filter(pa.array(mine)), locations=raw.locations[mine],
        offsets=raw.offsets[mine] if raw.offsets is not None else None,
        lengths=raw.lengths[mine] if raw.lengths is not None else None), seen + n


__all__ = ["PoolIndex", "ShardResult", "Task", "count_tokens", "merge", "scan_shard", "standard_batch", "jobs", "partial"]
