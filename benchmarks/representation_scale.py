"""The embedding methods at scale: time and peak memory of each on n x 384 float32
embeddings in a memory-mapped .npy (default 1,000,000 rows, 1.43 GiB).

    python benchmarks/representation_scale.py --methods kcenter --budget 1000
    python benchmarks/representation_scale.py --points 200000 --methods kcenter,kmeans-quota,semdedup

The embeddings are random unit vectors (bench-work/, ignored): structureless, so this
measures time and memory, not the quality of the choice; on them k-center's triangle-
inequality pruning cannot skip anything (every point is about equally far from every
other), so each pick is a full pass, the worst case. Each method runs in its own child
process; "beyond the map" is peak RSS minus the size of the memory-mapped file, an upper
bound on what the method itself holds, since pages of the map count in RSS once read.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from facility_location_vs_apricot import points_file
from representation_common import RESULTS, cpu_now, run_child, save, run_script


def child(config: dict) -> dict:
    import thresher
    from thresher import Pool

    points = np.load(config["path"], mmap_mode="r")
    pool = Pool.from_numpy(points)
    len(pool)
    target = None
    if config["method"] == "rds":
        target = Pool.from_numpy(np.asarray(points[:50]))
    clock, cpu = time.perf_counter(), cpu_now()
    selection = thresher.select(pool, config["method"], config["budget"], target=target, **config.get("params", {}))
    return {"select_wall_s": round(time.perf_counter() - clock, 2), "select_cpu_s": round(cpu_now() - cpu, 2),
            "selected": len(selection)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--methods", default="kcenter")
    args = parser.parse_args()
    path = str(points_file("random", args.points))
    size_mb = args.points * 384 * 4 / 2**20
    name = f"representation_scale_{args.points}"
    # Rows of methods not run this time are kept from the last run (each row says its budget).
    saved = RESULTS / f"{name}.json"
    rows = json.loads(saved.read_text()).get("rows", {}) if saved.exists() else {}
    for method in args.methods.split(","):
        row = run_child(__file__, {"method": method, "path": path, "budget": args.budget})
        row["beyond_map_mb"] = round(max(row["peak_rss_mb"] - size_mb, 0.0), 1)
        row["budget"] = args.budget
        row["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        rows[method] = row
    lines = [f"# Embedding methods at scale: {args.points:,} x 384 random unit vectors (float32 .npy, "
             f"memory-mapped, {size_mb:,.0f} MB)", "",
             "| method | budget | select wall s | select CPU s | process CPU s | peak RSS MB | beyond the map MB |",
             "|---|---|---|---|---|---|---|"]
    for method, row in rows.items():
        lines.append(f"| {method} | {row.get('budget', '?')} | {row['select_wall_s']:.1f} | {row['select_cpu_s']:.1f} | "
                     f"{row['process_cpu_s']:.1f} | {row['peak_rss_mb']:.0f} | {row['beyond_map_mb']:.0f} |")
    save(name, {"points": args.points, "rows": rows}, lines)


if __name__ == "__main__":
    run_script(child, main)
