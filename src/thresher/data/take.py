"""Writing the chosen records: every original field intact, in pool or selection order.

A JSONL pool written to JSONL copies the chosen lines byte for byte; other combinations
go through Arrow. Every write goes to a temporary name and is renamed when complete.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import os
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from thresher.data import jsonl
from thresher.data.sources import MemorySource, detect_format
from thresher.errors import MissingDependencyError, ThresherError, UsageError
from thresher.io import atomic_path
from thresher.progress import progress

if TYPE_CHECKING:
    from thresher.data.pool import Pool


def _json_default(value):
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _output_stream(path: str, target: str):
    """A binary stream to `path`, compressed as the name of `target` asks."""
    return pa.output_stream(path, compression=jsonl.compression_of(target))


class Subset:
    """Chosen records of a pool. `positions: (k,) int64` in output order; `counts` repeats."""

    def __init__(self, pool: "Pool", positions: np.ndarray, counts: np.ndarray | None = None):
        self.pool = pool
        self.positions = positions
        self.counts = counts

    def __len__(self) -> int:
        return int(self.counts.sum()) if self.counts is not None else len(self.positions)

    # ---- reading the chosen records -------------------------------------------
    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions in pool order, and where each goes in the output order."""
        ordering = np.argsort(self.positions, kind="stable")
        return self.positions[ordering], ordering

    def _in_pool_order(self) -> np.ndarray:
        """The positions in pool order. Most subsets are in pool order already; they are
        returned as they are, sparing the two (k,) int64 arrays an argsort would make."""
        if non_decreasing(self.positions):
            return self.positions
        return self._sorted()[0]

    def iter_lines(self) -> Iterator[tuple[int, bytes]]:
        """(position, raw line) of a JSONL pool's chosen records, in pool order."""
        index = self.pool.index()
        positions = self._in_pool_order()
        paths = self.pool.source.paths
        # A one-file pool (the usual case) needs no per-file split, which costs a copy of the positions.
        wanted = [(paths[0], positions)] if len(paths) == 1 else \
            [(path, positions[index.files[positions] == i]) for i, path in enumerate(paths)]
        wanted = [(path, mine) for path, mine in wanted if len(mine)]
        if index.offsets is not None:
            # Uncompressed files: read just the chosen lines, by their byte spans. In blocks of
            # positions: a Python int per chosen record (tolist) would cost ~36 bytes each.
            total = sum(int(index.lengths[mine[start:start + _BLOCK]].sum())
                        for _, mine in wanted for start in range(0, len(mine), _BLOCK))
            with progress("write", total, "bytes") as bar:
                for path, mine in wanted:
                    for start in range(0, len(mine), _BLOCK):
                        block = mine[start:start + _BLOCK]
                        lines = jsonl.read_spans(path, index.offsets[block], index.lengths[block], bar.advance)
                        yield from zip(block.tolist(), lines)
            return
        # Compressed files report decompressed bytes, so the bar may pass its total there.
        total = sum(os.path.getsize(path) for path, _ in wanted)
        with progress("write", total, "bytes") as bar:
            for path, mine in wanted:
                lines = index.locations[mine]
                for (line, raw), position in zip(jsonl.iter_selected_lines(path, lines, bar.advance), mine):
                    yield int(position), raw

    def iter_tables(self) -> Iterator[tuple[np.ndarray, pa.Table]]:
        """(positions, table of all original fields) in pool order, batch by batch."""
        source = self.pool.source
        positions, _ = self._sorted()
        if isinstance(source, MemorySource):
            yield positions, source.table.take(pa.array(positions))
            return
        if source.format == "jsonl":
            lines = list(self.iter_lines())
            yield np.array([p for p, _ in lines], dtype=np.int64), _parse_json_lines([raw for _, raw in lines])
            return
        index = self.pool.index()
        files = index.files[positions]
        for file_index, path in enumerate(source.paths):
            mine = positions[files == file_index]
            if len(mine) == 0:
                continue
            rows = index.locations[mine] - 1  # 0-based row (parquet) or good-row ordinal (csv)
            start = 0
            for table in _iter_file_tables(source, path):
                stop = start + table.num_rows
                lo, hi = np.searchsorted(rows, [start, stop])
                if hi > lo:
                    yield mine[lo:hi], table.take(pa.array(rows[lo:hi] - start))
                start = stop

    def to_arrow(self) -> pa.Table:
        """The chosen records as one Arrow table, in output order (repeats included)."""
        parts = list(self.iter_tables())
        if not parts:
            return self._empty_table()
        table = pa.concat_tables([t for _, t in parts], promote_options="permissive")
        positions = np.concatenate([p for p, _ in parts])
        return table.take(pa.array(self._output_order(positions)))

    def _output_order(self, pool_order_positions: np.ndarray) -> np.ndarray:
        """Row numbers of a pool-ordered table that give the output order (with repeats)."""
        rank = {int(p): i for i, p in enumerate(pool_order_positions)}
        rows = np.fromiter((rank[int(p)] for p in self.positions), dtype=np.int64, count=len(self.positions))
        return np.repeat(rows, self.counts) if self.counts is not None else rows

    def _empty_table(self) -> pa.Table:
        source = self.pool.source
        if isinstance(source, MemorySource):
            return source.table.slice(0, 0)
        if source.format == "parquet":
            return pq.read_schema(source.paths[0]).empty_table()
        return pa.table({})

    def to_pandas(self):
        source = self.pool.source
        if isinstance(source, MemorySource) and source.kind == "pandas":
            rows = np.repeat(self.positions, self.counts) if self.counts is not None else self.positions
            return source.original.iloc[rows]
        return self.to_arrow().to_pandas()

    def to_hf(self):
        try:
            import datasets
        except ImportError:
            raise MissingDependencyError("datasets", "hf", "A Hugging Face dataset") from None
        source = self.pool.source
        rows = np.repeat(self.positions, self.counts) if self.counts is not None else self.positions
        if isinstance(source, MemorySource) and source.kind == "hf":
            return source.original.select(rows.tolist())
        return datasets.Dataset(self.to_arrow())

    def to_numpy(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(features (k, d), labels (k,) or None) for a pool made from NumPy arrays."""
        if getattr(self.pool.source, "kind", None) != "numpy":
            raise UsageError("to_numpy() needs a pool made with Pool.from_numpy; use to_arrow() or write().")
        rows = np.repeat(self.positions, self.counts) if self.counts is not None else self.positions
        features, labels = self.pool.source.original
        return features[rows], (None if labels is None else np.asarray(labels)[rows])

    # ---- writing --------------------------------------------------------------
    def write(self, path: str | os.PathLike, *, format: str | None = None, overwrite: bool = False) -> int:
        """Write the records to `path` (format from its name, or `format`); returns how many."""
        target = str(path)
        format = format or detect_format(target)
        if format == "jsonl":
            return self.to_jsonl(target, overwrite=overwrite)
        if format == "parquet":
            return self.to_parquet(target, overwrite=overwrite)
        if format == "csv":
            return self.to_csv(target, overwrite=overwrite)
        raise UsageError(f"cannot write format {format!r}; use jsonl, parquet or csv.")

    def _atomic(self, path, overwrite: bool):
        inputs = [] if isinstance(self.pool.source, MemorySource) else self.pool.source.paths
        return atomic_path(path, overwrite=overwrite, inputs=inputs)

    def to_jsonl(self, path: str | os.PathLike, *, overwrite: bool = False) -> int:
        """Write JSON lines; from a JSONL pool the chosen lines are copied byte for byte."""
        target = str(path)
        with self._atomic(target, overwrite) as tmp, _output_stream(str(tmp), target) as out:
            if self.pool.source.format == "jsonl":
                written = self._write_lines(out)
            else:
                written = 0
                for row in self.to_arrow().to_pylist():
                    out.write(json.dumps(row, ensure_ascii=False, default=_json_default).encode() + b"\n")
                    written += 1
        return written

    def _write_lines(self, out) -> int:
        counts = dict(zip(self.positions.tolist(), self.counts.tolist())) if self.counts is not None else None
        if len(self.positions) < 2 or np.all(self.positions[1:] > self.positions[:-1]):  # no (k,) int64 diff
            lines = self.iter_lines()
        else:
            held = dict(self.iter_lines())
            lines = ((int(p), held[int(p)]) for p in self.positions)
        written = 0
        for position, raw in lines:
            repeat = counts[position] if counts is not None else 1
            record = raw + b"\n"
            for _ in range(repeat):
                out.write(record)
            written += repeat
        return written

    def to_parquet(self, path: str | os.PathLike, *, overwrite: bool = False) -> int:
        table = self.to_arrow()
        with self._atomic(path, overwrite) as tmp:
            pq.write_table(table, str(tmp))
        return table.num_rows

    def to_csv(self, path: str | os.PathLike, *, overwrite: bool = False) -> int:
        table = self.to_arrow()
        target = str(path)
        try:
            with self._atomic(target, overwrite) as tmp, _output_stream(str(tmp), target) as out:
                pa_csv.write_csv(table, out)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            raise ThresherError(f"cannot write these records as CSV ({err}); write JSONL or Parquet instead.") from None
        return table.num_rows


_BLOCK = 1 << 16  # chosen records handled at a time when writing lines


def non_decreasing(positions: np.ndarray) -> bool:
    """Whether positions are in pool order, checked in blocks (no (k,) temporary)."""
    for start in range(0, len(positions) - 1, _BLOCK):
        stop = min(start + _BLOCK, len(positions) - 1)
        if not np.all(positions[start + 1:stop + 1] >= positions[start:stop]):
            return False
    return True


def _iter_file_tables(source, path: str) -> Iterator[pa.Table]:
    if source.format == "parquet":
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 16, use_threads=False):
            yield pa.Table.from_batches([batch])
    else:
        yield from source.iter_csv(path, None)


def _parse_json_lines(lines: list[bytes]) -> pa.Table:
    if not lines:
        return pa.table({})
    data = b"\n".join(lines) + b"\n"
    try:
        return pa_json.read_json(pa.BufferReader(data), read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Types that change between records (a field that is a number here, a string there)
        # defeat Arrow's inference; read such values as JSON text.
        rows = [json.loads(line) for line in lines]
        names = list(dict.fromkeys(name for row in rows for name in row))
        columns = {}
        for name in names:
            values = [row.get(name) for row in rows]
            try:
                columns[name] = pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                columns[name] = pa.array([None if v is None else json.dumps(v) for v in values], pa.string())
        return pa.table(columns)
