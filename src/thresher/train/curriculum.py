"""Curricula: order training by difficulty, with a pacing function for how fast to open up.

A difficulty score per example (a proxy model's loss, a `Selection`'s scores, the text
length, or the training losses fed back with `update`) ranks the data; a *pacing
function* g(epoch) in (0, 1] says which share of that ranking is available in an epoch
(Hacohen & Weinshall 2019, "On The Power of Curriculum Learning in Training Deep
Networks"; Platanios et al. 2019, "Competence-based Curriculum Learning for Neural
Machine Translation"; Wang et al. 2021, "A Survey on Curriculum Learning").

Orders: `"easy_to_hard"` (the easiest g·n examples), `"hard_to_easy"` (anti-curriculum,
the hardest g·n), and `"cyclical"` (Kesgin & Amasyali 2022, "Cyclical Curriculum
Learning"): the available share rises from `start` to 1 and falls back again, repeating
every `cycle_epochs` epochs, so the model keeps revisiting easy examples.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch

from thresher.errors import UsageError
from thresher.train.base import EpochSampler, LossMemory, as_numpy, ceil_count, check_fraction, check_positive_int


def _linear(t: float) -> float:
    return t


def _root(t: float) -> float:
    return math.sqrt(t)


def _geometric(t: float) -> float:
    return t * t


def _step(t: float) -> float:
    return math.floor(t * 4) / 4


PACINGS: dict[str, Callable[[float], float]] = {"linear": _linear, "root": _root, "geometric": _geometric,
                                                 "step": _step}


def pacing_fraction(pacing: str | Callable[[float], float], epoch: int, ramp_epochs: int, start: float) -> float:
    """Share of the ranking available at `epoch`: start + (1 - start) * f(epoch / ramp_epochs), capped at 1.

    `pacing`: "linear", "root" (fast start, as in Platanios et al.), "geometric"
    (slow start), "step" (four equal steps), or any f: [0, 1] -> [0, 1].
    """
    f = PACINGS[pacing] if isinstance(pacing, str) else pacing
    progress = min(1.0, epoch / ramp_epochs) if ramp_epochs > 0 else 1.0
    return float(min(1.0, max(start, start + (1.0 - start) * f(progress))))


class CurriculumSampler(EpochSampler):
    """Yield the currently available share of a difficulty ranking, shuffled, each epoch.

    Parameters
    ----------
    dataset_size: number of examples n.
    scores: (n,) difficulty per dataset position (higher = harder; NaN = hardest), or a
        `thresher.Selection` whose integer ids are dataset positions and whose scores mean
        "more useful = easier" (pass `score_is_difficulty=True` if they are difficulties).
        None: use the losses fed back with `update` (unseen examples count as hardest).
    order: "easy_to_hard", "hard_to_easy" or "cyclical".
    pacing: "linear", "root", "geometric", "step" or a function f: [0,1] -> [0,1].
    start: share available at epoch 0, in (0, 1].
    ramp_epochs: epochs for the share to reach 1 (for "cyclical": half a cycle).
    num_samples: fixed epoch length drawn from the available share (default: the whole share).
    seed, num_replicas, rank, drop_last: see `EpochSampler`.
    """

    def __init__(self, dataset_size: int, scores=None, *, order: str = "easy_to_hard",
                 pacing: str | Callable[[float], float] = "linear", start: float = 0.2, ramp_epochs: int = 5,
                 num_samples: int | None = None, score_is_difficulty: bool = False, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0, drop_last: bool = False):
        super().__init__(dataset_size, seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        if order not in ("easy_to_hard", "hard_to_easy", "cyclical"):
            raise UsageError(f"order must be 'easy_to_hard', 'hard_to_easy' or 'cyclical', got {order!r}.")
        if isinstance(pacing, str) and pacing not in PACINGS:
            raise UsageError(f"pacing must be one of {sorted(PACINGS)} or a function, got {pacing!r}.")
        self.order, self.pacing = order, pacing
        self.start = check_fraction("start", start)
        self.ramp_epochs = check_positive_int("ramp_epochs", ramp_epochs)
        self.num_samples = None if num_samples is None else check_positive_int("num_samples", num_samples)
        self.memory = LossMemory(self.dataset_size)
        self.fixed_scores = None if scores is None else self._difficulty(scores, score_is_difficulty)

    def _difficulty(self, scores, score_is_difficulty: bool) -> np.ndarray:
        from thresher.selection import Selection

        if isinstance(scores, Selection):
            table = scores.table
            ids = table.column("id").to_numpy(zero_copy_only=False)
            values = table.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
            if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= self.dataset_size:
                raise UsageError("a Selection passed as scores needs integer ids that are dataset positions "
                                 f"in [0, {self.dataset_size}) (a pool read without --id-field has them).")
            difficulty = np.full(self.dataset_size, np.nan)
            difficulty[ids] = values if score_is_difficulty else -values
            return difficulty
        difficulty = as_numpy(scores, np.float64)
        if len(difficulty) != self.dataset_size:
            raise UsageError(f"scores has {len(difficulty)} values for a dataset of {self.dataset_size}.")
        return difficulty

    def update(self, indices, losses) -> None:
        """Record losses; used as difficulties when the sampler was made without scores."""
        self.memory.record(indices, losses)

    def available_fraction(self, epoch: int) -> float:
        """Share of the ranking available at this epoch (the pacing, with cycles for "cyclical")."""
        if self.order != "cyclical":
            return pacing_fraction(self.pacing, epoch, self.ramp_epochs, self.start)
        phase = epoch % (2 * self.ramp_epochs)
        rising = phase if phase <= self.ramp_epochs else 2 * self.ramp_epochs - phase
        return pacing_fraction(self.pacing, rising, self.ramp_epochs, self.start)

    def ranking(self) -> np.ndarray:
        """(n,) dataset positions from first-available to last (easiest first unless hard_to_easy)."""
        difficulty = self.fixed_scores if self.fixed_scores is not None else self.memory.losses
        if np.isnan(difficulty).all():
            return self.rng(0, stream=4).permutation(self.dataset_size)
        key = np.where(np.isnan(difficulty), np.inf, difficulty)
        if self.order == "hard_to_easy":
            key = -key
        # A seeded random tie-break, so equal scores do not fall back to dataset order.
        tie = self.rng(0, stream=4).random(self.dataset_size)
        return np.lexsort((tie, key))

    def _plan(self, epoch: int) -> np.ndarray:
        available = self.ranking()[: ceil_count(self.available_fraction(epoch), self.dataset_size)]
        rng = self.rng(epoch, stream=3)
        if self.num_samples is None:
            return rng.permutation(available)
        return rng.choice(available, size=self.num_samples, replace=self.num_samples > len(available))

    def _extra_state(self) -> dict[str, Any]:
        return {"losses": torch.from_numpy(self.memory.losses.copy())}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.memory.losses = as_numpy(state["losses"], np.float64).copy()
