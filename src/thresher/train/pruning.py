"""Dynamic data pruning: skip examples the model has already learned, while it trains.

Two rules, chosen with `mode`:

- `"infobatch"` — Qin et al. 2024, "InfoBatch: Lossless Training Speed Up by Unbiased
  Dynamic Data Pruning". Each epoch, among examples whose last loss is below the mean
  loss ("well learned"), a random `prune_ratio` of them is skipped; the kept well-learned
  examples have their loss multiplied by 1 / (their keep probability), so the expected
  gradient of the epoch equals the full-data gradient. The last `anneal_epochs` epochs
  train on all the data.
- `"seta"` — Zhou et al. 2025, "Scale Efficient Training for Large Datasets" (SeTa).
  Each epoch first drops a random `prune_ratio` of the examples, then groups the rest by
  last loss into `clusters` groups (1-D k-means on the loss) ordered easy to hard, and
  keeps only a window of `window` consecutive groups that slides from the easiest
  groups to the hardest as epochs pass (then starts over). No rescaling: this is a
  curriculum-like biased rule. The last `anneal_epochs` epochs train on all the data.

Examples not yet seen (no loss recorded) are always kept; the first epoch is full data.
`passes_saved` counts the forward/backward passes skipped versus full-data epochs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from thresher.errors import UsageError
from thresher.train.base import EpochSampler, LossMemory, as_numpy, check_fraction, check_positive_int


def kmeans_1d(values: np.ndarray, groups: int, iterations: int = 30) -> np.ndarray:
    """(n,) int group of each value, groups numbered by increasing centre (Lloyd on a line)."""
    groups = min(groups, len(np.unique(values)))
    if groups <= 1:
        return np.zeros(len(values), dtype=np.int64)
    centres = np.quantile(values, (np.arange(groups) + 0.5) / groups)
    for _ in range(iterations):
        centres = np.unique(centres)
        bounds = (centres[1:] + centres[:-1]) / 2
        labels = np.searchsorted(bounds, values)
        sums = np.bincount(labels, weights=values, minlength=len(centres))
        counts = np.bincount(labels, minlength=len(centres))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
        if np.allclose(new, centres):
            break
        centres = new
    centres = np.unique(centres)
    return np.searchsorted((centres[1:] + centres[:-1]) / 2, values).astype(np.int64)


class DynamicPruner(EpochSampler):
    """Per-epoch soft pruning of well-learned examples, with loss rescaling (see module doc).

    Parameters
    ----------
    dataset_size: number of examples n.
    prune_ratio: share of the well-learned examples (infobatch) or of all examples (seta)
        skipped each epoch, in [0, 1).
    epochs: total epochs of the run; needed when `anneal_epochs` > 0 to know which are last.
    anneal_epochs: the last epochs train on full data (InfoBatch's annealing).
    mode: "infobatch" or "seta".
    clusters, window: SeTa's number of loss groups and how many consecutive groups to keep.
    seed, num_replicas, rank, drop_last: see `EpochSampler`.

    In the loop: `update(indices, losses)` after each batch with per-example losses, and
    multiply the losses by `weights(indices)` before averaging.
    """

    def __init__(self, dataset_size: int, prune_ratio: float = 0.5, *, epochs: int | None = None,
                 anneal_epochs: int = 0, mode: str = "infobatch", clusters: int = 10, window: int = 6,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, drop_last: bool = False):
        super().__init__(dataset_size, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        self.prune_ratio = check_fraction("prune_ratio", prune_ratio, allow_zero=True, allow_one=False)
        self.anneal_epochs = check_positive_int("anneal_epochs", anneal_epochs, minimum=0)
        if epochs is None and self.anneal_epochs:
            raise UsageError(f"DynamicPruner needs epochs= (the run's total epochs) to know when the last "
                             f"anneal_epochs={anneal_epochs} begin; pass epochs=E, or anneal_epochs=0.")
        self.epochs = None if epochs is None else check_positive_int("epochs", epochs)
        if mode not in ("infobatch", "seta"):
            raise UsageError(f"mode must be 'infobatch' or 'seta', got {mode!r}.")
        self.mode = mode
        self.clusters = check_positive_int("clusters", clusters)
        self.window = check_positive_int("window", window)
        if self.window > self.clusters:
            raise UsageError(f"window={window} must be at most clusters={clusters}.")
        self.memory = LossMemory(self.dataset_size)
        self._weights = np.ones(self.dataset_size, dtype=np.float32)
        self._passes: dict[int, int] = {}

    # ---- feedback -----------------------------------------------------------------
    def update(self, indices, losses) -> None:
        """Record each example's latest loss; it decides the next epochs' pruning."""
        self.memory.record(indices, losses)

    def weights(self, indices) -> torch.Tensor:
        """(b,) float32: 1 / keep probability for kept well-learned examples, 1 otherwise."""
        self.plan()
        return torch.from_numpy(self._weights[as_numpy(indices, np.int64)].copy())

    # ---- planning -----------------------------------------------------------------
    def is_annealing(self, epoch: int) -> bool:
        return self.epochs is not None and epoch >= self.epochs - self.anneal_epochs

    def _plan(self, epoch: int) -> np.ndarray:
        n = self.dataset_size
        weights = np.ones(n, dtype=np.float32)
        losses = self.memory.losses
        seen = ~np.isnan(losses)
        if self.is_annealing(epoch) or not seen.any() or self.prune_ratio == 0:
            keep = np.arange(n)
        elif self.mode == "infobatch":
            keep, weights = self._infobatch(epoch, losses, seen, weights)
        else:
            keep = self._seta(epoch, losses, seen)
        self._weights = weights
        self._passes[epoch] = len(keep)
        return self.rng(epoch, stream=3).permutation(keep)

    def _infobatch(self, epoch, losses, seen, weights):
        mean = losses[seen].mean()
        learned = np.flatnonzero(seen & (losses < mean))
        n_drop = int(round(self.prune_ratio * len(learned)))
        if n_drop == 0:
            return np.arange(self.dataset_size), weights
        if n_drop == len(learned):
            n_drop -= 1
        drop = self.rng(epoch, stream=1).choice(learned, size=n_drop, replace=False)
        keep_mask = np.ones(self.dataset_size, dtype=bool)
        keep_mask[drop] = False
        # Exact inverse inclusion probability, so E[weight * kept] = 1 for every example.
        weights[learned] = len(learned) / (len(learned) - n_drop)
        return np.flatnonzero(keep_mask), weights

    def _seta(self, epoch, losses, seen):
        rng = self.rng(epoch, stream=1)
        survivors = rng.permutation(self.dataset_size)[: self.dataset_size - int(round(self.prune_ratio * self.dataset_size))]
        scored = survivors[seen[survivors]]
        if len(scored) == 0:
            return np.sort(survivors)
        groups = kmeans_1d(losses[scored], self.clusters)
        n_groups = int(groups.max()) + 1
        window = min(self.window, n_groups)
        pruning_epoch = epoch - 1  # epoch 0 had no losses yet
        start = pruning_epoch % (n_groups - window + 1)
        in_window = (groups >= start) & (groups < start + window)
        return np.sort(np.concatenate([survivors[~seen[survivors]], scored[in_window]]))

    # ---- what it saved ------------------------------------------------------------
    @property
    def passes_used(self) -> int:
        """Examples planned over all epochs so far (each is one forward and backward pass)."""
        return int(sum(self._passes.values()))

    @property
    def passes_saved(self) -> int:
        """Forward/backward passes skipped versus full-data epochs, over the epochs planned so far."""
        return len(self._passes) * self.dataset_size - self.passes_used

    @property
    def saved_fraction(self) -> float:
        total = len(self._passes) * self.dataset_size
        return self.passes_saved / total if total else 0.0

    def report(self) -> dict[str, Any]:
        return {"epochs": len(self._passes), "passes_used": self.passes_used,
                "passes_saved": self.passes_saved, "saved_fraction": self.saved_fraction}

    # ---- saving -------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {"losses": torch.from_numpy(self.memory.losses.copy()), "passes": dict(self._passes),
                "plan_weights": torch.from_numpy(self._weights.copy())}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.memory.losses = as_numpy(state["losses"], np.float64).copy()
        self._passes = {int(k): int(v) for k, v in state["passes"].items()}
        self._weights = as_numpy(state["plan_weights"], np.float32).copy()
