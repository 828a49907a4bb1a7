"""Selection methods: score selectors and set selectors behind one driver, the shared
choosers, and `select()`."""

from __future__ import annotations

from typing import Any

from thresher.budget import BudgetLike
from thresher.errors import UsageError
from thresher.select.base import Choice, Context, Param, Scores, ScoreSelector, Selector, SetSelector
from thresher.select.choosers import (CHOOSERS, Chooser, GumbelTopK, Quota, Threshold, TopK, allocate,
                                      parse_chooser)
from thresher.select.registry import get_method, methods, register


def select(pool, method: str = "random", budget: BudgetLike = "10%", *, target: Any = None, seed: int = 0,
           engine=None, workers: int | None = None, replace: bool = False, **params: Any):
    """Run the method called `method` on `pool`: `select(pool, "random", "10%", seed=0)`.

    `pool` is a `thresher.Pool`; or a path (or list of paths) of JSONL, Parquet or CSV
    files, a pandas DataFrame, a Hugging Face Dataset or an Arrow table, read with the
    default fields (a "text" field; wrap it in a Pool to name others). Extra keyword arguments are the
    method's parameters (see `thresher methods`).
    """
    selector = get_method(method)(**params)
    return selector.select(as_pool(pool), budget, target=target, seed=seed, engine=engine, workers=workers,
                           replace=replace)


def as_pool(pool):
    """`pool` if it is a Pool, else a Pool over it with the default fields; a clear error otherwise."""
    import os

    from thresher.data import Pool

    if isinstance(pool, Pool):
        return pool
    if isinstance(pool, (str, os.PathLike)) or (isinstance(pool, (list, tuple)) and pool
                                                and all(isinstance(p, (str, os.PathLike)) for p in pool)):
        return Pool.from_files(pool)
    kind = type(pool).__module__.split(".")[0]
    makers = {"pandas": Pool.from_pandas, "datasets": Pool.from_hf, "pyarrow": Pool.from_arrow}
    if kind in makers and type(pool).__name__ in ("DataFrame", "Dataset", "Table"):
        return makers[kind](pool)  # the default fields: a "text" column
    raise UsageError(f"select() takes a thresher.Pool, file paths, a pandas DataFrame, a Hugging Face Dataset or "
                     f"an Arrow table, not a {type(pool).__name__}; wrap it in a Pool "
                     "(thresher.Pool.from_numpy(features, labels=...) for arrays).")


__all__ = ["CHOOSERS", "Choice", "Chooser", "Context", "GumbelTopK", "Param", "Quota", "ScoreSelector", "Scores",
           "Selector", "SetSelector", "Threshold", "TopK", "allocate", "as_pool", "get_method", "methods",
           "parse_chooser", "register", "select"]
