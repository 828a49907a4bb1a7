from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from thresher.train import RS2Sampler, SampledDataset, ThresherCallback  # noqa: E402


class Args:
    def __init__(self, output_dir):
        self.output_dir = str(output_dir)


class State:
    def __init__(self, epoch, global_step):
        self.epoch, self.global_step = epoch, global_step


def test_callback_keeps_the_epoch_and_saves_and_restores_the_schedule(tmp_path):
    from transformers import TrainerCallback, TrainerControl

    sampler = RS2Sampler(50, fraction=0.2, seed=0)
    callback = ThresherCallback(sampler)
    assert isinstance(callback, TrainerCallback)
    callback.on_epoch_begin(Args(tmp_path), State(3.0, 30), TrainerControl())
    assert sampler.epoch == 3
    expected = list(sampler)
    callback.on_save(Args(tmp_path), State(3.0, 30), TrainerControl())
    assert os.path.exists(tmp_path / "checkpoint-30" / "thresher_sampler.pt")

    fresh = RS2Sampler(50, fraction=0.2, seed=0)
    ThresherCallback(fresh, resume_from=tmp_path / "checkpoint-30").on_train_begin(
        Args(tmp_path), State(0, 0), TrainerControl())
    assert fresh.epoch == 3 and list(fresh) == expected


def test_sampled_dataset_yields_the_samplers_items_per_epoch():
    data = [{"x": i} for i in range(40)]
    sampler = RS2Sampler(40, fraction=0.25, seed=0)
    wrapped = SampledDataset(data, sampler)
    seen = set()
    for epoch in range(4):
        wrapped.set_epoch(epoch)
        items = [item["x"] for item in wrapped]
        assert len(items) == len(wrapped) == 10
        seen |= set(items)
    assert seen == set(range(40))
    loader = torch.utils.data.DataLoader(wrapped, batch_size=5)
    assert sum(len(b["x"]) for b in loader) == 10 and isinstance(np.asarray(next(iter(loader))["x"]), np.ndarray)


def _tiny_classifier(classes=3):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=classes)
    return BertForSequenceClassification(config)


def _examples(n, classes=3, length=6):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        label = i % classes
        ids = rng.integers(5, 40, size=length)
        ids[0] = 1 + label  # the first token gives the class away, so training has something to learn
        out.append({"input_ids": torch.tensor(ids), "attention_mask": torch.ones(length, dtype=torch.int64),
                    "labels": torch.tensor(label)})
    return out


def test_per_example_loss_matches_the_models_own_mean_loss():
    from transformers import GPT2Config, GPT2LMHeadModel

    from thresher.train.hf import per_example_loss

    model = _tiny_classifier()
    batch = {k: torch.stack([e[k] for e in _examples(5)]) for k in ("input_ids", "attention_mask", "labels")}
    outputs = model(**batch)
    losses = per_example_loss(outputs, batch["labels"], model)
    assert losses.shape == (5,) and torch.allclose(losses.mean(), outputs.loss, atol=1e-6)

    torch.manual_seed(0)
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=1, n_head=2))
    ids = torch.randint(0, 40, (4, 7))
    outputs = lm(input_ids=ids, labels=ids)
    losses = per_example_loss(outputs, ids, lm)  # shifted by one, as the model does
    assert losses.shape == (4,) and torch.allclose(losses.mean(), outputs.loss, atol=1e-5)
    masked = ids.clone()
    masked[0, 3:] = -100  # ignored tokens do not count
    assert torch.isfinite(per_example_loss(lm(input_ids=ids), masked, lm)).all()


def test_feedback_trainer_feeds_every_example_loss_back_and_prunes(tmp_path):
    from transformers import TrainingArguments

    from thresher.train import DynamicPruner, FeedbackTrainer

    calls = []

    class Recording(DynamicPruner):
        def update(self, indices, losses):
            calls.append((self.epoch, indices.tolist(), losses.tolist()))
            super().update(indices, losses)

    data = [{**example, "text": f"example {i}"} for i, example in enumerate(_examples(48))]  # "text": not a model input
    sampler = Recording(len(data), prune_ratio=0.5, epochs=3, anneal_epochs=1, seed=0)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=3,
                             learning_rate=5e-3, report_to=[], save_strategy="no", use_cpu=True,
                             logging_strategy="no", disable_tqdm=True, max_steps=18)
    trainer = FeedbackTrainer(model=_tiny_classifier(), args=args, train_dataset=data, eval_dataset=data[:8],
                              sampler=sampler)
    trainer.train()
    by_epoch = {}
    for epoch, indices, losses in calls:
        by_epoch.setdefault(epoch, []).extend(indices)
        assert len(indices) == len(losses) and all(np.isfinite(losses))
    assert sorted(by_epoch[0]) == list(range(48))  # epoch 0: every example once, its loss fed back
    assert len(by_epoch[1]) < 48  # epoch 1: well-learned examples pruned on that feedback
    assert not np.isnan(sampler.memory.losses).any()
    assert "eval_loss" in trainer.evaluate()  # evaluation batches take the Trainer's own path

    with pytest.raises(Exception, match="over 10 examples"):
        FeedbackTrainer(model=_tiny_classifier(), args=args, train_dataset=data, sampler=DynamicPruner(10))


