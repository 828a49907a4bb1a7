"""Facility location, side by side: thresher's `facility-location` (lazy greedy over a
sparse k-nearest-neighbour graph) against apricot-select's FacilityLocationSelection
(lazy greedy over the dense n x n similarity matrix), same points, same budget, same
similarity (apricot's cosine metric: squared cosine). Then thresher alone at scale.

    python benchmarks/facility_location_vs_apricot.py                  # 20k points, 3 runs
    python benchmarks/facility_location_vs_apricot.py --points 5000 --runs 1
    python benchmarks/facility_location_vs_apricot.py --alone 1000000 --runs 0

Points: --data synthetic (default) draws 384-d unit vectors around 200 random centres
(a clustered cloud, like sentence embeddings, without the cost of embedding 20k texts);
--data real uses all-MiniLM-L6-v2 embeddings of banking77 + clinc150 training texts
(computed once through thresher's cache). Both selections are scored on the same dense
objective, sum_i max_{j in S} cos(i, j)^2, computed in blocks. apricot is warmed up on
a tiny input first so numba compilation is not counted. The scale run uses random unit
vectors in a memory-mapped .npy (bench-work/, ignored): structureless, so it measures
time and memory, not quality. Each step runs in its own child process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from representation_common import ROOT, cpu_now, median, run_child, save, run_script

WORK = ROOT / "bench-work" / "representation"


def synthetic(n: int, d: int = 384, centres: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    middle = rng.normal(size=(centres, d))
    middle /= np.linalg.norm(middle, axis=1, keepdims=True)
    points = middle[rng.integers(centres, size=n)] + rng.normal(scale=0.04, size=(n, d))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def points_file(kind: str, n: int) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{kind}_{n}.npy"
    if path.exists():
        return path
    if kind == "synthetic":
        np.save(path, synthetic(n))
    elif kind == "random":
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 384))
        rng = np.random.default_rng(1)
        for start in range(0, n, 65536):
            block = rng.normal(size=(min(65536, n - start), 384)).astype(np.float32)
            out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
        out.flush()
    else:
        import pyarrow as pa

        from embed_throughput import texts
        from thresher import Pool
        from thresher.features.embed import Embedder

        vectors = Embedder().embed_pool(Pool.from_arrow(pa.table({"text": texts(n)})))
        np.save(path, np.asarray(vectors))
    return path


def objective(points: np.ndarray, chosen: np.ndarray) -> float:
    centres = points[np.sort(chosen)].astype(np.float64)
    total = 0.0
    for start in range(0, len(points), 8192):
        total += ((points[start : start + 8192].astype(np.float64) @ centres.T) ** 2).max(axis=1).sum()
    return total


def child(config: dict) -> dict:
    points = np.load(config["path"], mmap_mode="r")
    budget = config["budget"]
    if config["tool"] == "apricot":
        from apricot import FacilityLocationSelection

        FacilityLocationSelection(5, metric="cosine", optimizer="lazy").fit(np.asarray(points[:200]))
        data = np.asarray(points)
        clock, cpu = time.perf_counter(), cpu_now()
        chosen = FacilityLocationSelection(budget, metric="cosine", optimizer="lazy").fit(data).ranking
    else:
        import thresher
        from thresher import Pool

        pool = Pool.from_numpy(points)
        len(pool)
        clock, cpu = time.perf_counter(), cpu_now()
        selection = thresher.select(pool, "facility-location", budget, similarity="squared",
                                    optimizer=config.get("optimizer", "lazy"))
        chosen = np.asarray(selection.ids.to_pylist())
    wall, used = time.perf_counter() - clock, cpu_now() - cpu
    figures = {"select_wall_s": round(wall, 3), "select_cpu_s": round(used, 3), "selected": int(len(chosen))}
    if config.get("score", True):
        figures["objective"] = objective(np.asarray(points), np.asarray(chosen))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--data", choices=["synthetic", "real"], default="synthetic")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--alone", type=int, default=0, help="also run thresher alone on this many random points")
    args = parser.parse_args()
    lines, document = [], {"points": args.points, "budget": args.budget, "data": args.data}
    if args.runs:
        path = str(points_file(args.data, args.points))
        runs = {tool: [run_child(__file__, {"tool": tool, "path": path, "budget": args.budget}) for _ in range(args.runs)]
                for tool in ("thresher", "apricot")}
        table = {tool: {k: median([r[k] for r in rs]) for k in rs[0]} for tool, rs in runs.items()}
        ours, theirs = table["thresher"], table["apricot"]
        ratios = {"objective_thresher_over_apricot": round(ours["objective"] / theirs["objective"], 5),
                  "wall_apricot_over_thresher": round(theirs["select_wall_s"] / ours["select_wall_s"], 2),
                  "cpu_apricot_over_thresher": round(theirs["process_cpu_s"] / ours["process_cpu_s"], 2),
                  "rss_apricot_over_thresher": round(theirs["peak_rss_mb"] / ours["peak_rss_mb"], 2)}
        document.update(runs=runs, median=table, ratios=ratios)
        lines += [f"# Facility location: {args.points:,} {args.data} points (384-d), budget {args.budget}, "
                  f"median of {args.runs} run(s)", "",
                  "| tool | objective | select wall s | select CPU s | process CPU s | peak RSS MB |", "|---|---|---|---|---|---|"]
        for tool, row in table.items():
            lines.append(f"| {tool} | {row['objective']:.1f} | {row['select_wall_s']:.2f} | {row['select_cpu_s']:.2f} | "
                         f"{row['process_cpu_s']:.1f} | {row['peak_rss_mb']:.0f} |")
        lines += ["", "ratios: " + ", ".join(f"{k}={v}" for k, v in ratios.items())]
    if args.alone:
        path = str(points_file("random", args.alone))
        alone = run_child(__file__, {"tool": "thresher", "path": path, "budget": args.budget, "score": False})
        document["alone"] = {"points": args.alone, **alone}
        lines += ["", f"thresher alone: {args.alone:,} random unit vectors (384-d float32, memory-mapped .npy of "
                      f"{args.alone * 384 * 4 / 2**30:.2f} GiB), budget {args.budget}: select wall {alone['select_wall_s']:.1f} s, "
                      f"process CPU {alone['process_cpu_s']:.1f} s, peak RSS {alone['peak_rss_mb']:.0f} MB"]
    save(f"facility_location_vs_apricot_{args.data}" if not args.alone or args.runs else "facility_location_alone",
         document, lines)


if __name__ == "__main__":
    run_script(child, main)
