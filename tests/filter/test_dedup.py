"""Exact and near-duplicate removal: planted duplicates found, distinct records kept,
chains collapse, drops name their survivor, the same result for 1 and 2 workers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from thresher import Pool, Selection
from thresher.errors import UsageError
from thresher.filter import ExactDedup, NearDedup, choose_banding
from thresher.filter.lsh import banding_rates, candidate_probability

from ..conftest import write_jsonl


def _distinct_docs(n: int, words: int = 60, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(20_000)]
    return [list(rng.choice(vocab, words)) for _ in range(n)]


def _edit(words: list[str], changes: int, seed: int) -> list[str]:
    """A copy with `changes` words replaced by new ones, spread out."""
    copy = list(words)
    rng = np.random.default_rng(seed)
    for k, at in enumerate(rng.choice(len(words), changes, replace=False)):
        copy[at] = f"new{seed}x{k}"
    return copy


def _pool(docs: list[list[str]]) -> Pool:
    return Pool.from_arrow(pa.table({"id": [f"doc-{i}" for i in range(len(docs))],
                                     "text": [" ".join(d) for d in docs]}), id_field="id")


def _drops(selection: Selection) -> dict[str, str]:
    from thresher.selection import describe_reason

    dropped = selection.dropped
    return {i: describe_reason(code, detail) for i, code, detail in
            zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist(), dropped.column("detail").to_pylist())}


@pytest.mark.parametrize("scheme", ["oph", "minhash"])
def test_planted_near_duplicates_found_and_distinct_kept(scheme):
    docs = _distinct_docs(200)
    docs += [_edit(docs[i], 1, seed=i) for i in range(10)]  # 10 planted copies, Jaccard ~0.9
    selection = NearDedup(threshold=0.7, scheme=scheme).apply(_pool(docs))
    drops = _drops(selection)
    assert set(drops) == {f"doc-{200 + i}" for i in range(10)}
    for i in range(10):
        reason = drops[f"doc-{200 + i}"]
        assert reason.startswith(f"near-duplicate: of id doc-{i}, jaccard ")
        assert 0.7 <= float(reason.split("jaccard ")[1]) < 1.0
    assert len(selection) == 200 and selection.reason_counts() == {"near-duplicate": 10}


def test_chain_collapses_to_one_survivor():
    text = _distinct_docs(1, words=120, seed=3)[0]
    base, b, c = text[0:100], text[10:110], text[20:120]  # overlapping windows: A~B, B~C, A and C further apart
    others = _distinct_docs(30, words=100, seed=4)
    docs = [base, b, c] + others
    jaccard = _jaccard(base, c)
    threshold = 0.75
    assert _jaccard(base, b) >= threshold and _jaccard(b, c) >= threshold and jaccard < threshold
    selection = NearDedup(threshold=threshold, bands=32, rows=2).apply(_pool(docs))
    drops = _drops(selection)
    assert set(drops) == {"doc-1", "doc-2"}
    assert all("of id doc-0" in reason for reason in drops.values())
    assert f"jaccard {jaccard:.2f}" in drops["doc-2"]


def _jaccard(a: list[str], b: list[str], n: int = 5) -> float:
    sa = {tuple(a[i:i + n]) for i in range(len(a) - n + 1)}
    sb = {tuple(b[i:i + n]) for i in range(len(b) - n + 1)}
    return len(sa & sb) / len(sa | sb)


def test_verification_rejects_candidates_below_threshold():
    base = _distinct_docs(1, words=100, seed=5)[0]
    far = _edit(base, 12, seed=6)  # Jaccard well under 0.9
    assert _jaccard(base, far) < 0.6
    selection = NearDedup(threshold=0.9, bands=64, rows=1).apply(_pool([base, far]))  # every shared value collides
    assert selection.meta["candidate_pairs"] == 1 and selection.meta["duplicate_pairs"] == 0
    assert len(selection) == 2


def test_keep_longest_and_char_shingles():
    docs = _distinct_docs(20, seed=8)
    longer = docs[0] + ["tail"]
    selection = NearDedup(keep="longest", shingle="char", ngram=5).apply(_pool(docs + [longer]))
    drops = _drops(selection)
    assert list(drops) == ["doc-0"]  # the longer copy (doc-20) survives
    assert drops["doc-0"].startswith("near-duplicate: of id doc-20, jaccard 0.9")


def test_same_result_for_one_and_two_workers(tmp_path):
    docs = _distinct_docs(300, seed=9)
    docs += [_edit(docs[i], 1, seed=100 + i) for i in range(0, 300, 15)]
    docs += [list(docs[7])]
    rows = [{"id": f"doc-{i}", "text": " ".join(d)} for i, d in enumerate(docs)]
    path = write_jsonl(tmp_path / "pool.jsonl", rows)
    results = [NearDedup(threshold=0.8).apply(Pool.from_jsonl(path, id_field="id", shard_bytes=60_000), workers=workers)
               for workers in (1, 2)]
    assert results[0].table.equals(results[1].table)
    assert results[0].reason_counts() == {"near-duplicate": 21}


def test_exact_dedup_normalisation_and_keep_rules():
    texts = ["Hello,  World!", "hello, world!", "Ｈｅｌｌｏ, world!", "Hello world", "something else", "Hello, World!!!"]
    prio = [1, 9, 3, 0, 5, 2]
    pool = Pool.from_arrow(pa.table({"id": [f"t{i}" for i in range(6)], "text": texts, "prio": prio}), id_field="id")
    assert _drops(ExactDedup().apply(pool)) == {"t1": "exact-duplicate: of id t0",
                                                "t2": "exact-duplicate: of id t0"}
    loose = ExactDedup(punctuation=True, keep="longest").apply(pool)
    assert set(_drops(loose)) == {"t0", "t1", "t2", "t3"} and "of id t5" in _drops(loose)["t0"]
    strict = ExactDedup(nfkc=False, lowercase=False, whitespace=False)
    assert _drops(strict.apply(pool)) == {}
    by_priority = ExactDedup(keep="priority", priority_field="prio").apply(pool)
    assert set(_drops(by_priority)) == {"t0", "t2"} and "of id t1" in _drops(by_priority)["t0"]


def test_filters_chain_with_selections():
    docs = _distinct_docs(50, seed=10)
    docs.append(list(docs[0]))
    pool = _pool(docs)
    dedup = ExactDedup().apply(pool)
    near = NearDedup().apply(pool)
    both = dedup & near
    assert len(both) == 50 and "doc-50" not in both.ids.to_pylist()


def test_banding_helper_meets_its_target_and_reports_rates():
    banding = choose_banding(0.8, 128)
    assert banding.bands * banding.rows <= 128
    assert banding.p_at_threshold >= 0.9
    assert candidate_probability(0.5, banding.bands, banding.rows) < 0.2
    assert "false-positive rate" in banding.describe() and "false-negative rate" in banding.describe()
    explicit = banding_rates(20, 5, 128, 0.8)
    assert explicit.false_negative < banding.false_negative


@pytest.mark.parametrize("params", [{"threshold": 1.5}, {"shingle": "bytes"}, {"bands": 8}, {"num_perm": 1},
                                    {"bands": 200, "rows": 1}, {"nope": 1}])
def test_bad_parameters_are_usage_errors(params):
    with pytest.raises(UsageError):
        NearDedup(**params)


def test_fused_word_signatures_match_the_two_step_path():
    from thresher.filter import _kernels
    from thresher.filter.base import text_buffers
    from thresher.filter.near import shingle_hashes

    text = pa.array(["One two three four five six seven.", "", "short doc", "ÄÖÜ words with ümlauts and more words here"])
    words, word_offsets = _kernels.word_hashes(*text_buffers(text))
    sig, sets, offsets = _kernels.oph_word_signatures(words, word_offsets, 5, 64, np.uint64(3))
    shingles, shingle_offsets = shingle_hashes(text, "word", 5)
    assert np.array_equal(offsets, shingle_offsets) and list(np.diff(offsets)) == [3, 0, 1, 4]
    assert np.array_equal(sets, (shingles >> np.uint64(32)).astype(np.uint32))
    assert np.array_equal(sig, _kernels.signatures_oph(shingles, shingle_offsets, 64, np.uint64(3)))
