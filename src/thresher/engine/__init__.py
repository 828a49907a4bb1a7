"""Engines: where per-shard work runs.

An engine maps a picklable function over a list of items and returns the results in the
items' order, so a selection never depends on which engine or how many workers ran it.
`local` (the default) uses a process pool; a Ray engine can implement the same `map`.
"""

from __future__ import annotations

from thresher.engine.local import Engine, LocalEngine, get_engine

__all__ = ["Engine", "LocalEngine", "get_engine"]
