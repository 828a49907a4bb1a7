"""RS2: a fresh random subset of the data every epoch.

Okanovic et al. 2023, "Repeated Random Sampling for Minimizing the Time-to-Accuracy of
Learning" (RS2): instead of pruning the data once, train each epoch on a new random
subset of a fixed size. Without replacement across epochs (the paper's default), the
pool is shuffled once per *round* and consecutive slices are used, so every example is
seen within ceil(n / k) <= ceil(1 / fraction) epochs; then a new round reshuffles.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher.errors import UsageError
from thresher.train.base import EpochSampler, ceil_count, check_fraction, check_positive_int


class RS2Sampler(EpochSampler):
    """A new random subset of `fraction` (or `num_samples`) of the dataset each epoch.

    Parameters
    ----------
    dataset_size: number of examples n.
    fraction: the share of n to visit per epoch, in (0, 1]; k = ceil(fraction * n).
    num_samples: k directly (instead of `fraction`).
    replacement: False (default) draws without replacement across epochs: a round of
        ceil(n / k) epochs covers every example once (the round's last slice is topped up
        with other examples of the same round so each epoch has exactly k). True draws an
        independent subset each epoch.
    seed, num_replicas, rank, drop_last: see `EpochSampler`.

    Example::

        sampler = RS2Sampler(len(ds), fraction=0.1, seed=0)
        loader = DataLoader(ds, batch_size=256, sampler=sampler)
        for epoch in range(E):
            sampler.set_epoch(epoch)
            for x, y in loader: ...
    """

    def __init__(self, dataset_size: int, fraction: float | None = None, *, num_samples: int | None = None,
                 replacement: bool = False, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 drop_last: bool = False):
        super().__init__(dataset_size, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        if (fraction is None) == (num_samples is None):
            raise UsageError("RS2Sampler needs exactly one of fraction (e.g. 0.1) or num_samples.")
        if fraction is not None:
            self.num_samples = ceil_count(check_fraction("fraction", fraction), self.dataset_size)
        else:
            self.num_samples = check_positive_int("num_samples", num_samples)
            if self.num_samples > self.dataset_size:
                raise UsageError(f"num_samples={num_samples} is more than the dataset's {self.dataset_size} examples.")
        self.fraction = self.num_samples / self.dataset_size
        self.replacement = bool(replacement)

    @property
    def epochs_per_round(self) -> int:
        """Epochs that together visit every example once (without replacement)."""
        return -(-self.dataset_size // self.num_samples)

    def _plan(self, epoch: int) -> np.ndarray:
        n, k = self.dataset_size, self.num_samples
        if self.replacement:
            return self.rng(epoch).choice(n, size=k, replace=False)
        round_index, slot = divmod(epoch, self.epochs_per_round)
        order = self.rng(round_index, stream=1).permutation(n)
        chunk = order[slot * k:(slot + 1) * k]
        if len(chunk) < k:
            # The round's last slice is short: top it up from the rest of this round's
            # examples, so epochs keep the same length and the round still covers everyone.
            earlier = order[: slot * k]
            extra = self.rng(epoch, stream=2).choice(len(earlier), size=k - len(chunk), replace=False)
            chunk = np.concatenate([chunk, earlier[extra]])
        return self.rng(epoch, stream=3).permutation(chunk)

    def _extra_state(self) -> dict[str, Any]:
        return {"num_samples": self.num_samples, "replacement": self.replacement}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.num_samples = int(state["num_samples"])
        self.fraction = self.num_samples / self.dataset_size
        self.replacement = bool(state["replacement"])
