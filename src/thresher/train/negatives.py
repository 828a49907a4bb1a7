"""Hard negatives and topic-balanced batches for training retrievers on (query, positive) pairs.

- Mining (ANCE-style, Xiong et al. 2021, "Approximate Nearest Neighbor Negative
  Contrastive Learning for Dense Text Retrieval"): rank the corpus by embedding
  similarity to each query and sample negatives from a *rank window* [start, end) of that
  ranking, skipping the top ranks where unlabeled positives crowd. *False-negative
  protection* (Moreira et al. 2024, "NV-Retriever: Improving text Embedding Models with
  Effective Hard-Negative Mining"): drop candidates scoring within `margin` of the
  positive (sim > pos - margin) or above `max_ratio` times the positive's score. Call
  `mine` again with fresh embeddings to refresh the negatives as the encoder trains.
- Batches (Hofstatter et al. 2021, "Efficiently Teaching an Effective Dense Retriever
  with Balanced Topic Aware Sampling", TAS-Balanced): cluster the queries with k-means
  and fill each batch from one topic cluster, so in-batch negatives are on-topic; given
  per-query margins (e.g. a teacher's positive-minus-negative score), queries in a
  cluster are interleaved across margin bins so each batch spans easy to hard pairs.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from thresher.errors import UsageError
from thresher.train.base import as_numpy, check_positive_int


def _as_matrix(name: str, values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu").numpy()
    matrix = np.asarray(values, dtype=np.float32)
    if matrix.ndim != 2:
        raise UsageError(f"{name} must be a 2-D (rows, dim) array, got shape {matrix.shape}.")
    return matrix


class HardNegativeMiner(Sampler[list[int]]):
    """Mines hard negatives per query and yields (optionally topic-balanced) batches of queries.

    Parameters
    ----------
    num_negatives: negatives per query returned by `mine` / `negatives`.
    rank_window: (start, end) ranks, 0-based after removing the positives, to sample from.
    margin: drop candidates with similarity > positive's similarity - margin (None: off).
    max_ratio: drop candidates with similarity > max_ratio * positive's similarity (None: off).
    batch_size: queries per batch when used as a DataLoader `batch_sampler`.
    topics: number of k-means query clusters for topic-balanced batches (None: random batches).
    margin_bins: with per-query margins, how many bins to balance each batch across.
    seed, num_replicas, rank, drop_last: as for the other samplers; sharding is by batch.

    Use: `miner.fit(query_emb, num_queries=...)` (topics), `miner.mine(query_emb, doc_emb,
    positives)`, then `DataLoader(pairs, batch_sampler=miner)` and `miner.negatives(idx)`.
    """

    def __init__(self, num_negatives: int = 4, *, rank_window: tuple[int, int] = (0, 100),
                 margin: float | None = 0.05, max_ratio: float | None = None, batch_size: int = 32,
                 topics: int | None = None, margin_bins: int = 4, seed: int = 0, num_replicas: int = 1,
                 rank: int = 0, drop_last: bool = False):
        self.num_negatives = check_positive_int("num_negatives", num_negatives)
        start, end = rank_window
        if not 0 <= start < end or end - start < self.num_negatives:
            raise UsageError(f"rank_window must be (start, end) with 0 <= start < end and room for "
                             f"num_negatives={num_negatives}, got {rank_window!r}.")
        self.rank_window = (int(start), int(end))
        self.margin = None if margin is None else float(margin)
        self.max_ratio = None if max_ratio is None else float(max_ratio)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.topics = None if topics is None else check_positive_int("topics", topics)
        self.margin_bins = check_positive_int("margin_bins", margin_bins)
        self.num_replicas = check_positive_int("num_replicas", num_replicas)
        if not 0 <= rank < self.num_replicas:
            raise UsageError(f"rank must be in [0, num_replicas={num_replicas}), got {rank!r}.")
        self.rank, self.seed, self.drop_last = int(rank), int(seed), bool(drop_last)
        self.epoch = 0
        self.refreshes = 0
        self.num_queries: int | None = None
        self.topic_of: np.ndarray | None = None
        self.margin_bin_of: np.ndarray | None = None
        self.negatives_: np.ndarray | None = None
        self.dropped_as_false_negative = 0

    # ---- mining -----------------------------------------------------------------------
    def mine(self, query_embeddings, doc_embeddings, positives) -> np.ndarray:
        """(m, num_negatives) int64 corpus positions of negatives for each query.

        `query_embeddings`: (m, d); `doc_embeddings`: (N, d) (normalise both for cosine);
        `positives`: (m,) corpus position of each query's positive, or a list of lists
        when a query has several (the best-scoring one sets the margin). Where the window
        holds too few candidates after protection, random documents that are neither
        positives nor above the protection ceiling fill in (-1 if the corpus has none).
        Similarities are computed in blocks of queries, never as one m x N product.
        """
        queries = _as_matrix("query_embeddings", query_embeddings)
        docs = _as_matrix("doc_embeddings", doc_embeddings)
        if queries.shape[1] != docs.shape[1]:
            raise UsageError(f"queries have dimension {queries.shape[1]} but documents {docs.shape[1]}.")
        positive_sets = self._positive_sets(positives, len(queries), len(docs))
        widest = max(len(p) for p in positive_sets)
        padded = np.full((len(queries), widest), -1, dtype=np.int64)
        for q, p in enumerate(positive_sets):
            padded[q, : len(p)] = p
        rng = np.random.default_rng([self.seed, self.refreshes, 7])
        out = np.empty((len(queries), self.num_negatives), dtype=np.int64)
        dropped = 0
        block = max(1, (1 << 22) // max(1, len(docs)))
        for first in range(0, len(queries), block):
            sims = queries[first:first + block] @ docs.T
            chosen, short, lost = self._mine_block(sims, padded[first:first + block], rng)
            out[first:first + block] = chosen
            dropped += lost
            for row in short:  # too few safe candidates in the window: fill in, one query at a time
                q = first + row
                out[q] = self._pick(chosen[row][chosen[row] >= 0], positive_sets[q],
                                    sims[row] > self._ceiling(sims[row, positive_sets[q]].max()), rng)
        self.dropped_as_false_negative = dropped
        self.negatives_ = out
        self.refreshes += 1
        if self.num_queries is None:
            self.num_queries = len(queries)
        return out

    def _ceiling(self, positive_score):
        """Highest similarity a negative may have: below the positive by `margin` / `max_ratio`."""
        ceiling = np.full(np.shape(positive_score), np.inf)
        if self.margin is not None:
            ceiling = np.minimum(ceiling, positive_score - self.margin)
        if self.max_ratio is not None:
            ceiling = np.minimum(ceiling, self.max_ratio * positive_score)
        return ceiling

    def _mine_block(self, sims: np.ndarray, positives: np.ndarray, rng):
        """Negatives for a block of queries at once: (b, k) picks (-1 where short), short rows, dropped count."""
        rows, n_docs = sims.shape
        start, end = self.rank_window
        depth = min(n_docs, end + positives.shape[1])
        if depth < n_docs:
            top = np.argpartition(-sims, depth - 1, axis=1)[:, :depth]
        else:
            top = np.broadcast_to(np.arange(n_docs), (rows, n_docs))
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        ranked = np.take_along_axis(top, order, axis=1)
        ranked_scores = np.take_along_axis(top_scores, order, axis=1)
        is_positive = (ranked[:, :, None] == positives[:, None, :]).any(axis=2)
        rank = np.cumsum(~is_positive, axis=1) - 1  # rank among non-positives
        in_window = ~is_positive & (rank >= start) & (rank < end)
        valid = positives >= 0
        positive_scores = np.where(valid, np.take_along_axis(sims, np.where(valid, positives, 0), axis=1), -np.inf)
        safe = in_window & (ranked_scores <= self._ceiling(positive_scores.max(axis=1))[:, None])
        # A uniform random k-subset of each row's safe candidates: the k largest random keys.
        keys = np.where(safe, rng.random(safe.shape), -1.0)
        picks = np.argsort(-keys, axis=1, kind="stable")[:, : self.num_negatives]
        chosen = np.where(np.take_along_axis(keys, picks, axis=1) >= 0, np.take_along_axis(ranked, picks, axis=1), -1)
        short = np.flatnonzero(safe.sum(axis=1) < self.num_negatives)
        return chosen, short, int((in_window & ~safe).sum())

    def _pick(self, safe: np.ndarray, pos: np.ndarray, too_close: np.ndarray, rng) -> np.ndarray:
        """k of the safe candidates; if too few, all of them plus random documents that are
        neither positives nor above the false-negative ceiling (`too_close`: (N,) bool)."""
        k = self.num_negatives
        if len(safe) >= k:
            return rng.choice(safe, size=k, replace=False)
        allowed = ~too_close
        allowed[pos] = False
        allowed[safe] = False
        pool = np.flatnonzero(allowed)
        filler = rng.choice(pool, size=min(len(pool), k - len(safe)), replace=False)
        picked = np.concatenate([safe, filler]).astype(np.int64)
        return np.resize(picked, k) if len(picked) else np.full(k, -1, dtype=np.int64)

    @staticmethod
    def _positive_sets(positives, m: int, n_docs: int) -> list[np.ndarray]:
        if isinstance(positives, (np.ndarray, torch.Tensor)) and as_numpy(positives).ndim == 1 and len(positives) == m:
            sets = [np.array([p], dtype=np.int64) for p in as_numpy(positives, np.int64)]
        else:
            sets = [np.atleast_1d(np.asarray(p, dtype=np.int64)) for p in positives]
        if len(sets) != m:
            raise UsageError(f"positives has {len(sets)} entries for {m} queries.")
        for q, s in enumerate(sets):
            if len(s) == 0 or s.min() < 0 or s.max() >= n_docs:
                raise UsageError(f"query {q}: positives must be corpus positions in [0, {n_docs}).")
        return sets

    def negatives(self, query_indices) -> torch.Tensor:
        """(b, num_negatives) int64 tensor of mined negatives for these queries."""
        if self.negatives_ is None:
            raise UsageError("call mine(query_embeddings, doc_embeddings, positives) before negatives().")
        return torch.from_numpy(self.negatives_[as_numpy(query_indices, np.int64)])

    # ---- topic-balanced batches ------------------------------------------------------
    def fit(self, query_embeddings=None, *, num_queries: int | None = None, margins=None) -> "HardNegativeMiner":
        """Cluster queries into `topics` (k-means) and, given (m,) margins, into margin bins."""
        if query_embeddings is None and num_queries is None:
            raise UsageError("fit needs query_embeddings (for topics) or num_queries.")
        m = len(query_embeddings) if query_embeddings is not None else check_positive_int("num_queries", num_queries)
        self.num_queries = m
        self.topic_of = None
        if self.topics is not None and self.topics > 1:
            from sklearn.cluster import KMeans

            queries = _as_matrix("query_embeddings", query_embeddings)
            kmeans = KMeans(n_clusters=min(self.topics, m), n_init=1, random_state=self.seed)
            self.topic_of = kmeans.fit_predict(queries).astype(np.int64)
        self.margin_bin_of = None
        if margins is not None:
            values = as_numpy(margins, np.float64)
            edges = np.quantile(values, np.linspace(0, 1, self.margin_bins + 1)[1:-1])
            self.margin_bin_of = np.searchsorted(edges, values).astype(np.int64)
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = check_positive_int("epoch", epoch, minimum=0)

    def _group_order(self, members: np.ndarray, rng) -> np.ndarray:
        if self.margin_bin_of is None:
            return rng.permutation(members)
        bins = [rng.permutation(members[self.margin_bin_of[members] == b]) for b in range(self.margin_bins)]
        slots = np.concatenate([np.arange(len(b)) * self.margin_bins + i for i, b in enumerate(bins)])
        return np.concatenate(bins)[np.argsort(slots, kind="stable")]

    def batches(self) -> list[np.ndarray]:
        """All replicas' batches of query positions for this epoch (each from one topic where possible)."""
        if self.num_queries is None:
            raise UsageError("call fit(...) or mine(...) first, so the miner knows the queries.")
        rng = np.random.default_rng([self.seed, self.epoch, 11])
        topic_of = self.topic_of if self.topic_of is not None else np.zeros(self.num_queries, dtype=np.int64)
        full, leftover = [], []
        for topic in rng.permutation(int(topic_of.max()) + 1):
            order = self._group_order(np.flatnonzero(topic_of == topic), rng)
            cut = len(order) // self.batch_size * self.batch_size
            full.extend(np.split(order[:cut], cut // self.batch_size) if cut else [])
            leftover.append(order[cut:])
        rest = rng.permutation(np.concatenate(leftover)) if leftover else np.zeros(0, dtype=np.int64)
        full.extend(rest[i:i + self.batch_size] for i in range(0, len(rest), self.batch_size))
        return [full[i] for i in rng.permutation(len(full))]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        r = self.num_replicas
        if self.drop_last:
            batches = batches[: len(batches) // r * r]
        elif len(batches) % r and batches:
            batches = batches + batches[: r - len(batches) % r]
        return iter([b.tolist() for b in batches[self.rank::r]])

    def __len__(self) -> int:
        count = len(self.batches())
        r = self.num_replicas
        return count // r if self.drop_last else -(-count // r)

    # ---- saving -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        def tensor(a):
            return None if a is None else torch.from_numpy(np.asarray(a).copy())

        return {"class": "HardNegativeMiner", "seed": self.seed, "epoch": self.epoch, "refreshes": self.refreshes,
                "num_queries": self.num_queries, "topic_of": tensor(self.topic_of),
                "margin_bin_of": tensor(self.margin_bin_of), "negatives": tensor(self.negatives_)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("class") != "HardNegativeMiner":
            raise UsageError(f"this state is for a {state.get('class')}, not a HardNegativeMiner.")

        def array(t):
            return None if t is None else as_numpy(t, np.int64).reshape(t.shape).copy()

        self.seed, self.epoch, self.refreshes = int(state["seed"]), int(state["epoch"]), int(state["refreshes"])
        self.num_queries = state["num_queries"]
        self.topic_of, self.margin_bin_of = array(state["topic_of"]), array(state["margin_bin_of"])
        self.negatives_ = array(state["negatives"])
