from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from thresher.train import DynamicPruner, IndexedDataset  # noqa: E402
from thresher.train.pruning import kmeans_1d  # noqa: E402


def fixed_problem(n=60, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.normal(size=(n, d)), dtype=torch.float64)
    y = torch.tensor(rng.normal(size=n), dtype=torch.float64)
    w = torch.tensor(rng.normal(size=d), dtype=torch.float64)
    return x, y, w


def per_example_gradients(x, y, w) -> np.ndarray:
    """(n, d) gradient of each example's squared error, by autograd."""
    rows = []
    for i in range(len(y)):
        wi = w.clone().requires_grad_(True)
        ((x[i] @ wi - y[i]) ** 2).backward()
        rows.append(wi.grad.numpy())
    return np.stack(rows)


def test_expected_gradient_equals_full_data_gradient():
    """InfoBatch's rescaling makes the pruned epoch's gradient an unbiased estimate of the full one."""
    x, y, w = fixed_problem()
    n = len(y)
    grads = per_example_gradients(x, y, w)
    full = grads.sum(axis=0)
    pruner = DynamicPruner(n, prune_ratio=0.6, seed=0)
    pruner.update(torch.arange(n), ((x @ w - y) ** 2).detach())
    epochs = 4000
    total, biased, inclusion = np.zeros_like(full), np.zeros_like(full), np.zeros(n)
    for epoch in range(1, epochs + 1):
        pruner.set_epoch(epoch)
        kept = np.array(list(pruner))
        assert len(kept) < n
        weights = pruner.weights(kept).numpy().astype(np.float64)
        total += weights @ grads[kept]
        biased += grads[kept].sum(axis=0)
        inclusion[kept] += weights
    # Each example's inclusion probability times its weight is 1 in expectation.
    assert np.allclose(inclusion / epochs, 1.0, atol=0.08)
    assert np.linalg.norm(total / epochs - full) / np.linalg.norm(full) < 0.03
    # Without the rescaling the same pruning is biased.
    assert np.linalg.norm(biased / epochs - full) / np.linalg.norm(full) > 0.05


def test_only_below_mean_examples_are_pruned_and_first_and_anneal_epochs_are_full():
    n = 200
    losses = np.r_[np.full(100, 0.1), np.full(100, 5.0)]  # the first half is well learned
    pruner = DynamicPruner(n, prune_ratio=0.5, epochs=4, anneal_epochs=1, seed=0)
    pruner.set_epoch(0)
    assert sorted(pruner) == list(range(n)), "nothing is known before the first epoch"
    pruner.update(np.arange(n), losses)
    for epoch in (1, 2):
        pruner.set_epoch(epoch)
        kept = np.array(list(pruner))
        assert set(range(100, 200)) <= set(kept), "hard examples are never pruned"
        assert len(kept) == 150
        assert np.allclose(pruner.weights(kept).numpy(), np.where(kept < 100, 2.0, 1.0))
    pruner.set_epoch(3)
    assert sorted(pruner) == list(range(n)), "annealing: the last epoch is full data"
    assert pruner.passes_saved == 100 and np.isclose(pruner.saved_fraction, 100 / 800)
    assert pruner.report()["passes_used"] == 700


def test_seta_window_slides_from_easy_to_hard():
    n = 300
    losses = np.linspace(0.0, 3.0, n)
    pruner = DynamicPruner(n, prune_ratio=0.2, mode="seta", clusters=6, window=3, seed=0)
    pruner.update(np.arange(n), losses)
    means, sizes = [], []
    for epoch in range(1, 5):
        pruner.set_epoch(epoch)
        kept = np.array(list(pruner))
        means.append(losses[kept].mean())
        sizes.append(len(kept))
    assert means[0] < means[1] < means[2] < means[3], "the window moves toward harder groups"
    pruner.set_epoch(5)
    assert losses[np.array(list(pruner))].mean() < means[1], "and then starts over from the easy end"
    assert all(s < 0.8 * n * 0.6 for s in sizes), "random pruning and the window both drop examples"
    assert pruner.weights(kept).eq(1).all()


def test_kmeans_1d_groups_by_increasing_value():
    values = np.r_[np.zeros(10), np.full(10, 5.0), np.full(10, 10.0)]
    groups = kmeans_1d(values, 3)
    assert list(groups) == [0] * 10 + [1] * 10 + [2] * 10


def test_the_issue_loop_runs_with_indexed_dataset():
    x, y, _ = fixed_problem(n=64)
    dataset = IndexedDataset(torch.utils.data.TensorDataset(x.float(), y.float()))
    model = torch.nn.Linear(5, 1)
    sampler = DynamicPruner(len(dataset), prune_ratio=0.5, epochs=4, anneal_epochs=1, seed=0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=16, sampler=sampler)
    for epoch in range(4):
        sampler.set_epoch(epoch)
        for idx, xb, yb in loader:
            loss = (model(xb).squeeze(1) - yb) ** 2
            sampler.update(idx, loss.detach())
            model.zero_grad()
            (loss * sampler.weights(idx)).mean().backward()
            with torch.no_grad():  # plain SGD (torch.optim's first use is slow to import)
                for parameter in model.parameters():
                    parameter -= 0.05 * parameter.grad
    assert 0 < sampler.passes_saved < 64 * 4
