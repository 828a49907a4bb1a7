"""GOT-D: the pool records whose mass most lowers the optimal-transport distance to the target."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from thresher.errors import MissingDependencyError, UsageError
from thresher.select.base import Context, Param, Scores, ScoreSelector
from thresher.select.registry import register
from thresher.select._embedding import EMBEDDING_PARAMS, EmbeddingSelector

log = logging.getLogger(__name__)

# The dense pool x target cost: POT's Sinkhorn holds about four float64 arrays of this
# size (cost, kernel, scaled kernel, plan), so 25M entries is about 800 MB at the peak.
MAX_COST_ENTRIES = 25_000_000
EXACT_PIVOTS = 10**9  # the network simplex runs to optimality; this only stops a runaway
STOP = 1e-9  # Sinkhorn stops when the target marginal is this close (L2), POT's default


@register
class GOTD(EmbeddingSelector, ScoreSelector):
    """Gradients of optimal transport for data selection, GOT-D (Kang et al. 2024): the
    records whose probability mass, moved onto them, lowers the optimal-transport (OT)
    distance from the pool to the target the most.

    The pool (uniform weights 1/n) and the target examples (uniform weights 1/m) are two
    distributions of unit-length embeddings; the cost of moving mass from record i to
    example j is 1 - cos(i, j), between 0 and 2 (squared Euclidean distance on unit
    vectors is twice that, so it would give the same ranking at twice `epsilon`). OT is
    solved with POT (the `[target]` extra): solver="sinkhorn" (the default) is entropic
    OT with regularisation `epsilon` in the cost's units, at most `iterations` Sinkhorn
    iterations (log-domain iterations if the fast ones under- or overflow);
    solver="exact" is the network simplex (`ot.emd`) to optimality. The dual
    (Kantorovich) potential f_i of record i is the gradient of the OT distance with
    respect to its mass: epsilon log u_i for Sinkhorn, the LP dual for exact. The paper
    keeps the records of most negative gradient, calibrated to the simplex (f_i minus the
    mean of the others' potentials, an increasing function of f_i): moving mass onto them
    lowers the distance most. So the score is -(f_i - mean f), higher = keep first: records
    near target examples, most of all examples the rest of the pool serves poorly. As in
    the paper the ranking is computed once (the pool stands in for the model's
    pre-training data) and cut by the shared chooser, so a selection can be re-cut, or
    chosen by Gumbel top-k or label/domain quotas.

    Cost: the n x m cost matrix is computed in blocks of the pool and held dense in
    float64; POT's Sinkhorn keeps about four arrays that size (some 32 bytes per pool x
    target pair at the peak) and is O(n m) per iteration. Measured here on synthetic
    clustered embeddings, 35,826 x 300: Sinkhorn about 1 CPU-s, exact OT 11-17 CPU-s,
    under 1 GB peak for the whole process. When n x m would exceed 25 million entries, or m exceeds
    `max_targets`, the target examples are subsampled with the seed to fit (the number
    used is in `meta["got_d"]["targets"]`). Several target pools are one target
    distribution.
    """

    name = "got-d"
    summary = "optimal transport to the target: records whose mass most lowers the OT distance (dual potentials)"
    paper = 'Kang et al. 2024, "Get more for less: Principled Data Selection for Warming Up Fine-Tuning in LLMs"'
    needs = ("features", "target")
    params = {
        **EMBEDDING_PARAMS,
        "solver": Param("sinkhorn", str, "entropic OT by Sinkhorn, or exact OT by the network simplex",
                        ("sinkhorn", "exact")),
        "epsilon": Param(0.05, float, "Sinkhorn's entropic regularisation, in units of the cost 1 - cosine (0 to 2)"),
        "iterations": Param(1000, int, "Sinkhorn iterations at most (the exact solver runs to optimality)"),
        "max_targets": Param(1000, int, "target examples used at most; more are subsampled with the seed"),
    }

    def validate(self) -> None:
        if not (np.isfinite(self.config["epsilon"]) and self.config["epsilon"] > 0):
            raise UsageError(f"got-d: epsilon={self.config['epsilon']} must be above 0 (0.05 is a fair start "
                             "for a cost between 0 and 2).")
        if self.config["iterations"] < 1:
            raise UsageError(f"got-d: iterations={self.config['iterations']} must be at least 1.")
        if self.config["max_targets"] < 1:
            raise UsageError(f"got-d: max_targets={self.config['max_targets']} must be at least 1.")

    def check(self, pool, target) -> None:
        super().check(pool, target)
        _ot()  # a missing POT is reported before any record is read

    def score(self, ctx: Context, state) -> Scores:
        from thresher.features.vectors import prepare

        features = self.embeddings(ctx)
        targets = prepare(self.target_embeddings(ctx.target, features.shape[1]))
        given = len(targets)
        if given == 0:
            raise UsageError("got-d: the target has no examples; give a target with at least one record.")
        n = ctx.index.n
        if n == 0:
            return Scores(np.zeros(0))
        keep = min(given, self.config["max_targets"], max(1, MAX_COST_ENTRIES // n))
        if keep < given:
            targets = targets[np.sort(ctx.rng.choice(given, size=keep, replace=False))]
        potential, facts = potentials(transport_cost(features, targets), self.config["solver"],
                                      self.config["epsilon"], self.config["iterations"])
        facts.update(targets=keep, targets_given=given)
        return Scores(-(potential - potential.mean()), meta={"got_d": facts})


def transport_cost(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The cost (n, m) float64 of moving mass from each pool row to each target row:
    1 - cosine, computed in blocks of the pool (rows normalised on the fly); `targets`
    (m, d) must already be unit rows."""
    from thresher.features.vectors import blocks

    cost = np.empty((len(features), len(targets)), dtype=np.float64)
    for start, block in blocks(features):
        cost[start : start + len(block)] = 1.0 - block @ targets.T
    return np.maximum(cost, 0.0, out=cost)


