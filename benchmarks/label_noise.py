"""Label noise: flip a share of a dataset's training labels (seeded), let `label-issues` find
them, and train the bench's proxy on what it keeps against the whole noisy pool.

    python benchmarks/label_noise.py -d sst2,banking77 --flip 0.2 --out benchmarks/results/label_noise.json

Per dataset and rule (cleanlab's confident learning, AUM threshold samples): how many of
the flipped records were found (recall), how many of the dropped were flipped (precision),
and the test accuracy of logistic regression on MiniLM embeddings (C tuned on the clean
validation split, the bench's grid) trained on the noisy pool, on what label-issues keeps,
and on the clean pool; with the CPU-s of the signals and of one proxy fit. A flipped label
is drawn uniformly among the other classes. Nothing here reads the test split but the
final scoring.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def flip_labels(labels: np.ndarray, classes: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels, flipped mask): `share` of the records get another class, uniformly."""
    rng = np.random.default_rng(seed)
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[rng.permutation(len(labels))[: int(round(share * len(labels)))]] = True
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, classes, flipped.sum())) % classes
    return noisy, flipped


def proxy_accuracy(task, labels: np.ndarray, positions: np.ndarray) -> tuple[float, float]:
    """(test accuracy, C) of the proxy trained on `positions` with `labels`, C tuned on validation."""
    from thresher.evaluate.proxy import PROXIES, fit_and_score

    scores = {c: fit_and_score("logreg", c, task.train_x, labels, positions, None, task.val_x, task.val_y, 0)[0]
              for c in PROXIES["logreg"].grid}
    best = max(PROXIES["logreg"].grid, key=lambda c: (round(scores[c], 9), -PROXIES["logreg"].grid.index(c)))
    return fit_and_score("logreg", best, task.train_x, labels, positions, None, task.test_x, task.test_y, 0)[0], best


def run(name: str, share: float, seed: int, data_dir: str | None) -> dict:
    import thresher
    from thresher.data import Pool
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import featurize
    from thresher.evaluate.protocol import make_task

    dataset = load_dataset(name, data_dir)
    task = make_task(dataset, featurize(dataset))
    classes = len(task.classes)
    noisy, flipped = flip_labels(task.train_y, classes, share, seed)
    pool = Pool.from_numpy(np.asarray(task.train_x), labels=np.array([f"c{v}" for v in noisy]))
    everything = np.arange(len(noisy))
    clock = time.process_time()
    noisy_acc, noisy_c = proxy_accuracy(task, noisy, everything)
    fit_cpu = time.process_time() - clock
    clean_acc, _ = proxy_accuracy(task, task.train_y, everything)
    out = {"dataset": name, "pool": len(noisy), "classes": classes, "flip": share, "seed": seed,
           "flipped": int(flipped.sum()), "noisy_pool_accuracy": round(noisy_acc, 5), "noisy_pool_C": noisy_c,
           "clean_pool_accuracy": round(clean_acc, 5), "proxy_fits_cpu_s": round(fit_cpu, 2), "rules": {}}
    for rule in ("cleanlab", "aum"):
        clock = time.process_time()
        selection = thresher.select(pool, "label-issues", "100%", seed=seed, rule=rule)
        cpu = time.process_time() - clock
        kept = np.sort(np.asarray(selection))
        dropped = np.setdiff1d(everything, kept)
        accuracy, c = proxy_accuracy(task, noisy, kept)
        out["rules"][rule] = {
            "dropped": int(len(dropped)), "recall": round(float(flipped[dropped].sum() / max(flipped.sum(), 1)), 4),
            "precision": round(float(flipped[dropped].mean()) if len(dropped) else 0.0, 4),
            "kept_accuracy": round(accuracy, 5), "kept_C": c, "selection_cpu_s": round(cpu, 2)}
        print(f"{name} {rule}: dropped {len(dropped)}, recall {out['rules'][rule]['recall']:.3f}, precision "
              f"{out['rules'][rule]['precision']:.3f}; accuracy kept {100 * accuracy:.1f} vs noisy pool "
              f"{100 * noisy_acc:.1f} (clean pool {100 * clean_acc:.1f}); {cpu:.0f} CPU-s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--datasets", default="sst2,banking77")
    parser.add_argument("--flip", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from bench_common import results_document, write_json

    results = [run(name, args.flip, args.seed, args.data_dir) for name in args.datasets.split(",") if name]
    write_json(args.out, results_document("label_noise.py", args, results))


if __name__ == "__main__":
    main()
