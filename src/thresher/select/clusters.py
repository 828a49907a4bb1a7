"""Methods that cluster the embeddings with k-means and choose by cluster: k-means
quotas, prototypicality (distance to the centroid) and concept-complexity pruning."""

from __future__ import annotations

import numpy as np

from thresher.budget import Limit
from thresher.select.base import Context, Param
from thresher.select.choosers import Quota, rank_descending
from thresher.select.registry import register
from thresher.select._embedding import (CLUSTER_PARAM, EMBEDDING_PARAMS, EmbeddingSelector, budget_fraction,
                                        budget_records, cluster_count)


def _nothing(limit: Limit, n: int) -> bool:
    return n == 0 or limit.count == 0 or limit.tokens == 0


@register
class KMeansQuota(EmbeddingSelector):
    """Diversity by k-means (Yu et al. 2024): cluster the embeddings, then fill the
    budget with per-cluster quotas, equal (every region of the pool gets a say) or in
    proportion to cluster size, taking within a cluster the records nearest its
    centroid (the most typical of that region) or random ones.

    It keeps a spread of typical records. On many-class sets at small budgets this
    covers the classes that a random sample misses; with `clusters` 0 there is one
    cluster per record in the budget (up to 1000), so the default is "the record
    nearest each centroid". Scores: each record's cosine to its cluster's centroid.
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

    def score(self, ctx: Context) -> np.ndarray:
        return np.zeros(ctx.index.n)  # filled by choose: the cluster count follows the budget

    def choose(self, ctx: Context, scores: np.ndarray, limit: Limit):
        from thresher.features.vectors import kmeans

        n = ctx.index.n
        if _nothing(limit, n):
            return np.zeros(0, np.int64), None
        k = cluster_count(self.config["clusters"] or min(budget_records(limit, ctx), 1000), n)
        _, assign, cosine = kmeans(self.embeddings(ctx), k, ctx.seed)
        scores[:] = cosine
        within = cosine.astype(np.float64) if self.config["within"] == "centroid" else ctx.rng.random(n)
        if limit.count is not None:
            quota = Quota(self.config["proportions"])
            return quota.choose(within, limit, ctx.rng, ctx.index.tokens, groups=assign), None
        # A token budget split into per-cluster token quotas strands tokens in clusters whose
        # next record does not fit; apportioning turns by share fills it instead.
        sizes = np.bincount(assign, minlength=k).astype(np.float64)
        shares = sizes if self.config["proportions"] == "size" else (sizes > 0).astype(np.float64)
        return weighted_quota(within, assign, shares, limit, ctx.index.tokens), None


@register
class Prototypicality(EmbeddingSelector):
    """Self-supervised prototype pruning (Sorscher et al. 2022): k-means on the
    embeddings; a record's difficulty is its cosine distance to its cluster's centroid.

    It keeps the hardest records (far from every prototype) or the easiest (the most
    prototypical). The paper's rule: keep hard examples when the kept set is large,
    easy ones when it is small; keep="auto" applies it, taking easy ones when the
    budget keeps less than `easy_below` of the pool. Scores: the distance (difficulty).
    """

    name = "prototypicality"
    summary = "distance to the k-means centroid; keep the hardest (or, for small budgets, the easiest)"
    paper = 'Sorscher et al. 2022, "Beyond neural scaling laws: beating power law scaling via data pruning"'
    params = {
        **EMBEDDING_PARAMS,
        "clusters": CLUSTER_PARAM,
        "keep": Param("auto", str, "hard (far from centroids), easy (near them), or auto by budget",
                      ("auto", "hard", "easy")),
        "easy_below": Param(0.3, float, "with keep=auto, keep easy records when the budget is below this fraction"),
    }

    def score(self, ctx: Context) -> np.ndarray:
        from thresher.features.vectors import kmeans

        if ctx.index.n == 0:
            return np.zeros(0)
        features = self.embeddings(ctx)
        _, _, cosine = kmeans(features, cluster_count(self.config["clusters"], ctx.index.n), ctx.seed)
        return 1.0 - cosine.astype(np.float64)

    def choose(self, ctx: Context, scores: np.ndarray, limit: Limit):
        keep = self.config["keep"]
        if keep == "auto":
            keep = "easy" if budget_fraction(limit, ctx) < self.config["easy_below"] else "hard"
        ranking = rank_descending(scores if keep == "hard" else -scores)
        return limit.cut(ranking, ctx.index.tokens), None


@register
class Density(EmbeddingSelector):
    """Concept-complexity pruning (Abbas et al. 2024): k-means on the embeddings, then a
    per-cluster keep rate set by the cluster's complexity, its mean cosine distance to
    its centroid (spread) times the mean cosine distance of its centroid to the
    `neighbours` nearest other centroids (isolation). Shares are softmax(complexity /
    temperature), shared out by Sainte-Lague apportionment, so a cluster that runs out
    leaves its turns to the others.

    It keeps more of the spread-out, isolated concepts and less of dense, simple ones,
    which a few examples already cover. Within a cluster: random, or the hardest or
    easiest by distance to the centroid. Scores: the complexity of the record's cluster.
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

    def score(self, ctx: Context) -> np.ndarray:
        from thresher.features.vectors import kmeans

        n = ctx.index.n
        if n == 0:
            ctx.clusters = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
            return np.zeros(0)
        centroids, assign, cosine = kmeans(self.embeddings(ctx), cluster_count(self.config["clusters"], n), ctx.seed)
        complexity = cluster_complexity(centroids, assign, cosine, self.config["neighbours"])
        ctx.clusters = (assign, cosine, complexity)
        return complexity[assign]

    def choose(self, ctx: Context, scores: np.ndarray, limit: Limit):
        assign, cosine, complexity = ctx.clusters
        if _nothing(limit, ctx.index.n):
            return np.zeros(0, np.int64), None
        if self.config["temperature"] <= 0:
            from thresher.errors import UsageError

            raise UsageError(f"density: temperature={self.config['temperature']} must be above 0.")
        logits = complexity / self.config["temperature"]
        shares = np.exp(logits - logits.max())
        within = {"random": ctx.rng.random(len(assign)), "hard": -cosine, "easy": cosine}[self.config["within"]]
        return weighted_quota(np.asarray(within, np.float64), assign, shares, limit, ctx.index.tokens), None


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


def weighted_quota(within: np.ndarray, groups: np.ndarray, shares: np.ndarray, limit: Limit,
                   costs: np.ndarray | None) -> np.ndarray:
    """Records of each group in proportion to `shares` (k,), each group's best first by
    `within`, for a count or a token budget.

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
