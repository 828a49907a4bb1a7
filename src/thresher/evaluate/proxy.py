"""The fixed proxy models that score a selection, and the one tuning procedure for them.

Two models on frozen features: multinomial logistic regression (the default) and a small
one-hidden-layer MLP, so a user can check that a selection transfers across models.

Regularisation is tuned per budget, by one procedure that is the same for every method,
random included (`tune`): for each candidate strength, fit on `repeats` random
selections of that budget from the pool, score on the validation split, and keep the
strength with the best mean accuracy. It is then fixed for every method at that budget.
A strength tuned on the full data over-regularises tiny selections, and the harness
would measure the tuning instead of the selection (SST-2 at 1%: random scores 53% at
C=0.1 and 67% at C=1).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from thresher.errors import UsageError


@dataclass(frozen=True)
class ProxySpec:
    """A proxy model: its name, the regularisation parameter tuned per budget and the grid."""

    name: str
    param: str
    grid: tuple[float, ...]
    description: str


PROXIES = {
    "logreg": ProxySpec("logreg", "C", (0.01, 0.1, 1.0, 10.0, 100.0),
                        "multinomial logistic regression (lbfgs, max_iter=300), C tuned per budget"),
    "mlp": ProxySpec("mlp", "alpha", (1e-4, 1e-2, 1.0),
                     "MLP, one hidden layer of 128 ReLU units (adam, 200 epochs), L2 alpha tuned per budget"),
}


def proxy_spec(name: str) -> ProxySpec:
    if name not in PROXIES:
        raise UsageError(f"model={name!r}: use one of {', '.join(PROXIES)}.")
    return PROXIES[name]


class _Constant:
    """What a proxy becomes when the selection holds a single class: it predicts that class."""

    def __init__(self, label: int):
        self.label = label

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.full(len(features), self.label)


def fit_proxy(model: str, value: float, features: np.ndarray, labels: np.ndarray,
              weights: np.ndarray | None = None, seed: int = 0):
    """Fit proxy `model` with regularisation `value` on `features: (k, d)`, `labels: (k,) int`.

    weights: (k,) per-example sample weights from the selection, or None. A selection with
    one class yields a constant predictor; classes missing from it are never predicted.
    """
    present = np.unique(labels)
    if len(present) == 0:
        raise UsageError("the selection is empty: nothing to train the proxy on.")
    if len(present) == 1:
        return _Constant(int(present[0]))
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    features = np.asarray(features, dtype=np.float32)
    # One BLAS thread per fit: on 2 shared cores, threaded BLAS made these small fits 10-30x
    # slower; parallelism comes from fitting several points at once (workers).
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        # Tiny selections of many-class sets (banking77 at 1%) trip a "regression?" heuristic.
        warnings.filterwarnings("ignore", message="The number of unique classes")
        if model == "logreg":
            from sklearn.linear_model import LogisticRegression

            classifier = LogisticRegression(C=value, max_iter=300, tol=1e-4)
            return classifier.fit(features, labels, sample_weight=weights)
        if model == "mlp":
            from sklearn.neural_network import MLPClassifier

            classifier = MLPClassifier(hidden_layer_sizes=(128,), alpha=value, max_iter=200, random_state=seed,
                                       batch_size=min(200, len(labels)))
            if weights is not None:
                try:
                    return classifier.fit(features, labels, sample_weight=weights)
                except TypeError:  # scikit-learn < 1.7 has no MLP sample weights: repeat rows instead
                    repeats = np.maximum(1, np.rint(weights)).astype(np.int64)
                    return classifier.fit(np.repeat(features, repeats, 0), np.repeat(labels, repeats))
            return classifier.fit(features, labels)
    raise UsageError(f"model={model!r}: use one of {', '.join(PROXIES)}.")


def score_proxy(fitted, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, macro-F1 over the classes in `labels`) of a fitted proxy, both in [0, 1]."""
    from sklearn.metrics import f1_score

    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        predicted = fitted.predict(np.asarray(features, dtype=np.float32))
    accuracy = float(np.mean(predicted == labels))
    macro_f1 = float(f1_score(labels, predicted, labels=np.unique(labels), average="macro", zero_division=0))
    return accuracy, macro_f1


def fit_and_score(model: str, value: float, train_x: np.ndarray, train_y: np.ndarray, positions: np.ndarray,
                  weights: np.ndarray | None, test_x: np.ndarray, test_y: np.ndarray, seed: int) -> tuple[float, float]:
    """Train on the pool rows at `positions` and score on the test split (one point of a curve)."""
    fitted = fit_proxy(model, value, train_x[positions], train_y[positions], weights, seed)
    return score_proxy(fitted, test_x, test_y)


def tuning_jobs(model: str, pool_size: int, budget_n: int, repeats: int, seed: int = 10_000):
    """The (value, repeat, positions) fits that tune `model` at a budget: random selections of `budget_n`."""
    spec = proxy_spec(model)
    repeats = 1 if budget_n >= pool_size else repeats
    draws = [np.sort(np.random.default_rng(seed + r).permutation(pool_size)[:budget_n]) for r in range(repeats)]
    return [(value, r, draws[r]) for value in spec.grid for r in range(repeats)]


def choose_value(model: str, results: list[tuple[float, int, float]]) -> tuple[float, dict[str, float]]:
    """The strength with the best mean validation accuracy (ties: the first in the grid), and each mean."""
    spec = proxy_spec(model)
    means = {value: float(np.mean([acc for v, _, acc in results if v == value])) for value in spec.grid}
    best = max(spec.grid, key=lambda v: (round(means[v], 9), -spec.grid.index(v)))
    return best, {repr(v): round(m, 5) for v, m in means.items()}
