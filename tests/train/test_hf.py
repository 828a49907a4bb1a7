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
