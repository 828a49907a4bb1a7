"""Training-time selection: PyTorch samplers and a small feedback protocol.

    from thresher.train import RS2Sampler, DynamicPruner, CurriculumSampler, MixtureSampler
    sampler = DynamicPruner(len(ds), prune_ratio=0.5, epochs=E, anneal_epochs=1, seed=0)
    loader = DataLoader(IndexedDataset(ds), batch_size=256, sampler=sampler)
    for epoch in range(E):
        sampler.set_epoch(epoch)
        for idx, x, y in loader:
            loss = F.cross_entropy(model(x), y, reduction="none")
            sampler.update(idx, loss.detach())
            (loss * sampler.weights(idx)).mean().backward()

Every sampler shards like `DistributedSampler` (`num_replicas`, `rank`) and saves its
schedule with `state_dict()` / `load_state_dict()`. This package imports torch;
`import thresher` does not.
"""

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - depends on the environment
    from thresher.errors import MissingDependencyError

    raise MissingDependencyError("torch", "torch", "thresher.train") from error

from thresher.train.base import EpochSampler, IndexedDataset, gather_feedback
from thresher.train.curriculum import PACINGS, CurriculumSampler, pacing_fraction
from thresher.train.hf import SampledDataset, ThresherCallback
from thresher.train.mixture import MixtureSampler
from thresher.train.negatives import HardNegativeMiner
from thresher.train.pruning import DynamicPruner
from thresher.train.rs2 import RS2Sampler


def __getattr__(name: str):
    if name == "FeedbackTrainer":  # a transformers.Trainer subclass: imports transformers on first use
        from thresher.train import hf

        return hf.FeedbackTrainer
    raise AttributeError(f"module 'thresher.train' has no attribute {name!r}")


__all__ = [
    "PACINGS",
    "CurriculumSampler",
    "DynamicPruner",
    "EpochSampler",
    "FeedbackTrainer",
    "HardNegativeMiner",
    "IndexedDataset",
    "MixtureSampler",
    "RS2Sampler",
    "SampledDataset",
    "ThresherCallback",
    "gather_feedback",
    "pacing_fraction",
]
