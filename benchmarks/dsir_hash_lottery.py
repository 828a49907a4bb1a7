"""How much of the DSIR quality comparison is the hash function's luck?

`dsir_vs_reference.py` compares one run of each tool: the reference hashes n-grams with
sha256 mod 10,000, thresher with its own seeded 64-bit hash. Both hashes put unrelated
n-grams into the same bucket, and which ones collide moves the selection a little. This
script measures that spread on the same corpus, with everything else held fixed:

- the reference's model (wordpunct tokens, lowercased; unigram + bigram counts; raw model
  on the whole pool; log(p_target + 1e-8) - log(p_raw + 1e-8); 100-token minimum; top-k
  on the log-weights plus Gumbel noise), written out here in NumPy and fed sha256 buckets
  of `salt + n-gram` for several salts; the empty salt is the reference itself, and the
  script checks that it picks the reference's own documents when a reference run's output
  is there;
- thresher's `dsir` (the library, default parameters) with hash seeds 0..N-1, with its
  default (no minimum length) and with `min_length=100`.

Each selection's target-domain precision and KL reduction are measured exactly as in
`dsir_vs_reference.py` (thresher's hash, seed 0, 10,000 buckets, add-one smoothing).

    python benchmarks/dsir_hash_lottery.py                   # both corpora, 8 salts and 8 seeds
    python benchmarks/dsir_hash_lottery.py --targets pydoc --draws 4

Needs the corpora that dsir_vs_reference.py builds (bench-work/dsir/); about 6 GB of memory
and 5-10 minutes per corpus. Figures go to benchmarks/results/dsir_hash_lottery.{json,txt}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from dsir_vs_reference import CORPORA, RESULTS, ROOT

BUCKETS = 10_000
MIN_TOKENS = 100  # the reference's default minimum length
WORDPUNCT = re.compile(r"\w+|[^\w\s]+")  # NLTK's WordPunctTokenizer pattern, as the reference uses


def read_jsonl(paths: list[Path], field: str) -> list:
    values = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            values.extend(json.loads(line)[field] for line in lines if line.strip())
    return values


class NgramCodes:
    """Each document's unigrams and bigrams as codes of distinct strings (>= 0 unigram,
    < 0 bigram), so that hashing the distinct strings once per salt gives every bucket."""

    def __init__(self) -> None:
        self.unigrams: dict[str, int] = {}
        self.bigrams: dict[tuple[int, int], int] = {}

    def encode(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts, offsets = [], [0]
        for text in texts:
            tokens = [self.unigrams.setdefault(t, len(self.unigrams)) for t in WORDPUNCT.findall(text.lower())]
            pairs = [self.bigrams.setdefault((a, b), len(self.bigrams)) for a, b in zip(tokens, tokens[1:])]
            parts += [np.asarray(tokens, np.int32), -1 - np.asarray(pairs, np.int32)]
            offsets.append(offsets[-1] + len(tokens) + len(pairs))
        return np.concatenate(parts), np.asarray(offsets, np.int64)

    def sha256_buckets(self, salt: str) -> tuple[np.ndarray, np.ndarray]:
        """Bucket of every distinct unigram and bigram: int(sha256(salt + text)) mod BUCKETS."""
        def bucket(text: str) -> int:
            return int(hashlib.sha256((salt + text).encode("utf-8")).hexdigest(), 16) % BUCKETS

        words = [""] * len(self.unigrams)
        for word, code in self.unigrams.items():
            words[code] = word
        unigram = np.fromiter((bucket(w) for w in words), np.int32, len(words))
        bigram = np.empty(len(self.bigrams), np.int32)
        for (a, b), code in self.bigrams.items():
            bigram[code] = bucket(words[a] + " " + words[b])
        return unigram, bigram


def count_matrix(codes: np.ndarray, offsets: np.ndarray, unigram: np.ndarray, bigram: np.ndarray) -> sp.csr_matrix:
    columns = np.where(codes >= 0, unigram[np.maximum(codes, 0)], bigram[np.maximum(-1 - codes, 0)])
    return bucket_matrix(columns, offsets)


def bucket_matrix(columns: np.ndarray, offsets: np.ndarray, buckets: int = BUCKETS) -> sp.csr_matrix:
    """Documents x buckets n-gram counts from each document's buckets."""
    matrix = sp.csr_matrix((np.ones(len(columns), np.float64), columns, offsets), shape=(len(offsets) - 1, buckets))
    matrix.sum_duplicates()
    return matrix


def thresher_matrix(texts: list[str], seed: int) -> sp.csr_matrix:
    from thresher.features.ngrams import HashedNgrams

    featurizer = HashedNgrams(2, BUCKETS, seed)
    columns = [featurizer.buckets_of(text) for text in texts]
    return bucket_matrix(np.concatenate(columns), np.concatenate([[0], np.cumsum([len(c) for c in columns])]))


