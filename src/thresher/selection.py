"""Selection: the one result type of every selector and filter.

A selection is a table with one row per record the method chose (in the method's order)
followed by rows for records it looked at and did not choose, where it has something to
say about them (a score, a reason). Columns: `id`, `selected` (bool), `weight`, `score`,
`reason` (the last three nullable). Scores are kept, so a selection can be re-cut by
score without recomputing ("score once, threshold later"). Metadata records the method,
its parameters, the seed, pool and target fingerprints, thresher's version and timings.

Saved as a Parquet manifest (metadata in the schema under b"thresher") with a JSON
sidecar (`<manifest>.json`) that people can read.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.budget import Budget, BudgetLike
from thresher.errors import ThresherError, UsageError
from thresher.io import atomic_path

_META_KEY = b"thresher"


def _column(values, kind: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, kind)
    array = pa.array(values, type=kind) if not isinstance(values, pa.Array) else values.cast(kind)
    if len(array) != n:
        raise ValueError(f"expected {n} values, got {len(array)}")
    return array


class Selection:
    """Chosen ids (in order), optional weights and scores, reasons for drops, metadata."""

    def __init__(self, table: pa.Table, meta: dict[str, Any] | None = None):
        for name in ("id", "selected", "weight", "score", "reason"):
            if name not in table.column_names:
                raise ValueError(f"a selection table needs a {name!r} column")
        self.table = table
        self.meta = dict(meta or {})
        self._kept: pa.Table | None = None

    @classmethod
    def create(cls, ids, *, weights=None, scores=None, reasons=None, dropped_ids=None, dropped_scores=None,
               dropped_reasons=None, meta: dict | None = None) -> "Selection":
        """A selection of `ids` (in order) plus, optionally, records looked at and not chosen."""
        ids = ids if isinstance(ids, pa.Array) else pa.array(np.asarray(ids) if not isinstance(ids, list) else ids)
        if ids.type == pa.null():
            ids = ids.cast(pa.int64())
        k = len(ids)
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
                raise ValueError("selection weights must be positive and finite")
        kept = pa.table({
            "id": ids,
            "selected": pa.array(np.ones(k, dtype=bool)),
            "weight": _column(weights, pa.float64(), k),
            "score": _column(scores, pa.float64(), k),
            "reason": _column(reasons, pa.string(), k),
        })
        if dropped_ids is None:
            return cls(kept, meta)
        dropped_ids = dropped_ids if isinstance(dropped_ids, pa.Array) else pa.array(np.asarray(dropped_ids))
        m = len(dropped_ids)
        dropped = pa.table({
            "id": dropped_ids.cast(ids.type) if m else pa.array([], ids.type),
            "selected": pa.array(np.zeros(m, dtype=bool)),
            "weight": pa.nulls(m, pa.float64()),
            "score": _column(dropped_scores, pa.float64(), m),
            "reason": _column(dropped_reasons, pa.string(), m),
        })
        return cls(pa.concat_tables([kept, dropped]), meta)

    # ---- what was chosen -------------------------------------------------------
    @property
    def kept(self) -> pa.Table:
        if self._kept is None:
            self._kept = self.table.filter(self.table.column("selected"))
        return self._kept

    @property
    def ids(self) -> pa.Array:
        """Chosen ids, in selection order."""
        return self.kept.column("id").combine_chunks()

    @property
    def weights(self) -> np.ndarray | None:
        """(k,) float64 weights of the chosen records, or None when the method gives none."""
        column = self.kept.column("weight")
        return None if column.null_count == len(column) else column.to_numpy(zero_copy_only=False).astype(np.float64)

    @property
    def scores(self) -> np.ndarray | None:
        """(k,) float64 scores of the chosen records (NaN where none), or None."""
        column = self.kept.column("score")
        return None if column.null_count == len(column) else column.to_numpy(zero_copy_only=False).astype(np.float64)

    @property
    def dropped(self) -> pa.Table:
        """Records looked at and not chosen: id, score, reason."""
        return self.table.filter(pc.invert(self.table.column("selected"))).select(["id", "score", "reason"])

    @property
    def method(self) -> str:
        return self.meta.get("method", "?")

    def __len__(self) -> int:
        return self.kept.num_rows

    def reason_counts(self) -> dict[str, int]:
        """How many dropped records per reason code (the reason up to its first ':' or '(')."""
        reasons = self.dropped.column("reason").drop_null().to_pylist()
        return dict(Counter(reason.split(":")[0].split(" (")[0].strip() for reason in reasons))

    # ---- composing -------------------------------------------------------------
    def _compose(self, other: "Selection", keep: np.ndarray, symbol: str) -> "Selection":
        kept = self.kept.filter(pa.array(keep))
        meta = {"method": f"({self.method}) {symbol} ({other.method})", "parents": [self.meta, other.meta]}
        for key in ("pool_fingerprint", "pool_size"):
            if key in self.meta:
                meta[key] = self.meta[key]
        return Selection(kept, meta)

    def _check_same_pool(self, other: "Selection") -> None:
        mine, theirs = self.meta.get("pool_fingerprint"), other.meta.get("pool_fingerprint")
        if mine and theirs and mine != theirs:
            raise UsageError("these selections come from different pools (their pool fingerprints differ).")

    def __and__(self, other: "Selection") -> "Selection":
        """Records chosen by both, in this selection's order, with this one's weights and scores."""
        self._check_same_pool(other)
        return self._compose(other, pc.is_in(self.ids, value_set=other.ids).to_numpy(zero_copy_only=False), "&")

    def __sub__(self, other: "Selection") -> "Selection":
        """Records chosen by this selection and not by `other`."""
        self._check_same_pool(other)
        return self._compose(other, ~pc.is_in(self.ids, value_set=other.ids).to_numpy(zero_copy_only=False), "-")

    def __or__(self, other: "Selection") -> "Selection":
        """Records chosen by either: this selection's, then the other's new ones."""
        self._check_same_pool(other)
        extra = other.kept.filter(pc.invert(pc.is_in(other.ids, value_set=self.ids)))
        both = Selection(pa.concat_tables([self.kept, extra.cast(self.kept.schema)]), self.meta)
        return both._compose(other, np.ones(len(both), dtype=bool), "|")

    def recut(self, budget: BudgetLike | None = None, *, threshold: float | None = None) -> "Selection":
        """A new cut of the stored scores: the best `budget` records, or those scoring >= threshold.

        Uses every scored record, chosen or not; needs no pool and recomputes nothing.
        A fractional budget is a fraction of the pool the selection was made from.
        """
        if (budget is None) == (threshold is None):
            raise UsageError("recut needs exactly one of budget or threshold.")
        scored = self.table.filter(pc.is_valid(self.table.column("score")))
        if scored.num_rows == 0:
            raise UsageError(f"this selection ({self.method}) kept no scores, so it cannot be re-cut by score.")
        scores = scored.column("score").to_numpy()
        order = np.lexsort((np.arange(len(scores)), -scores))
        if threshold is not None:
            order = order[scores[order] >= threshold]
        else:
            parsed = Budget.parse(budget)
            if parsed.kind == "tokens":
                raise UsageError("recut takes a count or a fraction; token budgets need the pool (use select).")
            limit = parsed.resolve(int(self.meta.get("pool_size", scored.num_rows)))
            if limit.count > scored.num_rows:
                raise UsageError(f"budget {budget} is more than the {scored.num_rows} scored records.")
            order = order[: limit.count]
        chosen = np.zeros(scored.num_rows, dtype=bool)
        chosen[order] = True
        kept = scored.take(pa.array(order)).set_column(1, "selected", pa.array(np.ones(len(order), dtype=bool)))
        rest = scored.filter(pa.array(~chosen))
        rest = rest.set_column(1, "selected", pa.array(np.zeros(rest.num_rows, dtype=bool)))
        rest = rest.set_column(2, "weight", pa.nulls(rest.num_rows, pa.float64()))
        meta = dict(self.meta)
        meta["recut"] = {"budget": None if budget is None else str(budget), "threshold": threshold}
        meta["n_selected"] = len(order)
        return Selection(pa.concat_tables([kept, rest]), meta)

    # ---- saving ----------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False, inputs=()) -> None:
        """Write the Parquet manifest and its JSON sidecar (`<path>.json`)."""
        meta = json.dumps(self.meta, default=str, sort_keys=True)
        table = self.table.replace_schema_metadata({_META_KEY: meta.encode()})
        sidecar = f"{path}.json"
        with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
            pq.write_table(table, str(tmp))
        summary = {**self.meta, "n_selected": len(self), "dropped_reasons": self.reason_counts()}
        with atomic_path(sidecar, overwrite=True, inputs=inputs) as tmp:
            tmp.write_text(json.dumps(summary, default=str, indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Selection":
        try:
            table = pq.read_table(str(path))
        except (OSError, pa.ArrowInvalid) as err:
            raise ThresherError(f"cannot read selection manifest {path}: {err}") from None
        raw = (table.schema.metadata or {}).get(_META_KEY)
        meta = json.loads(raw) if raw else {}
        if not raw and os.path.exists(f"{path}.json"):
            meta = json.loads(open(f"{path}.json").read())
        return cls(table.replace_schema_metadata(None), meta)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selection) and self.table.equals(other.table)

    def __repr__(self) -> str:
        return f"Selection(method={self.method!r}, selected={len(self)}, seed={self.meta.get('seed')})"