def potentials(cost: np.ndarray, solver: str = "sinkhorn", epsilon: float = 0.05,
               iterations: int = 1000) -> tuple[np.ndarray, dict]:
    """The pool side's dual potential f (n,) float64 of OT between uniform weights on the
    rows and on the columns of `cost` (n, m), and facts about the solve (transport cost,
    iterations, convergence). f is defined up to a constant shared with the target side.

    Each row's smallest cost is taken off before solving: the plan is the same (each row's
    mass is fixed), f shifts by that row's minimum, which is added back, and every row
    of the Sinkhorn kernel keeps an entry of 1, so the kernel cannot underflow to zero."""
    ot = _ot()
    n, m = cost.shape
    floor = cost.min(axis=1)
    shifted = cost - floor[:, None]
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    if solver == "exact":
        _, found = ot.emd(a, b, shifted, numItermax=EXACT_PIVOTS, log=True)
        facts = {"solver": "exact", "transport_cost": float(found["cost"] + a @ floor),
                 "converged": found["result_code"] == 1}
        if not facts["converged"]:
            log.warning("got-d: the exact solver stopped before optimality (%s); its potentials are approximate.",
                        found["warning"])
        return np.asarray(found["u"], dtype=np.float64) + floor, facts
    method = "sinkhorn"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan, found = ot.sinkhorn(a, b, shifted, epsilon, method=method, numItermax=iterations, stopThr=STOP,
                                  log=True, warn=False)
    log_u = np.log(found["u"]) if np.all(found["u"] > 0) else None
    numerical = any("numerical" in str(warning.message).lower() for warning in caught)
    if numerical or log_u is None or not np.all(np.isfinite(log_u)):
        # Numerical errors (a kernel column underflowed at a small epsilon): the log-domain
        # iterations are slower and do not underflow.
        method = "sinkhorn_log"
        with np.errstate(over="ignore"):  # POT also exponentiates the log scalings, which we do not use
            plan, found = ot.sinkhorn(a, b, shifted, epsilon, method=method, numItermax=iterations, stopThr=STOP,
                                      log=True, warn=False)
        log_u = np.asarray(found["log_u"], dtype=np.float64)
    error = float(found["err"][-1]) if found["err"] else float("nan")
    facts = {"solver": "sinkhorn", "method": method, "epsilon": float(epsilon),
             "transport_cost": float(np.einsum("ij,ij->", plan, shifted) + a @ floor),
             "iterations": int(found["niter"]) + 1, "marginal_error": error, "converged": bool(error < STOP)}
    if not facts["converged"]:
        log.warning("got-d: Sinkhorn stopped after %d iterations with marginal error %.2g; the ranking is "
                    "approximate (raise iterations or epsilon).", facts["iterations"], error)
    return epsilon * log_u + floor, facts


def _ot():
    try:
        import ot
    except ImportError as err:
        raise MissingDependencyError("pot", "target", "got-d") from err
    return ot
