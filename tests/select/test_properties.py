"""Invariants every registered selector keeps, checked with generated pools and budgets."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import thresher
from thresher import Pool
from thresher.select import methods

METHODS = sorted(methods())
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def pools_and_budgets(draw):
    n = draw(st.integers(min_value=1, max_value=120))
    labels = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n))
    words = draw(st.lists(st.integers(min_value=0, max_value=9), min_size=n, max_size=n))
    table = pa.table({
        "id": [f"r{i}" for i in range(n)],
        "text": [" ".join(["w"] * (k + 1)) for k in words],
        "label": labels,
        "domain": [f"d{k % 3}" for k in words],
    })
    kind = draw(st.sampled_from(["count", "fraction", "tokens"]))
    if kind == "count":
        budget = draw(st.integers(min_value=1, max_value=n))  # 0 keeps nothing: a usage error
    elif kind == "fraction":
        budget = draw(st.floats(min_value=0.01, max_value=1.0))
    else:
        budget = f"{draw(st.integers(min_value=1, max_value=sum(words) + n))} tokens"
    seed = draw(st.integers(min_value=0, max_value=2**31))
    return table, budget, seed


def _features(n):
    """Small random embeddings (n, 8), the same for the same n, for methods that need features."""
    return np.random.default_rng(n).normal(size=(n, 8)).astype(np.float32)


def _pool(table):
    pool = Pool.from_arrow(table, id_field="id", label_field="label", domain_field="domain")
    return pool.with_features(_features(table.num_rows))


def _target(table):
    m = min(5, table.num_rows)
    target = Pool.from_arrow(table.slice(0, m), id_field="id", label_field="label", domain_field="domain")
    return target.with_features(_features(table.num_rows)[:m])


@pytest.mark.parametrize("method", METHODS)
@FAST
@given(case=pools_and_budgets())
def test_budget_ids_weights_and_seed(method, case):
    table, budget, seed = case
    pool = _pool(table)
    sel = thresher.select(pool, method, budget, seed=seed, target=_target(table))
    ids = sel.ids.to_pylist()
    parsed = thresher.Budget.parse(budget)
    if parsed.kind == "tokens":
        tokens = pool.index(tokens=True).tokens[pool.positions_of(sel.ids)]
        assert tokens.sum() <= parsed.value
    else:
        assert len(ids) <= parsed.resolve(len(pool)).count
    assert len(set(ids)) == len(ids)
    assert set(ids) <= set(table.column("id").to_pylist())
    if sel.weights is not None:
        assert np.all(sel.weights > 0)
    again = thresher.select(_pool(table), method, budget, seed=seed, target=_target(table))
    assert again.ids.to_pylist() == ids
    assert (again.weights is None) == (sel.weights is None)


@pytest.mark.parametrize("method", METHODS)
@FAST
@given(case=pools_and_budgets())
def test_count_budgets_are_met_exactly(method, case):
    table, budget, seed = case
    if not isinstance(budget, int):
        return
    sel = thresher.select(_pool(table), method, budget, seed=seed, target=_target(table))
    if not methods()[method].fills_budget:  # it drops some records at any budget
        assert len(sel) <= budget
        return
    assert len(sel) == budget


@pytest.mark.parametrize("method", METHODS)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=1000), fraction=st.sampled_from(["7%", "30%", "2k tokens"]))
def test_one_two_and_four_workers_agree(tmp_path_factory, method, seed, fraction):
    from ..conftest import make_records, write_jsonl

    path = write_jsonl(tmp_path_factory.mktemp("w") / "pool.jsonl", make_records(600, classes=5))
    results = []
    for workers in (1, 2, 4):
        pool = Pool.from_jsonl(path, id_field="id", label_field="label", domain_field="domain", shard_bytes=8000)
        target = Pool.from_jsonl(path, id_field="id", label_field="label")
        if "features" in methods()[method].needs:
            pool, target = pool.with_features(_features(600)), target.with_features(_features(600))
        sel = thresher.select(pool, method, fraction, seed=seed, workers=workers, target=target)
        results.append((sel.ids.to_pylist(), None if sel.weights is None else sel.weights.tolist(), sel.meta["pool_fingerprint"]))
    assert results[0] == results[1] == results[2]
    assert len(Pool.from_jsonl(path, shard_bytes=8000).source.plan()) >= 4


def test_different_seeds_give_different_random_selections():
    table = pa.table({"text": ["x"] * 1000})
    a = thresher.select(Pool.from_arrow(table), "random", 100, seed=1)
    b = thresher.select(Pool.from_arrow(table), "random", 100, seed=2)
    assert a.ids.to_pylist() != b.ids.to_pylist()


def test_random_with_replacement_counts_draws_as_weights(tmp_path):
    table = pa.table({"text": ["x"] * 10})
    sel = thresher.select(Pool.from_arrow(table), "random", 50, seed=0, replace=True)
    assert sel.weights.sum() == 50
    assert len(set(sel.ids.to_pylist())) == len(sel)


def test_replace_is_refused_by_methods_that_do_not_support_it():
    table = pa.table({"text": ["x"] * 10, "label": list("ababababab")})
    with pytest.raises(thresher.UsageError, match="replacement"):
        thresher.select(Pool.from_arrow(table, label_field="label"), "stratified", 5, replace=True)


def test_stratified_keeps_proportions_and_balance_equalises():
    labels = ["big"] * 800 + ["mid"] * 150 + ["small"] * 50
    pool = Pool.from_arrow(pa.table({"text": ["t"] * 1000, "label": labels}), label_field="label")
    sel = thresher.select(pool, "stratified", 100, seed=0)
    chosen = pool.index().labels.take(pa.array(pool.positions_of(sel.ids))).to_pylist()
    assert (chosen.count("big"), chosen.count("mid"), chosen.count("small")) == (80, 15, 5)
    balanced = thresher.select(pool, "stratified", 150, seed=0, balance=True)
    chosen = pool.index().labels.take(pa.array(pool.positions_of(balanced.ids))).to_pylist()
    assert (chosen.count("big"), chosen.count("mid"), chosen.count("small")) == (50, 50, 50)
    # A prefix of the choice is balanced too: the order interleaves classes.
    first = chosen[:30]
    assert (first.count("big"), first.count("mid"), first.count("small")) == (10, 10, 10)


def test_stratified_without_labels_says_which_option(tmp_path):
    pool = Pool.from_arrow(pa.table({"text": ["a", "b"]}))
    with pytest.raises(thresher.UsageError, match="--label-field"):
        thresher.select(pool, "stratified", 1)


def test_unknown_method_and_parameter_are_usage_errors():
    pool = Pool.from_arrow(pa.table({"text": ["a", "b"]}))
    with pytest.raises(thresher.UsageError, match="Did you mean 'random'"):
        thresher.select(pool, "randon", 1)
    with pytest.raises(thresher.UsageError, match="no parameter 'clusters'"):
        thresher.select(pool, "random", 1, clusters=3)
