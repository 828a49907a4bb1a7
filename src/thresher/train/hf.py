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

- `FeedbackTrainer(model, args, train_dataset=ds, sampler=pruner, ...)` is for the
  samplers that learn from training (`DynamicPruner`, the "online" `MixtureSampler`,
  loss-driven `CurriculumSampler`). The Trainer computes a batch-mean loss and hands
  neither per-example losses nor dataset positions to callbacks, so feedback needs the
  loss step itself: this is a `Trainer` subclass (the extension the Trainer documents:
  override `compute_loss`), nothing is patched. It trains on the sampler's examples (as
  `SampledDataset` does, with each example's position carried through the collator),
  computes each example's loss, passes it to `sampler.update` (gathered across
  data-parallel processes), and backpropagates the mean of the losses times
  `sampler.weights` (InfoBatch's rescaling). It adds `ThresherCallback` itself.

  The per-example loss is cross-entropy on `outputs.logits` against `labels`: one value
  per example for classification (logits (b, classes)), and the mean over each
  sequence's labelled tokens for token outputs (logits (b, t, vocab); shifted by one for
  causal language models, -100 ignored), or mean squared error for one-output regression.
  Pass `per_example_loss=f(outputs, labels) -> (b,)` for anything else.

  `teacher=model` distils a teacher into the model on the sampler's examples: each
  example's loss becomes (1 - kd_weight) * its loss + kd_weight * T^2 * KL(teacher || model)
  at temperature `kd_temperature` (defaults 0.5 and 2), the loss fed back and weighted.

  `recorder=thresher.features.signals.SignalRecorder(len(ds), epochs)` also records each
  training example's signals from the model's logits (classification), the same arrays the
  plain loop records with `recorder.update(idx, logits, y)`; `recorder.signals(labels)`
  gives EL2N, forgetting, AUM and cartography from the user's own model.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch.utils.data import IterableDataset

from thresher.errors import MissingDependencyError, UsageError

STATE_FILE = "thresher_sampler.pt"
INDEX_KEY = "thresher_index"


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
        """The sampler's examples for this epoch; with DataLoader workers, this worker's share."""
        from itertools import islice

        from torch.utils.data import get_worker_info

        worker = get_worker_info()
        positions = iter(self.sampler)
        if worker is not None:
            positions = islice(positions, worker.id, None, worker.num_workers)
        for index in positions:
            yield self._item(index)

    def _item(self, index: int):
        return self.dataset[index]


def _trainer_callback_base():
    try:
        from transformers import TrainerCallback
    except ImportError as error:
        raise MissingDependencyError("transformers", "trainer", "ThresherCallback") from error
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


class _IndexedSampledDataset(SampledDataset):
    """SampledDataset whose dict items carry their dataset position under INDEX_KEY."""

    def _item(self, index: int):
        item = self.dataset[index]
        if not isinstance(item, dict):
            raise UsageError(f"FeedbackTrainer needs dict examples (feature name -> value) like the Trainer's; "
                             f"example {index} is a {type(item).__name__}.")
        return {**item, INDEX_KEY: index}


class _IndexCollator:
    """Takes the examples' positions out, collates the rest with the Trainer's collator
    (which drops the features the model does not take), and adds the positions back as a
    (b,) int64 tensor."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, features):
        if not features or not isinstance(features[0], dict) or INDEX_KEY not in features[0]:
            return self.collate(features)
        positions = torch.tensor([f[INDEX_KEY] for f in features], dtype=torch.int64)
        batch = self.collate([{k: v for k, v in f.items() if k != INDEX_KEY} for f in features])
        batch[INDEX_KEY] = positions
        return batch


def per_example_loss(outputs, labels, model=None) -> torch.Tensor:
    """(b,) losses from a model's outputs: see the module doc for what is computed."""
    import torch.nn.functional as F

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
    if labels is None:
        raise UsageError("FeedbackTrainer: the batch has no labels; per-example losses need them "
                         "(or pass per_example_loss=...).")
    if logits.dim() == 2 and logits.shape[-1] == 1 and labels.is_floating_point():
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype), reduction="none")
    if logits.dim() == 2:
        return F.cross_entropy(logits, labels.long(), reduction="none")
    if logits.dim() == 3:
        if _is_causal_lm(model):
            logits, labels = logits[:, :-1], labels[:, 1:]
        tokens = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1).long(),
                                 ignore_index=-100, reduction="none").view(labels.shape)
        counted = (labels != -100).sum(dim=1)
        return tokens.sum(dim=1) / counted.clamp(min=1)
    raise UsageError(f"FeedbackTrainer: no per-example loss for logits of shape {tuple(logits.shape)}; "
                     "pass per_example_loss=f(outputs, labels) -> (batch,) losses.")


def _is_causal_lm(model) -> bool:
    if model is None:
        return False
    model = getattr(model, "module", model)
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:  # pragma: no cover - very old transformers
        return type(model).__name__.endswith("ForCausalLM")
    return type(model).__name__ in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values()


