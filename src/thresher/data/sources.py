"""Where a pool's records come from: files (JSONL, Parquet, CSV) or memory (Arrow table).

A source splits itself into shards (byte ranges of a JSONL file, row groups of a Parquet
file, whole compressed or CSV files, row ranges of a table) that can be read
independently, in any process, in any order; shard boundaries depend only on the data,
never on the number of workers.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from thresher.data import jsonl
from thresher.data.fields import FieldSpec
from thresher.errors import ThresherError, UsageError

SHARD_BYTES = 64 << 20
MEMORY_SHARD_ROWS = 1 << 16
FORMATS = ("jsonl", "parquet", "csv")


@dataclass(frozen=True)
class Shard:
    """A piece of a source: `file_index` and a [start, end) range in the source's units."""

    file_index: int
    start: int = 0
    end: int | None = None
    size: int = 0  # bytes, for progress


@dataclass
class RawBatch:
    """Raw columns of good records, their 1-based lines/rows, and the bad ones."""

    table: pa.Table
    locations: np.ndarray
    bad: list[tuple[int, str, str]]
    blank: int = 0
    lines: int = 0  # lines the block spanned, for shard-local line numbers
    offsets: np.ndarray | None = None  # byte offset of each good record in its (uncompressed) file
    lengths: np.ndarray | None = None  # its length in bytes, without the newline


def detect_format(path: str) -> str:
    lower = path.lower()
    for suffix in (".gz", ".zst", ".zstd", ".bz2"):
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".tsv")):
        return "csv"
    raise UsageError(
        f"cannot tell the format of {path} from its name; pass --format (format=) jsonl, parquet or csv."
    )


