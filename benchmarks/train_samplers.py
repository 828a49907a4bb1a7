"""Training-time samplers, side by side, one run: RS2, DynamicPruner, MixtureSampler, HardNegativeMiner.

An MLP (one hidden layer of 256 units) over frozen TF-IDF+SVD features (256 dims), Adam, per-epoch cosine learning rate,
`torch.set_num_threads(1)`; every figure is a mean (± std) over seeds.

- rs2: CLINC150 intents (15,000 train / 4,500 test, 150 classes). RS2 at 10% and 20% per
  epoch vs a static random subset of the same size vs full data, all at the same number
  of steps (`--budget`, default 30% of a 20-epoch full run); test accuracy and the
  examples / CPU seconds to reach the 20-epoch full run's accuracy minus 1 point.
- prune: same data, 20 epochs: full vs DynamicPruner (InfoBatch, SeTa); accuracy difference
  and the share of forward/backward passes saved.
- mixture: banking77, SST-2 and TREC subsampled to 5,000 : 500 : 50 (100:10:1), one MLP
  with each domain's own labels; average and worst-domain test accuracy for natural,
  temperature, upweight, cooldown and online mixing.
- negatives: see train_retrieval.py (GSM8K and P3 question -> answer retrieval).

    python benchmarks/train_samplers.py                     # all sections, 5 seeds (minutes)
    python benchmarks/train_samplers.py --seeds 2 --only rs2,prune
Writes benchmarks/results/train_samplers.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # 2 shared cores: one BLAS thread, as torch
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_common import (Shuffled, accuracy, data_root, encode_labels, labelled, mean_std,  # noqa: E402
                          tfidf_svd, time_to_reach, train)
from train_retrieval import run_retrieval, retrieval_table  # noqa: E402

from thresher.train import DynamicPruner, MixtureSampler, RS2Sampler  # noqa: E402

FULL_EPOCHS = 20


def clinc(root: Path):
    texts, labels = labelled(root, "clinc150", "train")
    test_texts, test_labels = labelled(root, "clinc150", "test")
    (y, y_test), names = encode_labels(labels, test_labels)
    x, x_test = tfidf_svd(texts, test_texts)
    return torch.tensor(x), torch.tensor(y), torch.tensor(x_test), torch.tensor(y_test), len(names)


def run_rs2_and_prune(root: Path, seeds: list[int], sections: set[str], budget: float = 0.3) -> dict:
    x, y, x_test, y_test, classes = clinc(root)
    n = len(y)

    def evaluate(model):
        return accuracy(model, x_test, y_test)

    out: dict = {"data": f"clinc150 train {n} / test {len(y_test)}, {classes} classes", "seeds": seeds}
    full = {s: train(x, y, classes, sampler=Shuffled(np.arange(n), s), epochs=FULL_EPOCHS, seed=s, evaluate=evaluate)
            for s in seeds}
    full_acc = float(np.mean([r["curve"][-1][2] for r in full.values()]))
    target = full_acc - 0.01
    out["full_accuracy"], out["target_accuracy"] = full_acc, target
    runs: dict[str, list] = {}
    if "rs2" in sections:
        budget_epochs = round(budget * FULL_EPOCHS)
        out["budget"] = budget
        for s in seeds:
            subset_rng = np.random.default_rng([s, 99])
            contenders = {f"full data, {FULL_EPOCHS} epochs (reference)": (None, FULL_EPOCHS)}
            for fraction in (0.1, 0.2):
                epochs = round(budget_epochs / fraction)
                contenders[f"RS2 {fraction:.0%}/epoch"] = (RS2Sampler(n, fraction=fraction, seed=s), epochs)
                static = subset_rng.choice(n, size=int(np.ceil(fraction * n)), replace=False)
                contenders[f"static random {fraction:.0%}"] = (Shuffled(static, s), epochs)
            contenders[f"full data, {budget_epochs} epochs (same steps)"] = (Shuffled(np.arange(n), s), budget_epochs)
            for name, (sampler, epochs) in contenders.items():
                result = full[s] if sampler is None else train(x, y, classes, sampler=sampler, epochs=epochs, seed=s,
                                                               evaluate=evaluate)
                reach_examples, reach_cpu = time_to_reach(result["curve"], target)
                runs.setdefault(name, []).append({"seed": s, "accuracy": result["curve"][-1][2],
                                                  "examples": result["examples"], "train_cpu_s": result["train_cpu_s"],
                                                  "examples_to_target": reach_examples, "cpu_s_to_target": reach_cpu})
        out["rs2"] = summarize(runs)
    if "prune" in sections:
        prune_runs: dict[str, list] = {}
        for s in seeds:
            prune_runs.setdefault("full data", []).append(
                {"seed": s, "accuracy": full[s]["curve"][-1][2], "saved_fraction": 0.0,
                 "train_cpu_s": full[s]["train_cpu_s"]})
            for name, kwargs in (("InfoBatch (prune 0.5, anneal 2)", {"prune_ratio": 0.5, "mode": "infobatch"}),
                                 ("SeTa (prune 0.3, 10 groups, window 6, anneal 2)",
                                  {"prune_ratio": 0.3, "mode": "seta", "clusters": 10, "window": 6})):
                pruner = DynamicPruner(n, epochs=FULL_EPOCHS, anneal_epochs=2, seed=s, **kwargs)
                result = train(x, y, classes, sampler=pruner, epochs=FULL_EPOCHS, seed=s, feedback=True,
                               evaluate=evaluate)
                prune_runs.setdefault(name, []).append(
                    {"seed": s, "accuracy": result["curve"][-1][2], "saved_fraction": pruner.saved_fraction,
                     "train_cpu_s": result["train_cpu_s"],
                     "accuracy_diff_vs_full": result["curve"][-1][2] - full[s]["curve"][-1][2]})
        out["prune"] = summarize(prune_runs)
    return out


def summarize(runs: dict[str, list]) -> dict:
    table = {}
    for name, rows in runs.items():
        keys = [k for k in rows[0] if k != "seed"]
        table[name] = {"per_seed": rows, **{k: mean_std([r[k] for r in rows]) for k in keys}}
        table[name]["reached"] = sum(r.get("examples_to_target") is not None for r in rows) if "examples_to_target" in rows[0] else None
    return table


def run_mixture(root: Path, seeds: list[int]) -> dict:
    sources = {"banking77": 5000, "sst2": 500, "trec": 50}
    texts, labels, domains, tests = [], [], [], {}
    pick = np.random.default_rng(0)
    for name, count in sources.items():
        t, lab = labelled(root, name, "train")
        chosen = pick.choice(len(t), size=count, replace=False)
        texts += [t[i] for i in chosen]
        labels += [f"{name}:{lab[i]}" for i in chosen]
        domains += [name] * count
        tt, tl = labelled(root, name, "test")
        tests[name] = (tt, [f"{name}:{v}" for v in tl])
    (y, *test_ys), names = encode_labels(labels, *[tests[d][1] for d in sources])
    x, *test_xs = tfidf_svd(texts, *[tests[d][0] for d in sources])
    x, y = torch.tensor(x), torch.tensor(y)
    slices = {}
    for d in sources:
        ids = [i for i, v in enumerate(names) if v.startswith(d + ":")]
        slices[d] = slice(ids[0], ids[-1] + 1)
    test_sets = {d: (torch.tensor(tx), torch.tensor(ty)) for d, tx, ty in zip(sources, test_xs, test_ys)}
    modes = {"natural": {}, "temperature (T=3)": {"temperature": 3.0}, "upweight (T=3)": {"temperature": 3.0},
             "cooldown (T=3 -> 1 over 10 epochs)": {"temperature": 3.0, "cooldown_epochs": 10},
             "online (EG, lr 0.02)": {"learning_rate": 0.02, "smoothing": 0.1, "block_size": 512}}
    runs: dict[str, list] = {}
    for s in seeds:
        for label, kwargs in modes.items():
            sampler = MixtureSampler(np.array(domains), label.split()[0], seed=s, **kwargs)
            result = train(x, y, len(names), sampler=sampler, epochs=15, seed=s, batch_size=64, feedback=True)
            per_domain = {d: accuracy(result["model"], tx, ty, slices[d]) for d, (tx, ty) in test_sets.items()}
            runs.setdefault(label, []).append({"seed": s, "average": float(np.mean(list(per_domain.values()))),
                                               "worst_domain": min(per_domain.values()), **per_domain,
                                               "final_shares": dict(zip(map(str, sampler.domain_names),
                                                                        sampler.probabilities().round(3).tolist()))})
    table = {}
    for label, rows in runs.items():
        table[label] = {"per_seed": rows, **{k: mean_std([r[k] for r in rows])
                                             for k in ("average", "worst_domain", *sources)}}
    return {"data": "train " + ", ".join(f"{d} {c}" for d, c in sources.items()) + "; full test sets", "modes": table}


def fmt(stat, scale=100.0, digits=1) -> str:
    if stat is None or stat.get("mean") is None:
        return "not reached"
    return f"{stat['mean'] * scale:.{digits}f} ± {stat['std'] * scale:.{digits}f}"


def markdown(results: dict) -> str:
    lines = [f"# Training-time samplers ({results['seeds_count']} seeds; retrieval {results.get('retrieval_seeds', '-')} seeds; "
             f"{results['machine']})", "",
             f"Command: `{results['command']}` — wall {results['wall_s']:.0f} s, CPU {results['cpu_s']:.0f} s.", ""]
    if "rs2" in results.get("classification", {}):
        c = results["classification"]
        lines += [f"## RS2 vs static random vs full, equal steps: {c.get('budget', 0.3):.0%} of the 20-epoch full run "
                  f"({c['data']})", "",
                  f"Target = 20-epoch full-data accuracy {c['full_accuracy'] * 100:.1f} minus 1 point.", "",
                  "| contender | examples seen | test accuracy % | examples to target | CPU s to target | runs reaching target |",
                  "|---|---|---|---|---|---|"]
        for name, row in c["rs2"].items():
            lines.append(f"| {name} | {row['examples']['mean']:.0f} | {fmt(row['accuracy'])} | "
                         f"{fmt(row['examples_to_target'], 1, 0)} | {fmt(row['cpu_s_to_target'], 1, 1)} | "
                         f"{row['reached']}/{row['accuracy']['n']} |")
        lines.append("")
    if "prune" in results.get("classification", {}):
        lines += ["## DynamicPruner vs full data, 20 epochs", "",
                  "| contender | test accuracy % | diff vs full (pts) | passes saved % | train CPU s |", "|---|---|---|---|---|"]
        for name, row in results["classification"]["prune"].items():
            diff = row.get("accuracy_diff_vs_full")
            lines.append(f"| {name} | {fmt(row['accuracy'])} | {fmt(diff) if diff else '0'} | "
                         f"{fmt(row['saved_fraction'])} | {fmt(row['train_cpu_s'], 1, 1)} |")
        lines.append("")
    if "mixture" in results:
        m = results["mixture"]
        domains = [k for k in next(iter(m["modes"].values())) if k not in ("per_seed", "average", "worst_domain")]
        lines += [f"## MixtureSampler on imbalanced domains ({m['data']})", "",
                  "| mode | average % | worst domain % | " + " | ".join(f"{d} %" for d in domains) + " |",
                  "|---|---|---|" + "---|" * len(domains)]
        for name, row in m["modes"].items():
            lines.append(f"| {name} | {fmt(row['average'])} | {fmt(row['worst_domain'])} | "
                         + " | ".join(fmt(row[d]) for d in domains) + " |")
        lines.append("")
    if "negatives" in results:
        lines += retrieval_table(results["negatives"])
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="shared data folder (default $THRESHER_DATA or /work/shared/data)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.3, help="RS2 section: share of the full run's steps")
    parser.add_argument("--retrieval-seeds", type=int, default=3, help="seeds for the (costlier) retrieval section")
    parser.add_argument("--only", default="rs2,prune,mixture,negatives")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "train_samplers"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root, seeds, sections = data_root(args.data), list(range(args.seeds)), set(args.only.split(","))
    wall, cpu = time.perf_counter(), time.process_time()
    results: dict = {"command": "python benchmarks/train_samplers.py " + " ".join(argv or sys.argv[1:]),
                     "seeds_count": len(seeds), "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
                     "torch": torch.__version__}
    if sections & {"rs2", "prune"}:
        results["classification"] = run_rs2_and_prune(root, seeds, sections, args.budget)
        print("classification done", flush=True)
    if "mixture" in sections:
        results["mixture"] = run_mixture(root, seeds)
        print("mixture done", flush=True)
    if "negatives" in sections:
        results["negatives"] = run_retrieval(root, list(range(args.retrieval_seeds)))
        results["retrieval_seeds"] = args.retrieval_seeds
    results["wall_s"], results["cpu_s"] = time.perf_counter() - wall, time.process_time() - cpu
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float))
    os.replace(tmp, out.with_suffix(".json"))
    out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
