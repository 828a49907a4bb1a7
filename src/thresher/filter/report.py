"""What a filter run did, for people: combined selections, examples of dropped records
per reason, and a self-contained HTML report (no scripts, no external files)."""

from __future__ import annotations

import datetime
import html
import os
from collections import OrderedDict

import pyarrow as pa

from thresher.data.scan import standard_batch
from thresher.io import atomic_path
from thresher.selection import Selection, describe_reason


def combine(pool, selections: list[Selection]) -> Selection:
    """Records every filter kept, in pool order; a dropped record keeps the reason and
    score of the first filter that dropped it (`Selection.__and__`)."""
    combined = selections[0]
    for selection in selections[1:]:
        combined = combined & selection
    if len(selections) > 1:
        combined.meta["method"] = " + ".join(s.method for s in selections)
    return combined


def examples(pool, selection: Selection, per_reason: int = 5, chars: int = 600) -> "OrderedDict[str, list[dict]]":
    """Up to `per_reason` dropped records per reason code, in pool order: id, reason, text."""
    dropped = selection.dropped
    chosen: "OrderedDict[str, list[int]]" = OrderedDict()
    for row, code in enumerate(dropped.column("reason").to_pylist()):
        bucket = chosen.setdefault(code or "dropped", [])
        if len(bucket) < per_reason:
            bucket.append(row)
    rows = [row for bucket in chosen.values() for row in bucket]
    if not rows:
        return OrderedDict()
    picked = dropped.take(pa.array(rows, pa.int64()))
    ids = picked.column("id").combine_chunks()
    texts = _texts(pool, ids)
    reasons = [describe_reason(code, detail) for code, detail in
               zip(picked.column("reason").to_pylist(), picked.column("detail").to_pylist())]
    scores = picked.column("score").to_pylist()
    by_row = {row: {"id": ids[i].as_py(), "reason": reasons[i], "score": scores[i], "text": _clip(texts[i], chars)}
              for i, row in enumerate(rows)}
    return OrderedDict((code, [by_row[row] for row in bucket]) for code, bucket in chosen.items())


def _texts(pool, ids: pa.Array) -> list[str]:
    table = pool.take(Selection.create(ids), order="selection").to_arrow()
    text = standard_batch(table, pool.fields).column("text")
    return [t or "" for t in text.to_pylist()]


def _clip(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars] + " …"


def counts(selection: Selection) -> list[tuple[str, int]]:
    """(reason code, dropped records) sorted by count, largest first."""
    return sorted(selection.reason_counts().items(), key=lambda kv: (-kv[1], kv[0]))


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .7em;text-align:left}
th{background:#f3f3f3}.num{text-align:right}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.6em 0}
.reason{color:#a33;font-weight:600}.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.85em;
background:#fafafa;padding:.5em;max-height:16em;overflow:auto}.bar{background:#c66;height:.8em;display:inline-block}
"""


def write_html(path: str | os.PathLike, selection: Selection, samples: "OrderedDict[str, list[dict]]",
               title: str, details: list[tuple[str, str]] = (), overwrite: bool = True, inputs=()) -> None:
    """One self-contained HTML file: the summary, dropped records per reason, example cards."""
    e = html.escape
    total = int(selection.meta.get("pool_size", len(selection) + selection.dropped.num_rows)) or 1
    rows = [("kept", len(selection))] + counts(selection)
    table = "".join(
        f"<tr><td>{e(name)}</td><td class=num>{count:,}</td><td class=num>{count / total:.2%}</td>"
        f"<td><span class=bar style='width:{max(1, round(300 * count / total))}px'></span></td></tr>"
        for name, count in rows)
    facts = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in details)
    cards = []
    for code, items in samples.items():
        cards.append(f"<h3>{e(code)}</h3>")
        for item in items:
            score = "" if item["score"] is None or item["score"] != item["score"] else f" · score {item['score']:.4g}"
            cards.append(f"<div class=card><div>id <b>{e(str(item['id']))}</b>{e(score)}</div>"
                         f"<div class=reason>{e(item['reason'] or '')}</div><div class=text>{e(item['text'])}</div></div>")
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>{e(title)}</title><style>{_STYLE}</style></head>"
            f"<body><h1>{e(title)}</h1><p>{e(selection.method)} · {total:,} records · {stamp}</p>"
            f"<table>{facts}</table><h2>Kept and dropped</h2><table><tr><th>outcome</th><th>records</th>"
            f"<th>share</th><th></th></tr>{table}</table><h2>Examples of dropped records</h2>"
            f"{''.join(cards) or '<p>Nothing was dropped.</p>'}</body></html>\n")
    with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
        tmp.write_text(page, encoding="utf-8")


__all__ = ["combine", "counts", "examples", "write_html"]