def expand_paths(paths: str | os.PathLike | list) -> list[str]:
    """Files named by paths and globs, in a stable order; an unmatched name is an error.
    A name that exists is taken literally, even with glob characters (`pool[1].jsonl`)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[str] = []
    for path in map(str, paths):
        if os.path.isfile(path):
            files.append(path)
        elif any(ch in path for ch in "*?[") and not os.path.isdir(path):
            matched = sorted(glob.glob(path, recursive=True))
            if not matched:
                raise UsageError(f"no file matches {path}.")
            files.extend(matched)
        elif os.path.isdir(path):
            raise UsageError(f"{path} is a folder; name its files, e.g. '{path}/*.jsonl'.")
        elif not os.path.exists(path):
            raise UsageError(f"{path} does not exist.")
        else:
            files.append(path)
    if not files:
        raise UsageError("no input files given.")
    return list(dict.fromkeys(files))


def missing_field_message(where: str, field: str, found: list[str], spec: FieldSpec) -> str:
    return (
        f'{where}: field "{field}" is missing.\n'
        f"  Use {spec.option_for(field)} to name the right column (found: {', '.join(found[:20])})."
    )


def check_columns(where: str, available: list[str], spec: FieldSpec) -> None:
    for field in spec.required:
        if field not in available:
            raise UsageError(missing_field_message(where, field, available, spec))


def null_check(table: pa.Table, spec: FieldSpec, locations: np.ndarray, unit: str) -> RawBatch:
    """Split off records whose required fields are null."""
    missing = None
    for name in spec.required:
        nulls = table.column(name).is_null()
        missing = nulls if missing is None else pc.or_(missing, nulls)
    if missing is None or not pc.any(missing).as_py():
        return RawBatch(table, locations, [])
    mask = missing.to_numpy(zero_copy_only=False)
    bad = []
    for row in np.flatnonzero(mask):
        empty = [name for name in spec.required if not table.column(name)[int(row)].is_valid]
        bad.append((int(locations[row]), f'field "{empty[0]}" is null', str(table.slice(int(row), 1).to_pylist()[0])))
    return RawBatch(table.filter(pa.array(~mask)), locations[~mask], bad)


class FileSource:
    """Records in files of one format."""

    def __init__(self, paths, format: str | None = None, shard_bytes: int = SHARD_BYTES, csv_delimiter: str | None = None):
        self.paths = expand_paths(paths)
        formats = {format} if format else {detect_format(path) for path in self.paths}
        if len(formats) > 1:
            raise UsageError(f"the pool mixes formats ({', '.join(sorted(formats))}); give files of one format.")
        self.format = formats.pop()
        if self.format not in FORMATS:
            raise UsageError(f"format {self.format!r} is not one of {', '.join(FORMATS)}.")
        self.shard_bytes = shard_bytes
        self.csv_delimiter = csv_delimiter
        self._schema: pa.Schema | None = None

    def options(self) -> dict:
        return {"format": self.format, "csv_delimiter": self.csv_delimiter}

    def unit(self) -> str:
        return "row" if self.format == "parquet" else "line"

    def prepare(self, spec: FieldSpec) -> None:
        """Check fields against the data and fix the raw column types, before any shard is read."""
        if self.format == "jsonl":
            self._schema = jsonl.infer_schema(self.paths[0], spec)
        elif self.format == "parquet":
            for path in self.paths:
                schema = parquet_file(path).schema_arrow
                check_columns(path, schema.names, spec)
                for name in spec.text_sources:
                    kind = schema.field(name).type
                    if not spec.template and not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
                        raise UsageError(f'{path}: field "{name}" has type {kind}, not text. Use --text-field to name a text column.')
        else:
            for path in self.paths:
                check_columns(path, self._csv_header(path), spec)

    def plan(self) -> list[Shard]:
        shards = []
        for index, path in enumerate(self.paths):
            size = os.path.getsize(path)
            if self.format == "jsonl" and jsonl.compression_of(path) is None:
                shards.extend(Shard(index, start, end, end - start) for start, end in _line_ranges(path, size, self.shard_bytes))
            elif self.format == "parquet":
                meta = parquet_file(path).metadata
                groups = max(meta.num_row_groups, 1)
                per_shard = max(1, int(self.shard_bytes // max(size / groups, 1)))
                for start in range(0, meta.num_row_groups, per_shard):
                    end = min(start + per_shard, meta.num_row_groups)
                    shards.append(Shard(index, start, end, int(size * (end - start) / groups)))
                if meta.num_row_groups == 0:
                    shards.append(Shard(index, 0, 0, 0))
            else:
                shards.append(Shard(index, 0, None, size))
        return shards

    def read(self, shard: Shard, spec: FieldSpec) -> Iterator[RawBatch]:
        """The shard's records in batches."""
        path = self.paths[shard.file_index]
        if self.format == "jsonl":
            parser = jsonl.JsonlParser(spec, self._schema)
            line = 1
            for offset, block in jsonl.iter_file_blocks(path, shard.start, shard.end):
                starts, ends = jsonl.line_spans(block)
                table, rows, bad, blank = parser.parse(block, starts, ends)
                batch = RawBatch(table, line + rows, [(line + row, reason, raw) for row, reason, raw in bad], blank,
                                 len(starts))
                if offset is not None:
                    batch.offsets, batch.lengths = offset + starts[rows], ends[rows] - starts[rows]
                line += len(starts)
                yield batch
        elif self.format == "parquet":
            yield from self._read_parquet(path, shard, spec)
        else:
            yield from self._read_csv(path, spec)

    def _read_parquet(self, path: str, shard: Shard, spec: FieldSpec) -> Iterator[RawBatch]:
        handle = parquet_file(path)
        meta = handle.metadata
        row = sum(meta.row_group(g).num_rows for g in range(shard.start)) + 1
        groups = list(range(shard.start, shard.end))
        if not groups:
            return
        batches = handle.iter_batches(row_groups=groups, columns=spec.required or None, batch_size=1 << 16, use_threads=False)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as err:
                raise _not_parquet(path, err, f"row group {shard.start}..{shard.end - 1}") from None
            if batch is None:
                return
            table = pa.Table.from_batches([batch])
            locations = np.arange(row, row + table.num_rows, dtype=np.int64)
            row += table.num_rows
            yield null_check(table, spec, locations, "row")

    def csv_options(self, columns: list[str] | None, on_invalid=None):
        parse = pa_csv.ParseOptions(delimiter=self.csv_delimiter or ",", invalid_row_handler=on_invalid)
        read = pa_csv.ReadOptions(use_threads=False, block_size=8 << 20)
        convert = pa_csv.ConvertOptions(
            include_columns=columns, column_types={name: pa.string() for name in columns or []}, strings_can_be_null=False
        )
        return read, parse, convert

    def _csv_header(self, path: str) -> list[str]:
        # Malformed rows in the first block are skipped here (only the names are wanted);
        # the read that follows sets them aside with their reasons.
        read, parse, _ = self.csv_options(None, lambda row: "skip")
        try:
            with pa_csv.open_csv(path, read_options=read, parse_options=parse) as reader:
                return reader.schema.names
        except (pa.ArrowInvalid, OSError) as err:
            raise ThresherError(f"{path}: cannot read as CSV: {err}") from None

    def iter_csv(self, path: str, columns: list[str] | None, bad: list | None = None) -> Iterator[pa.Table]:
        """CSV batches (string columns) with malformed rows set aside in `bad`."""

        def on_invalid(row) -> str:
            if bad is not None:
                bad.append((row.number or 0, f"expected {row.expected_columns} columns, found {row.actual_columns}", row.text))
            return "skip"

        if columns is None:
            columns = self._csv_header(path)
        read, parse, convert = self.csv_options(columns, on_invalid)
        try:
            with pa_csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
                for batch in reader:
                    yield pa.Table.from_batches([batch])
        except pa.ArrowInvalid as err:
            raise ThresherError(
                f"{path}: cannot read as CSV: {err}\n  If the file is not UTF-8, re-encode it; if it uses another delimiter, pass --csv-delimiter."
            ) from None

    def _read_csv(self, path: str, spec: FieldSpec) -> Iterator[RawBatch]:
        bad: list = []
        row = 1
        for table in self.iter_csv(path, spec.required, bad):
            locations = np.arange(row, row + table.num_rows, dtype=np.int64)
            row += table.num_rows
            batch = null_check(table, spec, locations, "row")
            batch.bad.extend(bad)
            bad.clear()
            yield batch
        if bad:
            yield RawBatch(pa.table({name: pa.array([], pa.string()) for name in spec.required}), np.zeros(0, np.int64), list(bad))


