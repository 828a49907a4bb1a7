"""Self-contained HTML pages for people: the shared page shell and cards (`page`), inline
SVG charts (`charts`), and the report of what a selection kept (`selection_report`)."""

from thresher.report.selection import selection_report

__all__ = ["selection_report"]
