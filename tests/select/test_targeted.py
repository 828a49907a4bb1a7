"""Behaviour of the target-aware methods got-d (optimal transport) and snp (cluster search
and pruning) on planted structure: small random embeddings attached with
`pool.with_features`, so no model is needed."""

from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pytest

import thresher
from thresher import Pool
from thresher.errors import MissingDependencyError, UsageError
from thresher.select.registry import get_method


def _pool(features, words=None):
    n = len(features)
    text = ["w"] * n if words is None else [" ".join(["w"] * k) for k in words]
    table = pa.table({"id": [f"r{i}" for i in range(n)], "text": text})
    return Pool.from_arrow(table, id_field="id").with_features(np.asarray(features, dtype=np.float32))


def _target(features):
    return Pool.from_arrow(pa.table({"text": ["t"] * len(features)})).with_features(
        np.asarray(features, dtype=np.float32))


def _positions(selection):
    return [int(i[1:]) for i in selection.ids.to_pylist()]


def _planted(sizes=(200, 200, 200, 200, 200), near=2, examples=20, d=16, spread=0.05, seed=0):
    """Well-separated Gaussian clusters on the sphere, and target examples drawn fresh
    from cluster `near` only: (pool points, their cluster, target points)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = np.concatenate([c + spread * rng.normal(size=(s, d)) for c, s in zip(centres, sizes)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return points, labels, centres[near] + spread * rng.normal(size=(examples, d))


@pytest.fixture
def ot():
    return pytest.importorskip("ot")


# ---- (a) a planted target ------------------------------------------------------------

@pytest.mark.parametrize("params", [{}, {"solver": "exact"}, {"epsilon": 0.01}])
def test_got_d_chooses_the_cluster_the_target_comes_from(ot, params):
    points, labels, target = _planted()
    sel = thresher.select(_pool(points), "got-d", 100, target=_target(target), **params)
    picked = labels[_positions(sel)]
    assert len(picked) == 100 and (picked == 2).mean() >= 0.95
    assert sel.meta["got_d"]["converged"] and sel.meta["got_d"]["targets"] == 20
    # The scores rank the whole target cluster above every other record.
    scores = np.asarray(sel.table.column("score").to_pylist())[np.argsort(sel.table.column("position").to_numpy())]
    assert scores[labels == 2].min() > scores[labels != 2].max()


@pytest.mark.parametrize("params", [{}, {"inner": "nearest"}, {"covariance": "shrunk"}, {"clusters": 5}])
def test_snp_takes_the_nearest_clusters_and_prunes_them_to_the_budget(params):
    points, labels, target = _planted()
    sel = thresher.select(_pool(points), "snp", 100, target=_target(target), **params)
    picked = labels[_positions(sel)]
    assert len(picked) == 100 and (picked == 2).mean() >= 0.95
    facts = sel.meta["snp"]
    assert facts["reserve_records"] >= 200  # reserve 2 x budget, in whole clusters
    assert facts["frechet_taken"] == sorted(facts["frechet_taken"])
    groups = sel.kept.column("group").to_numpy()
    assert set(groups) <= set(facts["clusters_taken"])
    counts = sel.reason_counts()  # every record not chosen says why
    assert counts["pruned"] == facts["reserve_records"] - 100 and sum(counts.values()) == 900


def test_snp_nearest_prunes_the_reserve_to_the_records_closest_to_the_target_mean():
    points, labels, target = _planted(seed=1)
    sel = thresher.select(_pool(points), "snp", 30, target=_target(target), inner="nearest")
    group = np.empty(len(points), dtype=np.int64)  # every record's cluster is in the group column
    group[sel.table.column("position").to_numpy()] = sel.table.column("group").to_numpy()
    reserve = np.flatnonzero(np.isin(group, sel.meta["snp"]["clusters_taken"]))
    assert len(reserve) == sel.meta["snp"]["reserve_records"] >= 60
    unit = points / np.linalg.norm(points, axis=1, keepdims=True)
    mean = (target / np.linalg.norm(target, axis=1, keepdims=True)).mean(axis=0)  # of the unit target rows
    mean /= np.linalg.norm(mean)
    closest = reserve[np.argsort(-(unit[reserve] @ mean))[:30]]
    assert set(_positions(sel)) == set(closest) and (labels[closest] == 2).all()
    assert np.all(np.diff(unit[_positions(sel)] @ mean) <= 1e-6)  # nearest first


def test_random_does_not_find_the_planted_cluster():
    points, labels, _ = _planted()
    picked = labels[_positions(thresher.select(_pool(points), "random", 100, seed=0))]
    assert (picked == 2).mean() < 0.5  # what the two methods above beat


# ---- (b) optimal transport against the exact solution -------------------------------

def _tiny(seed=3, n=7, m=4):
    """7 pool x 4 target points: with uniform weights 1/7 and 1/4 no partial sums
    coincide, so the optimal plan is non-degenerate and the duals are unique up to a
    shared constant."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)), rng.normal(size=(m, 3))


