"""k-means, old against new (issue 18 item 2): scikit-learn's exact k-means (greedy
k-means++ init, Lloyd to convergence on every row: thresher's path before this change)
against `thresher.features.vectors.kmeans` (greedy k-means++ seeds measured in one matrix
product per step, then faiss's spherical Lloyd), on MiniLM embeddings of the named
datasets' train pools, at the cluster count kmeans-quota uses (one per record of the budget).

For each dataset x budget and seed: the clustering's CPU-seconds (this process, one
thread) and its mean cosine to the centroid; then `kmeans-quota` through the bench
protocol with each clustering (5 seeds, the usual logistic-regression proxy on MiniLM
features, scored on the test split), with the paired difference new - old.

    python benchmarks/kmeans_speed.py --out benchmarks/results/kmeans_speed.json
    python benchmarks/kmeans_speed.py --cells banking77:10%,clinc150:1% --seeds 5

Goal: at most 10 CPU-s of clustering on banking77 at 10%, accuracy within the exact path's
95% interval.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench_common import results_document, write_json


def exact_sklearn(features: np.ndarray, k: int, seed: int, *args, **kwargs):
    """The old path: scikit-learn's KMeans (greedy k-means++, n_init=1) on every unit row."""
    from sklearn.cluster import KMeans

    from thresher.features.vectors import nearest_centroids, prepare

    data = prepare(np.asarray(features))
    model = KMeans(n_clusters=k, n_init=1, random_state=int(seed % 2**32)).fit(data)
    centroids = prepare(model.cluster_centers_)
    assign, cosine = nearest_centroids(data, centroids)
    return centroids, assign, cosine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="banking77:10%,clinc150:1%")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    from thresher.budget import Budget
    from thresher.evaluate.api import run_dataset
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import featurize
    from thresher.evaluate.metrics import mean_ci, paired_vs_random
    from thresher.features import vectors

    new_kmeans = vectors.kmeans
    contenders = {"old (scikit-learn exact)": exact_sklearn, "new (thresher)": new_kmeans}
    runs = []
    for cell in args.cells.split(","):
        name, budget = cell.split(":")
        dataset = load_dataset(name)
        features = np.asarray(featurize(dataset).train, dtype=np.float32)
        n = len(features)
        k = min(Budget.parse(budget).resolve(n).count, 1000)  # kmeans-quota's default
        row = {"dataset": name, "budget": budget, "records": n, "clusters": k, "contenders": {}}
        for label, function in contenders.items():
            timings, cosines = [], []
            for seed in range(args.seeds):
                clock = time.process_time()
                _, _, cosine = function(features, k, seed)
                timings.append(time.process_time() - clock)
                cosines.append(float(cosine.mean()))
            vectors.kmeans = function  # kmeans-quota looks it up when it clusters
            try:
                run = run_dataset(dataset, ["kmeans-quota"], [budget], args.seeds, workers=1)
            finally:
                vectors.kmeans = new_kmeans
            points = sorted((p for p in run["points"] if p["method"] == "kmeans-quota"), key=lambda p: p["seed"])
            accuracy = [p["accuracy"] for p in points]
            mean, low, high = mean_ci(accuracy)
            row["contenders"][label] = {"cluster_cpu_s": timings, "cluster_cpu_s_median": float(np.median(timings)),
                                        "mean_cosine": cosines, "accuracy": accuracy,
                                        "accuracy_mean": mean, "accuracy_ci": [low, high]}
            print(name, budget, label, f"clustering {np.median(timings):.1f} CPU-s, cosine {np.mean(cosines):.4f}, "
                  f"accuracy {100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]", flush=True)
        old, new = (row["contenders"][label] for label in contenders)
        row["paired_new_minus_old"] = paired_vs_random(new["accuracy"], old["accuracy"])
        row["cpu_old_over_new"] = old["cluster_cpu_s_median"] / new["cluster_cpu_s_median"]
        runs.append(row)
    write_json(args.out, results_document("kmeans_speed.py", args, runs))
    for row in runs:
        old, new = (row["contenders"][label] for label in contenders)
        print(f"{row['dataset']} {row['budget']} ({row['records']:,} rows, {row['clusters']:,} clusters): clustering "
              f"{old['cluster_cpu_s_median']:.1f} -> {new['cluster_cpu_s_median']:.1f} CPU-s "
              f"({row['cpu_old_over_new']:.1f}x); accuracy {100 * old['accuracy_mean']:.1f} -> "
              f"{100 * new['accuracy_mean']:.1f}; paired new - old {row['paired_new_minus_old']}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
