"""The selector contract: parameters in the constructor, work in `select`.

    sel = Stratified(balance=True).select(pool, budget="10%", seed=0)

A method is a scorer plus a chooser. Override `score` (and `tasks`, for work on each
batch of records that runs on the engine's workers) and, where the default top-k choice
does not fit, `choose`. `select` does the rest the same way for every method: resolves
the budget, times the run, and records what was done in the Selection's metadata.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from thresher._version import __version__
from thresher.budget import Budget, BudgetLike, Limit
from thresher.data.pool import Pool
from thresher.data.scan import PoolIndex, Task
from thresher.engine import Engine
from thresher.errors import UsageError
from thresher.select.choosers import top_positions
from thresher.selection import Selection


def split_param(pair: str) -> tuple[str, str]:
    """("name", "value") from "name=value", the name stripped and with - as _ (as Python
    spells parameters); ValueError without "=". The value is returned as written."""
    key, equals, value = pair.partition("=")
    if not equals:
        raise ValueError(f"{pair!r} is not key=value")
    return key.strip().replace("-", "_"), value


@dataclass(frozen=True)
class Param:
    """One method parameter: default, type, help text, allowed values."""

    default: Any
    kind: type
    help: str
    choices: tuple | None = None

    def convert(self, method: str, name: str, value: Any) -> Any:
        if self.kind is bool and isinstance(value, str):
            lowered = value.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise UsageError(f"{method}: parameter {name}={value!r} is not true or false.")
            value = lowered in ("1", "true", "yes")
        elif value is not None and not isinstance(value, self.kind):
            try:
                value = self.kind(value)
            except (TypeError, ValueError):
                raise UsageError(f"{method}: parameter {name}={value!r} is not a {self.kind.__name__}.") from None
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"{method}: parameter {name}={value!r} is not one of {', '.join(map(str, self.choices))}.")
        return value


@dataclass
class Context:
    """What `score` and `choose` may use: the pool, its index, task outputs, target, seed."""

    pool: Pool
    index: PoolIndex
    outputs: list
    target: Any
    seed: int
    rng: np.random.Generator
    replace: bool


class Selector:
    """Base class of every selection method. Subclasses set the class attributes and
    override `score` (and optionally `tasks`, `choose`, `check`)."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    params: ClassVar[dict[str, Param]] = {}
    needs: ClassVar[tuple[str, ...]] = ()  # fields the pool must have: "text", "label", "domain", "target"
    supports_replace: ClassVar[bool] = False

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.params)
        if unknown:
            known = ", ".join(self.params) or "none"
            raise UsageError(f"method {self.name} has no parameter {sorted(unknown)[0]!r}; its parameters: {known}.")
        self.config = {name: spec.convert(self.name, name, params.get(name, spec.default)) for name, spec in self.params.items()}

    def get_params(self) -> dict[str, Any]:
        return dict(self.config)

    # ---- the parts a method provides ---------------------------------------------
    def check(self, pool: Pool, target: Any) -> None:
        """Raise UsageError when the pool lacks what the method needs."""
        fields = pool.fields
        if "text" in self.needs and not fields.has_text:
            raise UsageError(f"method {self.name} reads text; this pool has none (give --text-field or --template).")
        if "label" in self.needs and not fields.label_field:
            raise UsageError(f"method {self.name} needs labels; name the label field with --label-field (label_field=).")
        if "target" in self.needs and target is None:
            raise UsageError(f"method {self.name} needs a target: examples of the task you care about (--target).")

    def tasks(self, target: Any) -> Sequence[Task]:
        """Per-batch work to run on the engine while reading the pool (picklable callables)."""
        return ()

    def score(self, ctx: Context) -> np.ndarray | None:
        """Scores (n,) float64 over pool positions, higher = keep first; None for no scores."""
        return None

    def choose(self, ctx: Context, scores: np.ndarray | None, limit: Limit) -> tuple[np.ndarray, np.ndarray | None]:
        """Positions (k,) int64 in choice order, and weights (k,) or None. Default: top-k."""
        if scores is None:
            raise NotImplementedError(f"{type(self).__name__} gives no scores, so it must override choose()")
        return top_positions(scores, limit, ctx.index.tokens), None

    # ---- the shared driver ----------------------------------------------------------
    def select(self, pool: Pool, budget: BudgetLike, target: Any = None, seed: int = 0, *,
               engine: Engine | str | None = None, workers: int | None = None, replace: bool = False) -> Selection:
        """Choose records of `pool` within `budget`; the same inputs and seed give the same Selection."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise UsageError(f"seed={seed!r}: give a whole number >= 0.")
        if replace and not self.supports_replace:
            raise UsageError(f"method {self.name} does not sample with replacement; drop --replace.")
        started = datetime.datetime.now(datetime.timezone.utc)
        clock = time.perf_counter()
        budget = Budget.parse(budget)
        self.check(pool, target)
        tokens = budget.kind == "tokens"
        if tokens and not pool.fields.has_text:
            raise UsageError("a token budget needs text; this pool has none. Give a count or a fraction.")
        tasks = list(self.tasks(target))
        if tasks:
            index, outputs = pool.scan(tasks, engine=engine, workers=workers, tokens=tokens)
        else:
            index, outputs = pool.index(engine=engine, workers=workers, tokens=tokens), []
        limit = budget.resolve(index.n, index.total_tokens, replace)
        ctx = Context(pool, index, outputs, target, int(seed), np.random.default_rng(int(seed)), replace)
        scores = self.score(ctx)
        positions, weights = self.choose(ctx, scores, limit)
        positions = np.asarray(positions, dtype=np.int64)
        meta = {
            "method": self.name,
            "params": self.get_params(),
            "seed": int(seed),
            "budget": str(budget),
            "budget_kind": budget.kind,
            "replace": bool(replace),
            "pool_size": index.n,
            "pool_fingerprint": pool.fingerprint,
            "pool_files": pool.paths,
            "target_fingerprint": _fingerprints(target),
            "bad_records": len(index.bad),
            "thresher_version": __version__,
            "started_at": started.isoformat(timespec="seconds"),
        }
        selection = self._build(pool, positions, weights, scores, meta)
        selection.meta["n_selected"] = len(selection)
        selection.meta["duration_s"] = round(time.perf_counter() - clock, 4)
        return selection

    def _build(self, pool: Pool, positions: np.ndarray, weights: np.ndarray | None, scores: np.ndarray | None,
               meta: dict) -> Selection:
        ids = pool.ids_at(positions)
        if scores is None:
            return Selection.create(ids, weights=weights, meta=meta)
        chosen = np.zeros(len(scores), dtype=bool)
        chosen[positions] = True
        rest = np.flatnonzero(~chosen)
        return Selection.create(ids, weights=weights, scores=scores[positions], dropped_ids=pool.ids_at(rest),
                                dropped_scores=scores[rest], meta=meta)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


def _fingerprints(target: Any) -> str | list | None:
    if isinstance(target, (list, tuple)):
        return [_fingerprints(t) for t in target]
    return getattr(target, "fingerprint", None)
