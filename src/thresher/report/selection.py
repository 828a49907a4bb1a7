"""What a selection kept, for people: one self-contained HTML page with the run's summary,
the kept share against the pool share by class, domain and cluster, the scores'
histogram with the cut, and example cards of kept and dropped records."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.budget import Budget
from thresher.choosers import group_codes
from thresher.errors import UsageError
from thresher.report.charts import grouped_bars, histogram
from thresher.report.page import card, clip, examples, facts, page, stamp, texts, write_page
from thresher.selection import Selection

MAX_BARS = 60  # domains and clusters past this many are summed into one row; classes are all shown
NAMED_MISSING = 20


def selection_report(pool, selection: Selection, path: str | os.PathLike, *, overwrite: bool = False,
                     inputs=(), per_reason: int = 3, chars: int = 400, title: str | None = None) -> Path:
    """Write one HTML page (no scripts, no external files) on what `selection` kept of
    `pool`: summary and budget spent, kept vs pool shares by class / domain / cluster,
    the score histogram with the cut, and up to `per_reason` example records per reason
    (texts clipped to `chars`). `path` must not be one of `inputs` (the pool's files)."""
    return write_page(path, render(pool, selection, per_reason=per_reason, chars=chars, title=title),
                      overwrite=overwrite, inputs=[*inputs, *getattr(pool, "paths", [])])


def render(pool, selection: Selection, per_reason: int = 3, chars: int = 400, title: str | None = None) -> str:
    """The page of `selection_report` as a string."""
    meta = selection.meta
    index = pool.index(tokens=meta.get("budget_kind") == "tokens")
    kept = pool.positions_of(selection.ids) if len(selection) else np.zeros(0, np.int64)
    notes, sections = [], []
    for name, values in (("class", index.labels), ("domain", index.domains)):
        if values is None:
            continue
        codes, names = group_codes(_as_text(values))
        section, missing = _shares(name, codes, names, kept, cap=None if name == "class" else MAX_BARS)
        sections.append(section)
        if missing and name == "class":
            notes.append(_missing_note(missing, len(names)))
    cluster = _cluster_section(selection)
    if cluster:
        sections.append(cluster)
    body = [facts(_summary(selection, index, kept))]
    body += [f"<p class=note>{html.escape(note)}</p>" for note in notes]
    body += sections or ["<p>The pool has no label or domain field: no shares to compare.</p>"]
    body.append(_histogram_section(selection))
    body.append(_cards(pool, selection, kept, per_reason, chars))
    title = title or f"thresher select: {selection.method}"
    return page(title, f"{len(selection):,} of {index.n:,} records kept · {stamp()}", "".join(body))


def _as_text(values) -> pa.Array:
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return pc.fill_null(values, "(none)")


def _shares(name: str, codes: np.ndarray, names: list, kept: np.ndarray, cap: int | None) -> tuple[str, list[str]]:
    """The paired-bars section of pool share vs kept share per value; also the values
    with no kept record."""
    pool_counts = np.bincount(codes, minlength=len(names))
    kept_counts = np.bincount(codes[kept], minlength=len(names))
    missing = [str(names[g]) for g in np.flatnonzero(kept_counts == 0)]
    order = np.argsort(-pool_counts, kind="stable")
    labels = [str(names[g]) for g in order]
    pool_share = (pool_counts[order] / max(1, pool_counts.sum())).tolist()
    kept_share = (kept_counts[order] / max(1, kept_counts.sum())).tolist()
    if cap is not None and len(labels) > cap:
        rest = len(labels) - cap + 1
        labels = labels[: cap - 1] + [f"{rest} others"]
        pool_share = pool_share[: cap - 1] + [sum(pool_share[cap - 1:])]
        kept_share = kept_share[: cap - 1] + [sum(kept_share[cap - 1:])]
    chart = grouped_bars(labels, [("pool", pool_share), ("kept", kept_share)], f"{name}: pool share vs kept share")
    return (f"<h2>By {html.escape(name)}</h2><p>{len(names):,} values; share of the pool and of the selection.</p>"
            f"{chart}"), missing


def _missing_note(missing: list[str], total: int) -> str:
    named = ", ".join(missing[:NAMED_MISSING]) + (", …" if len(missing) > NAMED_MISSING else "")
    return (f"{len(missing)} of {total} classes have no record in the selection: {named}. "
            "A larger budget, or a quota by label (--chooser 'quota(by=label)'), keeps some of each.")


def _cluster_section(selection: Selection) -> str:
    """Pool vs kept shares by the quota chooser's clusters (the `group` column), if any."""
    if "by=cluster" not in str(selection.meta.get("chooser", "")):
        return ""
    table = selection.table.filter(pc.is_valid(selection.table.column("group")))
    if not table.num_rows:
        return ""
    groups = table.column("group").to_numpy().astype(np.int64)
    chosen = table.column("selected").to_numpy(zero_copy_only=False)
    values = np.unique(groups)
    codes = np.searchsorted(values, groups)
    section, _ = _shares("cluster", codes, [f"cluster {v}" for v in values], np.flatnonzero(chosen), MAX_BARS)
    return section


def _summary(selection: Selection, index, kept: np.ndarray) -> list[tuple[str, str]]:
    meta = selection.meta
    params = meta.get("params") or {}
    rows = [("method", str(meta.get("method", "?"))),
            ("parameters", ", ".join(f"{k}={v}" for k, v in params.items()) or "none"),
            ("chooser", str(meta.get("chooser", "-"))), ("seed", str(meta.get("seed", "-"))),
            ("budget", str(meta.get("budget", "-"))), ("pool", f"{index.n:,} records"),
            ("spent (records)", _spent(len(selection), _limit(meta, index, "count") or index.n))]
    if index.tokens is not None:
        total = int(index.tokens.sum())
        rows.append(("spent (tokens)", _spent(int(index.tokens[kept].sum()), _limit(meta, index, "tokens") or total)))
    if meta.get("bad_records"):
        rows.append(("bad records (set aside)", f"{meta['bad_records']:,}"))
    timings = meta.get("timings_s") or {}
    if timings or "duration_s" in meta:
        phases = ", ".join(f"{phase} {seconds:.3f} s" for phase, seconds in timings.items())
        rows.append(("time", f"{meta.get('duration_s', 0.0):.3f} s" + (f" ({phases})" if phases else "")))
    rows += [(key, str(meta[key])) for key in ("thresher_version", "started_at") if key in meta]
    return rows


def _limit(meta: dict, index, unit: str) -> int | None:
    """The budget resolved against the pool, in `unit` (count or tokens), if it was one."""
    try:
        limit = Budget.parse(meta["budget"]).resolve(index.n, index.total_tokens, bool(meta.get("replace")))
    except (KeyError, UsageError, ValueError):
        return None
    return limit.count if unit == "count" else limit.tokens


def _spent(used: int, limit: int) -> str:
    return f"{used:,} of {limit:,} ({used / limit:.1%})" if limit else f"{used:,}"


def _histogram_section(selection: Selection) -> str:
    table = selection.table
    scores = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    chosen = table.column("selected").to_numpy(zero_copy_only=False).astype(bool)
    scored = np.isfinite(scores)
    if not scored.any():
        return "<h2>Scores</h2><p>This selection has no scores.</p>"
    kept, dropped = scores[scored & chosen], scores[scored & ~chosen]
    threshold = re.search(r"threshold\(value=([^,)]+)", str(selection.meta.get("chooser", "")))
    if threshold:
        cut, label = float(threshold.group(1)), "threshold"
    else:
        cut, label = (float(kept.min()), "lowest kept score") if len(kept) else (None, "")
    chart = histogram([("kept", kept.tolist()), ("dropped", dropped.tolist())], cut, label,
                      "scores of kept and dropped records")
    shape = "gains (a set selector's)" if selection.meta.get("shape") == "set" else "scores"
    return (f"<h2>Scores</h2><p>{len(kept):,} kept and {len(dropped):,} dropped rows have {html.escape(shape)}; "
            f"the dashed line is the cut.</p>{chart}")


def _cards(pool, selection: Selection, kept: np.ndarray, per_reason: int, chars: int) -> str:
    parts = ["<h2>Examples of kept records</h2>"]
    for items in examples(pool, selection, per_reason, chars, kept=True, unnamed="kept").values():
        parts += [card(item, kept=True) for item in items]
    dropped = examples(pool, selection, per_reason, chars, unnamed="not-chosen") or _unlisted(pool, kept, per_reason,
                                                                                           chars)
    parts.append("<h2>Examples of dropped records</h2>")
    for code, items in dropped.items():
        parts.append(f"<h3>{html.escape(code)}</h3>")
        parts += [card(item) for item in items]
    if not dropped:
        parts.append("<p>Every record of the pool was kept.</p>")
    return "".join(parts)


def _unlisted(pool, kept: np.ndarray, per_reason: int, chars: int) -> dict[str, list[dict]]:
    """For a selection that lists only what it kept: the first records of the pool it did not choose."""
    rest = np.setdiff1d(np.arange(pool.index().n), kept)[:per_reason]
    if not len(rest):
        return {}
    ids = pool.ids_at(rest)
    reason = "not-chosen: the method lists only what it kept; these are the first records of the pool it left"
    return {"not-chosen": [{"id": i, "score": None, "reason": reason, "text": clip(t, chars)}
                           for i, t in zip(ids.to_pylist(), texts(pool, ids))]}
