"""Shared pieces of the training-time sampler benchmarks: data, features, a small MLP loop.

Features are TF-IDF (word 1-2 grams) reduced by truncated SVD, fitted on the training
texts only: cheap on 2 CPU cores, no network, no model download. The datasets are read
from the shared data folder (`--data`, or $THRESHER_DATA, default /work/shared/data).
"""

from __future__ import annotations

import gzip
import json
import math
import os
import time
from itertools import islice
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def data_root(option: str | None) -> Path:
    root = Path(option or os.environ.get("THRESHER_DATA") or "/work/shared/data")
    if not root.is_dir():
        raise SystemExit(f"benchmark data folder {root} not found: pass --data DIR or set THRESHER_DATA.")
    return root


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def labelled(root: Path, name: str, split: str) -> tuple[list[str], list[str]]:
    rows = read_jsonl(root / name / f"{split}.jsonl")
    return [r["text"] for r in rows], [r["label"] for r in rows]


def tfidf_svd(fit_texts: list[str], *others: list[str], dim: int = 256, seed: int = 0) -> list[np.ndarray]:
    """(n, dim) float32 L2-normalised features for fit_texts and each list in `others`."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=50_000)
    svd = TruncatedSVD(n_components=dim, random_state=seed)
    first = svd.fit_transform(vectorizer.fit_transform(fit_texts))
    outs = [first] + [svd.transform(vectorizer.transform(texts)) for texts in others]
    return [normalize(x).astype(np.float32) for x in outs]


def encode_labels(*label_lists: list[str]) -> tuple[list[np.ndarray], list[str]]:
    names = sorted(set().union(*map(set, label_lists)))
    lookup = {name: i for i, name in enumerate(names)}
    return [np.array([lookup[v] for v in labels], dtype=np.int64) for labels in label_lists], names


class CpuClock:
    """CPU seconds (user + sys) of this process since creation."""

    def __init__(self):
        self.start = time.process_time()

    def __call__(self) -> float:
        return time.process_time() - self.start


def mlp(dim_in: int, classes: int, hidden: int = 256) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(dim_in, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(hidden, classes))


def accuracy(model, x: torch.Tensor, y: torch.Tensor, label_slice: slice | None = None) -> float:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        if label_slice is not None:
            logits = logits[:, label_slice]
            y = y - label_slice.start
        result = (logits.argmax(1) == y).float().mean().item()
    model.train()
    return result


def train(x: torch.Tensor, y: torch.Tensor, classes: int, *, sampler, epochs: int, seed: int, batch_size: int = 128,
          lr: float = 2e-3, feedback: bool = False, evaluate=None) -> dict:
    """Train an MLP with Adam and a per-epoch cosine learning rate, drawing indices from `sampler`.

    `sampler`: any object with set_epoch and __iter__ (thresher samplers, or the plain
    baselines below). With `feedback`, per-example losses go to `sampler.update` and are
    multiplied by `sampler.weights`. `evaluate(model) -> float` runs after each epoch.
    Returns the final model, the curve [(examples seen, cpu seconds, score)] and totals.
    """
    torch.manual_seed(seed)
    model = mlp(x.shape[1], classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    clock, seen, curve = CpuClock(), 0, []
    eval_cpu = 0.0
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        sampler.set_epoch(epoch)
        stream = iter(sampler)
        while batch := list(islice(stream, batch_size)):
            idx = torch.tensor(batch)
            loss = F.cross_entropy(model(x[idx]), y[idx], reduction="none")
            if feedback:
                sampler.update(idx, loss.detach())
                loss = loss * sampler.weights(idx)
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
            seen += len(batch)
        if evaluate is not None:
            before = clock()
            score = evaluate(model)
            eval_cpu += clock() - before
            curve.append((seen, clock() - eval_cpu, score))
    return {"model": model, "curve": curve, "examples": seen, "train_cpu_s": clock() - eval_cpu}


class Shuffled:
    """Baseline sampler: a fixed set of positions, reshuffled every epoch (seeded)."""

    def __init__(self, positions: np.ndarray, seed: int):
        self.positions, self.seed, self.epoch = np.asarray(positions), seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.positions).tolist())

    def __len__(self) -> int:
        return len(self.positions)


def time_to_reach(curve: list[tuple[int, float, float]], target: float) -> tuple[int | None, float | None]:
    """(examples seen, cpu seconds) at the first evaluation scoring >= target, or (None, None)."""
    for examples, cpu, score in curve:
        if score >= target:
            return examples, cpu
    return None, None


def mean_std(values) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
