"""The local engine: a process pool over shards, results in shard order."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator, Protocol, Sequence

from thresher.errors import UsageError


class Engine(Protocol):
    """What an engine does: run `fn(item)` for every item, yield results in item order."""

    workers: int

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]: ...


class LocalEngine:
    """Runs work in this process (workers=1) or in a pool of `workers` processes.

    Processes are started with "spawn", so no thread state (Arrow's, BLAS's) is forked.
    """

    name = "local"

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise UsageError(f"workers={workers!r}: give a whole number of at least 1.")
        self.workers = workers

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[Any]:
        items = list(items)
        if self.workers == 1 or len(items) <= 1:
            for item in items:
                yield fn(item)
            return
        from thresher._startup import worker_initializer

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.workers, len(items)), mp_context=context,
                                 initializer=worker_initializer()) as pool:
            # Submitting everything keeps both workers busy; results still come back in order.
            futures = [pool.submit(fn, item) for item in items]
            try:
                for future in futures:
                    yield future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def __repr__(self) -> str:
        return f"LocalEngine(workers={self.workers})"


def get_engine(engine: "str | Engine | None" = None, workers: int | None = None) -> Engine:
    """An engine by name ("local"), or the one given; `workers` defaults to 1."""
    if engine is None or engine == "local":
        return LocalEngine(workers or 1)
    if isinstance(engine, str):
        raise UsageError(f"engine {engine!r} is not available; this version has: local.")
    return engine


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))
