"""What every training-time sampler shares: epochs, seeds, sharding, feedback, saved state.

A sampler decides, at the start of each epoch, a *global* plan: the dataset positions
this epoch will visit, in order, for all data-parallel replicas together. Each replica
then takes every `num_replicas`-th position starting at its `rank`, the way
`torch.utils.data.DistributedSampler` does, so replicas never overlap and together cover
the plan. The plan is a pure function of the seed, the epoch and the feedback received
before the epoch began, so every replica computes the same plan without talking to the
others, provided they all receive the same feedback (gather it first: `gather_feedback`).

The feedback protocol, for samplers that learn from training:

- `update(indices, losses)`: per-example losses of the batch just trained on
  (`indices`: (b,) int dataset positions, `losses`: (b,) float, detached).
- `weights(indices) -> (b,) float32 tensor`: the factor to multiply each example's loss
  by (1 for samplers that do not reweight), so the rescaled objective stays what the
  method promises (e.g. unbiased for `DynamicPruner`).
- `state_dict()` / `load_state_dict(state)`: save with the model checkpoint; a resumed
  run continues the same schedule.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from thresher.errors import UsageError


def as_numpy(values, dtype=None) -> np.ndarray:
    """A 1-D NumPy copy of a tensor, array or list (tensors are detached and moved to CPU)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().to("cpu").numpy()
    array = np.asarray(values)
    return array.reshape(-1).astype(dtype) if dtype is not None else array.reshape(-1)


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UsageError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def check_fraction(name: str, value, *, allow_zero: bool = False, allow_one: bool = True) -> float:
    low_ok = value >= 0 if allow_zero else value > 0
    high_ok = value <= 1 if allow_one else value < 1
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not (low_ok and high_ok):
        low = "[0" if allow_zero else "(0"
        high = "1]" if allow_one else "1)"
        raise UsageError(f"{name} must be a fraction in {low}, {high}, got {value!r}.")
    return float(value)


