"""Selection: the one result type of every selector and filter.

A selection is a table with one row per record the step chose (in the step's order)
followed by rows for records it looked at and did not choose, where it has something to
say about them (a score, a reason). Columns:

    id        the record's id (its 0-based pool position when the pool has no id field)
    position  its 0-based position in the pool (for a view, `Pool.restrict`, in the pool it restricts)
    selected  chosen or not
    weight    sampling weight of a chosen record (null: 1)
    score     the step's score (higher = keep first), or the gain a set selector got
    reason    why a record was dropped (or flagged): a short code such as "near-duplicate"
    detail    the particulars of that reason: "of id 17, jaccard 0.93"
    group     the group a quota chooser split by (label, domain or cluster code), or null

Reason codes are lower-case words joined by "-" or "_"; `reason_counts` counts them,
the detail is for people. Scores are kept, so a score selection can be re-cut without
recomputing ("score once, threshold later"); composing selections (`&`, `-`, `|`) keeps
every drop row with its first reason and score. Metadata records the step, its
parameters and chooser, the seed, pool and target fingerprints, thresher's version and
timings.

Iterating a selection, `np.asarray(selection)` and `selection[i]` give the chosen
records' pool positions in selection order, so it indexes the data it was made from:
`torch.utils.data.Subset(dataset, selection)`, `hf_dataset.select(selection)`.

Saved as a Parquet manifest (metadata in the schema under b"thresher") with a JSON
sidecar (`<manifest>.json`) that people can read.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from thresher.budget import Budget, BudgetLike
from thresher.errors import ThresherError, UsageError
from thresher.io import atomic_path, check_output_path

_META_KEY = b"thresher"
COLUMNS = ("id", "position", "selected", "weight", "score", "reason", "detail", "group")
_TYPES = {"position": pa.int64(), "selected": pa.bool_(), "weight": pa.float64(), "score": pa.float64(),
          "reason": pa.string(), "detail": pa.string(), "group": pa.int64()}
_CODE = re.compile(r"^[a-z0-9]+([_-][a-z0-9]+)*$")
NOT_CHOSEN = "not-chosen"  # composed: a record one side chose and the other did not


# ---- reasons: one place builds and reads them ------------------------------------------
def check_reason_code(code: str) -> None:
    """ValueError unless `code` is lower-case words joined by - or _ ("near-duplicate")."""
    if not _CODE.match(code):
        raise ValueError(f"reason code {code!r} must be lower-case words joined by - or _ (put the rest in the detail)")


def reason_arrays(pairs: Sequence[tuple[str, str | None] | None]) -> tuple[pa.Array, pa.Array]:
    """(codes, details) string arrays from (code, detail) pairs or None (no reason)."""
    codes, details = [], []
    for pair in pairs:
        code, detail = (None, None) if pair is None else pair
        if code is not None:
            check_reason_code(code)
        codes.append(code)
        details.append(detail)
    return pa.array(codes, pa.string()), pa.array(details, pa.string())


def describe_reason(code: str | None, detail: str | None) -> str:
    """A reason for people: "near-duplicate: of id 17, jaccard 0.93"."""
    if code is None:
        return ""
    return f"{code}: {detail}" if detail else code


def _legacy_reason(text: str | None) -> tuple[str | None, str | None]:
    """(code, detail) from a reason string of a manifest written before reasons had codes."""
    if text is None:
        return None, None
    code, _, rest = text.partition(":")
    code, _, more = code.partition(" (")
    code = code.strip()
    slug = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-") or "dropped"
    detail = " ".join(part for part in (more.rstrip(")") if more else "", rest.strip()) if part) or None
    if slug != code:
        detail = " ".join(part for part in (code, detail) if part)
        slug = slug.split("-of-")[0]
    return slug, detail


def _nulls(kind: pa.DataType, n: int) -> pa.Array:
    """An all-null column of n rows. A selection over millions of records has mostly null
    columns (weight, score, reason, detail, group), and `pa.nulls` writes 4 to 8 bytes a
    row for each; here every buffer is one block from `np.zeros`, which for a large block
    takes fresh pages from the system that are never written, so they cost no memory
    (validity all 0: null; string offsets all 0: no bytes)."""
    if kind not in (pa.int64(), pa.float64(), pa.string(), pa.bool_()):
        return pa.nulls(n, kind)
    zeros = pa.py_buffer(np.zeros(8 * n + 8, dtype=np.uint8))  # enough for any of these buffers
    buffers = [zeros, zeros, pa.py_buffer(b"")] if kind == pa.string() else [zeros, zeros]
    return pa.Array.from_buffers(kind, n, buffers, null_count=n)


def _column(values, kind: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return _nulls(kind, n)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        array = values.cast(kind)
    else:
        array = pa.array(np.asarray(values) if not isinstance(values, list) else values, type=kind,
                         from_pandas=kind == pa.float64())  # NaN scores are stored as null: "no score"
    if len(array) != n:
        raise ValueError(f"expected {n} values, got {len(array)}")
    return array


def _ids(values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    ids = values if isinstance(values, pa.Array) else pa.array(np.asarray(values) if not isinstance(values, list) else values)
    return ids.cast(pa.int64()) if ids.type == pa.null() else ids


def _rows(ids, *, selected: bool, positions=None, weights=None, scores=None, reasons=None, details=None,
          groups=None) -> pa.Table:
    ids = _ids(ids)
    n = len(ids)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError("selection weights must be positive and finite")
    return pa.table({
        "id": ids,
        "position": _column(positions, pa.int64(), n),
        "selected": pa.array(np.full(n, selected, dtype=bool)),
        "weight": _column(weights if selected else None, pa.float64(), n),
        "score": _column(scores, pa.float64(), n),
        "reason": _column(reasons, pa.string(), n),
        "detail": _column(details, pa.string(), n),
        "group": _column(groups, pa.int64(), n),
    })


def _member(positions, of) -> pa.Array:
    """(len(positions),) bool: whether each position is among `of` (both non-negative
    int64 Arrow columns), through an (N,) bool mask instead of a hash table."""
    values, marked = np.asarray(positions.to_numpy()), np.asarray(of.to_numpy())
    mask = np.zeros(int(max(values.max(initial=-1), marked.max(initial=-1))) + 1, dtype=bool)
    mask[marked] = True
    return pa.array(mask[values])


def _first_row_of(positions, rows_of) -> pa.Array:
    """(len(positions),) int64: the first row of `rows_of` holding each position, null
    where none does (what `pc.index_in` gives for ids), by a stable sort, not a hash table."""
    values, table = np.asarray(positions.to_numpy()), np.asarray(rows_of.to_numpy())
    order = np.argsort(table, kind="stable")
    slot = np.minimum(np.searchsorted(table[order], values), max(len(table) - 1, 0))
    found = table[order[slot]] == values if len(table) else np.zeros(len(values), bool)
    return pa.array(order[slot] if len(table) else np.zeros(len(values), np.int64), mask=~found)


def _concat(tables: list[pa.Table]) -> pa.Table:
    """Row tables joined, with the first non-empty id type for all."""
    kinds = [t.schema.field("id").type for t in tables if t.num_rows]
    kind = kinds[0] if kinds else tables[0].schema.field("id").type
    conformed = []
    for table in tables:
        if table.schema.field("id").type != kind:
            table = table.set_column(0, "id", table.column("id").cast(kind))
        conformed.append(table)
    return pa.concat_tables(conformed)


class Selection:
    """Chosen ids (in order), optional weights and scores, reasons for drops, metadata."""

    def __init__(self, table: pa.Table, meta: dict[str, Any] | None = None):
        table = _upgrade(table)
        self.table = table.select(list(COLUMNS))
        self.meta = dict(meta or {})
        self._kept: pa.Table | None = None

    @classmethod
    def create(cls, ids, *, weights=None, scores=None, reasons=None, details=None, positions=None, groups=None,
               dropped_ids=None, dropped_scores=None, dropped_reasons=None, dropped_details=None,
               dropped_positions=None, dropped_groups=None, meta: dict | None = None) -> "Selection":
        """A selection of `ids` (in order) plus, optionally, records looked at and not chosen."""
        kept = _rows(ids, selected=True, positions=positions, weights=weights, scores=scores, reasons=reasons,
                     details=details, groups=groups)
        if dropped_ids is None:
            return cls(kept, meta)
        dropped = _rows(dropped_ids, selected=False, positions=dropped_positions, scores=dropped_scores,
                        reasons=dropped_reasons, details=dropped_details, groups=dropped_groups)
        return cls(_concat([kept, dropped]), meta)

    @classmethod
    def from_positions(cls, ids_at: Callable[[np.ndarray], pa.Array], n: int, chosen: np.ndarray, *,
                       root: Callable[[np.ndarray], np.ndarray] | None = None, weights: np.ndarray | None = None, chosen_scores: np.ndarray | None = None,
                       scores: np.ndarray | None = None, groups: np.ndarray | None = None,
                       reasons_for: Callable | None = None, rows: str = "scored",
                       meta: dict | None = None) -> "Selection":
        """A selection over a pool of `n` records from positions `chosen` (k,) in choice order.

        scores: (n,) float64 per pool position (NaN: not scored); chosen rows get
            `chosen_scores` (k,) when given (a set selector's gains), else scores[chosen].
        rows: which unchosen records get a row: "scored" (a score or a reason), "all", "none".
        root(positions): the whole pool's positions of these (for a view: `Pool.root_positions`).
        reasons_for(positions) -> [(code, detail) or None]: why those unchosen records
            were dropped (asked only for the rows kept).
        """
        chosen = np.asarray(chosen, dtype=np.int64)
        root = root or (lambda positions: positions)
        mine = chosen_scores if chosen_scores is not None else (scores[chosen] if scores is not None else None)
        kept = _rows(ids_at(chosen), selected=True, positions=root(chosen), weights=weights, scores=mine,
                     groups=None if groups is None else groups[chosen])
        if rows == "none":
            return cls(kept, meta)
        taken = np.zeros(n, dtype=bool)
        taken[chosen] = True
        rest = np.flatnonzero(~taken)
        reasons = reasons_for(rest) if reasons_for is not None else None
        if rows == "scored":
            keep = np.zeros(len(rest), dtype=bool)
            if scores is not None:
                keep |= ~np.isnan(np.asarray(scores, dtype=np.float64)[rest])
            if reasons is not None:
                keep |= np.array([r is not None for r in reasons], dtype=bool)
            rest = rest[keep]
            reasons = [r for r, k in zip(reasons, keep) if k] if reasons is not None else None
        codes, details = reason_arrays(reasons) if reasons is not None else (None, None)
        dropped = _rows(ids_at(rest), selected=False, positions=root(rest),
                        scores=None if scores is None else scores[rest], reasons=codes, details=details,
                        groups=None if groups is None else groups[rest])
        return cls(_concat([kept, dropped]), meta)

    # ---- what was chosen -------------------------------------------------------
    @property
    def kept(self) -> pa.Table:
        if self._kept is None:
            selected = self.table.column("selected")
            k = pc.sum(selected).as_py() or 0
            # Steps put the chosen rows first: then they are a slice of the table, not a copy.
            if pc.all(selected.slice(0, k), skip_nulls=False).as_py() is True:
                self._kept = self.table.slice(0, k)
            else:
                self._kept = self.table.filter(selected)
        return self._kept

    @property
    def ids(self) -> pa.Array:
        """Chosen ids, in selection order."""
        chunks = [chunk for chunk in self.kept.column("id").chunks if len(chunk)]
        return chunks[0] if len(chunks) == 1 else self.kept.column("id").combine_chunks()  # one chunk: no copy

    @property
    def positions(self) -> np.ndarray:
        """(k,) int64 pool positions of the chosen records, in selection order."""
        column = self.kept.column("position")
        if column.null_count:
            ids = self.ids
            if pa.types.is_integer(ids.type):
                return ids.to_numpy(zero_copy_only=False).astype(np.int64)
            raise UsageError("this selection does not know its records' pool positions (an old manifest with ids "
                             "that are not positions); use pool.positions_of(selection.ids).")
        return column.to_numpy(zero_copy_only=False).astype(np.int64)

    @property
    def weights(self) -> np.ndarray | None:
        """(k,) float64 weights of the chosen records, or None when the step gives none."""
        column = self.kept.column("weight")
        return None if column.null_count == len(column) else column.to_numpy(zero_copy_only=False).astype(np.float64)

    @property
    def scores(self) -> np.ndarray | None:
        """(k,) float64 scores of the chosen records (NaN where none), or None."""
        column = self.kept.column("score")
        return None if column.null_count == len(column) else column.to_numpy(zero_copy_only=False).astype(np.float64)

    @property
    def dropped(self) -> pa.Table:
        """Records looked at and not chosen: id, score, reason, detail."""
        return self.table.filter(pc.invert(self.table.column("selected"))).select(["id", "score", "reason", "detail"])

    @property
    def method(self) -> str:
        return self.meta.get("method", "?")

    def __len__(self) -> int:
        return self.kept.num_rows

    def __iter__(self) -> Iterator[int]:
        return iter(self.positions.tolist())

    def __getitem__(self, item):
        return self.positions[item]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        positions = self.positions
        return positions if dtype is None else positions.astype(dtype)

    def reason_counts(self) -> dict[str, int]:
        """How many dropped records per reason code."""
        return dict(Counter(self.dropped.column("reason").drop_null().to_pylist()))

    # ---- composing -------------------------------------------------------------
    def _check_same_pool(self, other: "Selection") -> None:
        key = "root_fingerprint" if "root_fingerprint" in self.meta and "root_fingerprint" in other.meta \
            else "pool_fingerprint"  # a pool and its views (`Pool.restrict`) share the root
        mine, theirs = self.meta.get(key), other.meta.get(key)
        if mine and theirs and mine != theirs:
            raise UsageError("these selections come from different pools (their pool fingerprints differ).")

    def _composed(self, other: "Selection", table: pa.Table, symbol: str) -> "Selection":
        meta = {"method": f"({self.method}) {symbol} ({other.method})", "shape": "composed",
                "parents": [self.meta, other.meta]}
        for key in ("pool_fingerprint", "root_fingerprint", "pool_size", "pool_files"):
            if key in self.meta:
                meta[key] = self.meta[key]
        selection = Selection(table, meta)
        selection.meta["n_selected"] = len(selection)
        selection.meta["duration_s"] = round(self.meta.get("duration_s", 0.0) + other.meta.get("duration_s", 0.0), 4)
        return selection

    def _by_position(self, other: "Selection") -> bool:
        """Whether records may be matched by position rather than by id: both selections
        are of one pool (equal fingerprints, so a position is one record and one id) and
        every row has a position. An (N,) bool mask of positions costs 1 byte a record;
        Arrow's hash table of ids for `is_in` costs about 60, which on a pool of millions
        of records was most of a composed filter's memory."""
        key = "root_fingerprint" if "root_fingerprint" in self.meta and "root_fingerprint" in other.meta \
            else "pool_fingerprint"
        return (bool(self.meta.get(key)) and self.meta.get(key) == other.meta.get(key)
                and self.table.column("position").null_count == 0 and other.table.column("position").null_count == 0)

    def _their_rows(self, other: "Selection", rows: pa.Table, code: str, by_position: bool = False) -> pa.Table:
        """`rows` (chosen here) as dropped rows: the other's score where it has a row for
        the record, and its reason where it gave one, else `code` "by <other method>"."""
        n = rows.num_rows
        if by_position:
            at = _first_row_of(rows.column("position"), other.table.column("position"))
        else:
            at = pc.index_in(rows.column("id"), value_set=other.table.column("id").cast(rows.schema.field("id").type))
        has_row = at.is_valid()
        theirs = other.table.take(pc.fill_null(at, 0)) if other.table.num_rows else None
        score, reason, detail = (rows.column("score").combine_chunks(), pa.array([code] * n, pa.string()),
                                 pa.array([f"by {other.method}"] * n, pa.string()))
        if theirs is not None:
            score = pc.if_else(has_row, theirs.column("score"), score)
            gave = pc.and_(has_row, theirs.column("reason").is_valid())
            reason = pc.if_else(gave, theirs.column("reason"), reason)
            detail = pc.if_else(gave, theirs.column("detail"), detail)
        return (rows.set_column(2, "selected", pa.array(np.zeros(n, bool)))
                .set_column(3, "weight", pa.nulls(n, pa.float64()))
                .set_column(4, "score", score).set_column(5, "reason", reason).set_column(6, "detail", detail))

    def _only_theirs(self, other: "Selection", exclude: pa.Array, by_position: bool = False) -> pa.Table:
        """The other's dropped rows for records this selection has no row for (`exclude`:
        the ids, or with by_position the positions, this selection has rows for)."""
        dropped = other.table.filter(pc.invert(other.table.column("selected")))
        if not dropped.num_rows:
            return dropped
        if by_position:
            return dropped.filter(pc.invert(_member(dropped.column("position"), exclude)))
        return dropped.filter(pc.invert(pc.is_in(dropped.column("id"), value_set=exclude.cast(dropped.schema.field("id").type))))

    def __and__(self, other: "Selection") -> "Selection":
        """Records chosen by both, in this selection's order, with this one's weights and
        scores; every record either dropped keeps its first reason (this one's first)."""
        self._check_same_pool(other)
        by_position = self._by_position(other)
        if by_position:
            both = _member(self.kept.column("position"), other.kept.column("position"))
        else:
            both = pc.is_in(self.kept.column("id"), value_set=other.ids.cast(self.ids.type))
        lost = self._their_rows(other, self.kept.filter(pc.invert(both)), NOT_CHOSEN, by_position)
        mine_dropped = self.table.filter(pc.invert(self.table.column("selected")))
        rest = self._only_theirs(other, self.table.column("position" if by_position else "id").combine_chunks(),
                                 by_position)
        return self._composed(other, _concat([self.kept.filter(both), mine_dropped, lost, rest]), "&")

    def __sub__(self, other: "Selection") -> "Selection":
        """Records chosen by this selection and not by `other`; those `other` chose are
        dropped with the reason "subtracted"."""
        self._check_same_pool(other)
        theirs = pc.is_in(self.kept.column("id"), value_set=other.ids.cast(self.ids.type))
        taken = self.kept.filter(theirs)
        taken = (taken.set_column(2, "selected", pa.array(np.zeros(taken.num_rows, bool)))
                 .set_column(3, "weight", pa.nulls(taken.num_rows, pa.float64()))
                 .set_column(5, "reason", pa.array(["subtracted"] * taken.num_rows, pa.string()))
                 .set_column(6, "detail", pa.array([f"chosen by {other.method}"] * taken.num_rows, pa.string())))
        mine_dropped = self.table.filter(pc.invert(self.table.column("selected")))
        return self._composed(other, _concat([self.kept.filter(pc.invert(theirs)), mine_dropped, taken]), "-")

    def __or__(self, other: "Selection") -> "Selection":
        """Records chosen by either: this selection's, then the other's new ones; records
        both dropped keep this one's reason (or the other's where this one has none)."""
        self._check_same_pool(other)
        extra = other.kept.filter(pc.invert(pc.is_in(other.ids, value_set=self.ids.cast(other.ids.type))))
        chosen = _concat([self.kept, extra])
        chosen_ids = chosen.column("id").combine_chunks()
        mine_dropped = self.table.filter(pc.invert(self.table.column("selected")))
        mine_dropped = mine_dropped.filter(pc.invert(pc.is_in(mine_dropped.column("id"), value_set=chosen_ids)))
        seen = _concat([chosen, mine_dropped]).column("id").combine_chunks()
        return self._composed(other, _concat([chosen, mine_dropped, self._only_theirs(other, seen)]), "|")

    # ---- choosing again --------------------------------------------------------
    def recut(self, budget: BudgetLike | None = None, *, threshold: float | None = None) -> "Selection":
        """A new cut of the stored scores with the selection's own chooser: the best
        `budget` records (or, for a quota or Gumbel chooser, the same quota or the same
        noise at the new budget), or those scoring >= threshold.

        Uses every scored record, chosen or not; needs no pool and recomputes nothing; at
        the original budget it gives the original selection. A fractional budget is a
        fraction of the pool the selection was made from. A set selection (k-center,
        facility location, k-means quotas, ...) cannot be re-cut: its scores are gains
        that depend on the set chosen; run the method again with the new budget.
        """
        from thresher.choosers import Threshold, chooser_rngs, parse_chooser

        if (budget is None) == (threshold is None):
            raise UsageError("recut needs exactly one of budget or threshold.")
        shape = self.meta.get("shape")
        if shape in ("set", "composed", "filter"):
            what = {"set": "is a set selection: its scores are the gains of the set it chose",
                    "composed": "is composed of several selections",
                    "filter": "is a filter's decision"}[shape]
            raise UsageError(f"this selection ({self.method}) {what}, so it cannot be re-cut by score; "
                             "run the method again with the new budget.")
        if self.meta.get("ranking") is False or self.meta.get("targets", 1) > 1:
            raise UsageError(f"this selection ({self.method}) keeps no single ranking to re-cut "
                             "(scores of several targets, or draws with replacement); run select again.")
        scored = self.table.filter(pc.is_valid(self.table.column("score")))
        if scored.num_rows == 0:
            raise UsageError(f"this selection ({self.method}) kept no scores, so it cannot be re-cut by score.")
        positions = scored.column("position")
        order = np.argsort(positions.to_numpy(zero_copy_only=False), kind="stable") if positions.null_count == 0 \
            else np.arange(scored.num_rows)
        scored = scored.take(pa.array(order))
        values = scored.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        chooser = Threshold(threshold) if threshold is not None else parse_chooser(self.meta.get("chooser", "top-k"))
        limit = None
        if budget is not None:
            parsed = Budget.parse(budget)
            if parsed.kind == "tokens":
                raise UsageError("recut takes a count or a fraction; token budgets need the pool (use select).")
            limit = parsed.resolve(int(self.meta.get("pool_size", scored.num_rows)))
            if limit.count > scored.num_rows:
                kept_only = " (it keeps the scores of its chosen records only)" if self.meta.get("kept_only") else ""
                raise UsageError(f"budget {budget} is more than the {scored.num_rows} scored records{kept_only}; "
                                 "run select again for a larger budget.")
        groups = scored.column("group")
        if chooser.groups is not None and groups.null_count:
            raise UsageError(f"this selection does not record the {chooser.groups} of each record; run select again.")
        rng = chooser_rngs(self.meta.get("seed", 0))[0]
        picked = chooser.choose(values, limit, rng, None,
                                groups=groups.to_numpy(zero_copy_only=False) if chooser.groups else None)
        chosen = np.zeros(scored.num_rows, dtype=bool)
        chosen[picked] = True
        kept = scored.take(pa.array(picked, pa.int64())).set_column(2, "selected", pa.array(np.ones(len(picked), bool)))
        rest = scored.filter(pa.array(~chosen))
        rest = (rest.set_column(2, "selected", pa.array(np.zeros(rest.num_rows, bool)))
                .set_column(3, "weight", pa.nulls(rest.num_rows, pa.float64())))
        unscored = self.table.filter(pc.invert(pc.is_valid(self.table.column("score"))))
        unscored = unscored.filter(pc.invert(unscored.column("selected")))
        meta = dict(self.meta)
        meta["recut"] = {"budget": None if budget is None else str(budget), "threshold": threshold}
        meta["n_selected"] = len(picked)
        return Selection(_concat([kept, rest, unscored]), meta)

    # ---- saving ----------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, overwrite: bool = False, inputs=()) -> None:
        """Write the Parquet manifest and its JSON sidecar (`<path>.json`); both are
        checked before either is written, so neither replaces a file without `overwrite`."""
        meta = json.dumps(self.meta, default=str, sort_keys=True)
        table = self.table.replace_schema_metadata({_META_KEY: meta.encode()})
        sidecar = f"{path}.json"
        for each in (path, sidecar):
            check_output_path(each, overwrite, inputs)
        with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
            pq.write_table(table, str(tmp))
        summary = {**self.meta, "n_selected": len(self), "dropped_reasons": self.reason_counts()}
        with atomic_path(sidecar, overwrite=overwrite, inputs=inputs) as tmp:
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
        for name in ("id", "selected"):
            if name not in table.column_names:
                raise ThresherError(f"{path} is not a thresher selection manifest (it has no {name!r} column).")
        return cls(table.replace_schema_metadata(None), meta)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Selection) and self.table.equals(other.table)

    def __repr__(self) -> str:
        return f"Selection(method={self.method!r}, selected={len(self)}, seed={self.meta.get('seed')})"


def _upgrade(table: pa.Table) -> pa.Table:
    """A table with every column of COLUMNS: missing ones added as nulls; a manifest
    written before reasons had codes has its reason strings split into code and detail."""
    for name in ("id", "selected"):
        if name not in table.column_names:
            raise ValueError(f"a selection table needs a {name!r} column")
    if "reason" in table.column_names and "detail" not in table.column_names:
        pairs = [_legacy_reason(text) for text in table.column("reason").to_pylist()]
        table = table.set_column(table.schema.get_field_index("reason"), "reason",
                                 pa.array([p[0] for p in pairs], pa.string()))
        table = table.append_column("detail", pa.array([p[1] for p in pairs], pa.string()))
    for name, kind in _TYPES.items():
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, kind))
    return table


__all__ = ["COLUMNS", "NOT_CHOSEN", "Selection", "check_reason_code", "describe_reason", "reason_arrays"]