def _linprog_duals(cost):
    """The OT linear programme solved by HiGHS: (cost, pool duals f, target duals g)."""
    from scipy.optimize import linprog

    n, m = cost.shape
    rows = np.zeros((n + m, n * m))
    for i in range(n):
        rows[i, i * m : (i + 1) * m] = 1
    for j in range(m):
        rows[n + j, j::m] = 1
    res = linprog(cost.ravel(), A_eq=rows, b_eq=np.concatenate([np.full(n, 1 / n), np.full(m, 1 / m)]),
                  bounds=(0, None), method="highs")
    assert res.status == 0
    return res.fun, res.eqlin.marginals[:n], res.eqlin.marginals[n:]


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_exact_potentials_are_the_linear_programmes_duals(ot, seed):
    from thresher.select.gotd import potentials, transport_cost

    pool, target = _tiny(seed)
    unit = target / np.linalg.norm(target, axis=1, keepdims=True)
    cost = transport_cost(pool.astype(np.float32), unit.astype(np.float32))
    assert np.allclose(cost, 1 - (pool / np.linalg.norm(pool, axis=1, keepdims=True)) @ unit.T, atol=1e-6)
    lp_cost, f_lp, g_lp = _linprog_duals(cost)
    f, facts = potentials(cost, "exact")
    a, b = np.full(7, 1 / 7), np.full(4, 1 / 4)
    assert facts["converged"]
    assert facts["transport_cost"] == pytest.approx(ot.emd2(a, b, cost), abs=1e-9)
    assert facts["transport_cost"] == pytest.approx(lp_cost, abs=1e-9)
    assert np.allclose(f - f.mean(), f_lp - f_lp.mean(), atol=1e-8)
    # Sinkhorn's potentials approach the exact ones as epsilon shrinks (the small epsilon
    # needs the log-domain iterations or many fast ones: either must get there).
    errors = []
    for epsilon in (0.05, 0.01, 0.001):
        f_eps, found = potentials(cost, "sinkhorn", epsilon, 20_000)
        assert found["converged"] and found["transport_cost"] >= lp_cost - 1e-9
        errors.append(np.abs((f_eps - f_eps.mean()) - (f_lp - f_lp.mean())).max())
    assert errors[0] > errors[1] > errors[2] and errors[2] < 5e-3

    # Through the selector: the scores are the negated centred duals, and the budget takes
    # the records of lowest dual potential.
    sel = thresher.select(_pool(pool), "got-d", 7, target=_target(target), solver="exact")
    by_position = np.empty(7)
    by_position[sel.table.column("position").to_numpy()] = sel.table.column("score").to_numpy()
    assert np.allclose(by_position, -(f_lp - f_lp.mean()), atol=1e-6)
    three = thresher.select(_pool(pool), "got-d", 3, target=_target(target), solver="exact")
    assert _positions(three) == list(np.argsort(f_lp)[:3])


def test_a_target_example_nobody_serves_pulls_mass_to_its_neighbour(ot):
    """What a potential adds over plain similarity: two target examples, one in a crowd
    of pool records and one with a single pool record beside it. That lone record is
    the most valuable (the crowd already serves its example); max-similarity ranks it
    with the crowd."""
    rng = np.random.default_rng(8)
    crowd = np.array([1.0, 0, 0]) + 0.02 * rng.normal(size=(50, 3))
    lone = np.array([[0.0, 1, 0.05]])
    far = np.array([0.0, 0, 1]) + 0.02 * rng.normal(size=(20, 3))
    pool = _pool(np.concatenate([crowd, lone, far]))
    target = _target(np.array([[1.0, 0, 0], [0.0, 1, 0]]))
    for solver in ("sinkhorn", "exact"):
        assert _positions(thresher.select(pool, "got-d", 1, target=target, solver=solver)) == [50]


# ---- (c) determinism and the budget --------------------------------------------------