def test_sampled_dataset_splits_its_examples_across_dataloader_workers():
    from torch.utils.data import DataLoader

    sampler = RS2Sampler(40, fraction=0.5, seed=3)
    dataset = SampledDataset(list(range(100, 140)), sampler)
    seen = [int(x) for x in DataLoader(dataset, batch_size=None, num_workers=2)]
    assert sorted(seen) == sorted(100 + i for i in sampler)  # each example once, none twice


def test_feedback_trainer_records_the_same_signals_as_the_plain_loop(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from thresher.features.signals import SignalRecorder
    from thresher.train import FeedbackTrainer
    from thresher.train.base import EpochSampler
    from thresher.train.hf import per_example_loss

    class InOrder(EpochSampler):
        def _plan(self, epoch):
            return np.arange(self.dataset_size)

    def model():
        torch.manual_seed(0)
        config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=32, max_position_embeddings=16, num_labels=3,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        return BertForSequenceClassification(config)

    data, epochs, batch = _examples(24), 3, 8
    labels = np.array([int(e["labels"]) for e in data])

    trained = model()
    optimizer = torch.optim.AdamW(trained.parameters(), lr=5e-3)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=batch, num_train_epochs=epochs,
                             learning_rate=5e-3, lr_scheduler_type="constant", report_to=[], save_strategy="no",
                             use_cpu=True, logging_strategy="no", disable_tqdm=True)
    via_trainer = SignalRecorder(len(data), epochs)
    FeedbackTrainer(model=trained, args=args, train_dataset=data, sampler=InOrder(len(data)),
                    optimizers=(optimizer, None), recorder=via_trainer).train()

    plain, by_hand = model(), SignalRecorder(len(data), epochs)
    optimizer = torch.optim.AdamW(plain.parameters(), lr=5e-3)
    for epoch in range(epochs):
        by_hand.set_epoch(epoch)
        for start in range(0, len(data), batch):
            idx = torch.arange(start, start + batch)
            inputs = {k: torch.stack([data[i][k] for i in idx]) for k in ("input_ids", "attention_mask", "labels")}
            outputs = plain(**inputs)
            losses = per_example_loss(outputs, inputs["labels"])
            by_hand.update(idx, outputs.logits.detach(), inputs["labels"])
            losses.mean().backward()
            torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)  # the Trainer's max_grad_norm
            optimizer.step()
            optimizer.zero_grad()

    ours, theirs = via_trainer.signals(labels), by_hand.signals(labels)
    for name in ("aum", "confidence", "variability"):
        np.testing.assert_allclose(getattr(ours, name)(), getattr(theirs, name)(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.el2n(2), theirs.el2n(2), rtol=1e-4, atol=1e-5)
    assert ours.forgetting().tolist() == theirs.forgetting().tolist()
    assert ours.confidence().mean() > 1 / 3  # it learned something: the first token gives the class away


def test_feedback_trainer_distils_a_teacher_into_the_model(tmp_path):
    from transformers import TrainingArguments

    from thresher.train import FeedbackTrainer
    from thresher.train.base import EpochSampler

    class InOrder(EpochSampler):
        def _plan(self, epoch):
            return np.arange(self.dataset_size)

    class Seen(InOrder):
        losses: list = []

        def update(self, indices, losses):
            Seen.losses.append(losses.clone())

    data = _examples(16)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=1,
                             learning_rate=0.0, report_to=[], save_strategy="no", use_cpu=True,
                             logging_strategy="no", disable_tqdm=True)

    def first_losses(**kd):
        Seen.losses = []
        FeedbackTrainer(model=_tiny_classifier(), args=args, train_dataset=data, sampler=Seen(len(data)),
                        **kd).train()
        return Seen.losses[0]

    plain = first_losses()
    assert torch.allclose(first_losses(teacher=_tiny_classifier(), kd_weight=0.0), plain)
    # The teacher is the model itself (same initial weights, lr 0): the KL term is zero.
    assert torch.allclose(first_losses(teacher=_tiny_classifier(), kd_weight=0.5), 0.5 * plain, atol=1e-5)
    torch.manual_seed(1)
    other = _tiny_classifier()
    with torch.no_grad():
        for weight in other.parameters():
            weight.add_(torch.randn_like(weight))
    assert not torch.allclose(first_losses(teacher=other, kd_weight=0.5), 0.5 * plain, atol=1e-3)
    with pytest.raises(Exception, match="kd_weight"):
        FeedbackTrainer(model=_tiny_classifier(), args=args, train_dataset=data, sampler=Seen(len(data)),
                        teacher=other, kd_weight=2.0)
