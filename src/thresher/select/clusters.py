"""Methods that cluster the embeddings with k-means and choose by cluster: k-means
quotas, prototypicality (distance to the centroid) and concept-complexity pruning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from thresher.budget import Limit
from thresher.errors import UsageError
from thresher.select.base import Choice, Context, Param, Scores, ScoreSelector, SetSelector
from thresher.select.choosers import Quota, apportion
from thresher.select.registry import register
from thresher.select._embedding import (CLUSTER_PARAM, EMBEDDING_PARAMS, EmbeddingSelector, budget_fraction,
                                        budget_records, check_clusters, cluster_count)


def _nothing(limit: Limit, n: int) -> bool:
    return n == 0 or limit.count == 0 or limit.tokens == 0


@dataclass(frozen=True)
class Clusters:
    """k-means of a pool's embeddings: centroids (k, d), each record's cluster (n,) and
    its cosine to its centroid (n,)."""

    centroids: np.ndarray
    assign: np.ndarray
    cosine: np.ndarray


def fit_clusters(selector, ctx: Context, clusters: int) -> Clusters:
    """k-means with `clusters` clusters (0: sqrt(n), at most 1000) on the pool's embeddings."""
    from thresher.features.vectors import kmeans

    n = ctx.index.n
    if n == 0:
        return Clusters(np.zeros((0, 1), np.float32), np.zeros(0, np.int64), np.zeros(0))
    return Clusters(*kmeans(selector.embeddings(ctx), cluster_count(clusters, n), ctx.seed))


@register
class KMeansQuota(EmbeddingSelector, SetSelector):
    """Diversity by k-means (Yu et al. 2024): cluster the embeddings, then fill the
    budget with per-cluster quotas, equal (every region of the pool gets a say) or in
    proportion to cluster size, taking within a cluster the records nearest its
    centroid (the most typical of that region) or random ones.

    It keeps a spread of typical records. On many-class sets at small budgets this
    covers the classes that a random sample misses; with `clusters` 0 there is one
    cluster per record in the budget (up to 1000), so the default is "the record
    nearest each centroid". A set selector: the clusters follow the budget, so a
    selection cannot be re-cut. Gains: each chosen record's cosine to its centroid.
    """

    name = "kmeans-quota"
    summary = "k-means clusters of the embeddings; equal or size-proportional quotas per cluster"
    paper = 'Yu et al. 2024, "Diversify and Conquer: Diversity-Centric Data Selection with Iterative Refinement"'
    params = {
        **EMBEDDING_PARAMS,
        "clusters": Param(0, int, "k-means clusters; 0: one per record the budget keeps, at most 1000"),
        "proportions": Param("equal", str, "per-cluster quotas: equal, or in proportion to cluster size", ("equal", "size")),
        "within": Param("centroid", str, "within a cluster take those nearest the centroid, or random ones",
                        ("centroid", "random")),
    }

    def validate(self) -> None:
        check_clusters(self.name, self.config)

    def choose(self, ctx: Context, state, limit: Limit) -> Choice:
        n = ctx.index.n
        if _nothing(limit, n):
            return Choice(np.zeros(0, np.int64))
        found = fit_clusters(self, ctx, self.config["clusters"] or min(budget_records(limit, ctx), 1000))
        assign, cosine = found.assign, found.cosine
        within = cosine.astype(np.float64) if self.config["within"] == "centroid" else ctx.rng.random(n)
        if limit.count is not None:
            positions = Quota(self.config["proportions"]).choose(within, limit, ctx.rng, ctx.index.tokens,
                                                                 groups=assign)
        else:
            # A token budget split into per-cluster token quotas strands tokens in clusters whose
            # next record does not fit; apportioning turns by share fills it instead.
            sizes = np.bincount(assign, minlength=len(found.centroids)).astype(np.float64)
            shares = sizes if self.config["proportions"] == "size" else (sizes > 0).astype(np.float64)
            positions = apportion(within, assign, shares, limit, ctx.index.tokens)
        return Choice(positions, gains=cosine[positions].astype(np.float64), meta={"clusters": len(found.centroids)})


