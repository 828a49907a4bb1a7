"""Compiled loops (numba) that turn LSH buckets into duplicate clusters: candidate
pairs from buckets, Jaccard similarity of pairs (exact, from shingle sets, or estimated
from signatures) and union-find. Imported only when a filter runs."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def bucket_pairs(sorted_keys, order, all_pairs_up_to):
    """Candidate pairs (i < j) from LSH buckets: records sharing a key. `order` sorts the
    keys and `sorted_keys` are the keys in that order. Buckets up to `all_pairs_up_to`
    members give every pair; larger ones pair each member with the bucket's first."""
    n = len(order)
    left = np.empty(n // 4 + 16, dtype=np.int64)
    right = np.empty(n // 4 + 16, dtype=np.int64)
    count = 0
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and sorted_keys[stop] == sorted_keys[start]:
            stop += 1
        size = stop - start
        if size > 1:
            members = np.sort(order[start:stop])
            need = size * (size - 1) // 2 if size <= all_pairs_up_to else size - 1
            if count + need > len(left):
                grow = max(len(left) * 2, count + need)
                left = np.concatenate((left[:count], np.empty(grow - count, dtype=np.int64)))
                right = np.concatenate((right[:count], np.empty(grow - count, dtype=np.int64)))
            if size <= all_pairs_up_to:
                for i in range(size):
                    for j in range(i + 1, size):
                        left[count] = members[i]
                        right[count] = members[j]
                        count += 1
            else:
                for j in range(1, size):
                    left[count] = members[0]
                    right[count] = members[j]
                    count += 1
        start = stop
    return left[:count].copy(), right[:count].copy()


@njit(cache=True)
def pair_jaccard(values, offsets, left, right):
    """Jaccard similarity of the shingle sets of each pair, (pairs,) float64.

    values: every record's shingles (uint32, repeats allowed, unsorted), record d's at
    values[offsets[d]:offsets[d + 1]]. One open-addressing table per pair holds A's
    distinct shingles; B's are probed and counted once each.
    """
    out = np.zeros(len(left), dtype=np.float64)
    capacity = 64
    while capacity < 2 * max_set(offsets) + 2:
        capacity *= 2
    table = np.zeros(capacity, dtype=np.uint64)
    used = np.empty(capacity, dtype=np.int64)
    in_a, in_both, in_b = np.uint64(1) << np.uint64(32), np.uint64(2) << np.uint64(32), np.uint64(3) << np.uint64(32)
    low = np.uint64(0xFFFFFFFF)
    for p in range(len(left)):
        a_lo, a_hi = offsets[left[p]], offsets[left[p] + 1]
        b_lo, b_hi = offsets[right[p]], offsets[right[p] + 1]
        size = 64
        while size < 2 * max(a_hi - a_lo, b_hi - b_lo) + 2:
            size *= 2
        mask = np.uint64(size - 1)
        n_used, distinct_a, common, only_b = 0, 0, 0, 0
        for i in range(a_lo, a_hi):
            v = np.uint64(values[i])
            slot = (v * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40) & mask
            while table[slot] != 0 and (table[slot] & low) != v:
                slot = (slot + np.uint64(1)) & mask
            if table[slot] == 0:
                table[slot] = v | in_a
                used[n_used] = slot
                n_used += 1
                distinct_a += 1
        for i in range(b_lo, b_hi):
            v = np.uint64(values[i])
            slot = (v * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40) & mask
            while table[slot] != 0 and (table[slot] & low) != v:
                slot = (slot + np.uint64(1)) & mask
            state = table[slot] & ~low
            if table[slot] == 0:
                table[slot] = v | in_b
                used[n_used] = slot
                n_used += 1
                only_b += 1
            elif state == in_a:
                table[slot] = v | in_both
                common += 1
        for k in range(n_used):
            table[used[k]] = 0
        union = distinct_a + only_b
        out[p] = common / union if union > 0 else 0.0
    return out


@njit(cache=True)
def max_set(offsets):
    largest = 0
    for d in range(len(offsets) - 1):
        largest = max(largest, offsets[d + 1] - offsets[d])
    return largest


@njit(cache=True)
def signature_agreement(sig, left, right):
    """Fraction of equal signature values for each pair: (pairs,) float64 (Jaccard estimate)."""
    out = np.empty(len(left), dtype=np.float64)
    k_count = sig.shape[1]
    for p in range(len(left)):
        same = 0
        for k in range(k_count):
            if sig[left[p], k] == sig[right[p], k]:
                same += 1
        out[p] = same / k_count
    return out


@njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        parent[x], x = root, parent[x]
    return root


@njit(cache=True)
def union_find(n, left, right):
    """Connected components of n nodes under the given edges: each node's component
    label is the smallest node in its component, (n,) int64."""
    parent = np.arange(n)
    for p in range(len(left)):
        a, b = _find(parent, left[p]), _find(parent, right[p])
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    for x in range(n):
        parent[x] = _find(parent, x)
    return parent
