"""Progress bars for long steps, on stderr, shown when stderr is a terminal.

`set_progress(True/False)` (or THRESHER_PROGRESS=1/0) overrides the terminal check.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

_enabled: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Force progress bars on or off; None restores the automatic choice."""
    global _enabled
    _enabled = enabled


def progress_enabled() -> bool:
    if _enabled is not None:
        return _enabled
    env = os.environ.get("THRESHER_PROGRESS")
    if env is not None:
        return env not in ("0", "false", "no", "")
    return sys.stderr.isatty()


class _Silent:
    def advance(self, amount: float = 1) -> None:
        pass


class _Bar:
    def __init__(self, progress, task):
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)


@contextlib.contextmanager
def progress(description: str, total: float | None, unit: str = "items") -> Iterator[_Bar | _Silent]:
    """A bar for one step; call `.advance(n)` as work completes. `unit` "bytes" shows sizes."""
    if not progress_enabled():
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn()]
    columns += [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        yield _Bar(bar, bar.add_task(description, total=total))
