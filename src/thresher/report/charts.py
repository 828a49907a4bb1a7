"""Inline SVG charts for the HTML pages: grouped horizontal bars, a histogram with a cut,
and intervals around zero. Each returns an `<svg>` string; every label is escaped."""

from __future__ import annotations

import html
import math

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
LABEL_CHARS = 32


def _label(text: str) -> str:
    text = str(text)
    return html.escape(text if len(text) <= LABEL_CHARS else text[:LABEL_CHARS - 1] + "…")


def _open(width: float, height: float, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="11" role="img">'
            f"<title>{html.escape(title)}</title>")


def _legend(names: list[str], colors: list[str], left: float, top: float) -> str:
    parts, x = [], left
    for name, color in zip(names, colors):
        parts.append(f'<rect x="{x:.0f}" y="{top - 9}" width="12" height="10" fill="{color}"/>'
                     f'<text x="{x + 16:.0f}" y="{top}">{html.escape(name)}</text>')
        x += 28 + 7 * len(name)
    return "".join(parts)


def grouped_bars(categories: list[str], series: list[tuple[str, list[float]]], title: str,
                 value_format: str = "{:.1%}", width: int = 680) -> str:
    """Horizontal bars: one row per category, one bar per series (e.g. pool share and kept
    share). `series`: [(name, values (len(categories),))]; bars scale to the largest value."""
    bar, gap, left, top = 9, 6, 230, 26
    row = bar * len(series) + gap
    height = top + row * len(categories) + 10
    largest = max([v for _, values in series for v in values if v == v] + [1e-12])
    plot_w = width - left - 70
    colors = [COLORS[i % len(COLORS)] for i in range(len(series))]
    parts = [_open(width, height, title), _legend([name for name, _ in series], colors, left, 14)]
    for i, category in enumerate(categories):
        y = top + i * row
        parts.append(f'<text x="{left - 6}" y="{y + row / 2 + 1:.0f}" text-anchor="end">{_label(category)}'
                     f"<title>{html.escape(str(category))}</title></text>")
        for j, (name, values) in enumerate(series):
            value = values[i]
            length = 0.0 if value != value else max(0.0, value) / largest * plot_w
            parts.append(f'<rect class="bar-{j}" x="{left}" y="{y + j * bar}" width="{length:.1f}" height="{bar - 1}" '
                         f'fill="{colors[j]}"><title>{html.escape(str(category))}, {html.escape(name)}: '
                         f"{html.escape(value_format.format(value))}</title></rect>"
                         f'<text x="{left + length + 4:.1f}" y="{y + j * bar + bar - 1}" font-size="9">'
                         f"{html.escape(value_format.format(value))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def histogram(series: list[tuple[str, list[float]]], cut: float | None, cut_label: str, title: str,
              bins: int = 30, width: int = 680, height: int = 260) -> str:
    """Stacked histogram of scores (e.g. kept and dropped) with a vertical line at `cut`."""
    values = [v for _, vs in series for v in vs if math.isfinite(v)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if cut is not None and math.isfinite(cut):
        low, high = min(low, cut), max(high, cut)
    if high <= low:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    counts = []
    for _, vs in series:
        row = [0] * bins
        for v in vs:
            if math.isfinite(v):
                row[min(bins - 1, int((v - low) / step))] += 1
        counts.append(row)
    tallest = max([sum(c[b] for c in counts) for b in range(bins)] + [1])
    left, right, top, bottom = 50, 20, 26, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    colors = ["#2ca02c", "#bbbbbb"] + COLORS
    parts = [_open(width, height, title), _legend([name for name, _ in series], colors, left, 14),
             f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>']
    for b in range(bins):
        base = 0
        for j, row in enumerate(counts):
            if row[b]:
                h = row[b] / tallest * plot_h
                y = top + plot_h - (base + row[b]) / tallest * plot_h
                parts.append(f'<rect class="bin" x="{left + b * plot_w / bins:.1f}" y="{y:.1f}" '
                             f'width="{max(0.5, plot_w / bins - 1):.1f}" height="{h:.1f}" fill="{colors[j]}">'
                             f"<title>{html.escape(series[j][0])}: {row[b]} in [{low + b * step:.4g}, "
                             f"{low + (b + 1) * step:.4g})</title></rect>")
                base += row[b]
    for k in range(5):
        value = low + k * (high - low) / 4
        parts.append(f'<text x="{left + k * plot_w / 4:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                     f"{value:.3g}</text>")
    parts.append(f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">{tallest}</text>'
                 f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>'
                 f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">score</text>')
    if cut is not None and math.isfinite(cut):
        x = left + (cut - low) / (high - low) * plot_w
        parts.append(f'<line class="cut" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#d62728" '
                     f'stroke-width="2" stroke-dasharray="4,3"/><text x="{x + 4:.1f}" y="{top + 12}" fill="#d62728">'
                     f"{html.escape(cut_label)} {cut:.4g}</text>")
    parts.append("</svg>")
    return "".join(parts)


def intervals(rows: list[tuple[str, float, float | None, float | None]], title: str, axis: str,
              scale: float = 100.0, width: int = 680) -> str:
    """One row per (label, estimate, low, high): a dot with its interval, around a zero
    line (e.g. a paired difference against random, in points with `scale` 100)."""
    line, left, top, bottom = 20, 230, 14, 34
    height = top + line * len(rows) + bottom
    values = [v * scale for _, m, lo, hi in rows for v in (m, lo, hi) if v is not None and math.isfinite(v)] + [0.0]
    low, high = min(values), max(values)
    pad = max(0.5, 0.08 * (high - low))
    low, high = low - pad, high + pad
    plot_w = width - left - 30

    def x(value: float) -> float:
        return left + (value * scale - low) / (high - low) * plot_w

    parts = [_open(width, height, title),
             f'<line x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 4}" y2="{top + line * len(rows)}" stroke="#888" '
             f'stroke-dasharray="4,3"/>']
    for i, (label, mean, lo, hi) in enumerate(rows):
        y = top + i * line + line / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.0f}" text-anchor="end">{_label(label)}</text>')
        if mean is None or not math.isfinite(mean):
            continue
        color = "#2ca02c" if lo is not None and lo > 0 else "#d62728" if hi is not None and hi < 0 else "#1f77b4"
        if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
            parts.append(f'<line class="interval" x1="{x(lo):.1f}" x2="{x(hi):.1f}" y1="{y:.0f}" y2="{y:.0f}" '
                         f'stroke="{color}" stroke-width="2"/>')
        tip = f"{label}: {mean * scale:+.2f}" + ("" if lo is None or hi is None else
                                                  f" [{lo * scale:+.2f}, {hi * scale:+.2f}]")
        parts.append(f'<circle cx="{x(mean):.1f}" cy="{y:.0f}" r="4" fill="{color}"><title>{html.escape(tip)}'
                     f"</title></circle>")
    bottom_y = top + line * len(rows)
    for k in range(5):
        value = low + k * (high - low) / 4
        parts.append(f'<text x="{left + k * plot_w / 4:.1f}" y="{bottom_y + 14}" text-anchor="middle">'
                     f"{value:+.2g}</text>")
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{bottom_y + 30}" text-anchor="middle">'
                 f"{html.escape(axis)}</text></svg>")
    return "".join(parts)
