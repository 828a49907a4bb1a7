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


def single_class(labels: np.ndarray) -> "_Constant | None":
    """The constant predictor a selection with one class yields, or None when it has more;
    an empty selection is a UsageError."""
    present = np.unique(labels)
    if len(present) == 0:
        raise UsageError("the selection is empty: nothing to train the proxy on.")
    return _Constant(int(present[0])) if len(present) == 1 else None


def fit_proxy(model: str, value: float, features: np.ndarray, labels: np.ndarray,
              weights: np.ndarray | None = None, seed: int = 0):
    """Fit proxy `model` with regularisation `value` on `features: (k, d)`, `labels: (k,) int`.

    weights: (k,) per-example sample weights from the selection, or None. A selection with
    one class yields a constant predictor; classes missing from it are never predicted.
    """
    constant = single_class(labels)
    if constant is not None:
        return constant
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
            return fit_weighted_mlp(classifier, features, labels, weights)
    raise UsageError(f"model={model!r}: use one of {', '.join(PROXIES)}.")


def fit_weighted_mlp(classifier, x, y: np.ndarray, weights: np.ndarray | None):
    """`classifier.fit` (a scikit-learn MLP) with per-example weights where the library takes
    them (scikit-learn >= 1.7), else each row repeated round(weight) times (at least once)."""
    if weights is None:
        return classifier.fit(x, y)
    try:
        return classifier.fit(x, y, sample_weight=weights)
    except TypeError:  # scikit-learn < 1.7 has no MLP sample weights
        rows = np.repeat(np.arange(len(y)), np.maximum(1, np.rint(weights)).astype(np.int64))
        return classifier.fit(x[rows], y[rows])


def score_proxy(fitted, features: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, macro-F1 over the classes in `labels`) of a fitted proxy, both in [0, 1]."""
    from threadpoolctl import threadpool_limits

    if isinstance(features, np.ndarray):
        features = features.astype(np.float32, copy=False)
    with threadpool_limits(1):
        predicted = fitted.predict(features)
    return score_predictions(predicted, labels)


def score_predictions(predicted: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(accuracy, macro-F1 over the classes in `labels`) of predicted class codes."""
    from sklearn.metrics import f1_score

    accuracy = float(np.mean(predicted == labels))
    macro_f1 = float(f1_score(labels, predicted, labels=np.unique(labels), average="macro", zero_division=0))
    return accuracy, macro_f1


def fit_and_score(model: str, value: float, train_x: np.ndarray, train_y: np.ndarray, positions: np.ndarray,
                  weights: np.ndarray | None, test_x: np.ndarray, test_y: np.ndarray, seed: int,
                  soft: np.ndarray | None = None) -> tuple[float, float]:
    """Train on the pool rows at `positions` and score on the test split (one point of a curve).

    soft: (n, classes) soft targets for every pool row (knowledge distillation, `soft_targets`):
    the proxy then minimises the cross-entropy against them instead of the labels.
    """
    if soft is None:
        fitted = fit_proxy(model, value, train_x[positions], train_y[positions], weights, seed)
    else:
        fitted = fit_proxy(model, value, *distilled_rows(train_x[positions], soft[positions], weights), seed)
    return score_proxy(fitted, test_x, test_y)


def soft_targets(teacher: np.ndarray, labels: np.ndarray, weight: float) -> np.ndarray:
    """(n, classes) float32 targets weight * teacher + (1 - weight) * one-hot(labels)."""
    targets = weight * np.asarray(teacher, dtype=np.float64)
    targets[np.arange(len(labels)), labels] += 1 - weight
    return targets.astype(np.float32)


def distilled_rows(x: np.ndarray, targets: np.ndarray, weights: np.ndarray | None, floor: float = 1e-4):
    """(rows, labels, sample weights) whose weighted cross-entropy is the soft-target one: each
    record once per class whose target is above `floor`, weighted by that target (times the
    record's own weight). The weights of a record sum to about 1, so regularisation keeps its
    strength. Exact for logistic regression, whose loss is linear in the sample weights."""
    record, label = np.nonzero(targets > floor)
    weight = targets[record, label].astype(np.float64)
    if weights is not None:
        weight = weight * np.asarray(weights, dtype=np.float64)[record]
    return x[record], label.astype(np.int64), weight


def teacher_probabilities(value: float, train_x: np.ndarray, train_y: np.ndarray, classes: int) -> np.ndarray:
    """(n, classes) probabilities of the logistic-regression proxy fitted on the whole pool: the
    knowledge-distillation teacher of `thresher bench`'s "+kd" methods."""
    from threadpoolctl import threadpool_limits

    fitted = fit_proxy("logreg", value, train_x, train_y)
    probabilities = np.zeros((len(train_y), classes))
    with threadpool_limits(1):
        probabilities[:, fitted.classes_] = fitted.predict_proba(np.asarray(train_x, dtype=np.float32))
    return probabilities


def kd_weight(fraction: float) -> float:
    """The teacher's share of the targets at a budget share: larger as the budget shrinks
    (1 - fraction, between 0.1 and 0.9). Fixed, not tuned: chosen before any KD run here."""
    return float(min(0.9, max(0.1, 1.0 - fraction)))


def tuning_jobs(model: str, pool_size: int, budget_n: int, repeats: int, seed: int = 10_000):
    """The (value, repeat, positions) fits that tune `model` at a budget: random selections of `budget_n`."""
    draws = tuning_draws(pool_size, budget_n, repeats, seed)
    return [(value, r, draws[r]) for value in proxy_spec(model).grid for r in range(len(draws))]


def tuning_draws(pool_size: int, budget_n: int, repeats: int, seed: int = 10_000) -> list[np.ndarray]:
    """The random selections of `budget_n` that tune a model at a budget (one at the full pool)."""
    repeats = 1 if budget_n >= pool_size else repeats
    return [np.sort(np.random.default_rng(seed + r).permutation(pool_size)[:budget_n]) for r in range(repeats)]


def choose_value(model: str, results: list[tuple[float, int, float]]) -> tuple[float, dict[str, float]]:
    """The strength with the best mean validation accuracy (ties: the first in the grid), and each mean."""
    return choose_grid_value(proxy_spec(model).grid, results)


def choose_grid_value(grid: tuple, results: list[tuple[float, int, float]]) -> tuple[float, dict[str, float]]:
    """Of `grid`, the value with the best mean of `results` (value, repeat, accuracy); ties: the first."""
    means = {value: float(np.mean([acc for v, _, acc in results if v == value])) for value in grid}
    best = max(grid, key=lambda v: (round(means[v], 9), -grid.index(v)))
    return best, {repr(v): round(m, 5) for v, m in means.items()}
