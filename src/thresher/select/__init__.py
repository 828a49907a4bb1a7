"""Selection methods: a registry of selectors, the shared choosers, and `select()`."""

from __future__ import annotations

from typing import Any

from thresher.budget import BudgetLike
from thresher.select.base import Context, Param, Selector
from thresher.select.choosers import CHOOSERS, GumbelTopK, Quota, Threshold, TopK, allocate
from thresher.select.registry import get_method, methods, register


def select(pool, method: str = "random", budget: BudgetLike = "10%", *, target: Any = None, seed: int = 0,
           engine=None, workers: int | None = None, replace: bool = False, **params: Any):
    """Run the method called `method` on `pool`: `select(pool, "random", "10%", seed=0)`.

    Extra keyword arguments are the method's parameters (see `thresher methods`).
    """
    selector = get_method(method)(**params)
    return selector.select(pool, budget, target=target, seed=seed, engine=engine, workers=workers, replace=replace)


__all__ = ["CHOOSERS", "Context", "GumbelTopK", "Param", "Quota", "Selector", "Threshold", "TopK", "allocate",
           "get_method", "methods", "register", "select"]
