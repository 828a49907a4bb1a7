"""Hashed n-gram featurizer: tokens, stability of the hash, counts and weights."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pytest

from thresher import UsageError
from thresher.features.ngrams import HashedNgrams

WORDPUNCT = re.compile(r"\w+|[^\w\s]+")


def test_hash_is_pinned_for_a_fixed_document():
    # These values must never change: selections and caches depend on them.
    assert HashedNgrams().buckets_of("Hello, world!").tolist() == [7017, 807, 9446, 2045, 6196, 803, 7573]
    assert HashedNgrams(seed=7).buckets_of("Hello, world!").tolist() != [7017, 807, 9446, 2045, 6196, 803, 7573]
    assert HashedNgrams(ngrams=3, buckets=1000).buckets_of("a b c").tolist() == [149, 808, 709, 433, 356, 257]


def test_tokens_are_lowercased_word_and_punctuation_runs():
    featurizer = HashedNgrams()
    # Same tokens after lowercasing and whitespace changes -> same buckets.
    assert featurizer.buckets_of("Hello, World!").tolist() == featurizer.buckets_of("hello ,\n world   !").tolist()
    assert featurizer.buckets_of("ÉCOLE Δ Ж").tolist() == featurizer.buckets_of("école δ ж").tolist()
    # "foo_bar" is one word; "--" one punctuation run; "3.14" three tokens.
    texts = ["foo_bar -- 3.14", "naïve café—über «quoted» end", "", "a", "x!!?y"]
    _, tokens = featurizer.transform(pa.array(texts))
    assert tokens.tolist() == [len(WORDPUNCT.findall(t.lower())) for t in texts] == [5, 8, 0, 1, 3]


def test_unigrams_and_bigrams_count_and_order_matters():
    featurizer = HashedNgrams(buckets=1 << 20)
    assert len(featurizer.buckets_of("a b c")) == 3 + 2
    assert len(HashedNgrams(ngrams=1).buckets_of("a b c")) == 3
    ab, ba = featurizer.buckets_of("a b"), featurizer.buckets_of("b a")
    assert ab[0] == ba[1] and ab[1] != ba[2]  # unigrams shared, bigrams differ


def test_counts_and_weights_agree_with_per_document_buckets():
    featurizer = HashedNgrams(buckets=97)
    texts = ["The cat sat.", None, "On the mat, the cat!", "x" * 50]
    weights = np.random.default_rng(0).normal(size=(97, 2))
    counts = np.zeros(97, dtype=np.int64)
    scores, tokens = featurizer.transform(pa.array(texts), weights=weights, counts=counts)
    expected = np.zeros(97, dtype=np.int64)
    for i, text in enumerate(texts):
        buckets = featurizer.buckets_of(text or "")
        np.add.at(expected, buckets, 1)
        assert scores[i] == pytest.approx(weights[buckets].sum(axis=0))
    assert counts.tolist() == expected.tolist()
    assert tokens.tolist() == [4, 0, 7, 1]
    assert featurizer.counts(texts).tolist() == expected.tolist()


def test_sliced_and_large_string_arrays_read_the_right_text():
    featurizer = HashedNgrams()
    array = pa.array(["zero", "one two", "three"])
    sliced = featurizer.counts(array.slice(1, 1))
    assert sliced.sum() == 3
    assert featurizer.counts(array.cast(pa.large_string())).tolist() == featurizer.counts(array).tolist()


def test_bad_parameters_are_usage_errors():
    with pytest.raises(UsageError, match="buckets=0"):
        HashedNgrams(buckets=0)
    with pytest.raises(UsageError, match="ngrams"):
        HashedNgrams(ngrams=0)
