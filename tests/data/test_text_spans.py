"""The JSON-lines fast path: text read straight from the bytes must equal what the Arrow
path reads, and every line the fast path cannot vouch for goes to Arrow."""

import json

import numpy as np
import pyarrow as pa
import pytest

from thresher import Pool
from thresher.data import jsonl
from thresher.features.ngram_model import CountTask, ScoreTask
from thresher.features.ngrams import HashedNgrams

pytest.importorskip("numba")


def spans_of(lines: list[str], field: str = "text"):
    block = ("\n".join(lines) + "\n").encode("utf-8")
    starts, ends = jsonl.line_spans(block)
    return block, jsonl.text_spans(block, starts, ends, field)


@pytest.mark.parametrize("line", [
    '{"text": "plain"}',
    '  {"id": 3, "text" : "a\\nb", "meta": {"x": [1, 2.5e-3, -0, true, false, null, {"y": "z"}], "e": []}}\r',
    '{"a": {}, "b": [[]], "text": "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ \\t"}',
])
def test_accepts_plain_objects_with_a_string_text(line):
    block, spans = spans_of([line])
    assert spans is not None
    data, starts, ends = spans
    value = json.loads(line.strip())["text"]
    assert json.loads('"' + bytes(data[starts[0]:ends[0]]).decode() + '"') == value


@pytest.mark.parametrize("line", [
    "",                                   # blank: Arrow counts it
    "[1, 2]",                             # not an object
    '{"other": "x"}',                     # field missing
    '{"text": null}',                     # null
    '{"text": 5}',                        # not a string
    '{"text": "a", "text": "b"}',         # twice
    '{"te\\u0078t": "a"}',                # an escaped key could spell it
    '{"text": "bad \\x escape"}',
    '{"text": "lone \\ud800 surrogate"}',
    '{"text": "lone \\udc00 low"}',
    '{"text": "raw\ttab"}',               # control characters must be escaped
    '{"text": "a"} trailing',
    '{"text": "a",}',
    '{"a": [1,,2], "text": "a"}',
    '{"a": 01, "text": "a"}',
    '{"a": tru, "text": "a"}',
    '{"a": {"b" 1}, "text": "a"}',
    '{"a": [1, 2}, "text": "a"}',
    '{"text": "unterminated}',
])
def test_hands_anything_unusual_to_arrow(line):
    _, spans = spans_of(['{"text": "fine"}', line])
    assert spans is None


def test_invalid_utf8_goes_to_arrow():
    block = b'{"text": "ok"}\n{"text": "\xff"}\n'
    starts, ends = jsonl.line_spans(block)
    assert jsonl.text_spans(block, starts, ends, "text") is None


def _documents(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    pieces = ["Hello", "world", ",", "don't", "x=1;", "\n", "\t", '"quoted"', "back\\slash", "café", "ÉCOLE", "Ärger",
              "日本語", "😀", "naïve", "Ωμέγα", "Привет", "\u2028", "a/b", "\u0000", "tab\there", "  ", "e\u0301"]
    return [" ".join(rng.choice(pieces, size=rng.integers(0, 30))) for _ in range(n)]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_featurizing_spans_equals_featurizing_parsed_text(ensure_ascii):
    texts = _documents(300)
    lines = [json.dumps({"id": i, "text": t, "tags": ["x", {"y": None}]}, ensure_ascii=ensure_ascii) for i, t in enumerate(texts)]
    block, spans = spans_of(lines)
    assert spans is not None
    featurizer = HashedNgrams(ngrams=3, buckets=997, seed=5)
    weights = np.random.default_rng(1).normal(size=(997, 2))
    counts_a, counts_b = np.zeros(997, np.int64), np.zeros(997, np.int64)
    scores_a, tokens_a = featurizer.transform(pa.array(texts), weights=weights, counts=counts_a)
    scores_b, tokens_b = featurizer.transform_spans(*spans, escaped=True, weights=weights, counts=counts_b)
    np.testing.assert_array_equal(tokens_a, tokens_b)
    np.testing.assert_array_equal(counts_a, counts_b)
    np.testing.assert_allclose(scores_a, scores_b, rtol=0, atol=1e-9)


class _ArrowOnly:
    """The same task without the fast path."""

    def __init__(self, task):
        self.task = task

    def __call__(self, batch):
        return self.task(batch)


def test_scan_is_the_same_with_and_without_the_fast_path(tmp_path, monkeypatch):
    path = tmp_path / "pool.jsonl"
    lines = [json.dumps({"text": t}) for t in _documents(20000, seed=2)]  # several 1 MB blocks
    lines[700] = "not json"  # this block goes to Arrow, which reports the line
    lines[15000] = ""
    fast_blocks = []
    original = jsonl.text_spans

    def spy(*args):
        found = original(*args)
        fast_blocks.append(found is not None)
        return found

    monkeypatch.setattr(jsonl, "text_spans", spy)
    path.write_text("\n".join(lines) + "\n")
    featurizer = HashedNgrams()
    weights = np.random.default_rng(0).normal(size=(featurizer.buckets, 1))
    tasks = [CountTask(featurizer), ScoreTask(featurizer, weights)]
    fast_index, fast = Pool.from_jsonl(str(path), on_bad_record="skip").scan(tasks)
    slow_index, slow = Pool.from_jsonl(str(path), on_bad_record="skip").scan([_ArrowOnly(t) for t in tasks])
    assert len(fast_blocks) > 2 and fast_blocks.count(False) == 2  # the bad line's block and the blank's
    assert fast_index.n == slow_index.n == 19998
    assert [r.line for r in fast_index.bad.records] == [701]
    assert fast_index.blank_lines == slow_index.blank_lines == 1
    for name in ("locations", "offsets", "lengths", "files"):
        np.testing.assert_array_equal(getattr(fast_index, name), getattr(slow_index, name))
    np.testing.assert_array_equal(np.sum(fast[0], axis=0), np.sum(slow[0], axis=0))
    np.testing.assert_allclose(np.concatenate([s for s, _, _ in fast[1]]), np.concatenate([s for s, _, _ in slow[1]]))
    np.testing.assert_array_equal(np.concatenate([t for _, t, _ in fast[1]]), np.concatenate([t for _, t, _ in slow[1]]))
