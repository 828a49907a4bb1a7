"""The Pool: the candidate training records, read in Arrow batches, with stable ids.

    pool = Pool.from_jsonl("pool.jsonl", text_field="text")
    len(pool)                 # one streaming pass; nothing but small index arrays is kept
    pool.take(selection).to_jsonl("picked.jsonl")
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from thresher.data.fields import FieldSpec
from thresher.data.records import BadRecordLog, check_policy
from thresher.data.scan import PoolIndex, Task, jobs, merge, scan_shard
from thresher.data.sources import SHARD_BYTES, FileSource, MemorySource
from thresher.engine import Engine, get_engine
from thresher.errors import BadRecordError, ThresherError, UsageError
from thresher.progress import progress

if TYPE_CHECKING:
    from thresher.data.take import Subset
    from thresher.selection import Selection

READER_VERSION = 1
EMBEDDINGS = "embeddings"  # the name under which methods look for embeddings in `Pool.features`


class Pool:
    """A dataset of records with stable ids, read in batches so it may exceed memory.

    Build one with `Pool.from_jsonl`, `from_parquet`, `from_csv`, `from_files` (format
    from the file names), `from_pandas`, `from_arrow`, `from_hf` or `from_numpy`.

    fields: which field is the text (or a template over several), label, domain and id.
    on_bad_record: "error" (stop at the first unreadable record, naming file and line),
        "quarantine" (set such records aside with reasons; see `bad_records` and
        `write_quarantine`) or "skip" (drop them, still counted).
    """

    def __init__(self, source: FileSource | MemorySource, fields: FieldSpec, on_bad_record: str = "error"):
        self.source = source
        self.fields = fields
        self.on_bad_record = check_policy(on_bad_record)
        self._index: PoolIndex | None = None
        self._fingerprint: str | None = None
        self._content_fingerprint: str | None = None
        self._features: dict[str, np.ndarray] = {}
        self._view: _View | None = None  # set on the views `restrict` makes
        # A folder for per-shard checkpoints (`thresher.data.checkpoint`): set it and a long
        # scan that is stopped resumes at the shards it had not finished.
        self.checkpoint_dir: str | os.PathLike | None = None
        source.prepare(fields)

    # ---- constructors -------------------------------------------------------------
    @classmethod
    def from_files(
        cls,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        format: str | None = None,
        text_field: str | None = "text",
        template: str | None = None,
        label_field: str | None = None,
        domain_field: str | None = None,
        id_field: str | None = None,
        on_bad_record: str = "error",
        csv_delimiter: str | None = None,
        shard_bytes: int = SHARD_BYTES,
    ) -> "Pool":
        """A pool of one or more files or globs of one format (jsonl[.gz|.zst], parquet, csv)."""
        fields = FieldSpec(text_field, template, label_field, domain_field, id_field)
        return cls(FileSource(paths, format, shard_bytes, csv_delimiter), fields, on_bad_record)

    @classmethod
    def from_jsonl(cls, paths, **options) -> "Pool":
        return cls.from_files(paths, format="jsonl", **options)

    @classmethod
    def from_parquet(cls, paths, **options) -> "Pool":
        return cls.from_files(paths, format="parquet", **options)

    @classmethod
    def from_csv(cls, paths, **options) -> "Pool":
        return cls.from_files(paths, format="csv", **options)

    @classmethod
    def from_arrow(cls, table: pa.Table, *, name: str = "<arrow table>", kind: str = "arrow", original: Any = None,
                   text_field: str | None = "text", template: str | None = None, label_field: str | None = None,
                   domain_field: str | None = None, id_field: str | None = None, on_bad_record: str = "error") -> "Pool":
        """A pool over an in-memory Arrow table."""
        fields = FieldSpec(text_field, template, label_field, domain_field, id_field)
        return cls(MemorySource(table, kind, name, original), fields, on_bad_record)

    @classmethod
    def from_pandas(cls, frame, **options) -> "Pool":
        """A pool over a pandas DataFrame (its index is not kept; use id_field for ids)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return cls.from_arrow(table, name="<DataFrame>", kind="pandas", original=frame, **options)

    @classmethod
    def from_hf(cls, dataset, **options) -> "Pool":
        """A pool over a Hugging Face `datasets.Dataset` (needs the [hf] extra)."""
        table = dataset.with_format("arrow")[0 : len(dataset)]
        return cls.from_arrow(table, name=f"<Dataset {getattr(dataset, 'info', None) and dataset.info.dataset_name or ''}>",
                              kind="hf", original=dataset, **options)

    @classmethod
    def from_numpy(cls, features: np.ndarray, labels: np.ndarray | None = None, ids: np.ndarray | None = None) -> "Pool":
        """A pool of feature vectors `features: (n, d)` with optional `labels: (n,)` and `ids: (n,)`."""
        features = np.asarray(features)
        if features.ndim != 2:
            raise UsageError(f"features must be a 2-d array (n, d); got shape {features.shape}.")
        columns: dict[str, Any] = {}
        n = len(features)
        for name, values in (("label", labels), ("id", ids)):
            if values is not None:
                values = np.asarray(values)
                if values.shape != (n,):
                    raise UsageError(f"{name}s must have shape ({n},) to match features; got {values.shape}.")
                columns[name] = pa.array(values)
        table = pa.table(columns) if columns else pa.table({"_": pa.nulls(n)})
        pool = cls.from_arrow(table, name="<numpy arrays>", kind="numpy", original=(features, labels),
                              text_field=None, label_field="label" if labels is not None else None,
                              id_field="id" if ids is not None else None)
        pool._features = {EMBEDDINGS: features}
        return pool

    @property
    def features(self) -> Mapping[str, np.ndarray]:
        """Per-record arrays attached to the pool, by name (read-only; empty when none):
        `pool.features["embeddings"]` is `(n, d)`, one row per record in pool order. Add
        one with `with_features`."""
        return MappingProxyType(self._features)

    def with_features(self, features: "np.ndarray | str | os.PathLike", name: str = EMBEDDINGS) -> "Pool":
        """A new pool with per-record arrays `features: (n, d)` attached as `name` (replacing
        one of that name), or the path of a .npy file of them (memory-mapped, not read into
        memory). Methods that work on embeddings use `features["embeddings"]` instead of
        embedding the text. The pool itself is not changed."""
        source = features
        if isinstance(features, (str, os.PathLike)):
            try:
                features = np.load(features, mmap_mode="r")
            except (OSError, ValueError) as err:
                raise UsageError(f"{source}: cannot read it as a .npy array of embeddings ({err}).") from None
        features = features if isinstance(features, np.ndarray) else np.asarray(features)
        where = source if isinstance(source, (str, os.PathLike)) else f"features {name!r}"
        if features.ndim != 2 or features.dtype.kind not in "fiu":
            raise UsageError(f"{where}: must be a 2-d numeric array (n, d); got {features.dtype} {features.shape}.")
        if len(features) != len(self):
            raise UsageError(f"{where} has {len(features):,} rows, but the pool has {len(self):,} records; "
                             "give one row per record, in pool order.")
        pool = copy.copy(self)
        pool._features = {**self._features, name: features}
        pool._fingerprint = None if isinstance(self.source, MemorySource) else self._fingerprint
        return pool

    # ---- properties ---------------------------------------------------------------
    @property
    def paths(self) -> list[str]:
        return list(self.source.paths)

    @property
    def format(self) -> str:
        return self.source.format if self.source.format != "memory" else self.source.kind

    @property
    def options(self) -> dict:
        return {"fields": self.fields.as_dict(), **self.source.options(), "reader": READER_VERSION}

    @property
    def fingerprint(self) -> str:
        """A hash of the records' content and the reading options (not of names or times)."""
        if self._fingerprint is None and self._view is not None:
            self._fingerprint = xxhash.xxh3_128_hexdigest(f"view:{self._view.base.fingerprint}:{self._view.digest}".encode())
        if self._fingerprint is None:
            digest = xxhash.xxh3_128(json.dumps(self.options, sort_keys=True).encode())
            if isinstance(self.source, MemorySource):
                _hash_table(digest, self.source.table)
                for name, values in sorted(self._features.items()):
                    digest.update(f"{name}:{values.dtype}:{values.shape}".encode())
                    for start in range(0, len(values), 65536):  # in slices: features may be a large memory map
                        digest.update(np.ascontiguousarray(values[start : start + 65536]).tobytes())
            else:
                total = sum(os.path.getsize(path) for path in self.source.paths)
                with progress("fingerprint", total, "bytes") as bar:
                    for path in self.source.paths:
                        file_digest = xxhash.xxh3_128()
                        with open(path, "rb") as handle:
                            while chunk := handle.read(8 << 20):
                                file_digest.update(chunk)
                                bar.advance(len(chunk))
                        digest.update(file_digest.digest())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def content_fingerprint(self) -> str:
        """A hash of what a featurizer sees: the standardised text of every record kept,
        in pool order (see `thresher.data.content`); not labels, domains, ids, file names or
        layout, so the same texts read with other options, from another format or from a
        list share it. Cached features are keyed by it. One pass, then kept. A pool with
        no text: its `fingerprint`."""
        if self._content_fingerprint is None:
            if not self.fields.has_text:
                self._content_fingerprint = self.fingerprint
            else:
                from thresher.data.content import TextHashes, content_digest

                _, outputs = self.scan([TextHashes()])
                self._content_fingerprint = content_digest(outputs[0] if outputs else [])
        return self._content_fingerprint

    # ---- scanning -----------------------------------------------------------------
    def scan(self, tasks: Sequence[Task] = (), *, engine: Engine | str | None = None, workers: int | None = None,
             tokens: bool = False, sample: float | None = None) -> tuple[PoolIndex, list[Any]]:
        """One pass over the pool: its index, and `outputs[t]`, task t's results per batch in pool order.

        tasks: picklable callables `task(batch) -> result`, where `batch` is an Arrow
            RecordBatch with columns text, label, domain, id (those configured). With
            `checkpoint_dir` set, each shard's results are kept there for a resume, unless
            a task says `checkpoint = False` (its results point at files of this run).
        sample: read only the first `sample` (0 < sample < 1) of every shard, a uniform
            sample at a fraction of a pass (see `thresher.data.sample`). The index returned
            then covers the sample alone (its line numbers are not the files') and is not
            kept as the pool's.
        """
        engine = get_engine(engine, workers)
        shards = self.source.plan()
        if sample is not None:
            if not 0 < sample <= 1:
                raise UsageError(f"sample={sample!r}: give a fraction of the pool, 0 < sample <= 1.")
            from thresher.data.sample import sample_shards

            shards = sample_shards(self.source, shards, sample) if sample < 1 else shards
        work = jobs(self.source, self.fields, shards, self.on_bad_record, tokens, tasks, self._masks())
        if isinstance(self.source, MemorySource):
            engine = get_engine("local", 1)  # the table is here already; shipping it to workers costs more
        folder, keys = self._checkpoint_keys(shards, tokens, tasks)
        saved: dict[int, Any] = {}
        if folder is not None:
            from thresher.data import checkpoint

            for i, key in enumerate(keys):
                result = checkpoint.load(folder, key)
                if result is not None:
                    saved[i] = result
        results = []
        with progress(f"read {_short(self.source.paths)}", sum(s.size for s in shards) or len(shards),
                      "bytes" if any(s.size for s in shards) else "items") as bar:
            bar.advance(sum(shards[i].size or 1 for i in saved))
            fresh = engine.map(scan_shard, [job for i, job in enumerate(work) if i not in saved])
            for i, shard in enumerate(shards):
                result = saved.pop(i, None)
                if result is None:
                    result = next(fresh)
                    if folder is not None and not checkpoint.save(folder, keys[i], result):
                        folder = None  # its outputs are of a kind no checkpoint holds: keep none for this scan
                    bar.advance(shard.size or 1)
                results.append(result)
                if self.on_bad_record == "error" and result.bad:
                    break
        index, outputs = merge(results, self.source.paths, self.source.unit())
        if self._view is not None and index.ids is None and sample is None:
            index.ids = pa.array(self._view.positions)  # a view's ids are the whole pool's positions
        if self.on_bad_record == "error" and len(index.bad):
            first = index.bad.records[0]
            raise BadRecordError(first.file, first.line, first.reason, unit=first.kind, hint=self._hint(first.reason))
        if index.ids is not None:
            _check_unique_ids(index, self.fields.id_field, self.source.paths)
        if sample is None and (self._index is None or (tokens and self._index.tokens is None)):
            self._index = index
        return index, outputs

    def stream(self, columns: Sequence[str] = ("text",), *, engine: Engine | str | None = None,
               workers: int | None = None) -> Iterator[pa.RecordBatch]:
        """The pool's standard batches (the given columns of text, label, domain, id), in
        pool order, read shard by shard through the same jobs as `scan`: the bad-record
        policy applies, so row i of the stream is pool position i. Reads in this process
        unless an engine or workers are given (a slow consumer, such as a model, would
        otherwise let workers pile up whole shards in memory)."""
        engine = get_engine(engine, workers) if engine is not None or workers else get_engine("local", 1)
        if isinstance(self.source, MemorySource):
            engine = get_engine("local", 1)
        work = jobs(self.source, self.fields, self.source.plan(), self.on_bad_record, False, [_Columns(tuple(columns))],
                    self._masks())
        with progress(f"read {_short(self.source.paths)}", len(work), "shards") as bar:
            for result in engine.map(scan_shard, work):
                if self.on_bad_record == "error" and result.bad:
                    self.scan()  # raises the error with the file's own line number, as every read does
                    raise ThresherError(f"{_short(self.source.paths)}: a bad record was read; run again.")
                for (batch,) in result.outputs:
                    yield batch
                bar.advance(1)

    def _checkpoint_keys(self, shards, tokens: bool, tasks) -> tuple[Any, list[str]]:
        """(checkpoint folder, one key per shard), or (None, []) when this scan keeps none:
        no `checkpoint_dir`, an in-memory pool, a task that opts out or whose configuration
        cannot be described."""
        if (self.checkpoint_dir is None or isinstance(self.source, MemorySource)
                or not all(getattr(task, "checkpoint", True) for task in tasks)):
            return None, []
        from thresher.data import checkpoint

        common = checkpoint.tasks_digest(self.fields, self.on_bad_record, tokens, tasks)
        if common is None:
            return None, []
        if self._view is not None:  # a view's shards hold other records than the whole pool's
            common = xxhash.xxh3_128_hexdigest(f"{common}:view:{self._view.digest}".encode())
        return checkpoint.prepare(self.checkpoint_dir), checkpoint.shard_keys(self.source, shards, common)

    def index(self, *, engine: Engine | str | None = None, workers: int | None = None, tokens: bool = False) -> PoolIndex:
        """The pool's index (one pass, then cached). tokens=True also counts tokens."""
        if self._index is None or (tokens and self._index.tokens is None and self.fields.has_text):
            self.scan(engine=engine, workers=workers, tokens=tokens)
        return self._index

    def __len__(self) -> int:
        return self.index().n

    @property
    def bad_records(self) -> BadRecordLog:
        """Records set aside by the last scan (quarantine or skip), with file, line and reason."""
        return self.index().bad

    def write_quarantine(self, path: str | os.PathLike, overwrite: bool = True) -> int:
        """Write the bad records as JSON lines (file, line, reason, record); returns how many."""
        self.bad_records.write(path, overwrite=overwrite)
        return len(self.bad_records)

    # ---- ids ----------------------------------------------------------------------
    def ids_at(self, positions: np.ndarray) -> pa.Array:
        """Ids of records at 0-based pool positions."""
        positions = np.asarray(positions, dtype=np.int64)
        index = self.index()
        return pa.array(positions) if index.ids is None else index.ids.take(pa.array(positions))

    def positions_of(self, ids) -> np.ndarray:
        """Pool positions (n,) int64 of the given ids; an id not in the pool is an error."""
        index = self.index()
        if index.ids is None:
            positions = np.asarray(pa.array(ids).to_numpy(zero_copy_only=False))
            if positions.dtype.kind not in "iu":
                raise UsageError("the selection's ids are not positions, but this pool has no id field; "
                                 "open the pool with the same id field (--id-field) as when selecting.")
            outside = (positions < 0) | (positions >= index.n)
            if outside.any():
                raise UsageError(f"id {positions[outside][0]} is not in this pool of {index.n} records; "
                                 "was the selection made from another pool?")
            return positions.astype(np.int64, copy=False)
        ids = pa.array(ids)
        if ids.type != index.ids.type:
            try:
                ids = ids.cast(index.ids.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise UsageError(f"the selection's ids are {ids.type}, the pool's are {index.ids.type}; "
                                 "was the selection made from another pool?") from None
        positions = pc.index_in(ids, value_set=index.ids)
        if positions.null_count:
            missing = ids.filter(positions.is_null())[0].as_py()
            raise UsageError(f"id {missing!r} is not in this pool; was the selection made from another pool?")
        return positions.to_numpy().astype(np.int64)

    # ---- output -------------------------------------------------------------------
    def take(self, selection: "Selection | Sequence[int] | np.ndarray", order: str = "pool", repeat: bool = False) -> "Subset":
        """The selected records, with every original field, ready to write.

        order: "pool" (the records' order in the pool) or "selection" (the selection's order).
        repeat: write a record as many times as its weight says (for sampling with replacement).
        """
        from thresher.data.take import Subset, non_decreasing
        from thresher.selection import Selection

        if order not in ("pool", "selection"):
            raise UsageError(f"order={order!r}: use 'pool' or 'selection'.")
        counts = None
        if isinstance(selection, Selection):
            positions = self.positions_of(selection.ids)
            if repeat and selection.weights is not None:
                counts = np.rint(selection.weights).astype(np.int64)
        else:
            positions = self.positions_of(np.asarray(selection))
        if order == "pool" and not non_decreasing(positions):  # most are: no argsort, no (k,) int64 copies
            ordering = np.argsort(positions, kind="stable")
            positions = positions[ordering]
            counts = counts[ordering] if counts is not None else None
        return Subset(self, positions, counts)

    def _hint(self, reason: str) -> str | None:
        for field in self.fields.required:
            if f'"{field}" is missing' in reason or f'"{field}" is null' in reason:
                return f"Use {self.fields.option_for(field)} to name the right field"
        return None

    # ---- views --------------------------------------------------------------------
    def restrict(self, selection: "Selection | Sequence[int] | np.ndarray") -> "Pool":
        """A view of this pool holding only the records `selection` chose (ids, or a
        Selection), in pool order: the same files, read through a position mask, nothing
        copied. Its ids are this pool's ids (positions of this pool when it has no id
        field), so selections made on the view compose with selections made here; its
        fingerprint is derived from this pool's and the mask.

            clean = pool.restrict(ExactDedup().apply(pool))
            picked = thresher.select(clean, "random", "10%")      # 10% of the survivors
        """
        from thresher.selection import Selection

        chosen = self.positions_of(selection.ids if isinstance(selection, Selection) else np.asarray(selection))
        chosen = np.unique(chosen)
        root = self._view.positions[chosen] if self._view is not None else chosen
        base = self._view.base if self._view is not None else self
        sizes = base.index().shard_sizes
        shards = base.source.plan()
        starts = np.concatenate([[0], np.cumsum(sizes)])
        masks = {}
        for shard, lo, hi in zip(shards, starts[:-1], starts[1:]):
            mask = np.zeros(int(hi - lo), dtype=bool)
            inside = root[(root >= lo) & (root < hi)]
            mask[inside - lo] = True
            masks[(shard.file_index, shard.start)] = mask
        view = copy.copy(base)
        view._view = _View(base, root, masks, xxhash.xxh3_128_hexdigest(root.tobytes()))
        view._index = None
        view._fingerprint = None
        view._content_fingerprint = None
        view._features = {name: np.asarray(values[root]) for name, values in base._features.items()}
        return view

    def root_positions(self, positions: np.ndarray) -> np.ndarray:
        """Positions in the whole pool of records at `positions` of this one (a view's
        records sit elsewhere in the pool it restricts; for a pool, the same positions)."""
        positions = np.asarray(positions, dtype=np.int64)
        return positions if self._view is None else self._view.positions[positions]

    @property
    def root_fingerprint(self) -> str:
        """The fingerprint of the whole pool a view restricts (of this pool, if not a view):
        selections of a pool and of its views compose."""
        return self.fingerprint if self._view is None else self._view.base.fingerprint

    def _masks(self) -> dict | None:
        return None if self._view is None else self._view.masks

    def __repr__(self) -> str:
        view = f", view of {len(self._view.positions):,} records" if self._view is not None else ""
        return f"Pool({_short(self.source.paths)}, format={self.format!r}, fields={self.fields}{view})"


@dataclass(frozen=True)
class _View:
    """What makes a pool a view (`Pool.restrict`): the whole pool, the positions (m,)
    int64 of the records kept, sorted, per-shard masks of the good records the view
    keeps, keyed by (file_index, start), and a digest of the positions."""

    base: "Pool"
    positions: np.ndarray
    masks: dict
    digest: str


@dataclass(frozen=True)
class _Columns:
    """Per-batch task of `Pool.stream`: the batch itself, cut to the named columns."""

    names: tuple[str, ...]

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.select(list(self.names))


def _short(paths: Sequence[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} files)"


def _hash_table(digest, table: pa.Table) -> None:
    for name in table.column_names:
        digest.update(name.encode())
        column = table.column(name).combine_chunks() if table.num_rows else table.column(name)
        for chunk in getattr(column, "chunks", [column]):
            digest.update(str(chunk.type).encode())
            digest.update(json.dumps(chunk.to_pylist(), default=str, sort_keys=True).encode() if chunk.offset or chunk.null_count
                          else b"".join(bytes(buf) for buf in chunk.buffers() if buf is not None))


def _check_unique_ids(index: PoolIndex, field: str, paths: Sequence[str]) -> None:
    if pc.count_distinct(index.ids).as_py() == index.n and index.ids.null_count == 0:
        return
    counts = pc.value_counts(index.ids)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    value = repeated[0]["values"].as_py() if len(repeated) else None
    where = np.flatnonzero(pc.equal(index.ids, pa.scalar(value, index.ids.type)).to_numpy(zero_copy_only=False))[:2]
    spots = " and ".join(f"{paths[index.files[p]]}:{index.locations[p]}" for p in where)
    raise ThresherError(f'id field "{field}" has the value {value!r} more than once ({spots}). '
                        "Ids must be unique; fix the data or leave out --id-field to use positions as ids.")