@register
class Prototypicality(EmbeddingSelector, ScoreSelector):
    """Self-supervised prototype pruning (Sorscher et al. 2022): k-means on the
    embeddings; a record's difficulty is its cosine distance to its cluster's centroid.

    It keeps the hardest records (far from every prototype) or the easiest (the most
    prototypical). The paper's rule: keep hard examples when the kept set is large,
    easy ones when it is small; keep="auto" applies it, taking easy ones when the
    budget keeps less than `easy_below` of the pool. Scores: the difficulty when keeping
    hard records, its negative when keeping easy ones (higher = keep first). The
    clusters are available to a quota chooser: `chooser=quota(by=cluster)`.
    """

    name = "prototypicality"
    summary = "distance to the k-means centroid; keep the hardest (or, for small budgets, the easiest)"
    paper = 'Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data pruning"'
    provides_clusters = True
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "keep": Param("auto", str, "hard (far from centroids), easy (near them), or auto by budget",
                      ("auto", "hard", "easy")),
        "easy_below": Param(0.3, float, "with keep=auto, keep easy records when the budget is below this fraction"),
    }

    def validate(self) -> None:
        check_clusters(self.name, self.config)
        if not 0 <= self.config["easy_below"] <= 1:
            raise UsageError(f"prototypicality: easy_below={self.config['easy_below']} is a fraction; give 0 to 1.")

    def fit(self, ctx: Context) -> Clusters:
        return fit_clusters(self, ctx, self.config["clusters"])

    def score(self, ctx: Context, state: Clusters) -> Scores:
        difficulty = 1.0 - state.cosine.astype(np.float64)
        keep = self.config["keep"]
        if keep == "auto":
            keep = "easy" if budget_fraction(ctx.limit, ctx) < self.config["easy_below"] else "hard"
        return Scores(difficulty if keep == "hard" else -difficulty, clusters=state.assign, meta={"kept": keep})


@dataclass(frozen=True)
class Concepts:
    """Density's state: the clusters and each cluster's complexity (k,)."""

    clusters: Clusters
    complexity: np.ndarray


@register
class Density(EmbeddingSelector, SetSelector):
    """Concept-complexity pruning (Abbas et al. 2024): k-means on the embeddings, then a
    per-cluster keep rate set by the cluster's complexity, its mean cosine distance to
    its centroid (spread) times the mean cosine distance of its centroid to the
    `neighbours` nearest other centroids (isolation). Shares are softmax(complexity /
    temperature), shared out by Sainte-Lague apportionment, so a cluster that runs out
    leaves its turns to the others.

    It keeps more of the spread-out, isolated concepts and less of dense, simple ones,
    which a few examples already cover. Within a cluster: random, or the hardest or
    easiest by distance to the centroid. Gains: the complexity of each chosen record's
    cluster.
    """

    name = "density"
    summary = "per-cluster keep rate from concept complexity (intra x inter cluster distance)"
    paper = ('Abbas et al. 2024, "Effective pruning of web-scale datasets based on complexity of concept '
             'clusters"')
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "temperature": Param(0.1, float, "softmax temperature over cluster complexity; lower favours complex clusters"),
        "neighbours": Param(20, int, "nearest other centroids that measure a cluster's isolation"),
        "within": Param("random", str, "within a cluster: random, hardest or easiest by centroid distance",
                        ("random", "hard", "easy")),
    }

    def validate(self) -> None:
        check_clusters(self.name, self.config)
        if not self.config["temperature"] > 0:
            raise UsageError(f"density: temperature={self.config['temperature']} must be above 0.")
        if self.config["neighbours"] < 1:
            raise UsageError(f"density: neighbours={self.config['neighbours']} must be at least 1.")

    def fit(self, ctx: Context) -> Concepts:
        found = fit_clusters(self, ctx, self.config["clusters"])
        if ctx.index.n == 0:
            return Concepts(found, np.zeros(0))
        return Concepts(found, cluster_complexity(found.centroids, found.assign, found.cosine,
                                                  self.config["neighbours"]))

    def choose(self, ctx: Context, state: Concepts, limit: Limit) -> Choice:
        assign, cosine = state.clusters.assign, state.clusters.cosine
        if _nothing(limit, ctx.index.n):
            return Choice(np.zeros(0, np.int64))
        logits = state.complexity / self.config["temperature"]
        shares = np.exp(logits - logits.max())
        within = {"random": ctx.rng.random(len(assign)), "hard": -cosine, "easy": cosine}[self.config["within"]]
        positions = apportion(np.asarray(within, np.float64), assign, shares, limit, ctx.index.tokens)
        return Choice(positions, gains=state.complexity[assign[positions]].astype(np.float64))


def cluster_complexity(centroids: np.ndarray, assign: np.ndarray, cosine: np.ndarray, neighbours: int) -> np.ndarray:
    """Per cluster (k,): mean cosine distance to the centroid x mean cosine distance of
    the centroid to its `neighbours` nearest other centroids. Empty clusters score 0."""
    k = len(centroids)
    sizes = np.bincount(assign, minlength=k)
    intra = np.bincount(assign, weights=1.0 - cosine, minlength=k) / np.maximum(sizes, 1)
    if k == 1:
        return intra
    distance = 1.0 - centroids @ centroids.T
    np.fill_diagonal(distance, np.inf)
    distance[:, sizes == 0] = np.inf
    nearest = np.sort(distance, axis=1)[:, : max(1, min(neighbours, k - 1))]
    finite = np.isfinite(nearest)
    inter = np.where(finite, nearest, 0.0).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
    return np.where(sizes > 0, intra * inter, 0.0)
