"""Choosers: turn scores into a choice, shared by every score selector.

A score selector computes scores (higher = better); a chooser picks positions from them
within a budget `Limit` (a count, or a token total with per-record `costs`). Every chooser
returns positions (k,) int64 into the scores it was given, in choice order (best first),
and breaks ties by position, so the same scores and seed always give the same choice.

Any score can be chosen any of these ways; a selector's `chooser` parameter names one:

    top-k                                  the highest scores (the default)
    gumbel  or  gumbel(temperature=0.5)    sampling without replacement, p ~ exp(score / T)
    threshold(value=0.9)                   every record scoring at least the value
    quota(by=label, proportions=equal)     per-group quotas (by label, domain or cluster)

`parse_chooser` reads these; `Chooser.spec` writes them back, so a selection records how
it was chosen and `Selection.recut` can choose again. Also here: `apportion`
(Sainte-Lague shares per group), the split of one budget over several targets
(`choose_per_target`), and draws with replacement (`Draws`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Callable, ClassVar, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.budget import Limit
from thresher.errors import UsageError


def rank_descending(scores: np.ndarray) -> np.ndarray:
    """All positions, highest score first; equal scores in pool order. NaN ranks last."""
    scores = np.asarray(scores, dtype=np.float64)
    keys = np.where(np.isnan(scores), -np.inf, scores)
    return np.lexsort((np.arange(len(scores)), -keys))


def top_positions(scores: np.ndarray, limit: Limit, costs: np.ndarray | None = None) -> np.ndarray:
    """The best positions that fit `limit`, best first."""
    n = len(scores)
    if limit.count is not None and limit.count < n // 4:
        keys = np.asarray(scores, dtype=np.float64)
        missing = np.isnan(keys)
        keys = np.where(missing, -np.inf, keys) if missing.any() else keys  # no NaN, no (n,) float64 copy
        del missing
        # Partition first, then order only the candidates (ties at the cut included).
        kth = np.partition(keys, n - limit.count)[n - limit.count] if limit.count else np.inf
        candidates = np.flatnonzero(keys >= kth)
        order = candidates[np.lexsort((candidates, -keys[candidates]))]
        return order[: limit.count]
    return limit.cut(rank_descending(scores), costs)


class Chooser:
    """Base of the choosers: frozen dataclasses whose fields are their parameters.

    `groups` names what `choose` needs per record besides the scores ("label",
    "domain", "cluster" or None); `uses_rng` says whether the choice is random."""

    name: ClassVar[str] = ""
    uses_rng: ClassVar[bool] = False

    @property
    def groups(self) -> str | None:
        return None

    def choose(self, scores: np.ndarray, limit: Limit | None, rng: np.random.Generator,
               costs: np.ndarray | None = None, *, groups: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def pick(self, scores: np.ndarray, limit: Limit | None, rng: np.random.Generator, costs: np.ndarray | None = None,
             *, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """(positions (k,), weights (k,) or None): what the driver calls."""
        return self.choose(scores, limit, rng, costs, groups=groups), None

    def spec(self) -> str:
        """This chooser written as `parse_chooser` reads it, e.g. "gumbel(temperature=0.5)"."""
        args = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name) != f.default]
        return f"{self.name}({','.join(args)})" if args else self.name


@dataclass(frozen=True)
class TopK(Chooser):
    """The highest-scoring records."""

    name: ClassVar[str] = "top-k"

    def choose(self, scores, limit, rng, costs=None, *, groups=None):
        return top_positions(scores, limit, costs)


@dataclass(frozen=True)
class GumbelTopK(Chooser):
    """Sampling without replacement, each record drawn with probability proportional to
    exp(score / temperature): scores are log-weights. Adds Gumbel noise and takes the top
    (Kool et al. 2019, "Stochastic Beams and Where to Find Them")."""

    name: ClassVar[str] = "gumbel"
    uses_rng: ClassVar[bool] = True
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise UsageError(f"gumbel temperature={self.temperature} must be above 0.")

    def choose(self, scores, limit, rng, costs=None, *, groups=None):
        keys = np.asarray(scores, dtype=np.float64) / self.temperature + rng.gumbel(size=len(scores))
        return top_positions(keys, limit, costs)


@dataclass(frozen=True)
class Threshold(Chooser):
    """Every record scoring at least `value` (then cut to the budget, best first)."""

    name: ClassVar[str] = "threshold"
    value: float = 0.0

    def choose(self, scores, limit, rng, costs=None, *, groups=None):
        order = rank_descending(scores)
        order = order[np.asarray(scores)[order] >= self.value]
        return order if limit is None else limit.cut(order, costs)


@dataclass(frozen=True)
class Quota(Chooser):
    """Per-group quotas: split the budget over groups (labels, domains or clusters, `by`)
    in proportion to group size ("size") or equally ("equal"), then take each group's
    best records by score. Small groups that cannot fill an equal share give the rest to
    the others. The choice is interleaved across groups, so any prefix stays balanced."""

    name: ClassVar[str] = "quota"
    proportions: str = "size"
    by: str = "label"

    def __post_init__(self) -> None:
        if self.proportions not in ("size", "equal"):
            raise UsageError(f"quota proportions {self.proportions!r}: use 'size' or 'equal'.")
        if self.by not in ("label", "domain", "cluster"):
            raise UsageError(f"quota by={self.by!r}: use label, domain or cluster.")

    @property
    def groups(self) -> str:
        return self.by

    def choose(self, scores, limit, rng, costs=None, *, groups=None):
        if groups is None:
            raise UsageError(f"quota(by={self.by}) needs a {self.by} per record.")
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(groups.max()) + 1 if len(groups) else 0
        order = rank_descending(scores)
        by_group = order[np.argsort(groups[order], kind="stable")]
        sizes = np.bincount(groups, minlength=n_groups)
        starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
        rank_in_group = np.arange(len(by_group)) - starts[groups[by_group]]
        if limit is None:
            raise UsageError("a quota needs a budget.")
        if limit.count is not None:
            shares = sizes if self.proportions == "size" else (sizes > 0).astype(np.float64)
            quota = allocate(sizes, limit.count, shares)
            chosen = by_group[rank_in_group < quota[groups[by_group]]]
            position_in_quota = rank_in_group[rank_in_group < quota[groups[by_group]]]
            fill = (position_in_quota + 0.5) / quota[groups[chosen]]
        else:
            assert costs is not None, "a token budget needs per-record costs"
            group_tokens = np.bincount(groups, weights=costs, minlength=n_groups).astype(np.int64)
            shares = group_tokens if self.proportions == "size" else (sizes > 0).astype(np.float64)
            quota = allocate(group_tokens, limit.tokens, shares)
            spent = np.cumsum(costs[by_group]) - np.concatenate([[0], np.cumsum(group_tokens)])[:-1][groups[by_group]]
            fits = spent <= quota[groups[by_group]]
            chosen = by_group[fits]
            fill = spent[fits] / np.maximum(quota[groups[chosen]], 1)
        return chosen[np.lexsort((groups[chosen], fill))]


@dataclass(frozen=True)
class Draws(Chooser):
    """Sampling with replacement: draws until the budget is spent, each record with
    probability proportional to exp(score) (uniform when the scores are equal). Each
    drawn record appears once, its weight the number of times it was drawn, in the order
    of its first draw."""

    name: ClassVar[str] = "draws"
    uses_rng: ClassVar[bool] = True

    def choose(self, scores, limit, rng, costs=None, *, groups=None):
        return self.pick(scores, limit, rng, costs, groups=groups)[0]

    def pick(self, scores, limit, rng, costs=None, *, groups=None):
        scores = np.asarray(scores, dtype=np.float64)
        n = len(scores)
        if n == 0:
            return np.zeros(0, np.int64), None
        p = None
        if np.ptp(scores) > 0:
            p = np.exp(scores - scores.max())
            p /= p.sum()

        def draw(size: int) -> np.ndarray:
            return rng.integers(0, n, size=size) if p is None else rng.choice(n, size=size, p=p)

        if limit.count is not None:
            draws = draw(limit.count)
        else:
            draws = _draw_tokens(draw, costs, limit.tokens)
        unique, first, counts = np.unique(draws, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")
        return unique[order], counts[order].astype(np.float64)


def _draw_tokens(draw: Callable[[int], np.ndarray], costs: np.ndarray, tokens: int) -> np.ndarray:
    """Draws with replacement until the next one would pass `tokens`."""
    if costs.max() == 0:
        raise UsageError("a token budget with replacement needs records with tokens; every text here is empty.")
    mean = max(float(costs.mean()), 1.0)
    draws = np.zeros(0, dtype=np.int64)
    while True:
        draws = np.concatenate([draws, draw(int(tokens / mean * 1.1) + 16)])
        spent = np.cumsum(costs[draws])
        if spent[-1] > tokens or (spent[-1] == tokens and tokens == 0):
            return draws[: int(np.searchsorted(spent, tokens, side="right"))]


CHOOSERS: dict[str, type[Chooser]] = {chooser.name: chooser for chooser in (TopK, GumbelTopK, Threshold, Quota, Draws)}
CHOOSER_HELP = ("how scores become a choice: top-k, gumbel or gumbel(temperature=T), threshold(value=V), "
                "quota(by=label|domain|cluster,proportions=size|equal)")
_SPEC = re.compile(r"^\s*([a-z][a-z0-9-]*)\s*(?:\((.*)\))?\s*$")


def parse_chooser(text: str | Chooser) -> Chooser:
    """The chooser a spec names: "top-k", "gumbel(temperature=0.5)", "quota(by=label)"."""
    if isinstance(text, Chooser):
        return text
    match = _SPEC.match(str(text))
    if not match or match.group(1) not in CHOOSERS or match.group(1) == "draws":
        known = ", ".join(name for name in CHOOSERS if name != "draws")
        raise UsageError(f"chooser {text!r}: use one of {known}, with options in parentheses, "
                         "e.g. gumbel(temperature=0.5) or quota(by=label,proportions=equal).")
    cls = CHOOSERS[match.group(1)]
    kinds = {f.name: type(f.default) for f in fields(cls)}
    options = {}
    for part in filter(None, (p.strip() for p in (match.group(2) or "").split(","))):
        key, equals, value = part.partition("=")
        key = key.strip()
        if not equals and len(kinds) == 1:  # "threshold(0.9)": the only option
            key, value = next(iter(kinds)), key
        if key not in kinds:
            raise UsageError(f"chooser {text!r}: {cls.name} has no option {key!r}"
                             + (f"; its options: {', '.join(kinds)}." if kinds else " (it takes none)."))
        try:
            options[key] = kinds[key](value.strip())
        except ValueError:
            raise UsageError(f"chooser {text!r}: {key}={value.strip()!r} is not a {kinds[key].__name__}.") from None
    return cls(**options)


def filled_labels(labels) -> pa.Array:
    """A label column as strings, a missing label as its own class "<missing>"."""
    return pc.fill_null(pc.cast(labels, pa.string()), "<missing>")


def group_codes(values: pa.Array) -> tuple[np.ndarray, list]:
    """(codes (n,) int64, sorted distinct values) for a label or domain column."""
    encoded = pc.dictionary_encode(values).combine_chunks() if isinstance(values, pa.ChunkedArray) else pc.dictionary_encode(values)
    dictionary = encoded.dictionary
    sorter = pc.sort_indices(dictionary).to_numpy()
    remap = np.empty(len(sorter), dtype=np.int64)
    remap[sorter] = np.arange(len(sorter))
    codes = remap[encoded.indices.to_numpy(zero_copy_only=False)]
    return codes, dictionary.take(pa.array(sorter)).to_pylist()


def allocate(capacity: np.ndarray, total: int, shares: np.ndarray) -> np.ndarray:
    """Split `total` over groups in proportion to `shares`, never above `capacity`.

    Largest-remainder rounding; what a full group cannot take goes to the others in
    their shares (water-filling). Returns (g,) int64 quotas summing to
    min(total, capacity.sum()).
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    quota = np.zeros(len(capacity), dtype=np.int64)
    remaining = int(min(total, capacity.sum()))
    while remaining > 0:
        active = quota < capacity
        weight = np.where(active, shares, 0.0)
        if weight.sum() <= 0:
            weight = active.astype(np.float64)
        ideal = remaining * weight / weight.sum()
        add = np.floor(ideal).astype(np.int64)
        left = remaining - int(add.sum())
        if left:
            remainders = np.where(active, ideal - add, -1.0)
            # Among equal remainders, the group with least so far (per share) goes first.
            fill = (quota + add) / np.maximum(shares, 1e-12)
            add[np.lexsort((np.arange(len(add)), fill, -np.round(remainders, 12)))[:left]] += 1
        add = np.minimum(add, capacity - quota)
        quota += add
        remaining -= int(add.sum())
    return quota


