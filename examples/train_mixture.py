"""MixtureSampler: natural, temperature, upweight, cooldown and online domain mixing.

Three synthetic domains with 100:10:1 examples, each its own 4-class problem. Prints the
average and worst-domain accuracy of a small MLP for each mixing mode.

    python examples/train_mixture.py
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from thresher.train import IndexedDataset, MixtureSampler

torch.set_num_threads(1)
rng = np.random.default_rng(0)
sizes = {"big": 3000, "mid": 300, "small": 30}
centres = {name: rng.normal(size=(4, 16)) * 1.5 for name in sizes}


def make(name, count):
    labels = rng.integers(4, size=count)
    features = centres[name][labels] + rng.normal(size=(count, 16)) + 3 * (list(sizes).index(name))
    return features.astype(np.float32), labels


parts = {name: make(name, n) for name, n in sizes.items()}
tests = {name: make(name, 500) for name in sizes}
x = np.concatenate([parts[n][0] for n in sizes])
y = np.concatenate([parts[n][1] for n in sizes])
domains = np.repeat(list(sizes), list(sizes.values()))
train = IndexedDataset(TensorDataset(torch.tensor(x), torch.tensor(y)))


def fit(sampler, epochs: int = 6) -> list[float]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for idx, xb, yb in DataLoader(train, batch_size=64, sampler=sampler):
            loss = F.cross_entropy(model(xb), yb, reduction="none")
            sampler.update(idx, loss.detach())  # only "online" learns from it
            opt.zero_grad()
            (loss * sampler.weights(idx)).mean().backward()  # only "upweight"/"cooldown" reweight
            opt.step()
    return [(model(torch.tensor(tx)).argmax(1).numpy() == ty).mean() for tx, ty in tests.values()]


for mode in ("natural", "temperature", "upweight", "cooldown", "online"):
    sampler = MixtureSampler(domains, mode, temperature=3.0, cooldown_epochs=5, seed=0)
    accuracy = fit(sampler)
    shares = {str(k): round(float(v), 3) for k, v in zip(sampler.domain_names, sampler.probabilities())}
    print(f"{mode:<12} average {np.mean(accuracy):.3f}  worst domain {min(accuracy):.3f}  final shares {shares}")
