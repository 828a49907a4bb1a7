"""The filter contract: parameters in the constructor, work in `apply`.

    sel = NearDedup(threshold=0.8).apply(pool, workers=2)
    clean = pool.take(sel)

A filter looks at every record and keeps or drops it for a reason; it has no budget, so
it is not a selector and not in the selector registry. Its result is a `Selection` like
every selector's: the kept ids in pool order, then the dropped ids, each with a reason
("duplicate of id 17 (jaccard~0.91)", "word_count: 12 < 50") and, where the filter
measures one, a score. So filters chain with selectors: `selection & dedup`.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from thresher._version import __version__
from thresher.data.pool import Pool
from thresher.data.scan import string_buffers
from thresher.errors import UsageError
from thresher.selection import Selection


class Filter:
    """Base class of the filters. Subclasses set `name`, `paper`, `defaults` and
    implement `_run(pool, engine, workers) -> (keep, reasons, scores, extra_meta)`."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise UsageError(f"{self.name} has no parameter {sorted(unknown)[0]!r}; "
                             f"its parameters: {', '.join(self.defaults)}.")
        self.config = {**self.defaults, **params}
        self.validate()

    def validate(self) -> None:
        """Raise UsageError naming a bad parameter value."""

    def get_params(self) -> dict[str, Any]:
        return dict(self.config)

    def apply(self, pool: Pool, *, engine=None, workers: int | None = None) -> Selection:
        """Keep or drop every record of `pool`; the same inputs give the same Selection
        for any number of workers."""
        if not pool.fields.has_text:
            raise UsageError(f"{self.name} reads text; this pool has none (give --text-field or --template).")
        started = datetime.datetime.now(datetime.timezone.utc)
        clock = time.perf_counter()
        keep, reasons, scores, extra = self._run(pool, engine, workers)
        index = pool.index()
        meta = {
            "method": self.name,
            "params": self.get_params(),
            "pool_size": index.n,
            "pool_fingerprint": pool.fingerprint,
            "pool_files": pool.paths,
            "bad_records": len(index.bad),
            "thresher_version": __version__,
            "started_at": started.isoformat(timespec="seconds"),
            **extra,
        }
        selection = build_selection(pool, keep, reasons, scores, meta)
        selection.meta["n_selected"] = len(selection)
        selection.meta["duration_s"] = round(time.perf_counter() - clock, 4)
        return selection

    def _run(self, pool: Pool, engine, workers) -> tuple[np.ndarray, list | np.ndarray, np.ndarray | None, dict]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


def build_selection(pool: Pool, keep: np.ndarray, reasons, scores: np.ndarray | None, meta: dict) -> Selection:
    """A Selection from per-position decisions: `keep: (n,) bool`, `reasons: (n,)` str or
    None (a kept record may carry one, e.g. a flag), `scores: (n,) float64` or None."""
    keep = np.asarray(keep, dtype=bool)
    kept, dropped = np.flatnonzero(keep), np.flatnonzero(~keep)
    reasons = np.asarray(reasons, dtype=object) if reasons is not None else np.full(len(keep), None, dtype=object)
    kept_reasons = reasons[kept]

    def column(part):  # NaN means "no score": stored as null
        return None if scores is None else pa.array(np.asarray(scores[part], dtype=np.float64), pa.float64(),
                                                    from_pandas=True)

    return Selection.create(
        pool.ids_at(kept),
        scores=column(kept),
        reasons=pa.array(kept_reasons.tolist(), pa.string()) if np.any(kept_reasons != None) else None,  # noqa: E711
        dropped_ids=pool.ids_at(dropped),
        dropped_scores=column(dropped),
        dropped_reasons=pa.array(reasons[dropped].tolist(), pa.string()),
        meta=meta,
    )


def text_buffers(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and offsets of an Arrow string array: `data: (bytes,) uint8`,
    `offsets: (n + 1,) int64`, with no copy of the text (other types are cast to strings)."""
    if not (pa.types.is_string(text.type) or pa.types.is_large_string(text.type)):
        text = text.cast(pa.string())
    data, offsets = string_buffers(text)
    return (data if len(data) else np.zeros(1, np.uint8)), offsets