def apportion(within: np.ndarray, groups: np.ndarray, shares: np.ndarray, limit: Limit,
              costs: np.ndarray | None) -> np.ndarray:
    """Records of each group in proportion to `shares` (g,), each group's best first by
    `within` (n,), for a count or a token budget.

    The r-th best record of group g gets the key (r + 1/2) / share_g and records are
    taken by increasing key (Sainte-Lague apportionment): any prefix splits the groups by
    their shares, and a group that runs out leaves its turns to the others."""
    order = rank_descending(within)
    by_group = order[np.argsort(groups[order], kind="stable")]
    sizes = np.bincount(groups, minlength=len(shares))
    starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
    rank = np.arange(len(by_group)) - starts[groups[by_group]]
    share = np.asarray(shares, dtype=np.float64)[groups[by_group]]
    key = np.where(share > 0, (rank + 0.5) / np.where(share > 0, share, 1.0), np.inf)
    return limit.cut(by_group[np.lexsort((by_group, key))], costs)


# ---- one budget over several targets ---------------------------------------------------
def split_limit(limit: Limit, shares: np.ndarray) -> list[Limit]:
    """One limit per target: the budget in proportion to `shares` (largest remainder)."""
    total = limit.count if limit.count is not None else limit.tokens
    parts = allocate(np.full(len(shares), total, dtype=np.int64), total, shares)
    return [Limit(count=int(p), tokens=None) if limit.count is not None else Limit(count=None, tokens=int(p))
            for p in parts]


