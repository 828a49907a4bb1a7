"""Facility location: a set of records that together resemble the whole pool."""

from __future__ import annotations

import heapq

import numpy as np

from thresher.budget import Limit
from thresher.errors import UsageError
from thresher.select.base import Choice, Context, Param, SetSelector
from thresher.select.registry import register
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector, Walk, budget_records


@register
class FacilityLocation(EmbeddingSelector, SetSelector):
    """Submodular facility location: choose S to maximise sum over records i of
    max_{j in S} sim(i, j), so that every record has a similar kept record.

    It keeps representative records: dense regions get several, isolated records few,
    outliers none until the budget is large. sim is the cosine (clipped at 0, or
    squared as in apricot) between a record and its `neighbours` nearest neighbours,
    and 0 otherwise: a sparse k-nearest-neighbour graph of n x neighbours entries, never
    the dense n x n matrix. The greedy choice is within (1 - 1/e) of the best set
    (Nemhauser et al. 1978, "An analysis of approximations for maximizing submodular set
    functions"); "lazy" greedy (Minoux 1978) re-evaluates only the best-looking candidate,
    "stochastic" greedy (Mirzasoleiman et al. 2015, "Lazier than lazy greedy") picks the
    best of a random sample each step. Gains: what each kept record added to the
    objective when it was chosen (they only shrink along the choice order).
    """

    name = "facility-location"
    summary = "submodular facility location by lazy or stochastic greedy over a sparse kNN graph"
    paper = 'Mirzasoleiman et al. 2020, "Coresets for Data-efficient Training of Machine Learning Models"'
    params = {
        **EMBEDDING_PARAMS,
        "neighbours": Param(20, int, "nearest neighbours per record in the similarity graph"),
        "optimizer": Param("lazy", str, "lazy greedy (exact greedy order) or stochastic greedy (faster)",
                           ("lazy", "stochastic")),
        "epsilon": Param(0.01, float, "stochastic greedy: sample (n / budget) ln(1 / epsilon) candidates per step"),
        "similarity": Param("cosine", str, "cosine clipped at 0, or squared cosine (apricot's)", ("cosine", "squared")),
    }

    def validate(self) -> None:
        if self.config["neighbours"] < 1 or not 0 < self.config["epsilon"] < 1:
            raise UsageError(f"facility-location: neighbours={self.config['neighbours']} must be >= 1 and "
                             f"epsilon={self.config['epsilon']} between 0 and 1.")

    def choose(self, ctx: Context, state, limit: Limit) -> Choice:
        walk = Walk(limit, ctx.index.tokens, ctx.index.n)
        if not walk.open:
            return Choice(walk.positions())
        graph = similarity_graph(self.embeddings(ctx), self.config["neighbours"] + 1, ctx.seed,
                                 self.config["similarity"] == "squared")
        if self.config["optimizer"] == "lazy":
            gains = lazy_greedy(graph, walk)
        else:
            gains = stochastic_greedy(graph, walk, ctx.rng, budget_records(limit, ctx), self.config["epsilon"])
        return Choice(walk.positions(), gains=gains)


def similarity_graph(features: np.ndarray, neighbours: int, seed: int, squared: bool):
    """The kNN similarity graph as a CSC matrix W (n x n): W[i, j] = sim(i, j) when j is
    among i's nearest neighbours, so column j lists the records j would serve. Built
    column by column straight from the neighbour lists (float32 values, int32 rows): about
    12 bytes per edge, with no intermediate COO or CSR copy."""
    from scipy.sparse import csc_matrix

    from thresher.features.vectors import knn

    n = len(features)
    neighbour, sim = knn(features, neighbours, seed)
    valid = neighbour >= 0
    served = neighbour[valid]
    order = np.argsort(served, kind="stable")  # by column, rows ascending within one
    values = np.maximum(sim[valid][order], 0.0).astype(np.float32)
    if squared:
        values = values**2
    rows = np.repeat(np.arange(n, dtype=np.int32), valid.sum(axis=1))[order]
    indptr = np.searchsorted(served[order], np.arange(n + 1)).astype(np.int64)
    return csc_matrix((values, rows, indptr), shape=(n, n))


def _gain(graph, covered: np.ndarray, j: int) -> float:
    lo, hi = graph.indptr[j], graph.indptr[j + 1]
    return float(np.maximum(graph.data[lo:hi] - covered[graph.indices[lo:hi]], 0.0).sum())


def _take(graph, covered: np.ndarray, j: int) -> None:
    lo, hi = graph.indptr[j], graph.indptr[j + 1]
    rows = graph.indices[lo:hi]
    covered[rows] = np.maximum(covered[rows], graph.data[lo:hi])


def final_gains(graph, covered: np.ndarray) -> np.ndarray:
    """What each record would add to the current set: (n,) float64."""
    excess = np.maximum(graph.data - covered[graph.indices], 0.0)
    return np.add.reduceat(np.concatenate([excess, [0.0]]), graph.indptr[:-1]) * (np.diff(graph.indptr) > 0)


def lazy_greedy(graph, walk: Walk) -> np.ndarray:
    """Greedy facility location with lazy evaluation: gains only shrink as the set grows,
    so a stale gain is an upper bound and only the top candidate is re-evaluated.
    Ties go to the lowest position. Returns the gain (k,) of each record the walk took."""
    n = graph.shape[0]
    covered = np.zeros(n)
    chosen_gain = {}
    heap = [(-g, j) for j, g in enumerate(final_gains(graph, covered))]
    heapq.heapify(heap)
    while heap and walk.open:
        bound, j = heapq.heappop(heap)
        gain = _gain(graph, covered, j)
        if not heap or (-gain, j) <= heap[0]:
            if not walk.offer(j):
                break
            _take(graph, covered, j)
            chosen_gain[j] = gain
        else:
            heapq.heappush(heap, (-gain, j))
    return np.array([chosen_gain[j] for j in walk.taken], dtype=np.float64)


def stochastic_greedy(graph, walk: Walk, rng: np.random.Generator, budget: int, epsilon: float) -> np.ndarray:
    """Stochastic greedy: each step, the best of (n / budget) ln(1/epsilon) records drawn
    at random from those not yet chosen (in expectation within 1 - 1/e - epsilon).
    Returns the gain (k,) of each record the walk took."""
    n = graph.shape[0]
    covered = np.zeros(n)
    chosen_gain = {}
    free = np.ones(n, dtype=bool)
    sample_size = int(min(n, np.ceil(n / max(budget, 1) * np.log(1 / epsilon))))
    left = n
    while walk.open and left:
        if left > 2 * sample_size:
            draws = rng.integers(0, n, size=2 * sample_size)  # cheap draws; few land on chosen records
            draws = draws[free[draws]]
            _, first = np.unique(draws, return_index=True)
            sample = draws[np.sort(first)][:sample_size]
        else:
            sample = np.flatnonzero(free)
        block = graph[:, sample]
        gains = final_gains(block, covered)
        j = int(sample[np.argmax(gains)])
        if not walk.offer(j):
            break
        _take(graph, covered, j)
        chosen_gain[j] = float(gains.max())
        free[j] = False
        left -= 1
    return np.array([chosen_gain[j] for j in walk.taken], dtype=np.float64)
