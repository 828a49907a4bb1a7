"""The shell every thresher HTML page shares: one self-contained file (no scripts, no
external files), its CSS, tables of facts, and example cards of records with their texts.

Every value that comes from data goes through `html.escape` here or in the caller."""

from __future__ import annotations

import datetime
import html
import os
from collections import OrderedDict
from pathlib import Path

import pyarrow as pa

from thresher.data.scan import standard_batch
from thresher.io import atomic_path
from thresher.selection import Selection, describe_reason

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}
th{background:#f3f3f3}.num{text-align:right}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0}
.reason{color:#a33;font-weight:600}.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85em;
background:#fafafa;padding:.5em;max-height:16em;overflow:auto}.bar{background:#c66;height:.8em;display:inline-block}
.note{background:#fff6e0;border-left:4px solid #e0a000;padding:.5em 1em}.kept{color:#1f6f3f;font-weight:600}
"""


def stamp() -> str:
    """Now, in UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def page(title: str, subtitle: str, body: str) -> str:
    """The whole HTML document; `title` and `subtitle` are escaped, `body` is HTML already."""
    e = html.escape
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{e(title)}</h1><p>{e(subtitle)}</p>{body}</body></html>\n")


def facts(rows: list[tuple[str, str]]) -> str:
    """A two-column table of (name, value), both escaped."""
    e = html.escape
    return "<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows) + "</table>"


def card(item: dict, kept: bool = False) -> str:
    """One example record: id, score, reason (code: detail) and its clipped text."""
    e = html.escape
    score = item.get("score")
    score = "" if score is None or score != score else f" · score {score:.4g}"
    status = "<div class=kept>kept</div>" if kept and not item.get("reason") else ""
    return (f"<div class=card><div>id <b>{e(str(item['id']))}</b>{e(score)}</div>{status}"
            f"<div class=reason>{e(item.get('reason') or '')}</div><div class=text>{e(item['text'])}</div></div>")


def examples(pool, selection: Selection, per_reason: int = 5, chars: int = 600, kept: bool = False,
             unnamed: str = "dropped") -> "OrderedDict[str, list[dict]]":
    """Up to `per_reason` records per reason code: the dropped ones (or, with `kept`, the
    chosen ones, in selection order); rows without a reason go under `unnamed`. Each
    record: id, reason (for people), score, text clipped to `chars`."""
    rows_of = selection.kept.select(["id", "score", "reason", "detail"]) if kept else selection.dropped
    chosen: "OrderedDict[str, list[int]]" = OrderedDict()
    for row, code in enumerate(rows_of.column("reason").to_pylist()):
        bucket = chosen.setdefault(code or unnamed, [])
        if len(bucket) < per_reason:
            bucket.append(row)
    rows = [row for bucket in chosen.values() for row in bucket]
    if not rows:
        return OrderedDict()
    picked = rows_of.take(pa.array(rows, pa.int64()))
    ids = picked.column("id").combine_chunks()
    found = texts(pool, ids)
    reasons = [describe_reason(code, detail) for code, detail in
               zip(picked.column("reason").to_pylist(), picked.column("detail").to_pylist())]
    scores = picked.column("score").to_pylist()
    by_row = {row: {"id": ids[i].as_py(), "reason": reasons[i], "score": scores[i], "text": clip(found[i], chars)}
              for i, row in enumerate(rows)}
    return OrderedDict((code, [by_row[row] for row in bucket]) for code, bucket in chosen.items())


def texts(pool, ids: pa.Array) -> list[str]:
    """The texts of the records with these ids, in that order ("" where a record has none)."""
    if not pool.fields.has_text:  # vectors or a table without a text field
        return ["(this pool has no text field)"] * len(ids)
    table = pool.take(Selection.create(ids), order="selection").to_arrow()
    text = standard_batch(table, pool.fields).column("text")
    return [t or "" for t in text.to_pylist()]


def clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars] + " …"


def write_page(path: str | os.PathLike, document: str, overwrite: bool = True, inputs=()) -> Path:
    """Write an HTML document atomically (`thresher.io.atomic_path`)."""
    with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
        tmp.write_text(document, encoding="utf-8")
    return Path(path)
