"""llkd against random and random + KD when most of the pool has no labels.

    python benchmarks/llkd.py -d banking77 --labelled 0.05 --budgets 0.05,0.1,0.2 --seeds 5 \
        --out benchmarks/results/llkd.json

Per seed: a stratified `--labelled` share of the bench's train pool keeps its labels (the
teacher's training set); the rest is the unlabelled pool, whose labels are read only to
score pseudo-labels after the fact. The teacher is logistic regression on MiniLM embeddings
of the labelled records (C tuned on the dataset's validation split, the bench's grid). At
each budget (a share of the whole train pool) a student, the bench's proxy (logistic
regression, C tuned per budget on the validation split with random + teacher labels and
then the same for every method), is trained on:

- random: random unlabelled records with the teacher's labels;
- random+kd: the same records against the teacher's probabilities (soft targets);
- llkd: `thresher.select(unlabelled, "llkd", budget, target=labelled)`, its records with
  the teacher's labels and llkd's weights;
- (reference) random with the true labels, which this setting does not have.

It prints and writes test accuracy (mean over seeds, paired difference against random with
its 95% interval), the teacher's own test accuracy, the accuracy of each method's
pseudo-labels, and the CPU-s of llkd's selection. Nothing reads the test split but the
final scoring.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def tuned_c(task, x, y, positions, weights=None, soft=None) -> float:
    """The bench grid's C with the best validation accuracy (ties: the first)."""
    from thresher.evaluate.proxy import PROXIES, fit_and_score

    grid = PROXIES["logreg"].grid
    scores = [fit_and_score("logreg", c, x, y, positions, weights, task.val_x, task.val_y, 0, soft=soft)[0]
              for c in grid]
    return grid[int(np.argmax(np.round(scores, 9)))]


