"""Exact-duplicate removal: one 64-bit hash of each record's normalised text; one
survivor per group of equal hashes.

    sel = ExactDedup(lowercase=True, punctuation=True, keep="longest").apply(pool)

Normalisation (each switchable): Unicode NFKC, lowercase, punctuation and symbols
removed, whitespace runs collapsed to one space. As in the exact-substring and
document-hash steps of Lee et al., "Deduplicating Training Data Makes Language Models
Better" (ACL 2022) and Penedo et al., "The RefinedWeb Dataset for Falcon LLM" (2023).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.data.fields import FieldSpec
from thresher.data.scan import release_freed_memory
from thresher.errors import UsageError
from thresher.filter.base import Filter, Reasons, prefixed, text_buffers
from thresher.params import Param
from thresher.steps import register


def normalise(text: pa.Array, *, nfkc: bool = True, lowercase: bool = True, punctuation: bool = False,
              whitespace: bool = True) -> pa.Array:
    """The text as exact dedup compares it (Arrow string array in, Arrow string array out)."""
    if nfkc:
        text = pc.utf8_normalize(text, form="NFKC")
    if lowercase:
        text = pc.utf8_lower(text)
    if punctuation:
        text = pc.replace_substring_regex(text, r"[\p{P}\p{S}]+", "")
    if whitespace:
        text = pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))
    return text


@dataclass
class HashTask:
    """Per-batch work: the normalised text's hash and (with `lengths`, for keep="longest")
    the raw text's length in characters, else None (4 bytes a record held until the join)."""

    nfkc: bool
    lowercase: bool
    punctuation: bool
    whitespace: bool
    lengths: bool = True

    def __call__(self, batch) -> tuple[np.ndarray, np.ndarray | None]:
        from thresher.filter import _kernels

        text = batch.column("text")
        clean = normalise(text, nfkc=self.nfkc, lowercase=self.lowercase, punctuation=self.punctuation,
                          whitespace=self.whitespace)
        lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False) if self.lengths else None
        return _kernels.text_hashes(*text_buffers(clean)), lengths


@register
class ExactDedup(Filter):
    """Drop records whose normalised text equals an earlier (or better) record's."""

    name = "exact-dedup"
    summary = "Exact duplicates of the normalised text; one survivor per group."
    paper = "Lee et al. 2022, Deduplicating Training Data Makes Language Models Better"
    params = {
        "nfkc": Param(True, bool, "Unicode NFKC normalisation"),
        "lowercase": Param(True, bool, "ignore case"),
        "punctuation": Param(False, bool, "ignore punctuation and symbols"),
        "whitespace": Param(True, bool, "collapse whitespace runs, trim ends"),
        "keep": Param("first", str, "survivor of a group: first in pool order, longest text, or highest priority",
                      ("first", "longest", "priority")),
        "priority_field": Param(None, str, "with keep=priority: numeric field, the highest value survives"),
    }

    def validate(self) -> None:
        keep = self.config["keep"]
        if keep not in ("first", "longest", "priority"):
            raise UsageError(f"keep={keep!r}: use 'first', 'longest' or 'priority'.")
        if (keep == "priority") != bool(self.config["priority_field"]):
            raise UsageError("keep='priority' needs priority_field (--priority-field), and priority_field needs "
                             "keep='priority'.")

    def _run(self, pool, engine, workers):
        c = self.config
        task = HashTask(bool(c["nfkc"]), bool(c["lowercase"]), bool(c["punctuation"]), bool(c["whitespace"]),
                        lengths=c["keep"] == "longest")
        index, outputs = pool.scan([task], engine=engine, workers=workers)
        parts = outputs[0] if outputs else []
        del outputs
        n = index.n
        hashes, lengths = _joined(parts, n, lengths=c["keep"] == "longest")
        release_freed_memory()  # the batches' hashes, before the sort's two (n,) arrays
        # The default rule sorts by hash alone: a stable sort leaves equal hashes in pool
        # order, as the three-key lexsort does, without its two (n,) key arrays.
        if c["keep"] == "first":
            order = np.argsort(hashes, kind="stable")
        else:
            rank = -lengths.astype(np.float64) if c["keep"] == "longest" else -_priorities(pool, c["priority_field"], n)
            order = np.lexsort((np.arange(n), rank, hashes))  # lower rank survives
            del rank
        first_of_group = _group_starts(hashes, order)
        del hashes
        dropped, survivors = _dropped_and_survivors(order, first_of_group)
        del order
        keep = np.ones(n, dtype=bool)
        keep[dropped] = False
        groups = int(first_of_group.sum()) if n else 0
        reasons = Reasons(dropped, pa.repeat(pa.scalar("exact-duplicate"), len(dropped)),
                          prefixed("of id ", pool.ids_at(survivors)))
        return keep, reasons, None, {"distinct_texts": groups}


