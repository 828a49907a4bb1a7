"""A self-contained HTML report: per run, the accuracy-vs-budget plot (inline SVG, with 95%
CI bands and the full-data line) and the table. No scripts, no external files."""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

from thresher.evaluate.results import pct, table_rows, transfer_rows
from thresher.io import atomic_path
from thresher.report.charts import grouped_bars, intervals

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
WIDTH, HEIGHT = 680, 400
LEFT, RIGHT, TOP, BOTTOM = 60, 170, 20, 50


def _finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def plot_svg(run: dict) -> str:
    """The accuracy-vs-budget plot of one run as an SVG string (x: budget, log scale)."""
    summary = run["summary"]
    fractions = {b["budget"]: b["fraction"] for b in run["budgets"]}
    values = [summary["full"]["mean"]]
    for result in summary["methods"].values():
        for entry in result["curve"].values():
            values += [v for v in (entry["mean"], entry["low"], entry["high"]) if _finite(v)]
    low_y = max(0.0, math.floor(min(values) * 20) / 20)
    high_y = min(1.0, math.ceil(max(values) * 20) / 20)
    if high_y <= low_y:  # a flat curve (every point at 100%, say): a band of 5 points below or above it
        low_y, high_y = (low_y - 0.05, high_y) if high_y >= 1.0 else (low_y, low_y + 0.05)
    xs = [math.log10(f) for f in fractions.values()] + [0.0]
    low_x, high_x = min(xs), max(xs)
    if high_x <= low_x:
        low_x -= 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(fraction: float) -> float:
        return LEFT + (math.log10(fraction) - low_x) / (high_x - low_x) * plot_w

    def y(accuracy: float) -> float:
        accuracy = min(max(accuracy, low_y), high_y)  # bands past the axis are clipped to it
        return TOP + (high_y - accuracy) / (high_y - low_y) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
             f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    step = 0.05 if high_y - low_y <= 0.4 else 0.1
    low_y = math.floor(low_y / step + 1e-9) * step
    high_y = min(1.0, math.ceil(high_y / step - 1e-9) * step)
    steps = int(round((high_y - low_y) / step))
    for i in range(steps + 1):
        value = low_y + i * step
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{pct(value, 0)}</text>')
    for label, fraction in list(fractions.items()) + [("full", 1.0)]:
        parts.append(f'<line x1="{x(fraction):.1f}" x2="{x(fraction):.1f}" y1="{TOP}" y2="{TOP + plot_h}" '
                     f'stroke="#eee"/><text x="{x(fraction):.1f}" y="{TOP + plot_h + 15}" '
                     f'text-anchor="middle">{html.escape(label)}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">budget (share of the pool, '
                 f'log scale)</text><text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 14 {TOP + plot_h / 2})">test accuracy %</text>')
    full = summary["full"]
    if _finite(full["low"]):
        parts.append(f'<rect x="{LEFT}" y="{y(full["high"]):.1f}" width="{plot_w}" '
                     f'height="{max(0.5, y(full["low"]) - y(full["high"])):.1f}" fill="#000" opacity="0.08"/>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(full["mean"]):.1f}" y2="{y(full["mean"]):.1f}" '
                 f'stroke="#000" stroke-dasharray="5,4"/>')
    legend = [("full data", "#000", True)]
    for i, (method, result) in enumerate(summary["methods"].items()):
        color = COLORS[i % len(COLORS)]
        legend.append((method, color, False))
        curve = [(fractions[b], e) for b, e in result["curve"].items()]
        band = [e for _, e in curve if _finite(e["low"])]
        if len(band) == len(curve) and curve:
            upper = " ".join(f"{x(f):.1f},{y(e['high']):.1f}" for f, e in curve)
            lower = " ".join(f"{x(f):.1f},{y(e['low']):.1f}" for f, e in reversed(curve))
            parts.append(f'<polygon points="{upper} {lower}" fill="{color}" opacity="0.15"/>')
        line = " ".join(f"{x(f):.1f},{y(e['mean']):.1f}" for f, e in curve)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2"/>')
        parts += [f'<circle cx="{x(f):.1f}" cy="{y(e["mean"]):.1f}" r="3" fill="{color}">'
                  f'<title>{html.escape(method)} {pct(e["mean"])}%</title></circle>' for f, e in curve]
    for i, (name, color, dashed) in enumerate(legend):
        top = TOP + 10 + 18 * i
        dash = ' stroke-dasharray="5,4"' if dashed else ""
        parts.append(f'<line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 36}" y1="{top}" y2="{top}" '
                     f'stroke="{color}" stroke-width="2"{dash}/><text x="{WIDTH - RIGHT + 42}" y="{top + 4}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def paired_svg(run: dict) -> str:
    """Per method and budget, the paired difference in test accuracy against random (mean
    over seeds, 95% paired-bootstrap interval) as an SVG string; "" without such pairs."""
    rows = [(f"{method} @ {budget}", vs["mean_diff"], vs.get("low"), vs.get("high"))
            for method, result in run["summary"]["methods"].items()
            for budget, entry in result["curve"].items()
            if (vs := entry.get("vs_random")) and vs.get("mean_diff") is not None]
    if not rows:
        return ""
    chart = intervals(rows, "paired difference against random", "test accuracy minus random's (points), paired "
                      "over seeds; 95% bootstrap interval")
    return (f"<h3>Paired difference against random</h3><p>Seed i of each method against seed i of random; "
            f"green: the interval is above zero, red: below.</p>{chart}")


def domain_precision_svg(run: dict) -> str:
    """Target-aware runs: the share of each method's selection from the target domain, per budget."""
    methods = run["summary"]["methods"]
    if not run.get("target_domain") or not any("domain_precision" in e for r in methods.values()
                                                 for e in r["curve"].values()):
        return ""
    budgets = [b["budget"] for b in run["budgets"]]
    series = [(budget, [methods[m]["curve"].get(budget, {}).get("domain_precision", math.nan) for m in methods])
              for budget in budgets]
    chart = grouped_bars(list(methods), series, "domain precision")
    return (f"<h3>Domain precision</h3><p>Share of the selection from {html.escape(run['target_domain'])}, "
            f"mean over seeds, by budget.</p>{chart}")


def _table_html(run: dict, rows_of=table_rows) -> str:
    header, rows = rows_of(run)
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(h).replace(chr(10), '<br>')}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _run_html(run: dict) -> str:
    info = run["dataset_info"]
    model = run["model"]
    tuned = ", ".join(f"{b['budget']}: {b['tuned']['value']:g}" for b in run["budgets"])
    facts = [
        f"pool {run['pool_size']:,} records, validation {run['validation_size']:,}, test {run['test_size']:,}, "
        f"{run['classes']} classes; source {html.escape(info.get('source', ''))}",
        f"features: {html.escape(run['features']['name'])}; model: {html.escape(model['description'])}",
        f"{model['tuned_param']} per budget ({html.escape(model['tuning'])}): {tuned}, full: "
        f"{run['full']['tuned']['value']:g}",
        f"seeds: {', '.join(map(str, run['seeds']))}; run time {run['timing']['total_s']:.0f} s",
    ]
    facts += [f"note: {html.escape(n)}" for n in info.get("notes", []) + run["summary"].get("notes", [])]
    facts += [f"skipped {html.escape(m)}: {html.escape(r)}" for m, r in run["skipped"].items()]
    facts += [f"FAILED {html.escape(m)}: {html.escape(r)}" for m, r in run["failed"].items()]
    for method, result in run["summary"]["methods"].items():
        cost = ", ".join(f"{b} {e['select_s']:.3f} s / {e['peak_mb']:.1f} MB" for b, e in result["curve"].items())
        facts.append(f"selection time / peak traced memory of {html.escape(method)}: {cost}")
    if run.get("target_domain"):
        for method, result in run["summary"]["methods"].items():
            precision = ", ".join(f"{b} {pct(e.get('domain_precision'), 0)}%" for b, e in result["curve"].items())
            facts.append(f"domain precision of {html.escape(method)} (share from {html.escape(run['target_domain'])}):"
                         f" {precision}")
    transfer = run.get("transfer") or {}
    for name, detail in transfer.get("models", {}).items():
        facts.append(f"eval model {html.escape(name)}: {html.escape(detail['description'])}")
    facts += [f"eval model {html.escape(m)} skipped: {html.escape(r)}" for m, r in transfer.get("skipped", {}).items()]
    transfer_table = _table_html(run, transfer_rows)
    if transfer_table:
        transfer_table = ("<h3>Does it transfer?</h3><p>Each eval model trained on the same selections and scored "
                          "on the same test split: accuracy %, and in brackets the paired difference against "
                          "random (points) with its 95% interval.</p>" + transfer_table)
    title = html.escape(run["dataset"]) + (" (target-aware)" if run["scenario"] != "standard" else "")
    return (f"<section><h2>{title}</h2>{plot_svg(run)}{paired_svg(run)}{domain_precision_svg(run)}"
            f"{_table_html(run)}{transfer_table}<ul>"
            + "".join(f"<li>{f}</li>" for f in facts) + "</ul></section>")


def render_html(document: dict) -> str:
    machine = document["machine"]
    runs = "".join(_run_html(run) for run in document["runs"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>thresher bench report</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
li {{ font-size: 13px; }} section {{ margin-bottom: 3em; }}
</style></head><body>
<h1>thresher bench: accuracy against budget</h1>
<p>Each point: a proxy model trained on the selection, scored on the test split; mean over seeds with a 95%
Student-t confidence interval (bands). The dashed line is the full pool. thresher {document['thresher_version']},
{html.escape(document['created'])}; machine: {html.escape(machine.get('processor', ''))}, {machine.get('cpus')} CPUs,
{html.escape(machine.get('platform', ''))}; wall time {document['wall_s']:.0f} s.</p>
<p><code>{html.escape(document['command'])}</code></p>
{runs}
</body></html>
"""


def write_report(document: dict, path: str | os.PathLike, overwrite: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(render_html(document), encoding="utf-8")
    return path
