"""The JSON-lines scanner decision (issue 18 item 4): was the compiled scanner of
`thresher/data/_json_kernels.py` (276 lines of numba, deleted after this benchmark) worth
its code?

Three contenders read the same file, each in its own process, alternating, `--repeats` times:

- `scanner`: `dsir` at 10% with the reader of a checkout that still has the scanner
  (`--scanner-tree`, e.g. `git worktree add /tmp/with-scanner 16e82a4`), where a block read
  for its text alone was not parsed: the scanner found each line's text and the n-gram
  featurizer decoded the escapes itself;
- `arrow`: the same `dsir` run with this checkout, where every block is parsed by
  `pyarrow.json.read_json` (thresher's checked Arrow path, per-line errors kept);
- `open_json`: `pyarrow.json.open_json` streaming the file and touching the text column,
  the floor for reading with pyarrow (no featurizing, no selection; for scale only).

on two inputs: the 1M-record pool of `make_big_pool.py` (short lines) and long documents
(`--long-docs` records of about `--long-words` words). The scanner stays only if it wins by
at least 1.5x in process CPU over `arrow` on one of them.

    python benchmarks/json_reader.py --scanner-tree /tmp/with-scanner --work /work/scratch/json \
        --out benchmarks/results/json_reader.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np

from bench_common import results_document, write_json
from make_big_pool import WORDS, build
from process_stats import measure

DSIR = """
import sys, thresher
pool = thresher.Pool.from_jsonl(sys.argv[1])
target = thresher.Pool.from_jsonl(sys.argv[2])
thresher.select(pool, "dsir", "10%", target=target, seed=0, workers=1)
"""
OPEN_JSON = """
import sys
import pyarrow as pa, pyarrow.json as pj
schema = pa.schema([pa.field("text", pa.string())])
options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
total = 0
with pj.open_json(sys.argv[1], read_options=pj.ReadOptions(use_threads=False, block_size=1 << 20),
                  parse_options=options) as reader:
    for batch in reader:
        total += batch.column(0).nbytes
print(total)
"""


def long_documents(path: Path, records: int, words: int, seed: int = 0) -> None:
    if path.exists():
        return
    rng = np.random.default_rng(seed)
    vocabulary = np.array(WORDS, dtype=object)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as handle:
        for i in range(records):
            text = " ".join(vocabulary[rng.integers(len(vocabulary), size=int(words * rng.uniform(0.5, 1.5)))])
            handle.write(json.dumps({"id": f"d{i:07d}", "text": text.replace(" data ", ' "data"\n ')}) + "\n")
    tmp.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scanner-tree", required=True, help="a checkout of a commit with the scanner (16e82a4)")
    parser.add_argument("--work", default="/work/scratch/json")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--long-docs", type=int, default=20_000)
    parser.add_argument("--long-words", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    inputs = {"short (1M pool)": work / f"pool_{args.records}.jsonl", "long documents": work / "long_docs.jsonl"}
    if not inputs["short (1M pool)"].exists():
        build(inputs["short (1M pool)"], args.records)
    long_documents(inputs["long documents"], args.long_docs, args.long_words)
    target = work / "target.jsonl"
    if not target.exists():
        rng = np.random.default_rng(1)
        vocabulary = np.array(WORDS[-40:], dtype=object)  # the target leans to the last words of the list
        target.write_text("".join(json.dumps({"text": " ".join(vocabulary[rng.integers(40, size=20)])}) + "\n"
                                  for _ in range(500)))
    scanner_src = Path(args.scanner_tree) / "src"
    if not (scanner_src / "thresher" / "data" / "_json_kernels.py").exists():
        raise SystemExit(f"{args.scanner_tree} is not a checkout with the scanner; make one with "
                         "`git worktree add /tmp/with-scanner 16e82a4`.")
    scanner_env = {**os.environ, "PYTHONPATH": str(scanner_src)}
    runs = []
    for name, path in inputs.items():
        contenders = {
            "scanner": ([sys.executable, "-c", DSIR, str(path), str(target)], scanner_env),
            "arrow": ([sys.executable, "-c", DSIR, str(path), str(target)], None),
            "open_json": ([sys.executable, "-c", OPEN_JSON, str(path)], None),
        }
        figures: dict[str, list] = {key: [] for key in contenders}
        for _ in range(args.repeats):
            for key, (command, env) in contenders.items():
                figures[key].append(measure(command, env))
                print(name, key, figures[key][-1], flush=True)
        row = {"input": name, "bytes": path.stat().st_size, "lines": sum(1 for _ in open(path, "rb"))}
        for key, values in figures.items():
            row[key] = {field: statistics.median(v[field] for v in values) for field in values[0]}
        row["cpu_arrow_over_scanner"] = row["arrow"]["cpu_s"] / row["scanner"]["cpu_s"]
        runs.append(row)
    keep = any(row["cpu_arrow_over_scanner"] >= 1.5 for row in runs)
    write_json(args.out, {**results_document("json_reader.py", args, runs), "keep_scanner": keep})
    for row in runs:
        print(f"{row['input']}: {row['bytes'] / 2**20:.0f} MB, {row['lines']:,} lines; process CPU s "
              f"scanner {row['scanner']['cpu_s']:.1f}, arrow {row['arrow']['cpu_s']:.1f}, "
              f"open_json read alone {row['open_json']['cpu_s']:.1f}; arrow/scanner {row['cpu_arrow_over_scanner']:.2f}x")
    print("keep the scanner" if keep else "delete the scanner: it wins by less than 1.5x on both inputs")


if __name__ == "__main__":
    main()