@pytest.mark.parametrize("method", ["got-d", "snp"])
def test_same_seed_same_selection_and_the_budget_is_met(method):
    if method == "got-d":
        pytest.importorskip("ot")
    points, _, target = _planted(sizes=(60, 60, 60), seed=2)
    words = np.random.default_rng(0).integers(1, 6, size=len(points))
    runs = [thresher.select(_pool(points), method, budget, target=_target(target), seed=seed)
            for budget, seed in [(37, 0), (37, 0), ("20%", 1)]]
    assert _positions(runs[0]) == _positions(runs[1]) and len(runs[0]) == 37
    assert len(runs[2]) == 36 and len(set(_positions(runs[2]))) == 36
    tokened = thresher.select(_pool(points, words), method, "100 tokens", target=_target(target), seed=0)
    assert words[_positions(tokened)].sum() <= 100 and len(tokened) > 0
    again = thresher.select(_pool(points, words), method, "100 tokens", target=_target(target), seed=0)
    assert _positions(again) == _positions(tokened)


def test_snp_random_pruning_follows_the_seed_and_reserve_widens_the_draw():
    points, _, target = _planted(sizes=(300, 300, 300), near=1, seed=3)
    pool, goal = _pool(points), _target(target)
    a, b = (set(_positions(thresher.select(pool, "snp", 50, target=goal, seed=s, clusters=30))) for s in (0, 1))
    assert a != b and len(a) == len(b) == 50
    narrow = thresher.select(pool, "snp", 50, target=goal, clusters=30, reserve=1.0)
    wide = thresher.select(pool, "snp", 50, target=goal, clusters=30, reserve=4.0)
    assert 50 <= narrow.meta["snp"]["reserve_records"] < wide.meta["snp"]["reserve_records"]
    assert wide.meta["snp"]["reserve_records"] >= 200
    assert wide.meta["snp"]["clusters_taken"][: len(narrow.meta["snp"]["clusters_taken"])] == \
        narrow.meta["snp"]["clusters_taken"]


def test_got_d_recut_and_target_subsampling(ot):
    points, labels, target = _planted(examples=40, seed=4)
    pool, goal = _pool(points), _target(target)
    sel = thresher.select(pool, "got-d", 60, target=goal)
    assert sel.recut(60).ids.to_pylist() == sel.ids.to_pylist()
    assert _positions(sel.recut(20)) == _positions(sel)[:20]
    few = [thresher.select(pool, "got-d", 60, target=goal, max_targets=5, seed=s) for s in (0, 0)]
    assert few[0].meta["got_d"]["targets"] == 5 and few[0].meta["got_d"]["targets_given"] == 40
    assert _positions(few[0]) == _positions(few[1])
    assert (labels[_positions(few[0])] == 2).all()


# ---- (d) bad parameters and missing pieces -------------------------------------------

@pytest.mark.parametrize("method, params, match", [
    ("got-d", {"epsilon": 0}, "epsilon"), ("got-d", {"epsilon": -0.1}, "epsilon"),
    ("got-d", {"epsilon": float("nan")}, "epsilon"), ("got-d", {"iterations": 0}, "iterations"),
    ("got-d", {"max_targets": 0}, "max_targets"), ("got-d", {"solver": "lp"}, "solver"),
    ("got-d", {"epsilon": "much"}, "epsilon"),
    ("snp", {"reserve": 0.5}, "reserve"), ("snp", {"reserve": float("inf")}, "reserve"),
    ("snp", {"clusters": -2}, "clusters"), ("snp", {"inner": "farthest"}, "inner"),
    ("snp", {"covariance": "full"}, "covariance"),
])
def test_bad_parameters_are_usage_errors_before_anything_is_read(method, params, match):
    with pytest.raises(UsageError, match=match):
        get_method(method)(**params)
    with pytest.raises(UsageError, match=match):
        thresher.select("no-such-pool.jsonl", method, 10, **params)  # refused before the path is opened


@pytest.mark.parametrize("method", ["got-d", "snp"])
def test_a_target_is_required_and_must_have_examples(method):
    if method == "got-d":
        pytest.importorskip("ot")
    points, _, _ = _planted(sizes=(20, 20), near=1)
    with pytest.raises(UsageError, match="needs a target"):
        thresher.select(_pool(points), method, 5)
    empty = Pool.from_arrow(pa.table({"text": pa.array([], pa.string())})).with_features(np.zeros((0, 16), np.float32))
    with pytest.raises(UsageError, match="no examples"):
        thresher.select(_pool(points), method, 5, target=empty)


def test_got_d_without_pot_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)  # import ot raises ImportError
    points, _, target = _planted(sizes=(20, 20), near=1)
    with pytest.raises(MissingDependencyError, match=r"pip install 'thresher\[target\]'"):
        thresher.select(_pool(points), "got-d", 5, target=_target(target))
