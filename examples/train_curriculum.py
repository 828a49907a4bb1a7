"""CurriculumSampler: easy-to-hard, hard-to-easy and cyclical curricula with pacing functions.

Difficulty comes from a cheap proxy (how much closer an example is to another class's
centroid than to its own); any score works, including a `thresher.Selection`'s scores.

    python examples/train_curriculum.py
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from thresher.train import CurriculumSampler

torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=0)
# Difficulty = distance to the own class centroid minus distance to the nearest other centroid.
centroids = np.stack([x_train[y_train == c].mean(0) for c in range(10)])
distance = np.linalg.norm(x_train[:, None, :] - centroids[None], axis=2)
own = distance[np.arange(len(y_train)), y_train]
distance[np.arange(len(y_train)), y_train] = np.inf
difficulty = own - distance.min(1)
train = TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train))
x_test, y_test = torch.tensor(x_test, dtype=torch.float32), torch.tensor(y_test)


def fit(sampler, epochs: int = 10) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for xb, yb in DataLoader(train, batch_size=32, sampler=sampler):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return (model(x_test).argmax(1) == y_test).float().mean().item()


for order, pacing in (("easy_to_hard", "linear"), ("easy_to_hard", "root"), ("hard_to_easy", "linear"),
                      ("cyclical", "linear")):
    sampler = CurriculumSampler(len(train), difficulty, order=order, pacing=pacing, start=0.2, ramp_epochs=4,
                                num_samples=len(train) // 2, seed=0)
    shares = [round(sampler.available_fraction(e), 2) for e in range(10)]
    print(f"{order:<13} {pacing:<7} accuracy {fit(sampler):.3f}  available share per epoch {shares}")
