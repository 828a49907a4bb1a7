"""Same seeds, same selections: a fingerprint of every (method, budget, seed) selection.

A structural change (a new selector contract, say) must not change what the methods pick.
This script runs every registered selection method on bench datasets, the way `thresher
bench` builds its pools, and writes for each point the chosen ids in choice order (as a
hash and a count) and the hash of the chosen set. Run it on two checkouts and compare:

    PYTHONPATH=/path/to/old/src python benchmarks/selection_identity.py --out old.json
    python benchmarks/selection_identity.py --out new.json --compare old.json

Target-aware methods (dsir, rds) get 50 validation texts of the same dataset as the
target (never the test split). Datasets come from --data-dir, $THRESHER_DATA or
../shared/data, as for `thresher bench`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np

METHODS = ["random", "stratified", "kmeans-quota", "facility-location", "kcenter", "semdedup", "density",
           "prototypicality", "rds", "dsir", "facility-location:optimizer=stochastic", "kmeans-quota:within=random",
           "semdedup:threshold=0.9", "density:within=hard", "rds:spread=3", "prototypicality:keep=hard"]
BUDGETS = ["1%", "5%", "20%"]
SEEDS = [0, 1]


def _digest(values) -> str:
    return hashlib.sha256(json.dumps([str(v) for v in values]).encode()).hexdigest()[:16]


def run(datasets: list[str], data_dir: str | None) -> dict:
    import pyarrow as pa

    from thresher.data import Pool
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import featurize
    from thresher.evaluate.protocol import make_task, resolve_methods

    points = {}
    for name in datasets:
        dataset = load_dataset(name, data_dir)
        task = make_task(dataset, featurize(dataset))
        target = None
        if dataset.train.texts is not None:
            texts = list(dataset.validation.texts[:50])
            target = Pool.from_arrow(pa.table({"text": texts}), name=f"<{name} target>")
            vectors = np.asarray(featurize_texts(texts))
            target = _with_features(target, vectors)
        for method, selector in resolve_methods(METHODS):
            needs_target = method.split(":")[0] in ("rds", "dsir")
            if needs_target and target is None:
                continue
            if method.startswith("dsir") and dataset.train.texts is None:
                continue
            for budget in BUDGETS:
                count = max(1, int(float(budget.rstrip("%")) / 100 * len(task.train_y) + 1e-9))
                for seed in SEEDS:
                    clock = time.perf_counter()
                    selection = selector.select(task.pool, count, target=target if needs_target else None, seed=seed)
                    ids = selection.ids.to_pylist()
                    points[f"{name}|{method}|{budget}|{seed}"] = {
                        "n": len(ids), "order": _digest(ids), "set": _digest(sorted(ids)),
                        "seconds": round(time.perf_counter() - clock, 3)}
            print(f"{name} {method}: done", file=sys.stderr)
    return points


def featurize_texts(texts: list[str]):
    from thresher.evaluate.features import embed_texts

    return embed_texts(texts)


def _with_features(pool, vectors):
    """Attach target vectors whichever API this checkout has."""
    attach = getattr(pool, "with_features")
    return attach(vectors)


def compare(new: dict, old: dict) -> int:
    same_order = same_set = 0
    differ = []
    for key, point in old.items():
        mine = new.get(key)
        if mine is None:
            differ.append(f"{key}: missing")
            continue
        if mine["order"] == point["order"]:
            same_order += 1
        elif mine["set"] == point["set"]:
            same_set += 1
            differ.append(f"{key}: same records, other order")
        else:
            differ.append(f"{key}: different records ({point['n']} -> {mine['n']})")
    print(f"{len(old)} points: {same_order} identical (ids in the same order), {same_set} same set in another order, "
          f"{len(old) - same_order - same_set} different")
    for line in differ:
        print("  " + line)
    return 0 if same_order == len(old) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,trec")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--compare", default=None, help="an earlier --out to compare with")
    args = parser.parse_args()
    from thresher.progress import set_progress

    set_progress(False)
    points = run(args.datasets.split(","), args.data_dir)
    with open(args.out, "w") as handle:
        json.dump(points, handle, indent=1, sort_keys=True)
    if args.compare:
        with open(args.compare) as handle:
            sys.exit(compare(points, json.load(handle)))


if __name__ == "__main__":
    main()
