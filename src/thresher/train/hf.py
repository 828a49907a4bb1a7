"""Hugging Face Trainer adapter: a thresher sampler drives what the Trainer trains on.

The Trainer builds its own sampler and offers no argument to replace it, and we do not
subclass or patch it. Instead:

- `SampledDataset(dataset, sampler)` is an iterable dataset that yields
  `dataset[i]` for the indices the sampler yields this epoch. The Trainer iterates it
  as it is (it uses no sampler of its own for iterable datasets); its `set_epoch` is
  passed on to the sampler (accelerate's data loader calls it each epoch, and so does
  `ThresherCallback`). It has a length (the sampler's), so `num_train_epochs` works;
  set `max_steps` for samplers whose epoch length changes (`DynamicPruner`).
- `ThresherCallback(sampler)` is a `transformers.TrainerCallback` that keeps the
  sampler's epoch in step with the Trainer's, writes the sampler's `state_dict` into
  every checkpoint folder (`thresher_sampler.pt`) and, given `resume_from`, restores it
  at the start of training, so a resumed run continues the same schedule.

Limitation: the Trainer computes a batch-mean loss and does not hand per-example losses
and dataset positions to callbacks, so the feedback samplers (`DynamicPruner`, the
"online" `MixtureSampler`, loss-driven `CurriculumSampler`) only receive feedback in a
plain PyTorch loop (the protocol is three lines there; see examples/). Under the Trainer
they run with their fixed schedules (RS2, curricula over given scores, static mixtures).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch.utils.data import IterableDataset

from thresher.errors import MissingDependencyError

STATE_FILE = "thresher_sampler.pt"


class SampledDataset(IterableDataset):
    """Yields `dataset[i]` for each index the sampler yields in the current epoch."""

    def __init__(self, dataset, sampler):
        self.dataset = dataset
        self.sampler = sampler

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(int(epoch))

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self):
        for index in self.sampler:
            yield self.dataset[index]


def _trainer_callback_base():
    try:
        from transformers import TrainerCallback
    except ImportError as error:
        raise MissingDependencyError(
            "ThresherCallback needs the transformers package: pip install transformers"
        ) from error
    return TrainerCallback


def ThresherCallback(sampler, resume_from: str | os.PathLike | None = None):
    """A `transformers.TrainerCallback` for `sampler` (see module doc); transformers is imported here.

    `resume_from`: a checkpoint folder written by an earlier run (the one passed to
    `trainer.train(resume_from_checkpoint=...)`); its sampler state is loaded at train begin.
    """
    base = _trainer_callback_base()

    class _ThresherCallback(base):
        def __init__(self):
            self.sampler = sampler
            self.resume_from = resume_from

        def on_train_begin(self, args, state, control, **kwargs):
            if self.resume_from is not None:
                path = os.path.join(os.fspath(self.resume_from), STATE_FILE)
                self.sampler.load_state_dict(torch.load(path, weights_only=True))

        def on_epoch_begin(self, args, state, control, **kwargs):
            self.sampler.set_epoch(int(state.epoch or 0))

        def on_save(self, args, state, control, **kwargs):
            folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
            os.makedirs(folder, exist_ok=True)
            tmp = os.path.join(folder, STATE_FILE + ".tmp")
            torch.save(self.sampler.state_dict(), tmp)
            os.replace(tmp, os.path.join(folder, STATE_FILE))

        def state(self) -> dict[str, Any]:
            return self.sampler.state_dict()

    return _ThresherCallback()
