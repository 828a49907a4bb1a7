"""The selector contract: two shapes behind one driver.

    sel = Stratified(balance=True).select(pool, budget="10%", seed=0)

A selector takes only parameters in its constructor (validated there, so a bad value
costs nothing) and does its work in `select`, which every selector shares (no selector
overrides it). The driver checks the request, optionally `fit`s, reads the pool once
(running the selector's per-batch `tasks` on the engine's workers), resolves the budget,
then asks the selector for one of two things:

- a **score selector** (`ScoreSelector`) gives `score(ctx, state) -> Scores`: one number
  per record, higher = keep first. A shared chooser (its `chooser` parameter: top-k,
  Gumbel top-k, threshold, per-label/domain/cluster quotas; `thresher.select.choosers`)
  turns them into a choice, so any score can be chosen any of these ways, and the
  selection can be re-cut later (`Selection.recut`).
- a **set selector** (`SetSelector`) gives `choose(ctx, state, limit) -> Choice`: the
  positions in choice order, with the gain each added (k-center, facility location,
  k-means quotas: the value of a record depends on what else was chosen).

`fit(ctx) -> state` (optional) returns an explicit state (a frozen dataclass: fitted
models, clusters, neighbour graphs) that is passed to `tasks`, `score` or `choose`;
nothing is kept on the selector or the context between calls. The driver alone times
every phase; `meta["duration_s"]` covers them all.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np

from thresher._version import __version__
from thresher.budget import Budget, BudgetLike, Limit
from thresher.data.pool import Pool
from thresher.data.scan import PoolIndex, Task
from thresher.engine import Engine
from thresher.errors import UsageError
from thresher.params import Configured, Param, split_param
from thresher.select.choosers import CHOOSER_HELP, Chooser, Draws, GumbelTopK, TopK, group_codes, parse_chooser
from thresher.selection import Selection
from thresher.steps import StepContext

ReasonsFor = Callable[[np.ndarray], Sequence[tuple[str, str | None] | None]]


@dataclass(frozen=True)
class Context:
    """What `fit`, `tasks`, `score` and `choose` may use. `index`, `outputs` (the tasks'
    per-batch results: outputs[task][batch]) and `limit` (the resolved budget) are set
    once the pool has been read (`tasks`, and `fit` of a `fit_before_scan` selector,
    see them as None)."""

    pool: Pool
    target: Any
    seed: int
    rng: np.random.Generator
    replace: bool
    budget: Budget
    engine: Engine | str | None = None
    workers: int | None = None
    index: PoolIndex | None = None
    outputs: list = field(default_factory=list)
    limit: Limit | None = None


@dataclass(frozen=True)
class Scores:
    """What a score selector gives.

    values: (n,) float64, higher = keep first; NaN = never chosen (`reasons_for` says why).
        None when the scores arrive as `batches` instead.
    ranking: the values are a ranking that `Selection.recut` may choose from again.
    by_target: (n, t) scores per target when there are several targets; `values` is then
        their maximum, and the budget is split by `target_shares` (t,).
    batches: for pools too large to hold every score: a callable giving, in pool order,
        (scores (m, t) float64, eligible (m,) bool) per batch; the chooser keeps only the
        best k (top-k and gumbel only). The selection keeps no scores.
    clusters: (n,) int64 cluster of each record, for a quota chooser by cluster.
    reasons_for(positions) -> [(code, detail) or None]: why those records were not chosen.
    kept_only: keep the scores of the chosen records only (cheap to recompute, large to keep).
    meta: extra facts for the selection's metadata.
    """

    values: np.ndarray | None
    ranking: bool = True
    by_target: np.ndarray | None = None
    target_shares: np.ndarray | None = None
    batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]] | None = None
    clusters: np.ndarray | None = None
    reasons_for: ReasonsFor | None = None
    kept_only: bool = False
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Choice:
    """What a set selector gives: positions (k,) int64 in choice order, the gain (k,)
    each added when chosen, optional weights (k,), why other records were dropped, and
    optionally a group per pool record (llkd: the teacher's label)."""

    positions: np.ndarray
    gains: np.ndarray | None = None
    weights: np.ndarray | None = None
    reasons_for: ReasonsFor | None = None
    meta: dict = field(default_factory=dict)
    groups: np.ndarray | None = None  # (n,) int64 a group code per pool record: the selection's group column


class Selector(Configured):
    """Base of every selection method: declare `name`, `summary`, `paper`, `params` and
    `needs`; subclass `ScoreSelector` or `SetSelector` rather than this."""

    kind: ClassVar[str] = "selector"
    shape: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    params: ClassVar[dict[str, Param]] = {}
    needs: ClassVar[tuple[str, ...]] = ()  # fields the pool must have: "text", "label", "domain", "target"
    supports_replace: ClassVar[bool] = False
    # False when some records are never chosen whatever the budget (label-issues): a count
    # budget is then an upper bound, not always met.
    fills_budget: ClassVar[bool] = True
    # True when `tasks` need the fitted state (DSIR's per-batch scoring needs its models):
    # `fit` then runs before the pool is read and sees no index. Otherwise it runs after.
    fit_before_scan: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("select", "run", "_finish"):
            if method in vars(cls) and cls.__module__ != __name__:
                raise TypeError(f"{cls.__name__} overrides {method}(); selectors provide fit/tasks/score or choose, "
                                "the driver does the rest")

    # ---- the parts a method provides ---------------------------------------------
    def check(self, pool: Pool, target: Any) -> None:
        """Raise UsageError when the pool lacks what the method needs (reads nothing)."""
        fields = pool.fields
        if "text" in self.needs and not fields.has_text:
            raise UsageError(f"method {self.name} reads text; this pool has none (give --text-field or --template).")
        if "label" in self.needs and not fields.label_field:
            raise UsageError(f"method {self.name} needs labels; name the label field with --label-field (label_field=).")
        if "target" in self.needs and target is None:
            raise UsageError(f"method {self.name} needs a target: examples of the task you care about (--target).")

    def fit(self, ctx: Context) -> Any:
        """Work before scoring or choosing (models, clusters, neighbour graphs); returns
        the state, which the driver passes on. Runs after the pool is read unless
        `fit_before_scan`."""
        return None

    def tasks(self, ctx: Context, state: Any) -> Sequence[Task]:
        """Per-batch work to run on the engine while reading the pool (picklable callables)."""
        return ()

    # ---- the shared driver ----------------------------------------------------------
    def select(self, pool: Pool, budget: BudgetLike, target: Any = None, seed: int = 0, *,
               engine: Engine | str | None = None, workers: int | None = None, replace: bool = False) -> Selection:
        """Choose records of `pool` within `budget`; the same inputs and seed give the same Selection."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise UsageError(f"seed={seed!r}: give a whole number >= 0.")
        if replace and not self.supports_replace:
            raise UsageError(f"method {self.name} does not sample with replacement; drop --replace.")
        started = datetime.datetime.now(datetime.timezone.utc)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        budget = Budget.parse(budget)
        self.check(pool, target)
        tokens = budget.kind == "tokens"
        if tokens and not pool.fields.has_text:
            raise UsageError("a token budget needs text; this pool has none. Give a count or a fraction.")
        ctx = Context(pool, target, int(seed), np.random.default_rng(int(seed)), bool(replace), budget, engine, workers)
        timings["check"] = time.perf_counter() - clock
        state = self._timed(timings, "fit", self.fit, ctx) if self.fit_before_scan else None
        tasks = list(self.tasks(ctx, state))
        mark = time.perf_counter()
        if tasks:
            index, outputs = pool.scan(tasks, engine=engine, workers=workers, tokens=tokens)
        else:
            index, outputs = pool.index(engine=engine, workers=workers, tokens=tokens), []
        timings["scan"] = time.perf_counter() - mark
        limit = budget.resolve(index.n, index.total_tokens, replace)
        ctx = dataclasses.replace(ctx, index=index, outputs=outputs, limit=limit)
        if not self.fit_before_scan:
            state = self._timed(timings, "fit", self.fit, ctx)
        meta = {
            "method": self.name,
            "shape": self.shape,
            "params": self.get_params(),
            "seed": int(seed),
            "budget": str(budget),
            "budget_kind": budget.kind,
            "replace": bool(replace),
            "pool_size": index.n,
            "pool_fingerprint": pool.fingerprint,
            "root_fingerprint": pool.root_fingerprint,
            "pool_files": pool.paths,
            "target_fingerprint": _fingerprints(target),
            "bad_records": len(index.bad),
            "thresher_version": __version__,
            "started_at": started.isoformat(timespec="seconds"),
        }
        selection = self._finish(ctx, state, limit, meta, timings)
        selection.meta["n_selected"] = len(selection)
        selection.meta["timings_s"] = {phase: round(seconds, 4) for phase, seconds in timings.items()}
        selection.meta["duration_s"] = round(time.perf_counter() - clock, 4)
        return selection

    def run(self, pool: Pool, ctx: StepContext) -> Selection:
        """The step protocol: `select` with the context's budget, target and seed."""
        return self.select(pool, ctx.budget, target=ctx.target, seed=ctx.seed, engine=ctx.engine,
                           workers=ctx.workers, replace=ctx.replace)

    def _finish(self, ctx: Context, state: Any, limit: Limit, meta: dict, timings: dict) -> Selection:
        raise NotImplementedError

    @staticmethod
    def _timed(timings: dict, phase: str, work: Callable, *args: Any) -> Any:
        mark = time.perf_counter()
        try:
            return work(*args)
        finally:
            timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - mark


CHOOSER_PARAM = Param("top-k", str, CHOOSER_HELP)


class ScoreSelector(Selector):
    """A selector that scores every record; a shared chooser makes the choice.

    Override `score(ctx, state) -> Scores` (and optionally `fit`, `tasks`, `check`,
    `validate`). The `chooser` parameter is added to every score selector's parameters.
    """

    shape: ClassVar[str] = "score"
    default_chooser: ClassVar[str] = "top-k"
    provides_clusters: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "chooser" not in cls.params:
            cls.params = {**cls.params, "chooser": dataclasses.replace(CHOOSER_PARAM, default=cls.default_chooser)}

    def __init__(self, **params: Any):
        super().__init__(**params)
        self.chooser: Chooser = self.make_chooser()
        if self.chooser.groups == "cluster" and not self.provides_clusters:
            raise UsageError(f"{self.name}: chooser {self.chooser.spec()} needs clusters, and this method makes none; "
                             "use quota(by=label) or quota(by=domain).")

    def make_chooser(self) -> Chooser:
        """The chooser this selector's parameters ask for (parsed at construction)."""
        return parse_chooser(self.config["chooser"])

    def check(self, pool: Pool, target: Any) -> None:
        super().check(pool, target)
        by = self.chooser.groups
        if by in ("label", "domain") and not getattr(pool.fields, f"{by}_field"):
            raise UsageError(f"{self.name}: chooser {self.chooser.spec()} splits by {by}; name that field with "
                             f"--{by}-field.")

    def score(self, ctx: Context, state: Any) -> Scores:
        raise NotImplementedError

    def _finish(self, ctx, state, limit, meta, timings) -> Selection:
        scores = self._timed(timings, "score", self.score, ctx, state)
        chooser = Draws() if ctx.replace else self.chooser
        meta.update(scores.meta, chooser=chooser.spec(), ranking=bool(scores.ranking and not ctx.replace),
                    kept_only=scores.kept_only)
        groups = self._groups(ctx, scores, chooser) if chooser.groups else None
        positions, weights = self._timed(timings, "choose", self._choose, ctx, scores, chooser, limit, groups)
        meta["targets"] = 1 if scores.target_shares is None else len(scores.target_shares)
        mark = time.perf_counter()
        selection = Selection.from_positions(
            ctx.pool.ids_at, ctx.index.n, positions, root=ctx.pool.root_positions, weights=weights,
            scores=scores.values, groups=groups,
            reasons_for=scores.reasons_for, rows="none" if scores.kept_only or scores.values is None else "scored",
            meta=meta)
        timings["build"] = time.perf_counter() - mark
        return selection

    def _choose(self, ctx: Context, scores: Scores, chooser: Chooser, limit: Limit, groups: np.ndarray | None):
        from thresher.select import choosers

        n, costs = ctx.index.n, ctx.index.tokens
        rngs = choosers.chooser_rngs(ctx.seed, 1 if scores.target_shares is None else len(scores.target_shares))
        if scores.values is None:
            return _streamed(scores, chooser, limit, rngs, costs), None
        if scores.by_target is None:
            return _eligible_pick(chooser, scores.values, limit, rngs[0], costs, groups)
        # Several targets: each takes its share of the budget from its own ranking, in turn.
        limits = choosers.split_limit(limit, scores.target_shares)
        eligible = np.flatnonzero(~np.isnan(scores.values))
        rankings = []
        for t, (wide, rng) in enumerate(zip(choosers.widened(limits, len(eligible)), rngs)):
            local = chooser.choose(scores.by_target[eligible, t], wide, rng,
                                   costs[eligible] if costs is not None else None,
                                   groups=groups[eligible] if groups is not None else None)
            rankings.append(eligible[local])
        return choosers.choose_per_target(rankings, limits, n, costs), None

    def _groups(self, ctx: Context, scores: Scores, chooser: Chooser) -> np.ndarray:
        by = chooser.groups
        if by == "cluster":
            if scores.clusters is None:
                raise UsageError(f"{self.name} gave no clusters for {chooser.spec()}.")
            return np.asarray(scores.clusters, dtype=np.int64)
        values = ctx.index.labels if by == "label" else ctx.index.domains
        return group_codes(values)[0]


def _eligible_pick(chooser: Chooser, values: np.ndarray, limit: Limit, rng, costs, groups):
    """The chooser over the records with a score (NaN ones are never chosen), in pool order."""
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any():
        return chooser.pick(values, limit, rng, costs, groups=groups)
    eligible = np.flatnonzero(~missing)
    local, weights = chooser.pick(values[eligible], limit, rng, costs[eligible] if costs is not None else None,
                                  groups=groups[eligible] if groups is not None else None)
    return eligible[local], weights


def _streamed(scores: Scores, chooser: Chooser, limit: Limit, rngs, costs) -> np.ndarray:
    """Choose from scores that arrive batch by batch, keeping only the best keys."""
    from thresher.select import choosers
    from thresher.select.streaming import StreamingTopK

    if not isinstance(chooser, (TopK, GumbelTopK)):
        raise UsageError(f"streaming scores can be chosen by top-k or gumbel only, not {chooser.spec()}.")
    shares = scores.target_shares if scores.target_shares is not None else np.ones(1)
    limits = choosers.split_limit(limit, shares) if len(shares) > 1 else [limit]
    streams = [StreamingTopK(wide, rng, gumbel=isinstance(chooser, GumbelTopK),
                             temperature=getattr(chooser, "temperature", 1.0))
               for wide, rng in zip(choosers.widened(limits, None), rngs)]
    start = 0
    for batch, eligible in scores.batches():
        positions = start + np.flatnonzero(eligible)
        for t, stream in enumerate(streams):
            stream.update(batch[eligible, t], costs[positions] if costs is not None else None, positions)
        start += len(batch)
    n = start
    return choosers.choose_per_target([stream.ranked()[0] for stream in streams], limits, n, costs)


class SetSelector(Selector):
    """A selector that chooses a set directly: override `choose(ctx, state, limit) -> Choice`
    (and optionally `fit`, `tasks`, `check`, `validate`). Its selections keep the gains
    but cannot be re-cut: run it again with the new budget."""

    shape: ClassVar[str] = "set"

    def choose(self, ctx: Context, state: Any, limit: Limit) -> Choice:
        raise NotImplementedError

    def _finish(self, ctx, state, limit, meta, timings) -> Selection:
        choice = self._timed(timings, "choose", self.choose, ctx, state, limit)
        meta.update(choice.meta, ranking=False)
        mark = time.perf_counter()
        positions = np.asarray(choice.positions, dtype=np.int64)
        selection = Selection.from_positions(
            ctx.pool.ids_at, ctx.index.n, positions, root=ctx.pool.root_positions, weights=choice.weights,
            chosen_scores=choice.gains, groups=choice.groups,
            reasons_for=choice.reasons_for, rows="scored" if choice.reasons_for else "none", meta=meta)
        timings["build"] = time.perf_counter() - mark
        return selection


def _fingerprints(target: Any) -> str | list | None:
    if isinstance(target, (list, tuple)):
        return [_fingerprints(t) for t in target]
    return getattr(target, "fingerprint", None)


__all__ = ["CHOOSER_PARAM", "Choice", "Context", "Param", "ScoreSelector", "Scores", "Selector", "SetSelector",
           "split_param"]