def widen(limit: Limit, before: int, available: int | None) -> Limit:
    """A limit that ranks enough candidates for a target after earlier targets took `before`."""
    if limit.count is not None:
        count = limit.count + before
        return Limit(count=count if available is None else min(count, available), tokens=None)
    if available is not None:
        return Limit(count=available, tokens=None)  # in memory: the whole ranking
    return Limit(count=None, tokens=limit.tokens + before)


def widened(limits: Sequence[Limit], available: int | None) -> list[Limit]:
    """Each target's limit widened (`widen`) by what the targets before it take."""
    wide, before = [], 0
    for one in limits:
        wide.append(widen(one, before, available))
        before += one.count if one.count is not None else one.tokens
    return wide


def chooser_rngs(seed: int, targets: int = 1) -> list[np.random.Generator]:
    """The generators a selection's chooser draws from, one per target, spawned from the
    seed (not the seed's own generator, which scoring may use): `Selection.recut` takes
    the same ones, so it replays the choice."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(int(seed)).spawn(targets)]


def interleave(chosen: Sequence[np.ndarray]) -> np.ndarray:
    """Merge per-target choices so that any prefix keeps the targets' shares."""
    if len(chosen) == 1:
        return chosen[0]
    positions = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    fill = np.concatenate([(np.arange(len(c)) + 0.5) / max(len(c), 1) for c in chosen]) if chosen else np.zeros(0)
    group = np.concatenate([np.full(len(c), i) for i, c in enumerate(chosen)]) if chosen else np.zeros(0)
    return positions[np.lexsort((group, fill))]


def choose_per_target(rankings: Iterable[np.ndarray], limits: Sequence[Limit], n: int,
                      costs: np.ndarray | None) -> np.ndarray:
    """Each target in turn takes its share (`limits[t]`) from its ranking (positions best
    first, ranked with `widen`), skipping records earlier targets took; interleaved."""
    chosen: list[np.ndarray] = []
    taken = np.zeros(n, dtype=bool)
    for positions, one in zip(rankings, limits):
        positions = positions[~taken[positions]]
        positions = one.cut(positions, costs)
        taken[positions] = True
        chosen.append(positions)
    return interleave(chosen)


__all__ = ["CHOOSERS", "CHOOSER_HELP", "Chooser", "Draws", "GumbelTopK", "Quota", "Threshold", "TopK", "allocate",
           "apportion", "choose_per_target", "chooser_rngs", "group_codes", "interleave", "parse_chooser",
           "rank_descending", "split_limit", "top_positions", "widen", "widened"]
