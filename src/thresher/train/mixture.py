"""Domain mixtures at training time: how often each domain is sampled, and how its loss counts.

Modes (each example belongs to one domain; n_d examples in domain d):

- `"natural"`: sample as the data is, p_d proportional to n_d.
- `"stratified"`: p_d from `proportions` (default: equal shares).
- `"temperature"`: p_d proportional to n_d^(1/T) — upsampling the small domains
  (T = 1 natural, T -> infinity equal shares).
- `"upweight"`: sample naturally, but multiply each loss by w_d = q_d / p_d where q is
  the temperature-T mixture, so the expected objective equals temperature sampling's
  without repeating small domains' examples.
- `"cooldown"`: start with temperature sampling and move the sampling to natural over
  `cooldown_epochs` epochs, with loss weights q_d / p_d(epoch) that keep the objective at
  the temperature-T mixture — from upsampling to upweighting. After the seed paper:
  Li et al. 2024, "Upsample or Upweight? Balanced Training on Heavily Imbalanced
  Datasets" (temperature sampling converges faster, having lower gradient variance, but
  overfits the small domains; cooling the temperature down keeps the speed without the
  overfitting).
- `"online"`: domain weights a learned from per-domain losses fed back during training by
  exponentiated gradient, a_d <- a_d * exp(eta * excess_d), normalised, then smoothed with
  the uniform mixture; excess_d = max(L_d - reference_d, 0) when reference losses are given,
  else L_d. The update is DoReMi's (Xie et al. 2023, "DoReMi: Optimizing Data Mixtures
  Speeds Up Language Model Pretraining"), applied online while the model trains, as in
  the online methods Aioli unifies (Chen et al. 2024, "Aioli: A Unified Optimization
  Framework for Language Model Data Mixing"). The epoch is drawn in blocks of
  `block_size`, each with the weights current when it is drawn.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch

from thresher.errors import UsageError
from thresher.train.base import EpochSampler, as_numpy, check_positive_int

MODES = ("natural", "stratified", "temperature", "upweight", "cooldown", "online")


class MixtureSampler(EpochSampler):
    """Sample by domain proportions (see module doc); `weights(indices)` carries loss upweighting.

    Parameters
    ----------
    domains: (n,) domain label of each dataset position (strings or integers).
    mode: one of "natural", "stratified", "temperature", "upweight", "cooldown", "online".
    temperature: T for "temperature", "upweight" and "cooldown" (>= 1).
    proportions: for "stratified": a {domain: share} dict or (K,) shares in sorted-domain order.
    num_samples: examples per epoch (default n).
    cooldown_epochs: epochs for "cooldown" to move from temperature-T sampling to natural.
    learning_rate, smoothing, reference_losses, loss_ema, block_size: "online" settings —
        EG step size, weight of the uniform mixture mixed in, (K,) reference losses (DoReMi's
        excess loss; None uses raw losses), smoothing of per-domain losses across updates,
        and how many examples are drawn with one set of weights (rounded up to a multiple of
        num_replicas).
    seed, num_replicas, rank, drop_last: see `EpochSampler`.
    """

    def __init__(self, domains, mode: str = "temperature", *, temperature: float = 3.0, proportions=None,
                 num_samples: int | None = None, cooldown_epochs: int = 5, learning_rate: float = 0.1,
                 smoothing: float = 0.05, reference_losses=None, loss_ema: float = 0.3, block_size: int = 1024,
                 seed: int = 0, num_replicas: int = 1, rank: int = 0, drop_last: bool = False):
        labels = as_numpy(domains)
        super().__init__(len(labels), seed=seed, num_replicas=num_replicas, rank=rank, drop_last=drop_last)
        if mode not in MODES:
            raise UsageError(f"mode must be one of {', '.join(MODES)}; got {mode!r}.")
        if not temperature >= 1:
            raise UsageError(f"temperature must be >= 1 (1 = natural proportions), got {temperature!r}.")
        self.mode, self.temperature = mode, float(temperature)
        self.domain_names, self.domain_of = np.unique(labels, return_inverse=True)
        self.domain_of = self.domain_of.astype(np.int64)
        self.counts = np.bincount(self.domain_of, minlength=len(self.domain_names)).astype(np.float64)
        self.members = [np.flatnonzero(self.domain_of == d) for d in range(len(self.domain_names))]
        self.num_samples = self.dataset_size if num_samples is None else check_positive_int("num_samples", num_samples)
        self.cooldown_epochs = check_positive_int("cooldown_epochs", cooldown_epochs)
        self.learning_rate, self.loss_ema = float(learning_rate), float(loss_ema)
        if not 0 <= smoothing <= 1 or not 0 < loss_ema <= 1:
            raise UsageError("smoothing must be in [0, 1] and loss_ema in (0, 1].")
        self.smoothing = float(smoothing)
        self.block_size = check_positive_int("block_size", block_size)
        self.proportions = self._proportions(proportions)
        k = len(self.domain_names)
        self.reference = None if reference_losses is None else self._per_domain(reference_losses, "reference_losses")
        self.log_alpha = np.zeros(k)
        self.domain_loss = np.full(k, np.nan)
        self.history: list[np.ndarray] = []

    # ---- proportions ----------------------------------------------------------------
    def _per_domain(self, values, name: str) -> np.ndarray:
        if isinstance(values, dict):
            missing = set(map(str, self.domain_names)) - set(map(str, values))
            if missing:
                raise UsageError(f"{name} lacks domains {sorted(missing)}.")
            lookup = {str(key): value for key, value in values.items()}
            return np.array([float(lookup[str(d)]) for d in self.domain_names])
        array = as_numpy(values, np.float64)
        if len(array) != len(self.domain_names):
            raise UsageError(f"{name} has {len(array)} values for {len(self.domain_names)} domains.")
        return array

    def _proportions(self, proportions) -> np.ndarray:
        if proportions is None:
            return np.full(len(self.domain_names), 1.0 / len(self.domain_names))
        shares = self._per_domain(proportions, "proportions")
        if np.any(shares < 0) or shares.sum() <= 0:
            raise UsageError("proportions must be non-negative and not all zero.")
        return shares / shares.sum()

    def _power(self, exponent: float) -> np.ndarray:
        p = self.counts ** exponent
        return p / p.sum()

    def target(self) -> np.ndarray:
        """(K,) the mixture the objective follows (temperature-T for upweight and cooldown)."""
        if self.mode in ("temperature", "upweight", "cooldown"):
            return self._power(1.0 / self.temperature)
        return self.probabilities()

    def probabilities(self, epoch: int | None = None) -> np.ndarray:
        """(K,) sampling probability of each domain (in `domain_names` order) at `epoch`."""
        epoch = self.epoch if epoch is None else epoch
        if self.mode in ("natural", "upweight"):
            return self._power(1.0)
        if self.mode == "stratified":
            return self.proportions
        if self.mode == "temperature":
            return self._power(1.0 / self.temperature)
        if self.mode == "cooldown":
            progress = min(1.0, epoch / self.cooldown_epochs)
            return self._power(1.0 / self.temperature + (1.0 - 1.0 / self.temperature) * progress)
        alpha = np.exp(self.log_alpha - self.log_alpha.max())
        alpha /= alpha.sum()
        return (1.0 - self.smoothing) * alpha + self.smoothing / len(alpha)

    def domain_weights(self) -> np.ndarray:
        """(K,) loss multiplier of each domain this epoch (target / sampling; 1 when not upweighting)."""
        if self.mode not in ("upweight", "cooldown"):
            return np.ones(len(self.domain_names))
        return self.target() / self.probabilities()

    # ---- feedback -------------------------------------------------------------------
    def weights(self, indices) -> torch.Tensor:
        return torch.from_numpy(self.domain_weights()[self.domain_of[as_numpy(indices, np.int64)]].astype(np.float32))

    def update(self, indices, losses) -> None:
        """Per-example losses of a batch; "online" turns them into per-domain losses and steps."""
        if self.mode != "online":
            return
        indices, losses = as_numpy(indices, np.int64), as_numpy(losses, np.float64)
        sums = np.bincount(self.domain_of[indices], weights=losses, minlength=len(self.domain_names))
        seen = np.bincount(self.domain_of[indices], minlength=len(self.domain_names))
        batch = np.where(seen > 0, sums / np.maximum(seen, 1), np.nan)
        self.update_domains(batch)

    def update_domains(self, domain_losses) -> None:
        """(K,) per-domain losses (NaN where not measured): smooth them, then one EG step."""
        batch = self._per_domain(domain_losses, "domain_losses")
        fresh = ~np.isnan(batch)
        first = fresh & np.isnan(self.domain_loss)
        self.domain_loss[first] = batch[first]
        again = fresh & ~first
        self.domain_loss[again] += self.loss_ema * (batch[again] - self.domain_loss[again])
        known = ~np.isnan(self.domain_loss)
        excess = np.zeros(len(batch))
        excess[known] = self.domain_loss[known]
        if self.reference is not None:
            excess[known] = np.maximum(excess[known] - self.reference[known], 0.0)
        self.log_alpha += self.learning_rate * excess
        self.log_alpha -= self.log_alpha.max()
        self.history.append(self.probabilities())

    # ---- drawing ----------------------------------------------------------------------
    def _blocks(self) -> list[int]:
        r = self.num_replicas
        # Blocks are whole multiples of the replica count, so only the epoch's last block pads.
        size = self.num_samples if self.mode != "online" else -(-self.block_size // r) * r
        return [min(size, self.num_samples - start) for start in range(0, self.num_samples, size)]

    def _counts(self, p: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
        exact = p * size
        counts = np.floor(exact).astype(np.int64)
        left = size - counts.sum()
        if left:
            fraction = exact - counts
            counts[rng.choice(len(p), size=left, replace=False, p=fraction / fraction.sum())] += 1
        return counts

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch
        cursors = [0] * len(self.members)
        orders = [self.rng(epoch, stream=10 + d).permutation(m) for d, m in enumerate(self.members)]
        for block, size in enumerate(self._blocks()):
            rng = self.rng(epoch, stream=1000 + block)
            counts = self._counts(self.probabilities(epoch), size, rng)
            drawn = []
            for d, count in enumerate(counts):
                members, taken = self.members[d], []
                while count > 0:
                    if cursors[d] == len(members):  # domain used up: reshuffle and go round again
                        orders[d] = rng.permutation(members)
                        cursors[d] = 0
                    step = min(count, len(members) - cursors[d])
                    taken.append(orders[d][cursors[d]:cursors[d] + step])
                    cursors[d] += step
                    count -= step
                drawn.extend(taken)
            plan = rng.permutation(np.concatenate(drawn)) if drawn else np.zeros(0, dtype=np.int64)
            yield from self.shard(plan).tolist()

    def __len__(self) -> int:
        r = self.num_replicas
        return sum(size // r if self.drop_last else -(-size // r) for size in self._blocks())

    def plan(self) -> np.ndarray:
        """This epoch's global draw (for "online", with the weights as they are now)."""
        replicas, rank = self.num_replicas, self.rank
        self.num_replicas, self.rank = 1, 0
        try:
            return np.fromiter(iter(self), dtype=np.int64)
        finally:
            self.num_replicas, self.rank = replicas, rank

    # ---- saving -------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {"log_alpha": torch.from_numpy(self.log_alpha.copy()),
                "domain_loss": torch.from_numpy(self.domain_loss.copy())}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.log_alpha = as_numpy(state["log_alpha"], np.float64).copy()
        self.domain_loss = as_numpy(state["domain_loss"], np.float64).copy()
