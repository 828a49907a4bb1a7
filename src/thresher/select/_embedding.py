"""What the embedding methods share: where the vectors come from, the cluster count,
and walking a greedy choice within a budget.

Embeddings come from, in order: the `embeddings` parameter (a .npy file with one row
per record, or the name of a list/vector column), `pool.features["embeddings"]` (see
`Pool.with_features`), else the pool's text embedded with `model` (the `[embed]`
extra; cached in the feature store by the pool's texts, so the second method on the
same texts does not re-embed).
Every method works in cosine geometry: rows are L2-normalised block by block.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from thresher.budget import Limit
from thresher.errors import UsageError
from thresher.features.embed import DEFAULT_MODEL
from thresher.select.base import Context, Param

EMBEDDING_PARAMS = {
    "embeddings": Param("", str, "pool embeddings: a .npy file (one row per record) or a list/vector column name; "
                                 "default: the pool's features, else its text embedded with `model`"),
    "model": Param(DEFAULT_MODEL, str, "sentence-transformers model (name or local folder) that embeds text, or "
                                        "'static' (model2vec, distilled from MiniLM; embeds the text even when the "
                                        "pool carries vectors)"),
}
CLUSTER_PARAM = Param(0, int, "k-means clusters; 0 picks sqrt(n), at most 1000")


class EmbeddingSelector:
    """What a selector that works on one embedding (row vector) per record adds: where
    the vectors come from. Mix it in before the shape: `class KCenter(EmbeddingSelector,
    SetSelector)`."""

    needs = ("features",)
    params = EMBEDDING_PARAMS

    def check(self, pool, target) -> None:
        super().check(pool, target)
        if not self.config["embeddings"] and "embeddings" not in pool.features and not pool.fields.has_text:
            raise UsageError(f"method {self.name} needs embeddings: give --embeddings FILE.npy, attach them with "
                             "pool.with_features(...), or give the pool a text field to embed.")

    def embeddings(self, ctx: Context) -> np.ndarray:
        """The pool's embeddings (n, d), possibly a memory map; not normalised yet."""
        return pool_embeddings(ctx.pool, ctx.index.n, self.config["embeddings"], self.config["model"])

    def target_embeddings(self, target: Any, dimensions: int) -> np.ndarray:
        """Embeddings (m, d) of the target examples (one or several target pools)."""
        from thresher.features.embed import embed_pool
        from thresher.features.vectors import check_matrix

        targets = target if isinstance(target, (list, tuple)) else [target]
        parts = []
        for pool in targets:
            if "embeddings" not in pool.features and not pool.fields.has_text:
                raise UsageError(f"method {self.name}: the target has neither text nor features to embed.")
            parts.append(check_matrix(embed_pool(pool, self.config["model"]), name="target embeddings"))
        matrix = np.concatenate([np.asarray(p, dtype=np.float32) for p in parts]) if parts else np.zeros((0, dimensions))
        if matrix.shape[1] != dimensions:
            raise UsageError(f"target embeddings have {matrix.shape[1]} dimensions, the pool's {dimensions}; "
                             "embed both with the same model.")
        return matrix


def pool_embeddings(pool, n: int, source: str = "", model: str = DEFAULT_MODEL) -> np.ndarray:
    """Embeddings (n, d) of a pool: from `source` (a .npy file or a vector column), else the
    pool's attached features, else its text embedded with `model` (through the feature store)."""
    from thresher.features.embed import embed_pool
    from thresher.features.vectors import check_matrix, column_vectors

    if source:
        if os.path.isfile(source):
            return pool.with_features(source).features["embeddings"]
        if source.endswith(".npy"):
            raise UsageError(f"embeddings file {source} does not exist.")
        return check_matrix(column_vectors(pool, source), n, f"column {source!r}")
    return check_matrix(embed_pool(pool, model), n)


def check_clusters(name: str, config: dict) -> None:
    """A negative `clusters` parameter is an error at construction."""
    if config.get("clusters", 0) < 0:
        raise UsageError(f"{name}: clusters={config['clusters']}: give a number >= 1 (or 0 to choose from the pool size).")


def cluster_count(requested: int, n: int) -> int:
    """`requested` clusters, or sqrt(n) capped at 1000 when 0; never more than n."""
    if requested < 0:
        raise UsageError(f"clusters={requested}: give a number >= 1 (or 0 to choose from the pool size).")
    k = requested or int(min(1000, round(np.sqrt(max(n, 1)))))
    return max(1, min(k, n))


class Walk:
    """A greedy choice made one record at a time, stopping where the budget is spent:
    after `limit.count` records, or before the first record whose tokens do not fit
    (the same prefix rule as `Limit.cut`)."""

    def __init__(self, limit: Limit, costs: np.ndarray | None, n: int):
        self.limit, self.costs = limit, costs
        self.taken: list[int] = []
        self.spent = 0
        self.capacity = n if limit.count is None else min(limit.count, n)
        self.open = self.capacity > 0

    def offer(self, position: int) -> bool:
        """Take `position` if it fits; False once the budget is spent (then stop)."""
        if not self.open:
            return False
        if self.limit.tokens is not None:
            cost = int(self.costs[position])
            if self.spent + cost > self.limit.tokens:
                self.open = False
                return False
            self.spent += cost
        self.taken.append(int(position))
        self.open = len(self.taken) < self.capacity
        return True

    def positions(self) -> np.ndarray:
        return np.asarray(self.taken, dtype=np.int64)


def budget_fraction(limit: Limit, ctx: Context) -> float:
    """The share of the pool the budget keeps (by records, or by tokens)."""
    if limit.count is not None:
        return limit.count / max(ctx.index.n, 1)
    return limit.tokens / max(ctx.index.total_tokens or 0, 1)


def budget_records(limit: Limit, ctx: Context) -> int:
    """About how many records the budget keeps (a token budget at the mean record length)."""
    if limit.count is not None:
        return min(limit.count, ctx.index.n)
    mean = max(float(ctx.index.tokens.mean()) if ctx.index.n else 1.0, 1.0)
    return int(min(ctx.index.n, np.ceil(limit.tokens / mean)))
