"""Compiled loops (numba) behind the filters: shingling, hashing, MinHash, LSH buckets,
set intersections and union-find. Imported only when a filter runs, never at
`import thresher`.

Text is read straight from an Arrow string array's buffers: `data: (bytes,) uint8` and
`offsets: (n + 1,) int64`. A *word* is a maximal run of ASCII letters and digits or
non-ASCII bytes (so UTF-8 letters stay inside words); ASCII letters are lowercased.
Shingle hashes are 64-bit; their outputs are flat arrays with per-document offsets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MAX32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _mix(x):
    # splitmix64's finaliser: spreads every input bit over the whole output.
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _word_table():
    # 0 for bytes that separate words, else the byte lowercased (ASCII) or kept (UTF-8).
    table = np.zeros(256, dtype=np.uint8)
    for b in range(256):
        if 48 <= b <= 57 or 97 <= b <= 122 or b >= 128:
            table[b] = b
        elif 65 <= b <= 90:
            table[b] = b + 32
    return table


WORD_TABLE = _word_table()


@njit(cache=True)
def word_hashes(data, offsets):
    """Hashes of every word: (words,) uint64 flat, (n + 1,) int64 per-document offsets."""
    n = len(offsets) - 1
    table = WORD_TABLE
    out = np.empty(len(data) // 2 + n + 1, dtype=np.uint64)
    doc_offsets = np.zeros(n + 1, dtype=np.int64)
    count = 0
    prime = np.uint64(0x100000001B3)
    basis = np.uint64(0xCBF29CE484222325)
    for d in range(n):
        h = basis
        inside = False
        for p in range(offsets[d], offsets[d + 1]):
            t = table[data[p]]
            if t != 0:
                h = (h ^ np.uint64(t)) * prime
                inside = True
            elif inside:
                out[count] = _mix(h)
                count += 1
                h = basis
                inside = False
        if inside:
            out[count] = _mix(h)
            count += 1
        doc_offsets[d + 1] = count
    return out[:count], doc_offsets


@njit(cache=True)
def word_ngrams(words, word_offsets, n, whole_if_short):
    """Hashes of every run of `n` consecutive words, per document.

    whole_if_short: a document with 1..n-1 words gets one shingle of all its words
    (dedup wants that); otherwise it gets none (decontamination wants that).
    """
    docs = len(word_offsets) - 1
    prime = np.uint64(0x9E3779B97F4A7C15)
    out = np.empty(len(words) + docs, dtype=np.uint64)
    doc_offsets = np.zeros(docs + 1, dtype=np.int64)
    count = 0
    for d in range(docs):
        lo, hi = word_offsets[d], word_offsets[d + 1]
        length = hi - lo
        if length >= n or (whole_if_short and length > 0):
            # A polynomial over the words' hashes, rolled one word at a time, then mixed.
            width = min(n, length)
            top = np.uint64(1)
            for k in range(width - 1):
                top *= prime
            tag = np.uint64(width) * np.uint64(0xD6E8FEB86659FD93)
            h = np.uint64(0)
            for k in range(lo, lo + width):
                h = h * prime + words[k]
            out[count] = _mix(h ^ tag)
            count += 1
            for k in range(lo + width, hi):
                h = (h - words[k - width] * top) * prime + words[k]
                out[count] = _mix(h ^ tag)
                count += 1
        doc_offsets[d + 1] = count
    return out[:count].copy(), doc_offsets


@njit(cache=True)
def char_ngrams(data, offsets, n):
    """Hashes of every `n`-byte window of the normalised text (lowercase, whitespace runs -> one space)."""
    docs = len(offsets) - 1
    out = np.empty(len(data) + docs, dtype=np.uint64)
    doc_offsets = np.zeros(docs + 1, dtype=np.int64)
    window = np.zeros(n, dtype=np.uint8)
    count = 0
    for d in range(docs):
        filled = 0
        previous_space = True
        for p in range(offsets[d], offsets[d + 1]):
            b = data[p]
            if b == 32 or (b >= 9 and b <= 13):
                if previous_space:
                    continue
                b = 32
                previous_space = True
            else:
                previous_space = False
                if b >= 65 and b <= 90:
                    b += 32
            window[filled % n] = b
            filled += 1
            if filled >= n:
                h = np.uint64(0xCBF29CE484222325)
                for k in range(filled - n, filled):
                    h = (h ^ np.uint64(window[k % n])) * np.uint64(0x100000001B3)
                out[count] = _mix(h)
                count += 1
        if 0 < filled < n:
            h = np.uint64(0xCBF29CE484222325)
            for k in range(filled):
                h = (h ^ np.uint64(window[k])) * np.uint64(0x100000001B3)
            out[count] = _mix(h)
            count += 1
        doc_offsets[d + 1] = count
    return out[:count].copy(), doc_offsets


@njit(cache=True)
def signatures_minhash(shingles, doc_offsets, a, b):
    """Classic MinHash: K hash functions h_k(x) = (a_k x + b_k) >> 32; (n, K) uint32 minima."""
    n, k_count = len(doc_offsets) - 1, len(a)
    sig = np.full((n, k_count), 0xFFFFFFFF, dtype=np.uint32)
    values = np.empty(k_count, dtype=np.uint64)
    for d in range(n):
        for k in range(k_count):
            values[k] = _MAX32
        for s in range(doc_offsets[d], doc_offsets[d + 1]):
            x = shingles[s]
            for k in range(k_count):
                v = (a[k] * x + b[k]) >> np.uint64(32)
                if v < values[k]:
                    values[k] = v
        for k in range(k_count):
            sig[d, k] = values[k]
    return sig


@njit(cache=True)
def signatures_oph(shingles, doc_offsets, k_count, seed):
    """One-permutation hashing with optimal densification: (n, K) uint32.

    Each shingle's hash picks one of K bins and competes for its minimum; empty bins
    borrow the value of a bin chosen by a per-bin hash sequence, the same for every
    document, so equal signatures mean the same thing as in K-permutation MinHash.
    """
    n = len(doc_offsets) - 1
    sig = np.full((n, k_count), 0xFFFFFFFF, dtype=np.uint32)
    values = np.empty(k_count, dtype=np.uint64)
    kk = np.uint64(k_count)
    for d in range(n):
        for k in range(k_count):
            values[k] = np.uint64(0xFFFFFFFFFFFFFFFF)
        lo, hi = doc_offsets[d], doc_offsets[d + 1]
        if hi == lo:
            continue
        for s in range(lo, hi):
            x = _mix(shingles[s] ^ seed)
            k = ((x >> np.uint64(32)) * kk) >> np.uint64(32)
            v = x & _MAX32
            if v < values[k]:
                values[k] = v
        _densify(values, sig[d], k_count, seed)
    return sig


@njit(cache=True)
def oph_word_signatures(words, word_offsets, n, k_count, seed):
    """word_ngrams + signatures_oph in one pass, without the shingle array in between.

    Returns the (docs, K) uint32 signatures, each record's shingles as uint32 (the
    shingle hash's high half, for true-Jaccard verification) and (docs + 1,) offsets.
    """
    docs = len(word_offsets) - 1
    prime = np.uint64(0x9E3779B97F4A7C15)
    sig = np.full((docs, k_count), 0xFFFFFFFF, dtype=np.uint32)
    sets = np.empty(len(words) + docs, dtype=np.uint32)
    set_offsets = np.zeros(docs + 1, dtype=np.int64)
    values = np.empty(k_count, dtype=np.uint64)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    kk = np.uint64(k_count)
    count = 0
    for d in range(docs):
        lo, hi = word_offsets[d], word_offsets[d + 1]
        length = hi - lo
        set_offsets[d + 1] = count
        if length == 0:
            continue
        for k in range(k_count):
            values[k] = empty
        width = min(n, length)
        top = np.uint64(1)
        for k in range(width - 1):
            top *= prime
        tag = np.uint64(width) * np.uint64(0xD6E8FEB86659FD93)
        h = np.uint64(0)
        for k in range(lo, lo + width - 1):
            h = h * prime + words[k]
        for k in range(lo + width - 1, hi):
            if k >= lo + width:
                h -= words[k - width] * top
            h = h * prime + words[k]
            shingle = _mix(h ^ tag)
            sets[count] = np.uint32(shingle >> np.uint64(32))
            count += 1
            x = _mix(shingle ^ seed)
            b = ((x >> np.uint64(32)) * kk) >> np.uint64(32)
            v = x & _MAX32
            if v < values[b]:
                values[b] = v
        set_offsets[d + 1] = count
        _densify(values, sig[d], k_count, seed)
    return sig, sets[:count], set_offsets


@njit(cache=True)
def _densify(values, out, k_count, seed):
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    kk = np.uint64(k_count)
    for k in range(k_count):
        if values[k] != empty:
            out[k] = values[k]
            continue
        attempt = np.uint64(1)
        while True:
            j = ((_mix(seed + np.uint64(k) * np.uint64(0x9E3779B97F4A7C15) + attempt) >> np.uint64(32)) * kk) >> np.uint64(32)
            if values[j] != empty:
                out[k] = values[j]
                break
            attempt += np.uint64(1)


@njit(cache=True)
def band_keys(sig, bands, rows):
    """(bands, n) uint64: one hash per band of `rows` signature values."""
    n = sig.shape[0]
    keys = np.empty((bands, n), dtype=np.uint64)
    for d in range(n):
        for band in range(bands):
            h = np.uint64(band + 1)
            for r in range(band * rows, (band + 1) * rows):
                h = _mix(h ^ np.uint64(sig[d, r])) + np.uint64(r)
            keys[band, d] = h
    return keys


@njit(cache=True)
def text_hashes(data, offsets):
    """One 64-bit hash per document of its bytes (exact dedup after normalisation)."""
    n = len(offsets) - 1
    out = np.empty(n, dtype=np.uint64)
    for d in range(n):
        h = np.uint64(0xCBF29CE484222325) ^ np.uint64(offsets[d + 1] - offsets[d])
        for p in range(offsets[d], offsets[d + 1]):
            h = (h ^ np.uint64(data[p])) * np.uint64(0x100000001B3)
        out[d] = _mix(h)
    return out


@njit(cache=True)
def repetition_fractions(ids, lengths, offsets, total_chars, out):
    """Gopher's repetition measures for each document d, whose words are
    ids[offsets[d]:offsets[d + 1]] (a 64-bit id per word, equal ids for equal words) with
    character counts `lengths`: out[d, 0..2] = characters in the most frequent 2-, 3- and
    4-gram (if it occurs more than once; ties go to the n-gram seen first), out[d, 3..8] =
    characters of the words covered by 5- to 10-grams that occur more than once; both as
    fractions of `total_chars[d]`. Rows of documents with no characters are left as they are.
    """
    hashes = np.empty(0, dtype=np.uint64)
    for d in range(len(offsets) - 1):
        lo, hi = offsets[d], offsets[d + 1]
        m = hi - lo
        total = total_chars[d]
        if total == 0 or m < 2:
            continue
        if len(hashes) < m:
            hashes = np.empty(m, dtype=np.uint64)
        for i in range(m):
            hashes[i] = _mix(np.uint64(ids[lo + i]))
        covered = np.zeros(m, dtype=np.uint8)
        for n in range(2, min(m, 10) + 1):
            k = m - n + 1
            # hashes[i] becomes the hash of the n-gram starting at word i.
            for i in range(k):
                hashes[i] = _mix(hashes[i] * np.uint64(0x9E3779B97F4A7C15) + np.uint64(ids[lo + i + n - 1]))
            order = np.argsort(hashes[:k], kind="mergesort")  # stable: equal n-grams in text order
            best_count, best_first = 1, -1
            if n >= 5:
                covered[:] = 0
            start = 0
            while start < k:
                end = start + 1
                while end < k and hashes[order[end]] == hashes[order[start]]:
                    end += 1
                count = end - start
                if count > 1:
                    first = order[start]
                    if n <= 4:
                        if count > best_count or (count == best_count and first < best_first):
                            best_count, best_first = count, first
                    else:
                        for j in range(start, end):
                            p = order[j]
                            for q in range(p, p + n):
                                covered[q] = 1
                start = end
            if n <= 4:
                if best_first >= 0:
                    chars = 0
                    for q in range(best_first, best_first + n):
                        chars += lengths[lo + q]
                    out[d, n - 2] = best_count * chars / total
            else:
                chars = 0
                for q in range(m):
                    if covered[q]:
                        chars += lengths[lo + q]
                out[d, n - 2] = chars / total