def run(name: str, labelled_share: float, budgets: list[float], seeds: int, data_dir: str | None) -> dict:
    import thresher
    from thresher.data import Pool
    from thresher.evaluate.auto import _carve
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import featurize
    from thresher.evaluate.metrics import mean_ci, paired_vs_random
    from thresher.evaluate.proxy import fit_and_score, fit_proxy
    from thresher.evaluate.protocol import make_task

    dataset = load_dataset(name, data_dir)
    task = make_task(dataset, featurize(dataset))
    x, y, classes = np.asarray(task.train_x, dtype=np.float32), task.train_y, len(task.classes)
    n = len(y)
    everyone = np.arange(n)
    rows: dict = {}
    teachers = []
    for seed in range(seeds):
        known = _carve(y, int(round(labelled_share * n)), seed)
        unknown = np.setdiff1d(everyone, known)
        c_teacher = tuned_c(task, x, y, known)
        teacher = fit_proxy("logreg", c_teacher, x[known], y[known])
        probabilities = np.zeros((n, classes))
        probabilities[:, teacher.classes_] = teacher.predict_proba(x)
        said = probabilities.argmax(axis=1)
        teacher_acc = fit_and_score("logreg", c_teacher, x, y, known, None, task.test_x, task.test_y, seed)[0]
        teachers.append({"seed": seed, "labelled": int(len(known)), "C": c_teacher, "test_accuracy": teacher_acc,
                         "pseudo_label_accuracy": float((said[unknown] == y[unknown]).mean())})
        unlabelled = Pool.from_numpy(x[unknown])
        target = Pool.from_numpy(x[known], labels=np.array([f"c{v:03d}" for v in y[known]]))
        rng = np.random.default_rng(seed)
        for share in budgets:
            count = int(round(share * n))
            picks = unknown[np.sort(rng.permutation(len(unknown))[:count])]
            c_student = tuned_c(task, x, said, picks)
            clock = time.process_time()
            selection = thresher.select(unlabelled, "llkd", count, seed=seed, target=target,
                                        teacher_c=c_teacher, student_c=c_teacher)
            cpu = time.process_time() - clock
            chosen = unknown[selection.positions]
            names = selection.meta["llkd"]["classes"]
            llkd_said = np.array([int(names[g][1:]) for g in selection.kept["group"].to_numpy()])
            llkd_labels = said.copy()
            llkd_labels[chosen] = llkd_said
            soft = probabilities.astype(np.float32)
            order = np.argsort(chosen)
            results = {
                "random": fit_and_score("logreg", c_student, x, said, picks, None, task.test_x, task.test_y, seed),
                "random+kd": fit_and_score("logreg", c_student, x, said, picks, None, task.test_x, task.test_y,
                                           seed, soft=soft),
                "llkd": fit_and_score("logreg", c_student, x, llkd_labels, chosen[order], selection.weights[order],
                                      task.test_x, task.test_y, seed),
                "random (true labels)": fit_and_score("logreg", tuned_c(task, x, y, picks), x, y, picks, None,
                                                      task.test_x, task.test_y, seed),
            }
            pseudo = {"random": float((said[picks] == y[picks]).mean()), "random+kd": None,
                      "llkd": float((llkd_said == y[chosen]).mean()), "random (true labels)": 1.0}
            for method, (accuracy, _) in results.items():
                rows.setdefault((share, method), []).append(
                    {"seed": seed, "accuracy": accuracy, "pseudo_label_accuracy": pseudo[method],
                     "selection_cpu_s": cpu if method == "llkd" else None, "C": c_student})
            print(f"{name} seed {seed} budget {share:.0%}: " + ", ".join(
                f"{m} {100 * a:.1f}" for m, (a, _) in results.items()) + f" (llkd {cpu:.1f} CPU-s)", flush=True)
    table = []
    for share in budgets:
        base = [r["accuracy"] for r in rows[(share, "random")]]
        for method in ("random", "random+kd", "llkd", "random (true labels)"):
            values = [r["accuracy"] for r in rows[(share, method)]]
            mean, low, high = mean_ci(values)
            entry = {"budget": share, "method": method, "accuracy": round(mean, 5),
                     "accuracy_ci": [round(low, 5), round(high, 5)], "seeds": rows[(share, method)]}
            if method != "random":
                paired = paired_vs_random(values, base)
                entry["vs_random"] = {k: round(paired[k], 5) for k in ("mean_diff", "low", "high")}
            pseudo = [r["pseudo_label_accuracy"] for r in rows[(share, method)] if r["pseudo_label_accuracy"] is not None]
            entry["pseudo_label_accuracy"] = round(float(np.mean(pseudo)), 5) if pseudo else None
            cpu = [r["selection_cpu_s"] for r in rows[(share, method)] if r["selection_cpu_s"] is not None]
            entry["selection_cpu_s"] = round(float(np.mean(cpu)), 3) if cpu else None
            table.append(entry)
    return {"dataset": name, "pool": n, "classes": classes, "labelled_share": labelled_share,
            "teacher": {"test_accuracy": round(float(np.mean([t["test_accuracy"] for t in teachers])), 5),
                        "pseudo_label_accuracy": round(float(np.mean([t["pseudo_label_accuracy"] for t in teachers])), 5),
                        "seeds": teachers},
            "table": table}


def markdown(result: dict) -> str:
    lines = [f"{result['dataset']} ({result['pool']:,} records, {result['labelled_share']:.0%} labelled): teacher "
             f"{100 * result['teacher']['test_accuracy']:.1f} test accuracy, its labels "
             f"{100 * result['teacher']['pseudo_label_accuracy']:.1f}% right on the unlabelled pool", "",
             "| budget | method | test accuracy | vs random [95%] | labels right | selection CPU-s |",
             "|---|---|---:|---|---:|---:|"]
    for row in result["table"]:
        diff = row.get("vs_random")
        lines.append(f"| {row['budget']:.0%} | {row['method']} | {100 * row['accuracy']:.1f} | "
                     + (f"{100 * diff['mean_diff']:+.1f} [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]"
                        if diff else "") + " | "
                     + (f"{100 * row['pseudo_label_accuracy']:.1f}%" if row["pseudo_label_accuracy"] is not None else "")
                     + f" | {row['selection_cpu_s'] if row['selection_cpu_s'] is not None else ''} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--datasets", default="banking77")
    parser.add_argument("--labelled", type=float, default=0.05)
    parser.add_argument("--budgets", default="0.05,0.1,0.2")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from bench_common import results_document, write_json

    budgets = [float(b) for b in args.budgets.split(",") if b]
    results = [run(name, args.labelled, budgets, args.seeds, args.data_dir) for name in args.datasets.split(",") if name]
    for result in results:
        print(markdown(result))
    write_json(args.out, results_document("llkd.py", args, results))
    if args.out:
        with open(args.out.rsplit(".", 1)[0] + ".md", "w") as handle:
            handle.write("\n\n".join(markdown(r) for r in results) + "\n")


if __name__ == "__main__":
    main()
