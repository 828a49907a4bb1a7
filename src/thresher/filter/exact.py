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
from thresher.errors import UsageError
from thresher.filter.base import Filter, text_buffers
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
    """Per-batch work: the normalised text's hash and the raw text's length in characters."""

    nfkc: bool
    lowercase: bool
    punctuation: bool
    whitespace: bool

    def __call__(self, batch) -> tuple[np.ndarray, np.ndarray]:
        from thresher.filter import _kernels

        text = batch.column("text")
        clean = normalise(text, nfkc=self.nfkc, lowercase=self.lowercase, punctuation=self.punctuation,
                          whitespace=self.whitespace)
        return _kernels.text_hashes(*text_buffers(clean)), pc.utf8_length(text).to_numpy(zero_copy_only=False)


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
        task = HashTask(bool(c["nfkc"]), bool(c["lowercase"]), bool(c["punctuation"]), bool(c["whitespace"]))
        index, outputs = pool.scan([task], engine=engine, workers=workers)
        parts = outputs[0] if outputs else []
        n = index.n
        hashes = np.concatenate([h for h, _ in parts]) if parts else np.zeros(0, np.uint64)
        lengths = np.concatenate([length for _, length in parts]) if parts else np.zeros(0, np.int64)
        rank = np.zeros(n)  # lower rank survives
        if c["keep"] == "longest":
            rank = -lengths.astype(np.float64)
        elif c["keep"] == "priority":
            rank = -_priorities(pool, c["priority_field"], n)
        order = np.lexsort((np.arange(n), rank, hashes))
        first_of_group = np.ones(n, dtype=bool)
        first_of_group[1:] = hashes[order[1:]] != hashes[order[:-1]]
        group_start = np.maximum.accumulate(np.where(first_of_group, np.arange(n), 0))
        survivor = np.empty(n, dtype=np.int64)
        survivor[order] = order[group_start]
        keep = survivor == np.arange(n)
        dropped = np.flatnonzero(~keep)
        reasons = np.full(n, None, dtype=object)
        if len(dropped):
            ids = pool.ids_at(survivor[dropped]).to_pylist()
            for position, sid in zip(dropped, ids):
                reasons[position] = ("exact-duplicate", f"of id {sid}")
        groups = int(first_of_group.sum()) if n else 0
        return keep, reasons, None, {"distinct_texts": groups}


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