def parquet_file(path: str) -> pq.ParquetFile:
    """The Parquet file at `path`; a file that is not one (corrupt, cut short, JSON by
    another name) is a ThresherError naming it."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise _not_parquet(path, err) from None


def _not_parquet(path: str, err: Exception, where: str = "") -> ThresherError:
    detail = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ThresherError(
        f"{path}{' ' + where if where else ''}: cannot read it as Parquet ({detail}). The file is corrupt, cut short "
        "or not Parquet: copy it again, or if it holds JSON lines or CSV, name it so or pass --format."
    )


def _line_ranges(path: str, size: int, shard_bytes: int) -> list[tuple[int, int]]:
    """Cut [0, size) into ranges of about `shard_bytes`, each starting at a line start."""
    ranges = []
    start = 0
    with open(path, "rb") as handle:
        while start < size:
            end = start + shard_bytes
            if end >= size:
                ranges.append((start, size))
                break
            handle.seek(end)
            while True:
                piece = handle.read(1 << 16)
                if not piece:
                    end = size
                    break
                newline = piece.find(b"\n")
                if newline >= 0:
                    end += newline + 1
                    break
                end += len(piece)
            ranges.append((start, end))
            start = end
    return ranges or [(0, 0)]


class MemorySource:
    """Records in an Arrow table (from pandas, a Hugging Face dataset or NumPy arrays)."""

    format = "memory"

    def __init__(self, table: pa.Table, kind: str, name: str, original=None, shard_rows: int = MEMORY_SHARD_ROWS):
        self.table = table
        self.kind = kind
        self.paths = [name]
        self.original = original
        self.shard_rows = shard_rows

    def options(self) -> dict:
        return {"format": self.kind}

    def unit(self) -> str:
        return "row"

    def prepare(self, spec: FieldSpec) -> None:
        check_columns(self.paths[0], self.table.column_names, spec)

    def plan(self) -> list[Shard]:
        n = self.table.num_rows
        return [Shard(0, start, min(start + self.shard_rows, n), 0) for start in range(0, max(n, 1), self.shard_rows)]

    def read(self, shard: Shard, spec: FieldSpec) -> Iterator[RawBatch]:
        table = self.table.slice(shard.start, shard.end - shard.start)
        if spec.required:
            table = table.select(spec.required)
        else:
            table = pa.table({"_": pa.nulls(table.num_rows)})
        yield null_check(table, spec, np.arange(shard.start + 1, shard.end + 1, dtype=np.int64), "row")
