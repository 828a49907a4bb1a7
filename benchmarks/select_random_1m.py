"""Streaming read benchmark: `thresher select --method random --budget 10%` on a 1M-record
JSONL pool (about 1 GB), side by side with `pyarrow.json.read_json` on the same file.

Each contender runs in its own process, 3 times; we report the median wall time, the
CPU seconds of the whole process tree (user + sys) and the peak RSS of the tree
(sampled every 20 ms), then the ratios. Goals: thresher's peak RSS under 500 MB, and its
reading speed at least half of read_json's.

    python benchmarks/select_random_1m.py                 # builds bench-work/pool_1m.jsonl once
    python benchmarks/select_random_1m.py --records 100000 --runs 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from pathlib import Path

from process_stats import measure

WORDS = (
    "data model training selection token corpus the of and to in a is that for it as with was on be by this are "
    "from or at an which but not have has were can will their more all one when there been what about into than "
    "them its only other new some could these two may first then do any like my now over such our man me even "
    "most made after also did many before must through back years where much your way well down should because"
).split()


def build_pool(path: Path, records: int, seed: int = 0) -> None:
    """JSON lines of about 1 KB: id, text (~150 words), label, domain, a nested meta field."""
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as out:
        for i in range(records):
            text = " ".join(rng.choices(WORDS, k=rng.randint(130, 260)))
            record = {"id": i, "text": text, "label": f"c{rng.randrange(20)}", "domain": rng.choice(["web", "code", "books"]),
                      "meta": {"source": "bench", "n": i % 97}}
            out.write(json.dumps(record) + "\n")
    os.replace(tmp, path)


def median_of(runs: list[dict]) -> dict:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", default="bench-work")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None, help="Write the figures as JSON here.")
    args = parser.parse_args()

    work = Path(args.workdir)
    work.mkdir(exist_ok=True)
    pool = work / f"pool_{args.records}_v2.jsonl"
    if not pool.exists():
        print(f"building {pool} ...", file=sys.stderr)
        build_pool(pool, args.records)
    size_mb = pool.stat().st_size / 2**20
    python = sys.executable
    contenders = {
        "pyarrow.read_json (threads)": [python, "-c", f"import pyarrow.json as j; t=j.read_json({str(pool)!r}); print(t.num_rows)"],
        "pyarrow.read_json (1 thread)": [python, "-c",
                                         f"import pyarrow.json as j; t=j.read_json({str(pool)!r}, read_options=j.ReadOptions(use_threads=False)); print(t.num_rows)"],
    }
    for workers in args.workers:
        contenders[f"thresher info (read only, {workers} worker)"] = [
            python, "-m", "thresher.cli", "--no-progress", "info", str(pool), "--json", "--no-tokens",
            "--workers", str(workers)]
        contenders[f"thresher select random 10% ({workers} worker)"] = [
            python, "-m", "thresher.cli", "--no-progress", "select", str(pool), "--method", "random", "--budget", "10%",
            "--out", str(work / "picked.jsonl"), "--overwrite", "--workers", str(workers)]
    results = {}
    for name, command in contenders.items():
        runs = [measure(command) for _ in range(args.runs)]
        results[name] = median_of(runs)
        figures = results[name]
        print(f"{name:42s} wall {figures['wall_s']:7.2f} s  cpu {figures['cpu_s']:7.2f} s  "
              f"peak RSS {figures['peak_rss_mb']:7.0f} MB  {args.records / figures['wall_s']:>10,.0f} records/s", flush=True)
    reference = results["pyarrow.read_json (threads)"]
    print(f"\npool: {args.records:,} records, {size_mb:,.0f} MB; median of {args.runs} runs; "
          f"ratios are thresher / pyarrow.read_json (threads)")
    for name, figures in results.items():
        if name.startswith("thresher"):
            print(f"{name:42s} speed ratio {reference['wall_s'] / figures['wall_s']:.2f}x  "
                  f"cpu ratio {figures['cpu_s'] / reference['cpu_s']:.2f}  "
                  f"rss ratio {figures['peak_rss_mb'] / reference['peak_rss_mb']:.2f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"records": args.records, "size_mb": size_mb, "runs": args.runs,
                                              "machine": {"cpus": os.cpu_count()}, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
