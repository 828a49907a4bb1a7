"""The neighbour graph above 10,000 rows, side by side: thresher's inverted-file self-join
(`thresher.features.vectors.knn`) against faiss's IndexIVFFlat searched with the same
lists (2 sqrt(n), trained the same way: 10 k-means rounds on 32 rows per list) and the
same probes (8), on the same vectors, k = 21 (facility location's default graph).

Reported: CPU-seconds (this process, one thread), peak RSS, recall@21 against the exact
neighbours of 500 sampled rows, and the mean similarity of the neighbours found.

    python benchmarks/knn_graph.py --out benchmarks/results/knn_graph.json
    python benchmarks/knn_graph.py --random 1000000

Inputs: MiniLM embeddings of banking77 + clinc150 training texts (24,003 rows, through
thresher's cache) and random unit vectors (structureless: recall is low for both, which
is the nature of such data, not of the index).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np

from bench_common import results_document, write_json
from facility_location_vs_apricot import points_file
from representation_common import DATA

K = 21


def faiss_ivf_flat(features: np.ndarray, k: int, seed: int = 0, probes: int = 8):
    import faiss

    from thresher.features.vectors import blocks, rows

    n, d = features.shape
    lists = int(2 * np.sqrt(n))
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=min(n, 32 * lists), replace=False))
    index.cp.seed, index.cp.niter, index.cp.min_points_per_centroid = seed, 10, 1
    index.train(rows(features, sample))
    for _, block in blocks(features):
        index.add(block)
    index.nprobe = probes
    neighbours = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    for start, block in blocks(features):
        sims[start : start + len(block)], neighbours[start : start + len(block)] = index.search(block, k)
    return neighbours, sims


def minilm_vectors() -> np.ndarray:
    import pyarrow as pa

    from thresher import Pool
    from thresher.features.embed import Embedder

    texts = []
    for name in ("banking77", "clinc150"):
        with open(DATA / name / "train.jsonl") as handle:
            texts.extend(json.loads(line)["text"] for line in handle)
    return np.asarray(Embedder().embed_pool(Pool.from_arrow(pa.table({"text": texts}))), dtype=np.float32)


def compare(name: str, features: np.ndarray) -> dict:
    from thresher.features.vectors import blocks, knn, rows

    row = {"input": name, "rows": len(features)}
    queries = np.sort(np.random.default_rng(5).choice(len(features), 500, replace=False))
    picked = rows(features, queries)
    scores = np.concatenate([picked @ block.T for _, block in blocks(features)], axis=1)
    exact = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    for label, function in (("thresher", knn), ("faiss IVFFlat", faiss_ivf_flat)):
        clock = time.process_time()
        neighbours, sims = function(features, K, 0)
        cpu = time.process_time() - clock
        recall = float(np.mean([len(set(neighbours[q]) & set(exact[i])) / K for i, q in enumerate(queries)]))
        row[label] = {"cpu_s": round(cpu, 2), "recall_at_21": round(recall, 4),
                      "mean_neighbour_sim": round(float(sims[:, 1:].mean()), 5),
                      "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
        print(name, label, row[label], flush=True)
    row["cpu_faiss_over_thresher"] = round(row["faiss IVFFlat"]["cpu_s"] / row["thresher"]["cpu_s"], 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random", type=int, default=100_000, help="random unit vectors (0: none)")
    parser.add_argument("--out")
    args = parser.parse_args()
    runs = [compare("MiniLM banking77 + clinc150", minilm_vectors())]
    if args.random:
        runs.append(compare(f"random unit vectors x {args.random:,}", np.load(points_file("random", args.random),
                                                                            mmap_mode="r")))
    write_json(args.out, results_document("knn_graph.py", args, runs))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
