"""Peak memory of thresher's commands on a big pool of short records (issue #13 D12).

Each command runs alone in a child process (`process_stats.measure`: peak RSS of the
process tree sampled every 50 ms, CPU seconds user + sys of the tree), on the pool and on
its first 1000 records; one line per command with its peak MB, the bytes per record
above the small run's peak, CPU s and wall s; the figures go to
benchmarks/results/memory_big_pool.{json,txt}. Run it on a quiet machine, one at a time:
other heavy processes change the CPU figures (not the memory ones).

    python benchmarks/make_big_pool.py /work/scratch/pool_7600000.jsonl --records 7600000
    python benchmarks/make_big_pool.py /work/scratch/long_line.jsonl --long-line-mb 50
    python benchmarks/memory_big_pool.py /work/scratch/pool_7600000.jsonl --long-line /work/scratch/long_line.jsonl

Goals (#13 D12), on the 1 GB pool of 7.6M records: random select < 400 MB; exact dedup
< 48 bytes per record plus a constant (the constant: `thresher info`'s peak on a tiny
pool, measured here as the same command's peak on the pool's first 1000 records);
exact + near dedup < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from process_stats import measure

RESULTS = Path(__file__).parent / "results"
SMALL = 1000


def thresher(*args: str) -> list[str]:
    # The installed entry point, next to this Python (the same for cli.py or a cli/ package).
    return [str(Path(sys.executable).parent / "thresher"), "--no-progress", *args]


def count_records(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(16 << 20), b""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pool", type=Path)
    parser.add_argument("--long-line", type=Path, default=None, help="a pool with one huge line (make_big_pool --long-line-mb)")
    parser.add_argument("--only", nargs="+", default=None, help="run only the commands whose names start so")
    parser.add_argument("--label", default="", help="a note kept with the figures (e.g. 'before', 'after')")
    parser.add_argument("--out", default=str(RESULTS / "memory_big_pool"), help="results path without suffix")
    args = parser.parse_args()

    records = count_records(args.pool)
    scratch = Path(tempfile.mkdtemp(prefix="thresher-memory-"))
    # The constant of "bytes per record plus a constant": each command's peak on the pool's
    # first SMALL records (the same imports, kernels and batch buffers, few records).
    small = scratch / "small.jsonl"
    with open(args.pool, "rb") as source, open(small, "wb") as head:
        head.writelines(line for _, line in zip(range(SMALL), source))
    out = str(scratch / "out.jsonl")

    def scaled(pool: str) -> dict[str, list[str]]:
        return {
            "info": thresher("info", pool, "--json", "--no-tokens"),
            "select random 10%": thresher("select", pool, "--method", "random", "--budget", "10%", "-o", out,
                                          "--overwrite"),
            "dedup --exact": thresher("dedup", pool, "--exact", "-o", out, "--overwrite"),
            "dedup --exact --near": thresher("dedup", pool, "--exact", "--near", "-o", out, "--overwrite",
                                             "--work-dir", str(scratch)),
        }

    commands = {name: (records, command) for name, command in scaled(str(args.pool)).items()}
    smalls = scaled(str(small))
    pool = str(args.pool)
    if args.long_line is not None:
        size = args.long_line.stat().st_size / 2**20
        commands[f"info, one {size:.0f} MB line"] = (3, thresher("info", str(args.long_line), "--json"))
        commands[f"filter, one {size:.0f} MB line"] = (3, thresher("filter", str(args.long_line), "-o", out,
                                                                   "--overwrite"))
    if args.only:
        commands = {name: c for name, c in commands.items() if any(name.startswith(p) for p in args.only)}

    rows, lines = [], [f"{pool}: {records} records, {args.pool.stat().st_size / 2**20:.0f} MB  {args.label}"]
    print(lines[0], flush=True)
    for name, (n, command) in commands.items():
        figures = measure(command)
        row = {"command": name, "records": n, "peak_rss_mb": round(figures["peak_rss_mb"], 1),
               "cpu_s": round(figures["cpu_s"], 2), "wall_s": round(figures["wall_s"], 2)}
        if name in smalls:
            # Bytes per record above the same command's peak on SMALL records: the slope the goals name.
            row["small_peak_rss_mb"] = round(measure(smalls[name])["peak_rss_mb"], 1)
            row["bytes_per_record"] = round((row["peak_rss_mb"] - row["small_peak_rss_mb"]) * 2**20 / (n - SMALL), 1)
        rows.append(row)
        per_record = (f"{row['bytes_per_record']:>6.1f} B/record over {row['small_peak_rss_mb']:.0f} MB"
                      if "bytes_per_record" in row else f"{'':>6} {n} records")
        lines.append(f"{name:<26} peak {row['peak_rss_mb']:>7.1f} MB  {per_record:<28} cpu {row['cpu_s']:>7.2f} s"
                     f"  wall {row['wall_s']:>7.2f} s")
        print(lines[-1], flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".txt").write_text("\n".join(lines) + "\n")
    Path(args.out + ".json").write_text(json.dumps({"pool": pool, "records": records, "label": args.label,
                                                    "command": " ".join(sys.argv), "results": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