@functools.lru_cache(maxsize=None)
def _feedback_trainer_class():
    try:
        from transformers import Trainer
    except ImportError as error:
        raise MissingDependencyError("transformers", "trainer", "FeedbackTrainer") from error

    from thresher.train.base import gather_feedback

    class FeedbackTrainer(Trainer):
        """A `transformers.Trainer` that trains on `sampler`'s examples and feeds each
        example's loss back to it (see `thresher.train.hf`)."""

        def __init__(self, *args, sampler, per_example_loss=per_example_loss, resume_from=None, recorder=None,
                     teacher=None, kd_weight: float = 0.5, kd_temperature: float = 2.0, **kwargs):
            dataset = kwargs.pop("train_dataset", None)
            if dataset is None:
                raise UsageError("FeedbackTrainer needs train_dataset= (a map-style dataset of dict examples).")
            if len(dataset) != sampler.dataset_size:
                raise UsageError(f"the sampler is over {sampler.dataset_size} examples but train_dataset has "
                                 f"{len(dataset)}; build the sampler with len(train_dataset).")
            callbacks = list(kwargs.pop("callbacks", None) or []) + [ThresherCallback(sampler, resume_from)]
            super().__init__(*args, train_dataset=_IndexedSampledDataset(dataset, sampler), callbacks=callbacks, **kwargs)
            if getattr(self.args, "dataloader_persistent_workers", False):
                raise UsageError("FeedbackTrainer: dataloader_persistent_workers would keep each worker's copy of "
                                 "the sampler from the first epoch; leave it off so every epoch plans with the "
                                 "feedback received so far.")
            self.sampler, self.per_example_loss, self.recorder = sampler, per_example_loss, recorder
            if teacher is not None and not (0 <= kd_weight <= 1 and kd_temperature > 0):
                raise UsageError(f"FeedbackTrainer: kd_weight={kd_weight} must be in [0, 1] and "
                                 f"kd_temperature={kd_temperature} above 0.")
            self.teacher, self.kd_weight, self.kd_temperature = teacher, float(kd_weight), float(kd_temperature)
            if teacher is not None:
                teacher.eval()
                for weight in teacher.parameters():
                    weight.requires_grad_(False)
            # Our loss is a per-batch mean: the Trainer divides it by the accumulation steps.
            self.model_accepts_loss_kwargs = False
            if hasattr(self, "loss_is_scaled_for_ga"):
                self.loss_is_scaled_for_ga = False

        def _get_collator_with_removed_columns(self, data_collator, description=None):
            # The Trainer drops every feature its model does not take before collating; the
            # positions are taken out first and put back into the collated batch.
            return _IndexCollator(super()._get_collator_with_removed_columns(data_collator, description=description))

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if INDEX_KEY not in inputs:
                if model.training:
                    raise UsageError("FeedbackTrainer: a training batch came without the examples' positions, so "
                                     "no loss can be fed back; this transformers version collates differently "
                                     "from the ones thresher knows (4.46 to 5.x).")
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            inputs = dict(inputs)
            positions = inputs.pop(INDEX_KEY)
            outputs = model(**inputs)
            losses = self.per_example_loss(outputs, inputs.get("labels"), model)
            if self.teacher is not None and model.training:
                losses = self._distilled(losses, outputs, inputs)
            if losses.shape != positions.shape:
                raise UsageError(f"per_example_loss gave shape {tuple(losses.shape)} for a batch of "
                                 f"{len(positions)} examples; return one loss per example.")
            if model.training:
                gathered, gathered_losses = gather_feedback(positions.to(losses.device), losses.detach().float())
                self.sampler.update(gathered.cpu(), gathered_losses.cpu())
                if self.recorder is not None:  # signals of the user's own model (this process's examples)
                    logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
                    self.recorder.set_epoch(self.sampler.epoch)
                    self.recorder.update(positions.cpu(), logits.detach().float().cpu(), inputs["labels"].cpu())
            weights = self.sampler.weights(positions.cpu()).to(device=losses.device, dtype=losses.dtype)
            loss = (losses * weights).mean()
            return (loss, outputs) if return_outputs else loss

        def _distilled(self, losses, outputs, inputs):
            """(1 - w) * the loss + w * T^2 * KL(teacher || student) at temperature T, per example
            (Hinton et al. 2015): the teacher's soft labels for classification logits (b, classes)."""
            import torch.nn.functional as F

            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            if logits.dim() != 2:
                raise UsageError("FeedbackTrainer(teacher=...) distils classification logits (batch, classes); "
                                 f"these are {tuple(logits.shape)}.")
            with torch.no_grad():
                taught = self.teacher(**{k: v for k, v in inputs.items() if k != "labels"})
            teacher_logits = taught["logits"] if isinstance(taught, dict) else taught[0]
            t = self.kd_temperature
            kl = F.kl_div(F.log_softmax(logits / t, dim=-1), F.log_softmax(teacher_logits.to(logits.dtype) / t, dim=-1),
                          reduction="none", log_target=True).sum(dim=-1)
            return (1 - self.kd_weight) * losses + self.kd_weight * t * t * kl

    return FeedbackTrainer


def __getattr__(name: str):
    if name == "FeedbackTrainer":  # built on first use, so importing this module does not import transformers
        return _feedback_trainer_class()
    raise AttributeError(name)