# Exact dedup's state is one hash per record; the steps below keep it near that on pools
# of many millions of short records, where every (n,) int64 temporary costs 8 bytes a record.
_BLOCK = 1 << 16


def _joined(parts: list, n: int, lengths: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(hashes (n,) uint64, lengths (n,) int64 or None) from the per-batch results, each
    batch's arrays released once copied, so the pool's hashes are never held twice."""
    hashes = np.empty(n, dtype=np.uint64)
    joined_lengths = np.empty(n, dtype=np.int64) if lengths else None
    at = 0
    for i, (batch_hashes, batch_lengths) in enumerate(parts):
        hashes[at:at + len(batch_hashes)] = batch_hashes
        if lengths:
            joined_lengths[at:at + len(batch_lengths)] = batch_lengths
        at += len(batch_hashes)
        parts[i] = None
    return hashes, joined_lengths


def _group_starts(hashes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """(n,) bool: entry i of `order` starts a group of equal hashes. In blocks, so that
    `hashes[order]` is never built whole."""
    n = len(order)
    first = np.ones(n, dtype=bool)
    for start in range(0, max(n - 1, 0), _BLOCK):
        stop = min(start + _BLOCK, n - 1)
        block = hashes[order[start:stop + 1]]
        first[start + 1:stop + 1] = block[1:] != block[:-1]
    return first


def _dropped_and_survivors(order: np.ndarray, first_of_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dropped positions in pool order, the survivor of each): in sorted order a group's
    survivor is its first entry. In blocks, carrying the open group's start across."""
    dropped, survivors = [], []
    start_of_group = 0
    for start in range(0, len(order), _BLOCK):
        first = first_of_group[start:start + _BLOCK]
        starts = np.where(first, np.arange(start, start + len(first)), start_of_group)
        np.maximum.accumulate(starts, out=starts)
        start_of_group = int(starts[-1])
        duplicate = ~first
        dropped.append(order[start:start + _BLOCK][duplicate])
        survivors.append(order[starts[duplicate]])
    dropped = np.concatenate(dropped) if dropped else np.zeros(0, np.int64)
    survivors = np.concatenate(survivors) if survivors else np.zeros(0, np.int64)
    in_pool_order = np.argsort(dropped, kind="stable")
    return dropped[in_pool_order], survivors[in_pool_order]


def _priorities(pool, field: str, n: int) -> np.ndarray:
    """(n,) float64 values of a numeric field, read with the pool's other options."""
    from thresher.data.pool import Pool

    spec = FieldSpec(pool.fields.text_field, pool.fields.template, field, pool.fields.domain_field,
                     pool.fields.id_field)
    view = Pool(pool.source, spec, pool.on_bad_record)
    labels = view.index().labels
    if view.index().n != n or labels is None:
        raise UsageError(f'priority field "{field}" is missing from some records; every record needs it.')
    try:
        values = pc.cast(labels, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise UsageError(f'priority field "{field}" must hold numbers (found {labels.type}).') from None
    return np.nan_to_num(values, nan=-np.inf)
