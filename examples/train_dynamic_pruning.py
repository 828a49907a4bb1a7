"""DynamicPruner: skip well-learned examples each epoch and rescale the rest (InfoBatch, SeTa).

Shows the feedback protocol: indices come with each batch (`IndexedDataset`), the sampler
gets per-example losses (`update`) and returns loss weights (`weights`). Prints accuracy
and the share of forward/backward passes saved, next to full-data training.

    python examples/train_dynamic_pruning.py
"""

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from thresher.train import DynamicPruner, IndexedDataset

torch.set_num_threads(1)
x, y = load_digits(return_X_y=True)
x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.3, random_state=0)
train = IndexedDataset(TensorDataset(torch.tensor(x_train, dtype=torch.float32), torch.tensor(y_train)))
x_test, y_test = torch.tensor(x_test, dtype=torch.float32), torch.tensor(y_test)
EPOCHS = 15


def fit(sampler) -> float:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    loader = DataLoader(train, batch_size=32, sampler=sampler, shuffle=sampler is None)
    for epoch in range(EPOCHS):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for idx, xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb, reduction="none")
            if sampler is not None:
                sampler.update(idx, loss.detach())  # feedback: per-example losses
                loss = loss * sampler.weights(idx)  # rescaling keeps the gradient unbiased
            opt.zero_grad()
            loss.mean().backward()
            opt.step()
    return (model(x_test).argmax(1) == y_test).float().mean().item()


print(f"full data          : accuracy {fit(None):.3f}")
for mode in ("infobatch", "seta"):
    pruner = DynamicPruner(len(train), prune_ratio=0.5, epochs=EPOCHS, anneal_epochs=2, mode=mode, seed=0)
    accuracy = fit(pruner)
    print(f"{mode:<19}: accuracy {accuracy:.3f}, passes saved {pruner.saved_fraction:.1%} {pruner.report()}")
