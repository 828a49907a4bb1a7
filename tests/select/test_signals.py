"""Model signals and the selectors on them, on planted pools: mislabelled records are found,
easy duplicates are dropped first, forgetting is counted as defined, the recorder resumes
and gives the same arrays on any thread count."""

from __future__ import annotations

import numpy as np
import pytest

import thresher
from thresher.data import Pool

torch = pytest.importorskip("torch")

from thresher.features import signals as signals_module  # noqa: E402
from thresher.features.signals import SignalSpec, Signals, record_signals  # noqa: E402


def planted(n: int = 1200, flip: float = 0.1, seed: int = 0, spread: float = 1.2):
    """Four Gaussian classes in 16-d (separable at `spread` 1.2, overlapping at 4); `flip` of
    the records carry a wrong label."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (4, 16))
    truth = rng.integers(0, 4, n)
    x = (centers[truth] + rng.normal(0, spread, (n, 16))).astype(np.float32)
    flipped = rng.random(n) < flip
    labels = truth.copy()
    labels[flipped] = (truth[flipped] + rng.integers(1, 4, flipped.sum())) % 4
    return x, labels, flipped


def as_pool(x, labels):
    return Pool.from_numpy(x, labels=np.array([f"c{v}" for v in labels]))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("THRESHER_CACHE", str(tmp_path / "cache"))


def test_forgetting_events_are_counted_on_a_hand_made_sequence():
    # Four records over six epochs, one seed: right/wrong after each epoch.
    correct = np.array([[1, 1, 1, 1, 1, 1],    # learned at once, never forgotten: 0
                        [0, 1, 0, 1, 0, 1],    # forgotten twice (1 -> 0 twice)
                        [1, 0, 0, 1, 1, 0],    # twice
                        [0, 0, 0, 0, 0, 0]],   # never learned: epochs + 1 = 7
                       dtype=np.float32).T[None]
    zeros = np.zeros_like(correct)
    arrays = {name: zeros for name in signals_module.ARRAYS} | {"correct": correct}
    signals = Signals(arrays, np.zeros(4, np.int64), 2, SignalSpec(epochs=6, seeds=(0,)))
    assert signals.forgetting().tolist() == [0, 2, 2, 7]


def test_el2n_grand_aum_and_cartography_follow_their_definitions():
    # One record, one seed, two epochs: p_true 0.5 then 0.9, three classes.
    p_true = np.array([[[0.5], [0.9]]], dtype=np.float32)
    p_sq = np.array([[[0.5 ** 2 + 0.25 ** 2 * 2], [0.9 ** 2 + 0.05 ** 2 * 2]]], dtype=np.float32)
    arrays = {"loss": -np.log(p_true), "p_true": p_true, "p_sq": p_sq, "correct": np.ones_like(p_true),
              "margin": np.array([[[0.2], [1.0]]], dtype=np.float32), "hnorm": np.full_like(p_true, 3.0)}
    signals = Signals(arrays, np.zeros(1, np.int64), 3, SignalSpec(epochs=2, seeds=(0,)))
    error = np.sqrt(0.5 ** 2 + 2 * 0.25 ** 2)  # |softmax - onehot| at epoch 1
    assert signals.el2n(1)[0] == pytest.approx(error, rel=1e-5)
    assert signals.grand(1)[0] == pytest.approx(error * np.sqrt(10), rel=1e-5)
    assert signals.aum()[0] == pytest.approx(0.6)
    assert signals.confidence()[0] == pytest.approx(0.7)
    assert signals.variability()[0] == pytest.approx(0.2)


def test_label_issues_finds_the_mislabelled_records():
    x, labels, flipped = planted(flip=0.15)
    for rule in ("cleanlab", "aum"):
        if rule == "cleanlab":
            pytest.importorskip("cleanlab")
        sel = thresher.select(as_pool(x, labels), "label-issues", "100%", seed=0, rule=rule, proxy_seeds=1)
        dropped = np.setdiff1d(np.arange(len(labels)), np.asarray(sel))
        recall, precision = flipped[dropped].sum() / flipped.sum(), flipped[dropped].mean()
        assert recall > 0.8 and precision > 0.8, (rule, recall, precision)
        table = sel.table.to_pylist()
        reason = next(row for row in table if not row["selected"])
        assert reason["reason"] == "label-issue" and reason["detail"].startswith("given c")


def test_el2n_keeps_hard_records_and_drops_easy_duplicates_first():
    x, labels, _ = planted(n=800, flip=0.0, spread=4.0)
    rng = np.random.default_rng(1)
    centers = np.stack([x[labels == c].mean(0) for c in range(4)])
    # 400 copies of points far out beyond each class's centre, away from the others: the
    # easiest records there can be for a linear proxy.
    easy = rng.integers(0, 4, 400)
    far = 3 * centers - 2 * centers.mean(0)
    pool_x = np.concatenate([x, far[easy]]).astype(np.float32)
    pool_y = np.concatenate([labels, easy])
    sel = thresher.select(as_pool(pool_x, pool_y), "el2n", "50%", seed=0, proxy_seeds=1)
    chosen = np.asarray(sel)
    assert np.mean(chosen >= 800) < 0.05  # nearly no easy duplicate among the hardest half
    easy_first = thresher.select(as_pool(pool_x, pool_y), "el2n", "25%", seed=0, proxy_seeds=1, keep="auto")
    assert easy_first.meta["kept"] == "easy" and np.mean(np.asarray(easy_first) >= 800) > 0.9


def test_ccs_spreads_the_budget_over_strata_and_drops_the_hardest():
    x, labels, flipped = planted(flip=0.1)
    sel = thresher.select(as_pool(x, labels), "ccs", "30%", seed=0, proxy_seeds=1, beta=0.1)
    chosen = np.asarray(sel)
    assert len(chosen) == 360
    assert flipped[chosen].mean() < 0.02  # the mislabelled are the hardest by AUM, and dropped
    assert sel.meta["dropped_hardest"] == 120
    again = thresher.select(as_pool(x, labels), "ccs", "30%", seed=0, proxy_seeds=1, beta=0.1)
    assert np.array_equal(np.asarray(again), chosen)


def test_the_recorder_resumes_from_its_finished_seeds(monkeypatch):
    x, labels, _ = planted(n=300)
    spec = SignalSpec(epochs=4, seeds=(0, 1, 2))
    real, calls = signals_module._train, []

    def stop_at_third(torch_, spec_, x_, y_, classes, seed, *args, **kwargs):
        calls.append(seed)
        if seed == 2:
            raise KeyboardInterrupt  # killed during the third seed's training
        return real(torch_, spec_, x_, y_, classes, seed, *args, **kwargs)

    monkeypatch.setattr(signals_module, "_train", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        record_signals(x, labels, 4, spec)
    monkeypatch.setattr(signals_module, "_train", lambda *a, **k: (calls.append(a[5]), real(*a, **k))[1])
    calls.clear()
    resumed = record_signals(x, labels, 4, spec)
    assert calls == [2] and resumed.meta["cached_entries"] == 2
    fresh = record_signals(x, labels, 4, spec, store=False)
    for name in signals_module.ARRAYS:
        assert np.array_equal(resumed.arrays[name], fresh.arrays[name])


def test_the_same_arrays_on_any_thread_count():
    x, labels, _ = planted(n=300)
    spec = SignalSpec(epochs=3, seeds=(0,), proxy="mlp")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        first = record_signals(x, labels, 4, spec, store=False)
        torch.set_num_threads(1)
        second = record_signals(x, labels, 4, spec, store=False)
    finally:
        torch.set_num_threads(before)
    assert all(np.array_equal(first.arrays[k], second.arrays[k]) for k in signals_module.ARRAYS)


def test_signal_methods_need_labels_and_say_so():
    from thresher.errors import UsageError

    x, _, _ = planted(n=100)
    with pytest.raises(UsageError, match="--label-field"):
        thresher.select(Pool.from_numpy(x), "aum", "10%")
    with pytest.raises(UsageError, match="beta"):
        thresher.select(as_pool(x, np.zeros(100, int)), "ccs", "10%", beta=1.5)


def test_signals_command_writes_a_table(tmp_path):
    import json

    from click.testing import CliRunner

    from thresher.cli import main

    x, labels, _ = planted(n=200)
    np.save(tmp_path / "emb.npy", x)
    with open(tmp_path / "pool.jsonl", "w") as handle:
        for i, label in enumerate(labels):
            handle.write(json.dumps({"text": f"record {i}", "y": f"c{label}"}) + "\n")
    out = tmp_path / "signals.csv"
    result = CliRunner().invoke(main, ["signals", str(tmp_path / "pool.jsonl"), "--label-field", "y", "--embeddings",
                                       str(tmp_path / "emb.npy"), "--epochs", "3", "--proxy-seeds", "1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "never learned" in result.output
    header = out.read_text().splitlines()[0]
    assert header.startswith('"id","label","el2n","grand","forgetting","aum"')
    assert len(out.read_text().splitlines()) == 201


def test_the_recorder_averages_over_the_epochs_a_record_was_seen_in():
    from thresher.features.signals import SignalRecorder

    recorder = SignalRecorder(3, epochs=3)
    right, wrong = np.array([[4.0, 0.0]]), np.array([[0.0, 4.0]])
    for epoch, seen in enumerate([[0, 1, 2], [0, 2], [0, 1, 2]]):  # record 1 is left out of epoch 1
        recorder.set_epoch(epoch)
        for position in seen:
            logits = wrong if (position == 2 and epoch == 1) else right
            recorder.update(np.array([position]), logits, np.array([0]))
    signals = recorder.signals(np.zeros(3, np.int64), classes=2)
    assert signals.forgetting().tolist() == [0, 0, 1]  # record 2: right, wrong, right
    assert np.isfinite(signals.aum()).all() and signals.aum()[1] == pytest.approx(4.0)
    with pytest.raises(Exception, match="outside"):
        recorder.set_epoch(3)


def test_d2_spreads_its_picks_where_el2n_piles_them_on_hard_duplicates():
    x, labels, _ = planted(n=600, flip=0.0, spread=2.0)
    # 60 near copies of one mislabelled record: the hardest records of the pool, in one place.
    near = np.repeat(x[:1], 60, axis=0) + np.random.default_rng(2).normal(0, 0.01, (60, 16))
    pool_x = np.concatenate([x, near]).astype(np.float32)
    pool_y = np.concatenate([labels, np.full(60, (labels[0] + 1) % 4)])
    copies = lambda sel: int(np.sum(np.asarray(sel) >= 600))  # noqa: E731
    by_el2n = thresher.select(as_pool(pool_x, pool_y), "el2n", 80, seed=0, proxy_seeds=1)
    by_d2 = thresher.select(as_pool(pool_x, pool_y), "d2", 80, seed=0, proxy_seeds=1)
    assert copies(by_el2n) >= 30 and copies(by_d2) <= copies(by_el2n) // 2
    # Spread out, and still hard: its picks' EL2N is well above the pool's median.
    el2n = record_signals(pool_x, pool_y, 4, SignalSpec(seeds=(0,))).el2n()  # the entries the methods used
    assert np.median(el2n[np.asarray(by_d2)]) > 1.5 * np.median(el2n)
    again = thresher.select(as_pool(pool_x, pool_y), "d2", 80, seed=0, proxy_seeds=1)
    assert np.array_equal(np.asarray(again), np.asarray(by_d2))
