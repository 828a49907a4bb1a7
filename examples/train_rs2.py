"""RS2: train on a fresh random 20% of the data each epoch (Okanovic et al. 2023).

Runs in seconds on CPU with scikit-learn's bundled digits; prints test accuracy of a
small MLP trained on RS2 subsets, next to the same number of steps on all the data.

    python examples/train_rs2.py
"""

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from thresher.train import RS2Sampler

torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=0)
train = TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train))
x_test, y_test = torch.tensor(x_test, dtype=torch.float32), torch.tensor(y_test)


def fit(sampler, epochs: int) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loader = DataLoader(train, batch_size=32, sampler=sampler, shuffle=sampler is None)
    for epoch in range(epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)  # RS2 draws the epoch's subset here
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return (model(x_test).argmax(1) == y_test).float().mean().item()


rs2 = RS2Sampler(len(train), fraction=0.2, seed=0)
print(f"RS2, 20% per epoch, 20 epochs : accuracy {fit(rs2, 20):.3f} ({20 * len(rs2)} examples seen)")
print(f"full data, 4 epochs (same steps): accuracy {fit(None, 4):.3f} ({4 * len(train)} examples seen)")
print(f"every example visited within {rs2.epochs_per_round} epochs")
