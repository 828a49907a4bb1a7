"""Decontamination: drop (or flag) pool records that share a run of n words with an
evaluation set, naming the set and the n-gram.

    sel = Decontaminate(against=[Pool.from_jsonl("mmlu_test.jsonl")], ngram=13).apply(pool)

Words are lowercased runs of letters and digits, so punctuation and spacing do not hide
an overlap. The 13-word default follows Brown et al., "Language Models are Few-Shot
Learners" (GPT-3, 2020), appendix C. Evaluation items shorter than n words cannot be
matched this way; their count is reported in the metadata.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from thresher.errors import UsageError
from thresher.filter.base import Filter
from thresher.params import Param
from thresher.steps import register

_WORD = re.compile(rb"[0-9A-Za-z\x80-\xff]+")


def ngram_hashes(text, n: int):
    """Hashes of every n-word run of each text: (runs,) uint64 flat, (docs + 1,) int64 offsets."""
    from thresher.filter.near import shingle_hashes

    return shingle_hashes(text, "word", n, whole_if_short=False)


def words_of(text: str) -> list[str]:
    """The words decontamination compares, as the compiled tokenizer sees them."""
    return [w.lower().decode("utf-8", "replace") for w in _WORD.findall(text.encode("utf-8"))]


@dataclass
class _EvalTask:
    ngram: int

    def __call__(self, batch):
        hashes, offsets = ngram_hashes(batch.column("text"), self.ngram)
        return hashes, int(np.sum(np.diff(offsets) == 0))


@dataclass
class _MatchTask:
    """Per-batch: which records share an n-gram with the evaluation hashes, and which one."""

    ngram: int
    eval_hashes: np.ndarray  # (m,) uint64 sorted, distinct
    eval_sets: np.ndarray  # (m,) int32 the evaluation set each hash came from (the first one)

    def __call__(self, batch):
        text = batch.column("text")
        hashes, offsets = ngram_hashes(text, self.ngram)
        n = len(offsets) - 1
        where = np.searchsorted(self.eval_hashes, hashes)
        where[where == len(self.eval_hashes)] = 0
        hit = (self.eval_hashes[where] == hashes) if len(self.eval_hashes) else np.zeros(len(hashes), bool)
        doc_of = np.repeat(np.arange(n), np.diff(offsets))
        counts = np.bincount(doc_of[hit], minlength=n)
        found = []
        for doc in np.flatnonzero(counts):
            first = int(np.flatnonzero(hit[offsets[doc]:offsets[doc + 1]])[0])
            words = words_of(text[int(doc)].as_py())
            found.append((int(doc), int(self.eval_sets[where[offsets[doc] + first]]),
                          " ".join(words[first: first + self.ngram])))
        return counts, found


@register
class Decontaminate(Filter):
    """Drop (or flag) records sharing any n-word run with the evaluation sets."""

    name = "decontaminate"
    summary = "Records that share an n-gram with an evaluation set."
    paper = "Brown et al. 2020, Language Models are Few-Shot Learners (appendix C)"
    params = {
        "against": Param((), object, "evaluation sets: Pools, or JSONL paths with a text field"),
        "ngram": Param(13, int, "words per n-gram"),
        "mode": Param("drop", str, "drop the records, or flag them (kept, with the reason)", ("drop", "flag")),
    }

    def validate(self) -> None:
        c = self.config
        if not isinstance(c["ngram"], int) or c["ngram"] < 1:
            raise UsageError(f"ngram={c['ngram']!r}: give a whole number of words >= 1 (13 is usual).")
        if c["mode"] not in ("drop", "flag"):
            raise UsageError(f"mode={c['mode']!r}: use 'drop' or 'flag'.")
        against = c["against"]
        if isinstance(against, (str, os.PathLike)) or hasattr(against, "scan"):
            against = [against]
        if not against:
            raise UsageError("decontamination needs at least one evaluation set (--against EVAL.jsonl).")
        self.eval_pools = [_as_pool(item) for item in against]

    def get_params(self) -> dict:
        return {"against": [p.paths[0] if p.paths else repr(p) for p in self.eval_pools],
                "ngram": self.config["ngram"], "mode": self.config["mode"]}

    def _run(self, pool, engine, workers):
        n_words = self.config["ngram"]
        names, parts, owners, short = [], [], [], 0
        for number, eval_pool in enumerate(self.eval_pools):
            names.append(os.path.basename(eval_pool.paths[0]) if eval_pool.paths else f"set {number}")
            _, outputs = eval_pool.scan([_EvalTask(n_words)], engine=engine, workers=workers)
            for hashes, too_short in (outputs[0] if outputs else []):
                parts.append(hashes)
                owners.append(np.full(len(hashes), number, dtype=np.int32))
                short += too_short
        hashes = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
        owners = np.concatenate(owners) if owners else np.zeros(0, np.int32)
        order = np.lexsort((owners, hashes))
        hashes, owners = hashes[order], owners[order]
        distinct = np.ones(len(hashes), dtype=bool)
        distinct[1:] = hashes[1:] != hashes[:-1]
        task = _MatchTask(n_words, hashes[distinct], owners[distinct])
        index, outputs = pool.scan([task], engine=engine, workers=workers)
        n = index.n
        counts = np.zeros(n, dtype=np.int64)
        reasons = np.full(n, None, dtype=object)
        per_set = {name: 0 for name in names}
        start = 0
        for batch_counts, found in (outputs[0] if outputs else []):
            counts[start: start + len(batch_counts)] = batch_counts
            for doc, owner, gram in found:
                reasons[start + doc] = ("contaminated", f"{n_words}-gram '{gram}' from {names[owner]}")
                per_set[names[owner]] += 1
            start += len(batch_counts)
        keep = counts == 0 if self.config["mode"] == "drop" else np.ones(n, dtype=bool)
        extra = {"eval_sets": names, "eval_ngrams": int(distinct.sum()), "eval_items_shorter_than_ngram": short,
                 "contaminated": int((counts > 0).sum()), "contaminated_by_set": per_set}
        return keep, reasons, counts.astype(np.float64), extra


def _as_pool(item):
    from thresher.data.pool import Pool

    if hasattr(item, "scan"):
        return item
    if not os.path.exists(item):
        raise UsageError(f"evaluation set {item} does not exist.")
    return Pool.from_files(item)
