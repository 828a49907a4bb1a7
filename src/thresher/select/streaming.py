"""A chooser for pools too large to keep every score: it sees scores batch by batch, in
pool order, and keeps only the best keys, so its memory is O(k + batch) instead of O(pool).

    chooser = StreamingTopK(limit, rng, gumbel=True)
    for scores in batches:               # (m,) float64 each, in pool order
        chooser.update(scores)
    positions = chooser.result()         # == GumbelTopK().choose(all_scores, limit, rng)

With `gumbel=True` each key is score / temperature + Gumbel noise, drawn from `rng` in
pool order, so the choice is the same as the in-memory `GumbelTopK` (and with
`gumbel=False`, `TopK`) on the same scores and seed: sampling without replacement with
probability proportional to exp(score) (Kool et al. 2019, "Stochastic Beams and Where to
Find Them"; as a weighted reservoir, Efraimidis and Spirakis 2006, "Weighted random
sampling with a reservoir"). Ties go to the earlier position, as in `top_positions`.
"""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit


class StreamingTopK:
    """Best keys of a stream of scores within a count or token `limit`.

    limit: the budget. For a token limit, `update` needs the records' costs, and the
    chooser keeps the best-ranked records up to and including the first that would
    overflow the limit (what any later cut can need).
    """

    def __init__(self, limit: Limit, rng: np.random.Generator | None = None, *, gumbel: bool = True,
                 temperature: float = 1.0):
        if gumbel and rng is None:
            raise ValueError("Gumbel keys need a random generator")
        self.limit = limit
        self.rng = rng
        self.gumbel = gumbel
        self.temperature = temperature
        self.seen = 0
        self._keys = np.zeros(0, dtype=np.float64)
        self._positions = np.zeros(0, dtype=np.int64)
        self._costs = np.zeros(0, dtype=np.int64)

    def update(self, scores: np.ndarray, costs: np.ndarray | None = None, positions: np.ndarray | None = None) -> None:
        """Add the next records: scores (m,), costs (m,) tokens for token limits, and their
        pool positions (m,) in increasing order (default: the next m positions)."""
        scores = np.asarray(scores, dtype=np.float64)
        m = len(scores)
        if positions is None:
            positions = np.arange(self.seen, self.seen + m, dtype=np.int64)
        self.seen = int(positions[-1]) + 1 if m else self.seen
        keys = scores / self.temperature if self.gumbel else scores.copy()
        if self.gumbel:
            keys += self.rng.gumbel(size=m)
        keys = np.where(np.isnan(keys), -np.inf, keys)
        if self.limit.tokens is not None and costs is None:
            raise ValueError("a token limit needs per-record costs")
        costs = np.zeros(m, np.int64) if costs is None else np.asarray(costs, dtype=np.int64)
        keys = np.concatenate([self._keys, keys])
        positions = np.concatenate([self._positions, np.asarray(positions, dtype=np.int64)])
        costs = np.concatenate([self._costs, costs])
        if self.limit.count is not None and len(keys) > 2 * self.limit.count + 1024:
            # Cheap first cut: everything strictly below the k-th key can never come back.
            kth = np.partition(keys, len(keys) - self.limit.count)[len(keys) - self.limit.count] if self.limit.count else np.inf
            keep = keys >= kth
            keys, positions, costs = keys[keep], positions[keep], costs[keep]
        order = np.lexsort((positions, -keys))
        keys, positions, costs = keys[order], positions[order], costs[order]
        if self.limit.count is not None:
            stop = self.limit.count
        else:
            overflow = np.flatnonzero(np.cumsum(costs) > self.limit.tokens)
            stop = int(overflow[0]) + 1 if len(overflow) else len(keys)
        self._keys, self._positions, self._costs = keys[:stop], positions[:stop], costs[:stop]

    def ranked(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept records, best first: positions (r,) int64 and costs (r,) int64."""
        return self._positions.copy(), self._costs.copy()

    def result(self) -> np.ndarray:
        """Positions (k,) int64 of the choice, best first."""
        if self.limit.count is not None:
            return self._positions[: self.limit.count].copy()
        spent = np.cumsum(self._costs)
        return self._positions[: int(np.searchsorted(spent, self.limit.tokens, side="right"))].copy()
