"""`auto`: race the selection methods on the user's own pool and keep random unless another
one is measurably better there.

Every method loses to random somewhere (README, "What we measured"), so no single default
is safe. `auto` measures instead of guessing, with the bench's own protocol at a small
scale, on nothing but the pool it is given:

1. It carves a validation split from the pool (stratified by label, seeded with the
   selection's seed, `validation_share` of the pool, at most `VALIDATION_CAP` records), or
   scores on a labelled target when one large enough is given. It never sees a test
   split: the pool (and target) handed to `select` are all it reads.
2. On the rest of the pool it runs each candidate at the same share of records as the
   requested budget, over `seeds` seeds, fits the bench's proxy (logistic regression on
   the embeddings, C tuned once per budget on random selections of that budget, the same
   C for every candidate) and scores it on the validation split.
3. It keeps a candidate other than random only when the paired bootstrap lower bound of
   its accuracy minus random's (seed i against seed i, `level`) is above zero; otherwise
   random. Then it selects from the whole pool with the winner, the same budget and seed.

The race (every candidate's accuracies, the differences, the decision and why, its CPU
cost) is the selection's `meta["race"]`. A pool too small for a validation split of about
`MIN_PER_CLASS` records per class falls back to stratified, and says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from thresher.errors import ThresherError, UsageError
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector
from thresher.select.base import Choice, Context, Param, SetSelector
from thresher.select.registry import register

# Raced when `candidates="auto"` and the pool meets their needs (dsir, rds: a target; the
# signal methods: torch, the [signals] extra). The signal methods that order by difficulty
# race with Sorscher et al.'s budget rule (easy records at small budgets, hard at large
# ones), since the hardest-first order loses by 20-60 points at 1-20% (README). They share
# one recording of the signals per race (the feature store keys it by the race's pool).
SIGNAL_CANDIDATES = ("el2n:keep=auto", "forgetting:keep=auto", "aum:keep=auto", "cartography", "moderate",
                     "ccs", "d2")
DEFAULT_CANDIDATES = ("random", "stratified", "kmeans-quota", "facility-location", "dsir", "rds",
                      *SIGNAL_CANDIDATES)
BASELINE = "random"
FALLBACK = "stratified"
PROXY = "logreg"
TUNE_REPEATS = 3
VALIDATION_CAP = 2000  # records: enough to tell a point of accuracy apart, cheap to predict
FULL_FIT_SAMPLE = 20_000  # records of the one fit timed to report what a whole-pool fit costs
MIN_PER_CLASS = 10  # validation records per class (on average) below which a race says nothing


@dataclass(frozen=True)
class Decision:
    """What the race decided: the selector to run on the whole pool (with `pool`, which
    carries the race's features) and the record of the race for the metadata."""

    winner: Any
    pool: Any
    race: dict


@register
class Auto(EmbeddingSelector, SetSelector):
    """Races candidate methods on the pool's own labels and keeps random unless one beats it
    by a paired 95% lower bound above zero (see the module docstring). Needs the pool's
    labels (the proxy is trained on each selection's labels); a labelled target, when given
    and large enough, is the validation set. Gains: none (the winner's choice is returned)."""

    name = "auto"
    summary = "races the methods on the pool's own labels; keeps random unless one is measurably better"
    paper = None
    needs = ("label", "features")
    params = {
        **EMBEDDING_PARAMS,
        "candidates": Param("auto", str, "comma-separated methods to race (name or name:key=value); 'auto': "
                                         f"{', '.join(DEFAULT_CANDIDATES)}, those the pool can run; random always"),
        "seeds": Param(3, int, "seeds each candidate is raced over (paired with random's by seed)"),
        "validation_share": Param(0.2, float, f"share of the pool carved out to score the race "
                                              f"(stratified, at most {VALIDATION_CAP} records)"),
        "max_cpu_s": Param(600.0, float, "CPU seconds after which no further candidate is raced (0: no cap)"),
        "level": Param(0.95, float, "confidence level of the paired lower bound a candidate must keep above 0"),
    }

    def validate(self) -> None:
        config = self.config
        if config["seeds"] < 3:
            raise UsageError(f"auto: seeds={config['seeds']}: give at least 3 (fewer say nothing about the spread).")
        if not 0 < config["validation_share"] <= 0.5:
            raise UsageError(f"auto: validation_share={config['validation_share']}: give a share in (0, 0.5].")
        if config["max_cpu_s"] < 0:
            raise UsageError(f"auto: max_cpu_s={config['max_cpu_s']}: give seconds >= 0 (0: no cap).")
        if not 0.5 <= config["level"] < 1:
            raise UsageError(f"auto: level={config['level']}: give a confidence level in [0.5, 1).")
        self.candidate_selectors()

    def candidate_selectors(self) -> list[tuple[str, Any]]:
        """(name, selector) of each candidate, random first; a bad name is a UsageError."""
        from thresher.evaluate.protocol import resolve_methods

        spec = self.config["candidates"].strip()
        names = list(DEFAULT_CANDIDATES) if spec in ("", "auto") else [n.strip() for n in spec.split(",") if n.strip()]
        if any(n.split(":")[0] == self.name for n in names):
            raise UsageError("auto: candidates may not include auto itself.")
        if BASELINE not in names:
            names.insert(0, BASELINE)
        try:
            resolved = resolve_methods(names)
        except UsageError as err:
            raise UsageError(f"auto: candidates={spec!r}: {err}") from None
        return sorted(resolved, key=lambda item: item[0] != BASELINE)

    def check(self, pool, target) -> None:
        if not pool.fields.label_field:
            raise UsageError("method auto races candidates by training a classifier on each one's selection, so it "
                             "needs the pool's labels: name the label field with --label-field (label_field=). "
                             "A labelled --target, when given, is used to score them.")
        super().check(pool, target)

    # ---- the race ---------------------------------------------------------------------
    def fit(self, ctx: Context) -> Decision:
        from thresher.select.signals import label_codes

        clock = time.process_time()
        labels, classes = label_codes(ctx.index.labels)
        n, share = ctx.index.n, self.config["validation_share"]
        fraction = (ctx.limit.count / max(n, 1) if ctx.limit.count is not None
                    else ctx.limit.tokens / max(ctx.index.total_tokens or 1, 1))
        fraction = min(1.0, fraction)
        validation = _labelled_target(ctx.target, len(classes))
        carved = min(int(round(share * n)), VALIDATION_CAP)
        if len(classes) < 2:
            reason = "the pool has one class: every proxy predicts it, so a race cannot tell methods apart"
        elif validation is None and carved < MIN_PER_CLASS * len(classes):
            reason = (f"too small to race: a {share:.0%} validation split holds {carved} records, fewer than "
                      f"{MIN_PER_CLASS} per class for {len(classes)} classes "
                      f"(about {int(np.ceil(MIN_PER_CLASS * len(classes) / share))} records are needed)")
        else:
            reason = None
        if reason is not None:
            from thresher.select.baselines import Stratified

            race = {"decision": FALLBACK, "fallback": True, "why": f"{reason}; stratified instead",
                    "cpu_s": round(time.process_time() - clock, 3)}
            return Decision(Stratified(), ctx.pool, race)
        return self._race(ctx, labels, classes, fraction, validation, clock)

    def _race(self, ctx: Context, labels: np.ndarray, classes: list, fraction: float, target_val, clock: float):
        from thresher.evaluate.metrics import mean_ci, paired_vs_random
        from thresher.evaluate.proxy import choose_value, fit_and_score, proxy_spec, tuning_jobs

        config, n = self.config, ctx.index.n
        embeddings = np.asarray(self.embeddings(ctx), dtype=np.float32)
        pool = ctx.pool if "embeddings" in ctx.pool.features and not config["embeddings"] \
            else ctx.pool.with_features(embeddings)
        if target_val is None:
            val_positions = _carve(labels, min(int(round(config["validation_share"] * n)), VALIDATION_CAP), ctx.seed)
            race_positions = np.setdiff1d(np.arange(n), val_positions)
            val_x, val_y = embeddings[val_positions], labels[val_positions]
            race_pool = pool.restrict(pool.ids_at(race_positions)).with_features(embeddings[race_positions])
            source = {"source": "carved from the pool, stratified by label", "n": len(val_positions),
                      "share": config["validation_share"], "seed": ctx.seed}
        else:
            from thresher.choosers import filled_labels

            target_labels = filled_labels(target_val.index().labels).to_pylist()
            code = {c: i for i, c in enumerate(classes)}
            val_y = np.array([code.get(v, -1) for v in target_labels], dtype=np.int64)  # unseen classes: never right
            val_x = np.asarray(self.target_embeddings(target_val, embeddings.shape[1]), dtype=np.float32)
            race_positions, race_pool = np.arange(n), pool
            source = {"source": "the labelled target", "n": len(val_y)}
        race_x, race_y = embeddings[race_positions], labels[race_positions]
        m = len(race_positions)
        count = int(min(m, max(1, round(fraction * m))))
        seeds = [ctx.seed + i for i in range(config["seeds"])]

        def score(positions: np.ndarray, weights, value: float, seed: int) -> float:
            return fit_and_score(PROXY, value, race_x, race_y, positions, weights, val_x, val_y, seed)[0]

        tuning = [(value, r, score(positions, None, value, r))
                  for value, r, positions in tuning_jobs(PROXY, m, count, TUNE_REPEATS, seed=10_000 + ctx.seed)]
        value, tuned = choose_value(PROXY, tuning)

        raced, skipped, failed, not_raced = {}, {}, {}, []
        cap = config["max_cpu_s"]
        for name, selector in self.candidate_selectors():
            if cap and time.process_time() - clock > cap and raced:
                not_raced.append(name)
                continue
            try:
                selector.check(race_pool, ctx.target)
            except ThresherError as err:
                skipped[name] = str(err)
                continue
            try:
                accuracies = []
                for seed in seeds:
                    # In this process: many small selections, for which starting workers costs
                    # more than it saves (the result is the same for any number of workers).
                    chosen = selector.select(race_pool, count, target=ctx.target, seed=seed, workers=1)
                    accuracies.append(score(race_pool.positions_of(chosen.ids), chosen.weights, value, seed))
            except Exception as err:  # a candidate that breaks is reported; random breaking is a real failure
                if name == BASELINE:
                    raise
                failed[name] = f"{type(err).__name__}: {err}"
                continue
            raced[name] = accuracies

        level, baseline = config["level"], raced[BASELINE]
        rows = []
        for name, accuracies in raced.items():
            mean, low, high = mean_ci(accuracies, level)
            row = {"method": name, "accuracy": [round(a, 5) for a in accuracies],
                   "mean": round(mean, 5), "low": _round(low), "high": _round(high)}
            if name != BASELINE:
                paired = paired_vs_random(accuracies, baseline, seed=ctx.seed, level=level)
                row["vs_random"] = {"mean_diff": round(paired["mean_diff"], 5), "low": round(paired["low"], 5),
                                    "high": round(paired["high"], 5), "wilcoxon_p": paired["wilcoxon_p"]}
            rows.append(row)
        winner, why = _decide(rows, level, len(seeds))
        cpu = time.process_time() - clock
        # One proxy fit on (a sample of) the race part, scaled to the pool: what a single
        # training run on the whole pool costs, next to what the race cost.
        sample = np.sort(np.random.default_rng(ctx.seed).permutation(m)[:FULL_FIT_SAMPLE])
        mark = time.process_time()
        fit_and_score(PROXY, value, race_x, race_y, sample, None, val_x[:1], val_y[:1], ctx.seed)
        full_fit = (time.process_time() - mark) * n / len(sample)
        race = {
            "decision": winner, "fallback": False, "why": why, "level": level, "seeds": seeds,
            "validation": source, "race_pool": m, "race_budget": count, "budget_share": round(fraction, 6),
            "proxy": {"model": PROXY, proxy_spec(PROXY).param: value, "tuning": tuned,
                      "tuned_on": f"{TUNE_REPEATS} random selections of {count}"},
            "candidates": rows, "skipped": skipped, "failed": failed, "not_raced": not_raced,
            "cpu_s": round(cpu, 3), "max_cpu_s": cap,
            "full_fit_cpu_s": round(full_fit, 3),
            "full_fit_cpu_s_how": (f"measured: one proxy fit on {len(sample)} of the race's records, "
                                   f"scaled to the pool's {n} (lbfgs cost grows about linearly in records)"),
        }
        if not_raced:
            race["why"] += f" (CPU cap {cap:g} s reached: {', '.join(not_raced)} not raced)"
        selectors = dict(self.candidate_selectors())
        return Decision(selectors[winner], pool, race)

    def choose(self, ctx: Context, state: Decision, limit) -> Choice:
        chosen = state.winner.select(state.pool, ctx.budget, target=ctx.target, seed=ctx.seed, engine=ctx.engine,
                                     workers=ctx.workers)
        return Choice(state.pool.positions_of(chosen.ids), gains=None, weights=chosen.weights,
                      meta={"race": state.race})


def _decide(rows: list[dict], level: float, seeds: int) -> tuple[str, str]:
    """The winner and why: the candidate with the largest mean gain among those whose paired
    lower bound against random is above zero; random when there is none."""
    others = [row for row in rows if "vs_random" in row]
    passing = [row for row in others if row["vs_random"]["low"] > 0]
    if passing:
        best = max(passing, key=lambda row: row["vs_random"]["mean_diff"])
        paired = best["vs_random"]
        return best["method"], (f"{best['method']} beat random by {paired['mean_diff']:+.3f} validation accuracy "
                                f"(paired {level:.0%} interval [{paired['low']:+.3f}, {paired['high']:+.3f}], "
                                f"{seeds} seeds)")
    if not others:
        return BASELINE, "random kept: no other candidate could be raced"
    best = max(others, key=lambda row: row["vs_random"]["mean_diff"])
    paired = best["vs_random"]
    return BASELINE, (f"random kept: no candidate beat it with a paired {level:.0%} lower bound above 0 (best: "
                      f"{best['method']} {paired['mean_diff']:+.3f} [{paired['low']:+.3f}, {paired['high']:+.3f}])")


def _carve(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted positions (size,) of a validation split stratified by `labels: (n,) int64`,
    each class in proportion to its size, drawn with `seed`."""
    from thresher.choosers import allocate

    counts = np.bincount(labels)
    quotas = allocate(counts, size, counts.astype(np.float64))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xA070]))
    order = np.lexsort((rng.random(len(labels)), labels))  # by class, randomly within each
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.sort(np.concatenate([order[s:s + q] for s, q in zip(starts, quotas)]).astype(np.int64))


def _labelled_target(target: Any, classes: int):
    """The target pool, when it is one pool with labels and enough records to score a race."""
    from thresher.data.pool import Pool

    if not isinstance(target, Pool) or not target.fields.label_field:
        return None
    return target if len(target) >= MIN_PER_CLASS * classes else None


def _round(value: float) -> float | None:
    return None if value != value else round(value, 5)


__all__ = ["Auto", "DEFAULT_CANDIDATES"]