def reference_choice(raw: sp.csr_matrix, target: sp.csr_matrix, k: int, seed: int) -> np.ndarray:
    """The reference's selection from count matrices: its model, filter and Gumbel top-k."""
    p_raw = np.asarray(raw.sum(axis=0)).ravel()
    p_target = np.asarray(target.sum(axis=0)).ravel()
    log_diff = np.log(p_target / p_target.sum() + 1e-8) - np.log(p_raw / p_raw.sum() + 1e-8)
    scores = raw @ log_diff
    length = (np.asarray(raw.sum(axis=1)).ravel() + 1) // 2  # its token count: (unigrams + bigrams + 1) // 2
    scores = np.where(length >= MIN_TOKENS, scores + np.random.default_rng(seed).gumbel(size=len(scores)), -np.inf)
    return np.argpartition(-scores, k)[:k]


def summary(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows]
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(ROOT / "bench-work" / "dsir"))
    parser.add_argument("--targets", default=",".join(CORPORA))
    parser.add_argument("--draws", type=int, default=8, help="sha256 salts (the first is the reference's: none) and thresher hash seeds")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from thresher import Pool
    from thresher.evaluate.kl import kl_reduction
    from thresher.select.dsir import DSIR

    report, lines = {"draws": args.draws, "buckets": BUCKETS, "targets": {}}, []
    for name in args.targets.split(","):
        started = time.perf_counter()
        corpus = Path(args.work) / name
        raw_paths = sorted((corpus / "raw").glob("*.jsonl"))
        target_path = corpus / "target" / "target.jsonl"
        if not raw_paths or not target_path.exists():
            sys.exit(f"{corpus}: no corpus; build it first with python benchmarks/dsir_vs_reference.py --targets {name}")
        texts, domains = read_jsonl(raw_paths, "text"), np.asarray(read_jsonl(raw_paths, "domain"))
        target_texts = read_jsonl([target_path], "text")
        domain, k = CORPORA[name]["target_domain"], len(texts) // 10

        # The yardstick: thresher's hash, seed 0, as dsir_vs_reference.py measures.
        measure_raw = thresher_matrix(texts, 0)
        measure_totals = (np.asarray(measure_raw.sum(axis=0)).ravel(), thresher_matrix(target_texts, 0).sum(axis=0).A1)

        def quality(chosen: np.ndarray) -> dict:
            selected = np.asarray(measure_raw[chosen].sum(axis=0)).ravel()
            return {"precision": float(np.mean(domains[chosen] == domain)),
                    "kl_reduction": kl_reduction(measure_totals[1], measure_totals[0], selected)}

        codes = NgramCodes()
        raw_codes, target_codes = codes.encode(texts), codes.encode(target_texts)
        reference_rows = []
        for draw in range(args.draws):
            salt = "" if draw == 0 else f"{draw}:"
            unigram, bigram = codes.sha256_buckets(salt)
            chosen = reference_choice(count_matrix(*raw_codes, unigram, bigram), count_matrix(*target_codes, unigram, bigram), k, draw)
            reference_rows.append({"salt": salt, **quality(chosen)})
            if draw == 0:
                picked = sorted((corpus / "reference" / "out").glob("*.jsonl"))
                if picked:  # the reference's own selection, from its last run
                    ours = {texts[i] for i in chosen}
                    reference_rows[0]["same_documents_as_the_reference_run"] = sum(t in ours for t in read_jsonl(picked, "text"))
        pool, target = Pool.from_jsonl([str(p) for p in raw_paths]), Pool.from_jsonl([str(target_path)])
        thresher_rows = {"default": [], "min_length=100": []}
        for seed in range(args.draws):
            for config, params in (("default", {}), ("min_length=100", {"min_length": 100})):
                selection = DSIR(hash_seed=seed, **params).select(pool, "10%", target=target, seed=seed)
                chosen = pool.positions_of(selection.ids)
                thresher_rows[config].append({"hash_seed": seed, **quality(chosen)})
        entry = {"target_domain": domain, "docs": len(texts), "k": k, "reference_model_sha256_salts": reference_rows,
                 "thresher": thresher_rows, "seconds": time.perf_counter() - started}
        entry["summary"] = {label: {key: summary(rows, key) for key in ("precision", "kl_reduction")}
                            for label, rows in (("reference model, sha256 salts", reference_rows),
                                                ("thresher default, hash seeds", thresher_rows["default"]),
                                                ("thresher min_length=100, hash seeds", thresher_rows["min_length=100"]))}
        report["targets"][name] = entry
        first = reference_rows[0]
        lines.append(f"dsir hash lottery {name} ({len(texts):,} docs, k=10%, {args.draws} hashes each): "
                     f"reference (sha256, no salt) precision {first['precision']:.4f}, KL red. {first['kl_reduction']:.4f}"
                     + (f", {first['same_documents_as_the_reference_run']:,} of {k:,} documents as its own run"
                        if "same_documents_as_the_reference_run" in first else ""))
        for label, stats in entry["summary"].items():
            p, kl = stats["precision"], stats["kl_reduction"]
            lines.append(f"  {label}: precision {p['mean']:.4f} (sd {p['sd']:.4f}, {p['min']:.4f}-{p['max']:.4f}), "
                         f"KL red. {kl['mean']:.4f} (sd {kl['sd']:.4f}, {kl['min']:.4f}-{kl['max']:.4f})")
        print("\n".join(lines[-4:]), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "dsir_hash_lottery.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "dsir_hash_lottery.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
