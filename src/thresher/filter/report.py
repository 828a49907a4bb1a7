"""What a filter run did, for people: combined selections, examples of dropped records
per reason, and a self-contained HTML report (no scripts, no external files)."""

from __future__ import annotations

import html
import os
from collections import OrderedDict

from thresher.report.page import card, examples, facts, page, stamp, write_page
from thresher.selection import Selection


def combine(pool, selections: list[Selection]) -> Selection:
    """Records every filter kept, in pool order; a dropped record keeps the reason and
    score of the first filter that dropped it (`Selection.__and__`)."""
    combined = selections[0]
    for selection in selections[1:]:
        combined = combined & selection
    if len(selections) > 1:
        combined.meta["method"] = " + ".join(s.method for s in selections)
    return combined


def counts(selection: Selection) -> list[tuple[str, int]]:
    """(reason code, dropped records) sorted by count, largest first."""
    return sorted(selection.reason_counts().items(), key=lambda kv: (-kv[1], kv[0]))


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
    cards = []
    for code, items in samples.items():
        cards.append(f"<h3>{e(code)}</h3>")
        cards += [card(item) for item in items]
    body = (f"{facts(list(details))}<h2>Kept and dropped</h2><table><tr><th>outcome</th><th>records</th>"
            f"<th>share</th><th></th></tr>{table}</table><h2>Examples of dropped records</h2>"
            f"{''.join(cards) or '<p>Nothing was dropped.</p>'}")
    write_page(path, page(title, f"{selection.method} · {total:,} records · {stamp()}", body),
               overwrite=overwrite, inputs=inputs)


__all__ = ["combine", "counts", "examples", "write_html"]
