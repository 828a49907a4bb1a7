"""Compiled inner loops of the hashed n-gram featurizer (numba, cached on disk).

Import this module only where the work is done: importing it imports numba (about half
a second). Every function reads text straight from bytes, `data: (bytes,) uint8` with
each document's span `starts`, `ends` (an Arrow string array's buffers), so no Python
string is ever built.

Tokens are runs of word characters or runs of punctuation, the pattern
`\\w+|[^\\w\\s]+` of NLTK's WordPunctTokenizer used by the DSIR reference, lowercased.
ASCII is classified exactly; other code points by ranges (Latin-1 symbols, combining
marks, general and CJK punctuation, arrows, box drawing and emoji are punctuation;
Unicode spaces are spaces; every other code point is a word character). ASCII, Latin-1, Latin Extended-A,
Greek and Cyrillic capitals are lowercased; other scripts are hashed as written.

A token's hash is FNV-1a over its lowercased code points, mixed with the seed and
finished with a murmur3-style xorshift-multiply round; an n-gram's hash chains its
tokens' hashes through the same round with a per-order salt. The bucket is the high 32
bits times `buckets`, shifted (Lemire 2019, "Fast Random Integer Generation in an
Interval"), so no division. Everything is 64-bit integer arithmetic: buckets are the
same on every machine and in every run for the same seed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_FNV_PRIME = np.uint64(0x100000001B3)
_FNV_BASIS = np.uint64(0xCBF29CE484222325)
_MIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# 0 space, 1 word, 2 punctuation, for each ASCII code.
_ASCII_CLASS = np.full(128, 2, dtype=np.uint8)
_ASCII_CLASS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = 0
for _low, _high in ((48, 57), (65, 90), (97, 122)):
    _ASCII_CLASS[_low : _high + 1] = 1
_ASCII_CLASS[95] = 1


@njit(cache=True, inline="always")
def _mix(value):
    # One xorshift-multiply-xorshift round (the first half of murmur3's finalizer): the
    # high bits, which pick the bucket, depend on every input bit.
    value ^= value >> np.uint64(31)
    value *= _MIX_1
    value ^= value >> np.uint64(29)
    return value


@njit(cache=True)
def _classify(code):
    """0 space, 1 word, 2 punctuation, for a non-ASCII code point."""
    if 0x300 <= code <= 0x36F or 0xFE00 <= code <= 0xFE0F:
        return 2  # combining marks and variation selectors are not \\w in Python's re
    if code < 0xC0:
        if code == 0x85 or code == 0xA0:
            return 0
        if code in (0xAA, 0xB2, 0xB3, 0xB5, 0xB9, 0xBA, 0xBC, 0xBD, 0xBE):
            return 1
        return 2
    if code == 0xD7 or code == 0xF7:
        return 2
    if code < 0x1680:
        return 1
    if code == 0x1680 or (0x2000 <= code <= 0x200A) or code in (0x2028, 0x2029, 0x202F, 0x205F, 0x3000):
        return 0
    if 0x2000 <= code <= 0x2BFF:
        return 2
    if 0x3001 <= code <= 0x303F or 0xFE30 <= code <= 0xFE4F:
        return 2
    if 0xFF01 <= code <= 0xFF0F or 0xFF1A <= code <= 0xFF20 or 0xFF3B <= code <= 0xFF40 or 0xFF5B <= code <= 0xFF65:
        return 2
    if 0x1F000 <= code <= 0x1FAFF:
        return 2
    return 1


@njit(cache=True)
def _lower(code):
    if 0xC0 <= code <= 0xDE and code != 0xD7:
        return code + 0x20
    if 0x100 <= code <= 0x17F:
        if (0x139 <= code <= 0x148) or (0x179 <= code <= 0x17E):
            return code + 1 if code % 2 == 1 else code
        return code + 1 if code % 2 == 0 and code != 0x138 else code
    if 0x391 <= code <= 0x3A9 and code != 0x3A2:
        return code + 0x20
    if 0x410 <= code <= 0x42F:
        return code + 0x20
    if 0x400 <= code <= 0x40F:
        return code + 0x50
    return code


@njit(cache=True, inline="always")
def _bucket(value, buckets):
    # Lemire's multiply-shift range reduction of the high 32 bits: no division.
    return np.int32(((value >> np.uint64(32)) * np.uint64(buckets)) >> np.uint64(32))


@njit(cache=True)
def doc_buckets(data, lo, hi, order, buckets, seed, out, hashes):
    """Hash the n-grams (orders 1..`order`) of the text data[lo:hi] into `out`.

    The text is UTF-8. out: int32 buffer of at least
    order * (hi - lo) entries; hashes: uint64 scratch of at least hi - lo + 1 entries.
    Returns (n-grams written, tokens). For each token in text order come its unigram,
    then the bigram ending at it, and so on.
    """
    classes = _ASCII_CLASS
    # Pass 1, over bytes: each token's FNV-1a state. The ASCII path has no branch that
    # depends on the text, which keeps the CPU's branch predictor out of the way.
    tokens = 0
    kind = 0
    state = _FNV_BASIS
    i = lo
    while i < hi:
        byte = data[i]
        if byte < 0x80:
            cls = classes[byte]
            code = np.uint64(byte) + np.uint64(32) * np.uint64(65 <= byte <= 90)
            i += 1
        else:
            value = np.int64(byte)
            step = 1  # a stray byte counts as a word character
            if byte >= 0xF0 and i + 3 < hi:
                value = ((value & 0x07) << 18) | ((np.int64(data[i + 1]) & 0x3F) << 12) | \
                    ((np.int64(data[i + 2]) & 0x3F) << 6) | (np.int64(data[i + 3]) & 0x3F)
                step = 4
            elif byte >= 0xE0 and i + 2 < hi:
                value = ((value & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
                step = 3
            elif byte >= 0xC0 and i + 1 < hi:
                value = ((value & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
                step = 2
            cls = _classify(value) if step > 1 else 1
            code = np.uint64(_lower(value))
            i += step
        change = cls != kind
        hashes[tokens] = state
        tokens += change & (kind != 0)
        state = ((_FNV_BASIS if change else state) ^ code) * _FNV_PRIME
        kind = cls
    hashes[tokens] = state
    tokens += kind != 0
    # Pass 2, over tokens: finish each token's hash, then chain n-grams.
    base = _mix(np.uint64(seed) ^ _FNV_BASIS)
    for j in range(tokens):
        hashes[j] = _mix(hashes[j] ^ base)
    written = 0
    for j in range(tokens):
        chained = hashes[j]
        out[written] = _bucket(chained, buckets)
        written += 1
        for k in range(1, min(order, j + 1)):
            chained = _mix((hashes[j - k] * _GOLDEN) ^ chained ^ np.uint64(k + 1))
            out[written] = _bucket(chained, buckets)
            written += 1
    return written, tokens


@njit(cache=True, nogil=True)
def featurize(data, starts, ends, order, buckets, seed, counts, weights, scores, tokens, out, hashes):
    """One pass over n documents, data[starts[d]:ends[d]]:
    hashed n-gram counts, log-weights and token counts.

    counts: (buckets,) int64, incremented with every n-gram (size 0 to skip).
    weights: (buckets, t) float64 per-bucket log-weights; scores: (n, t) float64 gets
        each document's sum of weights over its n-grams (size 0 to skip).
    tokens: (n,) int64, each document's number of tokens.
    out, hashes: scratch for `doc_buckets`, sized for the longest document (the caller
        keeps them between calls, so no batch allocates and frees megabytes).
    """
    n = len(starts)
    do_counts = len(counts) > 0
    do_scores = scores.shape[0] > 0
    targets = weights.shape[1]
    for d in range(n):
        written, seen = doc_buckets(data, starts[d], ends[d], order, buckets, seed, out, hashes)
        tokens[d] = seen
        if do_counts:
            for j in range(written):
                counts[out[j]] += 1
        if do_scores:
            for t in range(targets):
                total = 0.0
                for j in range(written):
                    total += weights[out[j], t]
                scores[d, t] = total
