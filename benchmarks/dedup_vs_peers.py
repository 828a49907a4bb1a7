"""Near-duplicate detection, side by side: thresher's NearDedup against datasketch's
MinHash + MinHashLSH, on the same documents, permutations and threshold.

    python benchmarks/dedup_vs_peers.py                   # 200k documents, 3 runs each
    python benchmarks/dedup_vs_peers.py --docs 20000 --runs 1
    python benchmarks/dedup_vs_peers.py --runs 0 --alone 2000000   # add thresher alone on 2M documents

The corpus comes from ../shared/tools/make_mixed_corpus.py (into bench-work/, ignored).
Into it we plant near-duplicates with known ground truth: copies of random documents
edited (word substitutions, insertions, deletions, block swaps) down to a drawn target
Jaccard similarity, plus exact copies. Similarity is Jaccard over sets of 5-word
shingles of lowercased words, the same for both tools and for the ground truth.

Each tool runs in its own child process, so its peak RSS is its own; CPU is the child
process tree's user + sys. A pair counts as found when both records end up in one
duplicate cluster (thresher: same survivor; datasketch: union-find over LSH query
results). Needs the [bench] extra (datasketch, psutil).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-work" / "dedup"
MAKER = ROOT.parent / "shared" / "tools" / "make_mixed_corpus.py"
WORD = re.compile(rb"[0-9A-Za-z\x80-\xff]+")
NGRAM, NUM_PERM, THRESHOLD = 5, 128, 0.8


def words(text: str) -> list[bytes]:
    return [w.lower() for w in WORD.findall(text.encode("utf-8"))]


def shingles(text: str) -> set[bytes]:
    w = words(text)
    if 0 < len(w) < NGRAM:
        return {b" ".join(w)}
    return {b" ".join(w[i: i + NGRAM]) for i in range(len(w) - NGRAM + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# ---- corpus with planted duplicates ---------------------------------------------------
def base_corpus(n: int) -> list[str]:
    folder = WORK / ("corpus200k" if n <= 200_000 else f"corpus{n}")
    if not (folder / "manifest.json").exists():
        subprocess.run([sys.executable, str(MAKER), "--out", str(folder), "--n-raw", str(max(n, 200_000)), "--n-target", "100",
                        "--shards", "4", "--seed", "6"], check=True)
    texts = []
    for path in sorted((folder / "raw").glob("*.jsonl")):
        with open(path) as handle:
            texts.extend(json.loads(line)["text"] for line in handle)
    return texts[:n]


def edit_to(text: str, target: float, rng: np.random.Generator) -> tuple[str, float]:
    """A copy of `text` edited until its Jaccard similarity with `text` is <= target."""
    original = text.split()
    if len(original) < 30:
        return text, 1.0
    reference = shingles(text)
    copy = list(original)
    while True:
        kind = rng.integers(4)
        at = int(rng.integers(len(copy)))
        if kind == 0:
            copy[at] = f"edit{rng.integers(1 << 30)}"
        elif kind == 1:
            copy.insert(at, f"ins{rng.integers(1 << 30)}")
        elif kind == 2 and len(copy) > 20:
            del copy[at]
        else:
            size = int(rng.integers(3, 12))
            other = int(rng.integers(len(copy)))
            lo, hi = sorted((at, other))
            if hi - lo > size:
                copy[lo: lo + size], copy[hi - size: hi] = copy[hi - size: hi], copy[lo: lo + size]
        similarity = jaccard(reference, shingles(" ".join(copy)))
        if similarity <= target:
            return " ".join(copy), similarity


def planted_pool(n: int, near: int, exact: int, seed: int = 6) -> tuple[Path, Path]:
    """A pool of n documents: n - near - exact from the corpus, then the planted copies."""
    pool_path, truth_path = WORK / f"planted{n}.jsonl", WORK / f"planted{n}.truth.json"
    if pool_path.exists() and truth_path.exists():
        return pool_path, truth_path
    rng = np.random.default_rng(seed)
    texts = base_corpus(n)[: n - near - exact]
    pairs = []
    origins = rng.choice(len(texts), near + exact, replace=False)
    for k, origin in enumerate(origins):
        if k < near:
            copy, similarity = edit_to(texts[origin], float(rng.uniform(0.5, 0.98)), rng)
        else:
            copy, similarity = texts[origin], 1.0
        pairs.append((int(origin), len(texts), round(similarity, 4)))
        texts.append(copy)
    order = rng.permutation(len(texts))  # copies spread through the pool, not at its end
    where = np.empty_like(order)
    where[order] = np.arange(len(order))
    with open(pool_path, "w") as handle:
        for position in order:
            handle.write(json.dumps({"text": texts[position]}) + "\n")
    truth = [(int(where[a]), int(where[b]), s) for a, b, s in pairs]
    truth_path.write_text(json.dumps({"pairs": truth, "n": len(texts)}))
    return pool_path, truth_path


# ---- the two sides, each run as a child process ----------------------------------------
def run_thresher(pool_path: str, out: str, workers: int) -> None:
    from thresher import Pool
    from thresher.filter import NearDedup

    clock, cpu = time.perf_counter(), time.process_time()
    pool = Pool.from_jsonl(pool_path)
    dedup = NearDedup(threshold=THRESHOLD, num_perm=NUM_PERM, ngram=NGRAM)
    selection = dedup.apply(pool, workers=workers)
    cluster = np.arange(len(pool))
    dropped = selection.dropped
    for position, reason in zip(dropped.column("id").to_pylist(), dropped.column("reason").to_pylist()):
        cluster[position] = int(reason.split("duplicate of id ")[1].split(" ")[0])
    np.save(out, cluster)
    Path(out + ".json").write_text(json.dumps({"work_s": time.perf_counter() - clock, "banding": dedup.banding.describe(),
                                               "work_cpu_s": time.process_time() - cpu}))


def run_datasketch(pool_path: str, out: str) -> None:
    from datasketch import MinHash, MinHashLSH

    clock, cpu = time.perf_counter(), time.process_time()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    sketches = []
    with open(pool_path) as handle, lsh.insertion_session() as session:
        for key, line in enumerate(handle):
            sketch = MinHash(num_perm=NUM_PERM)
            sketch.update_batch(list(shingles(json.loads(line)["text"])))
            session.insert(key, sketch)
            sketches.append(sketch)
    parent = np.arange(len(sketches))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key, sketch in enumerate(sketches):
        for other in lsh.query(sketch):
            a, b = find(key), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    np.save(out, np.array([find(x) for x in range(len(parent))]))
    Path(out + ".json").write_text(json.dumps({"work_s": time.perf_counter() - clock,
                                               "work_cpu_s": time.process_time() - cpu, "b": lsh.b, "r": lsh.r}))


def measured(side: str, pool_path: Path, workers: int) -> dict:
    """Run one side in a child process; its wall time, process-tree CPU, peak RSS, clusters."""
    out = str(WORK / f"result-{side}.npy")
    clock = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--side", side, "--pool", str(pool_path), "--out", out,
                              "--workers", str(workers)])
    _, status, usage = os.wait4(child.pid, 0)  # this child's own tree: CPU of it and its workers, its peak RSS
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{side} failed with exit code {child.returncode}")
    wall = time.perf_counter() - clock
    info = json.loads(Path(out + ".json").read_text())
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "clusters": np.load(out), **info}


def quality(clusters: np.ndarray, pairs: list) -> dict:
    """Recall on planted pairs with J >= threshold, precision over planted pairs found."""
    sims = np.array([s for _, _, s in pairs])
    found = np.array([clusters[a] == clusters[b] for a, b, _ in pairs])
    truth = sims >= THRESHOLD
    return {"recall": float(found[truth].mean()), "precision": float(truth[found].mean()) if found.any() else 0.0,
            "recall_exact_copies": float(found[sims >= 1.0].mean()),
            "dropped": int(len(clusters) - len(np.unique(clusters)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="Side-by-side runs of thresher (0: only --alone).")
    parser.add_argument("--peer-runs", type=int, default=None, help="Runs of datasketch (default: --runs).")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--alone", type=int, default=0, help="Also run thresher alone on this many documents.")
    parser.add_argument("--alone-pool", default=None, help="A JSONL pool (text field) for the run alone, instead of "
                        "the planted pool repeated with tagged words.")
    parser.add_argument("--side", choices=["thresher", "datasketch"], help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "thresher":
        return run_thresher(args.pool, args.out, args.workers)
    if args.side == "datasketch":
        return run_datasketch(args.pool, args.out)

    WORK.mkdir(parents=True, exist_ok=True)
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    json_path, text_path = results / "dedup_vs_peers.json", results / "dedup_vs_peers.txt"
    near, exact = args.docs // 20, args.docs // 100
    pool_path, truth_path = planted_pool(args.docs, near, exact)
    summary, lines = {}, []
    if args.runs:
        summary, lines = side_by_side(args, pool_path, json.loads(truth_path.read_text())["pairs"], near, exact)
    elif json_path.exists():  # --runs 0: keep the last side-by-side figures, add the run alone
        summary = json.loads(json_path.read_text())
        lines = [line for line in text_path.read_text().splitlines() if not line.startswith("alone")]
    if args.alone or args.alone_pool:
        alone_path = Path(args.alone_pool) if args.alone_pool else big_pool(pool_path, args.docs, args.alone)
        args.alone = args.alone or sum(1 for _ in open(alone_path, "rb"))
        run = measured("thresher", alone_path, args.workers)
        summary["thresher_alone"] = {k: v for k, v in run.items() if k != "clusters"} | {"docs": args.alone}
        lines.append(f"alone      thresher docs={args.alone} wall={run['wall_s']:.1f}s cpu={run['cpu_s']:.1f}s "
                     f"docs/cpu-s={args.alone / run['cpu_s']:,.0f} peak_rss={run['peak_rss_mb']:.0f}MB "
                     f"dropped={len(run['clusters']) - len(np.unique(run['clusters']))}")
    for line in lines:
        print(line)
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    text_path.write_text("\n".join(lines) + "\n")


def side_by_side(args, pool_path: Path, pairs: list, near: int, exact: int) -> tuple[dict, list[str]]:
    """Both tools, `args.runs` times each, on the planted pool; medians and quality."""
    rows = {"thresher": [], "datasketch": []}
    peer_runs = args.runs if args.peer_runs is None else args.peer_runs
    for _ in range(args.runs):
        rows["thresher"].append(measured("thresher", pool_path, args.workers))
    for _ in range(peer_runs):
        rows["datasketch"].append(measured("datasketch", pool_path, 1))
    lines, summary = [], {}
    for side, runs in rows.items():
        median = {k: float(np.median([r[k] for r in runs])) for k in ("wall_s", "cpu_s", "peak_rss_mb", "work_cpu_s")}
        scores = quality(runs[0]["clusters"], pairs)
        summary[side] = {**median, **scores, "docs_per_cpu_s": args.docs / median["cpu_s"],
                         "docs_per_work_cpu_s": args.docs / median["work_cpu_s"],
                         "runs": [{k: v for k, v in r.items() if k != "clusters"} for r in runs]}
        s = summary[side]
        lines.append(f"{side:<10} docs={args.docs} recall(J>={THRESHOLD})={s['recall']:.3f} precision={s['precision']:.3f} "
                     f"exact-copies={s['recall_exact_copies']:.3f} dropped={s['dropped']} wall={s['wall_s']:.1f}s "
                     f"cpu={s['cpu_s']:.1f}s docs/cpu-s={s['docs_per_cpu_s']:,.0f} "
                     f"(work only {s['docs_per_work_cpu_s']:,.0f}) peak_rss={s['peak_rss_mb']:.0f}MB")
    t, d = summary["thresher"], summary["datasketch"]
    lines.append(f"ratio      docs/cpu-s thresher/datasketch = {t['docs_per_cpu_s'] / d['docs_per_cpu_s']:.1f}x "
                 f"(work only {t['docs_per_work_cpu_s'] / d['docs_per_work_cpu_s']:.1f}x), "
                 f"peak RSS datasketch/thresher = {d['peak_rss_mb'] / t['peak_rss_mb']:.1f}x")
    lines.append(f"banding    thresher {t['runs'][0]['banding']}; datasketch b={d['runs'][0]['b']} r={d['runs'][0]['r']}")
    summary["meta"] = {"docs": args.docs, "planted_near": near, "planted_exact": exact, "runs": args.runs,
                       "peer_runs": peer_runs,
                       "workers": args.workers, "num_perm": NUM_PERM, "threshold": THRESHOLD, "ngram": NGRAM,
                       "load_average": os.getloadavg(), "cpus": os.cpu_count()}
    return summary, lines


def big_pool(source: Path, n_source: int, n: int) -> Path:
    """n documents: the planted pool repeated, each repeat's words tagged so repeats are not duplicates."""
    path = WORK / f"alone{n}.jsonl"
    if path.exists():
        return path
    lines = source.read_text().splitlines()
    partial = path.with_suffix(".partial")
    with open(partial, "w") as handle:
        for k in range(n):
            repeat, line = divmod(k, n_source)
            text = json.loads(lines[line])["text"]
            if repeat:
                text = " ".join(f"{w}{repeat}" if i % 3 == 0 else w for i, w in enumerate(text.split()))
            handle.write(json.dumps({"text": text}) + "\n")
    partial.rename(path)
    return path


if __name__ == "__main__":
    main()