class EpochSampler(Sampler[int]):
    """Base class: a per-epoch global plan, sharded across data-parallel replicas.

    Subclasses implement `_plan(epoch) -> (k,) int64` (the global order of dataset
    positions for the epoch) and add their own entries to `state_dict`.

    Parameters: `num_replicas` and `rank` shard the plan (defaults: one replica);
    `drop_last=False` pads the plan by repeating its head so every replica gets the same
    number of indices (as `DistributedSampler` does), `True` drops the tail instead;
    `seed` makes every plan reproducible.
    """

    def __init__(self, dataset_size: int, *, seed: int = 0, num_replicas: int = 1, rank: int = 0,
                 drop_last: bool = False):
        self.dataset_size = check_positive_int("dataset_size", dataset_size)
        self.num_replicas = check_positive_int("num_replicas", num_replicas)
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise UsageError(f"rank must be in [0, num_replicas={num_replicas}), got {rank!r}.")
        self.rank = int(rank)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._cached: tuple[int, np.ndarray] | None = None

    # ---- what subclasses provide ------------------------------------------------
    def _plan(self, epoch: int) -> np.ndarray:
        raise NotImplementedError

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ---- epochs and plans -------------------------------------------------------
    def rng(self, epoch: int, stream: int = 0) -> np.random.Generator:
        """A generator that depends only on (seed, epoch, stream): the same on every replica."""
        return np.random.default_rng([self.seed, int(epoch), int(stream)])

    def set_epoch(self, epoch: int) -> None:
        """Call at the start of every epoch (before iterating), as with `DistributedSampler`."""
        self.epoch = check_positive_int("epoch", epoch, minimum=0)

    def plan(self) -> np.ndarray:
        """(k,) int64: the global order of dataset positions for the current epoch, all replicas."""
        if self._cached is None or self._cached[0] != self.epoch:
            plan = np.asarray(self._plan(self.epoch), dtype=np.int64)
            self._cached = (self.epoch, plan)
        return self._cached[1]

    def shard(self, plan: np.ndarray) -> np.ndarray:
        """This replica's part of a global plan: every num_replicas-th position from rank."""
        replicas = self.num_replicas
        if replicas == 1:
            return plan
        if self.drop_last:
            plan = plan[: len(plan) // replicas * replicas]
        elif len(plan) % replicas:
            pad = replicas - len(plan) % replicas
            plan = np.concatenate([plan, np.resize(plan, pad)]) if len(plan) else plan
        return plan[self.rank::replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.shard(self.plan()).tolist())

    def __len__(self) -> int:
        return len(self.shard(self.plan()))

    # ---- feedback (no-ops for samplers that do not learn) --------------------------
    def update(self, indices, losses) -> None:
        """Per-example losses of a trained batch; samplers that do not learn ignore them."""

    def weights(self, indices) -> torch.Tensor:
        """(b,) float32 loss multipliers for these dataset positions (all ones here)."""
        return torch.ones(len(as_numpy(indices)), dtype=torch.float32)

    # ---- saving -------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the same schedule after a restart."""
        cached = self._cached
        return {"class": type(self).__name__, "dataset_size": self.dataset_size, "seed": self.seed,
                "epoch": self.epoch, "plan_epoch": -1 if cached is None else cached[0],
                "plan": torch.zeros(0, dtype=torch.int64) if cached is None else torch.from_numpy(cached[1].copy()),
                **self._extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("class") != type(self).__name__ or state.get("dataset_size") != self.dataset_size:
            raise UsageError(
                f"this state is for a {state.get('class')} over {state.get('dataset_size')} examples, "
                f"not a {type(self).__name__} over {self.dataset_size}; load it into the sampler it came from."
            )
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self._cached = None
        self._load_extra_state(state)
        if int(state.get("plan_epoch", -1)) >= 0:
            # Keep the epoch's plan as it was made, so a mid-epoch resume replays the same order
            # even though feedback received since then would plan it differently.
            self._cached = (int(state["plan_epoch"]), as_numpy(state["plan"], np.int64).copy())


class LossMemory:
    """The last loss seen for each example: (n,) float64, NaN until an example is seen."""

    def __init__(self, dataset_size: int):
        self.losses = np.full(dataset_size, np.nan)

    def record(self, indices, losses) -> None:
        indices = as_numpy(indices, np.int64)
        losses = as_numpy(losses, np.float64)
        if len(indices) != len(losses):
            raise UsageError(f"update got {len(indices)} indices but {len(losses)} losses; pass one loss per example "
                             "(reduction='none').")
        if len(indices) and (indices.min() < 0 or indices.max() >= len(self.losses)):
            raise UsageError(f"update got an index outside [0, {len(self.losses)}); pass dataset positions.")
        self.losses[indices] = losses


class IndexedDataset(Dataset):
    """Wraps a map-style dataset so each item comes with its position: `(index, *item)`.

    A tuple item `(x, y)` becomes `(index, x, y)`; a dict item gets an `"index"` key; any
    other item `x` becomes `(index, x)`. The default collate turns the indices into a
    (b,) int64 tensor, ready for `sampler.update(indices, losses)`.
    """

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if isinstance(item, dict):
            return {**item, "index": index}
        if isinstance(item, tuple):
            return (index, *item)
        return index, item


def gather_feedback(indices: torch.Tensor, losses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All replicas' (indices, losses) under `torch.distributed`; the inputs unchanged otherwise.

    Call before `update` in data-parallel training so every replica's sampler sees the same
    feedback and plans the same next epoch. Batches must have the same size on every replica
    (the padding of `EpochSampler.shard` ensures it).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return indices, losses
    parts_i = [torch.empty_like(indices) for _ in range(dist.get_world_size())]
    parts_l = [torch.empty_like(losses) for _ in range(dist.get_world_size())]
    dist.all_gather(parts_i, indices)
    dist.all_gather(parts_l, losses)
    return torch.cat(parts_i), torch.cat(parts_l)


def ceil_count(fraction: float, n: int) -> int:
    """How many of n examples a fraction means, at least 1 (rounded up)."""
    return max(1, min(n, math.ceil(fraction * n - 1e-9)))
