"""DSIR: planted signal, determinism, several targets, filters, the streaming chooser, KL."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import thresher
from thresher import Pool, UsageError
from thresher.budget import Limit
from thresher.evaluate.kl import kl_reduction, selection_kl_reduction
from thresher.select.choosers import GumbelTopK, TopK
from thresher.select.streaming import StreamingTopK

COMMON = "the of and to in a is that for it as with was on be by this are from or at an which".split()
CODE = "def return import class lambda yield self none async await raise except".split()
MUSIC = "chord melody tempo rhythm violin sonata octave harmony".split()


def _doc(rng, words, n=30):
    return " ".join(rng.choice(words, size=n).tolist() + rng.choice(COMMON, size=20).tolist())


def planted(n=2000, every=10, seed=0):
    """A pool where every `every`-th record is code-like, the rest plain; and a code target."""
    rng = np.random.default_rng(seed)
    texts = [_doc(rng, CODE if i % every == 0 else COMMON) for i in range(n)]
    pool = Pool.from_arrow(pa.table({"id": [f"r{i}" for i in range(n)], "text": texts}), id_field="id")
    target = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(CODE, size=40)) for _ in range(30)]}))
    return pool, target


def _planted_share(pool, sel, every=10):
    return float(np.mean(pool.positions_of(sel.ids) % every == 0))


def test_planted_signal_is_found_and_random_is_not():
    pool, target = planted()
    for chooser in ("gumbel", "top-k"):
        sel = thresher.select(pool, "dsir", 200, target=target, seed=0, chooser=chooser)
        assert len(sel) == 200
        assert _planted_share(pool, sel) >= 0.95
    assert _planted_share(pool, thresher.select(pool, "random", 200, seed=0)) < 0.25


def test_seed_decides_gumbel_choice_and_not_top_k():
    pool, target = planted(every=2)  # many more candidates than the budget
    a = thresher.select(pool, "dsir", 100, target=target, seed=1)
    b = thresher.select(pool, "dsir", 100, target=target, seed=1)
    c = thresher.select(pool, "dsir", 100, target=target, seed=2)
    assert a.ids.to_pylist() == b.ids.to_pylist()
    assert a.ids.to_pylist() != c.ids.to_pylist()
    top1 = thresher.select(pool, "dsir", 100, target=target, seed=1, chooser="top-k")
    top2 = thresher.select(pool, "dsir", 100, target=target, seed=2, chooser="top-k")
    assert top1.ids.to_pylist() == top2.ids.to_pylist()


def test_one_and_two_workers_give_the_same_selection(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": _doc(rng, CODE if i % 5 == 0 else COMMON)}) + "\n"
                            for i in range(1500)))
    target_path = tmp_path / "target.jsonl"
    target_path.write_text("".join(json.dumps({"text": " ".join(rng.choice(CODE, size=30))}) + "\n" for _ in range(20)))
    runs = []
    for workers in (1, 2):
        pool = Pool.from_jsonl(path, id_field="id", shard_bytes=40_000)
        sel = thresher.select(pool, "dsir", "5%", target=Pool.from_jsonl(target_path), seed=7, workers=workers)
        runs.append(sel.ids.to_pylist())
    assert len(Pool.from_jsonl(path, shard_bytes=40_000).source.plan()) >= 4
    assert runs[0] == runs[1] and len(runs[0]) == 75


@pytest.mark.parametrize("gumbel", [True, False])
@pytest.mark.parametrize("limit", [Limit(count=37, tokens=None), Limit(count=0, tokens=None), Limit(count=None, tokens=900)])
def test_streaming_chooser_equals_in_memory_chooser(gumbel, limit):
    rng = np.random.default_rng(11)
    scores = np.round(rng.normal(size=1000), 1)  # rounding makes ties, which must break the same way
    scores[[5, 50, 500]] = np.nan
    costs = rng.integers(0, 40, size=1000)
    chooser = GumbelTopK() if gumbel else TopK()
    expected = chooser.choose(scores, limit, np.random.default_rng(4), costs)
    stream = StreamingTopK(limit, np.random.default_rng(4), gumbel=gumbel)
    for start in range(0, 1000, 64):
        stream.update(scores[start:start + 64], costs[start:start + 64])
    assert stream.result().tolist() == expected.tolist()


def test_streaming_dsir_equals_in_memory_dsir():
    pool, target = planted(every=3)
    for budget in (150, "2000 tokens"):
        a = thresher.select(pool, "dsir", budget, target=[target, pool], seed=5)
        b = thresher.select(pool, "dsir", budget, target=[target, pool], seed=5, streaming=True)
        assert a.ids.to_pylist() == b.ids.to_pylist()
        assert b.scores is None or len(b.scores)  # streaming keeps no per-record scores


def test_several_targets_share_the_budget_without_duplicates():
    rng = np.random.default_rng(1)
    texts = [_doc(rng, [CODE, MUSIC, COMMON][i % 3]) for i in range(1500)]
    pool = Pool.from_arrow(pa.table({"text": texts}))
    code = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(CODE, size=40)) for _ in range(20)]}))
    music = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(MUSIC, size=40)) for _ in range(20)]}))
    sel = thresher.select(pool, "dsir", 200, target=[code, music], seed=0, target_proportions="0.25,0.75")
    positions = pool.positions_of(sel.ids)
    assert len(set(positions.tolist())) == 200
    kinds = positions % 3
    assert abs(np.sum(kinds == 0) - 50) <= 5 and abs(np.sum(kinds == 1) - 150) <= 5
    assert sel.meta["target_shares"] == [0.25, 0.75]
    # The choice interleaves targets, so a prefix keeps the shares too.
    assert 15 <= np.sum(kinds[:80] == 1) - np.sum(kinds[:80] == 0) * 2 <= 45
    with pytest.raises(UsageError, match="2 targets"):
        thresher.select(pool, "dsir", 10, target=[code, music], target_proportions="1")


def test_min_length_leaves_short_documents_out_with_a_reason():
    pool, target = planted(n=300)
    short = Pool.from_arrow(pa.table({"text": ["def return"] * 50 + [_doc(np.random.default_rng(0), COMMON)] * 50}))
    sel = thresher.select(short, "dsir", 40, target=target, seed=0, min_length=10)
    assert (short.positions_of(sel.ids) >= 50).all()
    dropped = sel.table.filter(pa.compute.invert(sel.table.column("selected")))
    reasons = dropped.column("reason").to_pylist()
    assert reasons.count("too-short") == 50
    # Off by default: short code-like documents are the best matches.
    assert (short.positions_of(thresher.select(short, "dsir", 40, target=target, seed=0, chooser="top-k").ids) < 50).all()


def test_length_normalisation_favours_short_matches_less():
    rng = np.random.default_rng(2)
    texts = [" ".join(rng.choice(CODE, size=5)) for _ in range(50)] + \
        [" ".join(rng.permutation(rng.choice(CODE, size=270).tolist() + rng.choice(COMMON, size=30).tolist()))
         for _ in range(50)] + [_doc(rng, COMMON) for _ in range(400)]
    pool = Pool.from_arrow(pa.table({"text": texts}))
    target = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(CODE, size=40)) for _ in range(300)]}))
    raw = pool.positions_of(thresher.select(pool, "dsir", 20, target=target, chooser="top-k").ids)
    normed = pool.positions_of(thresher.select(pool, "dsir", 20, target=target, chooser="top-k", length_norm=True).ids)
    assert ((raw >= 50) & (raw < 100)).all()  # long, mostly code documents pile up log-weight
    assert (normed < 50).all()  # per n-gram, the pure short ones win


def test_kl_reduction_is_positive_for_dsir_and_zero_for_the_pool_itself():
    pool, _ = planted(n=3000)
    rng = np.random.default_rng(9)
    target = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(CODE, size=40)) for _ in range(300)]}))
    sel = thresher.select(pool, "dsir", 300, target=target, seed=0)
    everything = thresher.select(pool, "random", 3000, seed=0)
    # Few buckets, so that add-one smoothing does not swamp these small samples.
    kl = lambda selection: selection_kl_reduction(pool, selection, target, buckets=500)  # noqa: E731
    assert kl(everything) == pytest.approx(0.0, abs=1e-9)
    assert kl(sel) > 1.0 and abs(kl(thresher.select(pool, "random", 300, seed=0))) < 0.2
    counts = np.array([5, 0, 3])
    assert kl_reduction(counts, counts, counts) == 0.0
    assert kl_reduction(counts, np.array([1, 1, 1]), counts) > 0


def test_cli_selects_toward_targets_and_reports_kl(tmp_path):
    from thresher.cli import main

    pool, target = planted(n=600)
    pool_path, target_path = tmp_path / "pool.jsonl", tmp_path / "target.jsonl"
    pool.take(pool.index().ids).to_jsonl(pool_path)
    target.take(np.arange(30)).to_jsonl(target_path)
    result = CliRunner().invoke(main, ["select", str(pool_path), "-m", "dsir", "--target", str(target_path),
                                       "--target", str(target_path), "--target-proportions", "0.5,0.5",
                                       "-b", "10%", "-o", str(tmp_path / "out.jsonl"), "--id-field", "id"])
    assert result.exit_code == 0, result.output
    assert "KL reduction" in result.output
    picked = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(picked) == 60 and np.mean([int(i[1:]) % 10 == 0 for i in picked]) > 0.9
    bad = CliRunner().invoke(main, ["select", str(pool_path), "-m", "dsir", "--target", str(target_path),
                                    "--target-proportions", "a,b", "-b", "10%", "-o", str(tmp_path / "x.jsonl")])
    assert bad.exit_code == 2 and "not numbers" in bad.output


def test_a_small_target_does_not_pull_toward_what_is_rare_in_the_pool():
    # Short queries like the target's, among long documents of a huge vocabulary: with
    # uniform add-one smoothing of a 20-example target, every n-gram the target never saw
    # looks "likelier under the target" than under the pool, and the long ones win.
    rng = np.random.default_rng(4)
    queries = "card arrived transfer pending refund balance account top up fee atm pin".split()
    wide = [f"w{i}" for i in range(20_000)]
    texts = [" ".join(rng.choice(queries, size=8)) for _ in range(3000)] + \
        [" ".join(rng.choice(wide, size=120)) for _ in range(100)]
    pool = Pool.from_arrow(pa.table({"text": texts}))
    target = Pool.from_arrow(pa.table({"text": [" ".join(rng.choice(queries, size=8)) for _ in range(20)]}))
    sel = thresher.select(pool, "dsir", 50, target=target, seed=0, chooser="top-k")
    assert (pool.positions_of(sel.ids) < 3000).mean() > 0.9
