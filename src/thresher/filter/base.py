"""The filter contract: parameters in the constructor, work in `apply`.

    sel = NearDedup(threshold=0.8).apply(pool, workers=2)
    clean = pool.take(sel)

A filter looks at every record and keeps or drops it for a reason; it has no budget. It
is a step of the same protocol and registry as the selectors (`thresher.steps`, kind
"filter"), with the same parameter system (`thresher.params.Param`), so `thresher
methods --all`, the CLI and pipelines list both. Its result is a `Selection` like every
selector's: the kept ids in pool order, then the dropped ids, each with a reason code and
detail (`exact-duplicate` / `of id 17`, `word_count` / `12 < min 50`) and, where the
filter measures one, a score. So filters chain with selectors: `selection & dedup`, or
`pool.restrict(dedup)` to select within the survivors.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher._version import __version__
from thresher.data.pool import Pool
from thresher.data.scan import string_buffers
from thresher.errors import UsageError
from thresher.params import Configured, Param
from thresher.selection import Selection, check_reason_code, reason_arrays
from thresher.steps import StepContext

Reason = "tuple[str, str | None] | None"  # (code, detail) or no reason


class Filter(Configured):
    """Base class of the filters. Subclasses set `name`, `summary`, `paper`, `params`
    and implement `_run(pool, engine, workers) -> (keep, reasons, scores, extra_meta)`:
    keep (n,) bool, reasons (n,) of (code, detail) or None, or a `Reasons` of some
    records, scores (n,) float64 or None."""

    kind: ClassVar[str] = "filter"
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    params: ClassVar[dict[str, Param]] = {}
    needs: ClassVar[tuple[str, ...]] = ("text",)

    def apply(self, pool: Pool, *, engine=None, workers: int | None = None) -> Selection:
        """Keep or drop every record of `pool`; the same inputs give the same Selection
        for any number of workers."""
        if not pool.fields.has_text:
            raise UsageError(f"{self.name} reads text; this pool has none (give --text-field or --template).")
        started = datetime.datetime.now(datetime.timezone.utc)
        clock = time.perf_counter()
        keep, reasons, scores, extra = self._run(pool, engine, workers)
        decided = time.perf_counter()
        index = pool.index()
        meta = {
            "method": self.name,
            "shape": "filter",
            "params": self.get_params(),
            "pool_size": index.n,
            "pool_fingerprint": pool.fingerprint,
            "root_fingerprint": pool.root_fingerprint,
            "pool_files": pool.paths,
            "bad_records": len(index.bad),
            "thresher_version": __version__,
            "started_at": started.isoformat(timespec="seconds"),
            **extra,
        }
        selection = build_selection(pool, keep, reasons, scores, meta)
        selection.meta["n_selected"] = len(selection)
        done = time.perf_counter()
        selection.meta["timings_s"] = {"decide": round(decided - clock, 4), "build": round(done - decided, 4)}
        selection.meta["duration_s"] = round(done - clock, 4)
        return selection

    def run(self, pool: Pool, ctx: StepContext) -> Selection:
        """The step protocol: `apply` on the context's engine (a filter has no budget)."""
        return self.apply(pool, engine=ctx.engine, workers=ctx.workers)

    def _run(self, pool: Pool, engine, workers) -> tuple[np.ndarray, Sequence, np.ndarray | None, dict]:
        raise NotImplementedError


@dataclass
class Reasons:
    """The reasons of some records only, as Arrow columns: `positions: (m,) int64` pool
    positions in increasing order, `codes` and `details`: (m,) strings. The records not
    listed have none.

    A filter on millions of records that gives a reason to few of them returns this
    instead of an (n,) sequence of (code, detail) pairs: a Python pair, or even a None
    slot, per record costs 8 to 100 bytes each, which on a pool of short records is more
    than the filter's own state."""

    positions: np.ndarray
    codes: pa.Array
    details: pa.Array

    def __post_init__(self) -> None:
        for code in pc.unique(self.codes).drop_null().to_pylist():
            check_reason_code(code)

    def at(self, positions: np.ndarray, wanted: np.ndarray) -> tuple[pa.Array | None, pa.Array | None]:
        """(codes, details) of the records at `positions` (increasing), or (None, None)
        when none of them has a reason. wanted: (n,) bool, true at those positions."""
        if len(positions) == len(self.positions) and np.array_equal(positions, self.positions):
            return self.codes, self.details  # the usual case: reasons for exactly the dropped records
        if not wanted[self.positions].any():
            return None, None
        slot = np.minimum(np.searchsorted(self.positions, positions), len(self.positions) - 1)
        rows = pa.array(slot, mask=self.positions[slot] != positions)
        return self.codes.take(rows), self.details.take(rows)


def prefixed(prefix: str, values: pa.Array) -> pa.Array:
    """Strings `prefix + str(value)`, as Arrow strings: "of id 17". Integer and string
    values are joined by Arrow, without a Python string per value."""
    if pa.types.is_integer(values.type) or pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return pc.binary_join_element_wise(pa.scalar(prefix), values.cast(pa.string()), "")
    return pa.array([f"{prefix}{value}" for value in values.to_pylist()], pa.string())


def build_selection(pool: Pool, keep: np.ndarray, reasons: "Sequence | Reasons | None", scores: np.ndarray | None,
                    meta: dict) -> Selection:
    """A Selection from per-position decisions: `keep: (n,) bool`, `reasons: (n,)` of
    (code, detail) or None (a kept record may carry one, e.g. a flag), or a `Reasons` of
    some records; `scores: (n,) float64` or None (NaN: no score)."""
    keep = np.asarray(keep, dtype=bool)
    kept, dropped = np.flatnonzero(keep), np.flatnonzero(~keep)
    if isinstance(reasons, Reasons):
        kept_codes, kept_details = reasons.at(kept, keep)
        dropped_codes, dropped_details = reasons.at(dropped, ~keep)
    elif reasons is None:
        # No reason at all: Selection makes the null columns, with no Python object per record.
        kept_codes = kept_details = dropped_codes = dropped_details = None
    else:
        reasons = list(reasons)
        kept_codes, kept_details = reason_arrays([reasons[i] for i in kept])
        dropped_codes, dropped_details = reason_arrays([reasons[i] for i in dropped])

    def column(part):
        return None if scores is None else np.asarray(scores[part], dtype=np.float64)

    return Selection.create(pool.ids_at(kept), positions=pool.root_positions(kept), scores=column(kept),
                            reasons=kept_codes, details=kept_details, dropped_ids=pool.ids_at(dropped),
                            dropped_positions=pool.root_positions(dropped),
                            dropped_scores=column(dropped), dropped_reasons=dropped_codes,
                            dropped_details=dropped_details, meta=meta)


def text_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and offsets of an Arrow string array: `data: (bytes,) uint8`,
    `offsets: (n + 1,) int64`, with no copy of the text (other types are cast to strings)."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.string())
    data, offsets = string_buffers(text)
    return (data if len(data) else np.zeros(1, np.uint8)), offsets
