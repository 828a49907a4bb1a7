"""The protocol: for each method x budget x seed, select from the train pool, fit the proxy
on the selection (with its weights), and score it on the test split; next to the proxy
fitted on the full pool.

    task = make_task(load_dataset("digits"), featurize(...))
    run = run_bench(task, methods=["random", "stratified"], budgets=["5%", "20%"], seeds=3)

Every method at a budget gets exactly the same number of records, and the same tuned
regularisation (see `proxy.tune`). Seeds vary the selection and the classifier. Methods
are names from the registry or Selector objects (a test can pass an oracle without
registering it). A method that cannot run on the task (it needs a target or text the task
lacks) is skipped with its reason; one that fails is reported with its error.
"""

from __future__ import annotations

import functools
import os
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from thresher.budget import Budget
from thresher.errors import ThresherError, UsageError
from thresher.evaluate.proxy import choose_value, fit_and_score, proxy_spec, tuning_jobs
from thresher.progress import progress


@dataclass
class Task:
    """One benchmark problem, featurized: a pool with features, validation and test splits.

    `*_x: (n, d) float32`, `*_y: (n,) int` codes into `classes`. `pool` is a thresher Pool
    over the train records (text when the data has text, labels, domains) with
    `pool.features["embeddings"]` = train_x. For target-aware scenarios, `target` is handed to each
    selector and `domains`/`target_domain` give the domain precision of a selection.
    """

    name: str
    pool: Any
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    features: dict
    info: dict = field(default_factory=dict)
    scenario: str = "standard"
    target: Any = None
    domains: np.ndarray | None = None
    target_domain: str | None = None
    texts: dict | None = None  # split -> list[str] ("train", "validation", "test"), for text-reading eval models


def encode_labels(*splits: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    classes = sorted(set().union(*(set(s.tolist()) for s in splits)))
    code = {c: i for i, c in enumerate(classes)}
    return classes, [np.array([code[v] for v in s], dtype=np.int64) for s in splits]


def make_task(dataset, features) -> Task:
    """A Task from a loaded `Dataset` and its `Features`."""
    import pyarrow as pa

    from thresher.data import Pool

    classes, (train_y, val_y, test_y) = encode_labels(dataset.train.labels, dataset.validation.labels,
                                                      dataset.test.labels)
    if dataset.train.texts is not None:
        table = pa.table({"text": dataset.train.texts, "label": [str(v) for v in dataset.train.labels]})
        pool = Pool.from_arrow(table, name=f"<{dataset.name} train>", label_field="label")
        pool = pool.with_features(features.train)
    else:
        pool = Pool.from_numpy(np.asarray(features.train), labels=np.array([str(v) for v in dataset.train.labels]))
    texts = None if dataset.train.texts is None else {
        "train": dataset.train.texts, "validation": dataset.validation.texts, "test": dataset.test.texts}
    return Task(dataset.name, pool, features.train, train_y, features.validation, val_y, features.test, test_y,
                classes, {"name": features.name, **features.detail}, dataset.describe(), texts=texts)


KD_SUFFIX = "+kd"


def resolve_methods(methods: Sequence[Any] | str) -> list[tuple[str, Any]]:
    """(name, selector) pairs from names ("all" = every registered method) or Selector objects.

    A name may carry parameters, "method:key=value[:key=value]" (e.g. "rds:spread=3"); the
    whole string names that variant in the results. A name ending in "+kd" ("random+kd") is
    the same selection, the proxy trained on it with a teacher's soft labels (`run_bench`).
    """
    from thresher.select import get_method, methods as registered
    from thresher.select.base import split_param

    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    resolved = []
    for method in methods:
        if method == "all":
            resolved += [(name, cls()) for name, cls in registered().items()]
        elif isinstance(method, str):
            name, *pairs = (method[: -len(KD_SUFFIX)] if method.endswith(KD_SUFFIX) else method).split(":")
            params = {}
            for pair in pairs:
                try:
                    key, value = split_param(pair)
                except ValueError:
                    key = ""
                if not key:
                    raise UsageError(f"method {method!r}: write parameters as {name}:key=value[:key=value].")
                params[key] = value.strip()
            resolved.append((method, get_method(name)(**params)))
        elif isinstance(method, type):
            resolved.append((method.name, method()))
        else:
            resolved.append((getattr(method, "name", type(method).__name__), method))
    names = [name for name, _ in resolved]
    if len(set(names)) != len(names):
        raise UsageError(f"a method is listed twice: {', '.join(names)}.")
    return resolved


def settings_key(settings: dict) -> str:
    """A run's settings as one string, the same for equal settings (to match them across runs)."""
    import json

    return json.dumps(settings, sort_keys=True, default=str)


class CellLog:
    """Finished pieces of a benchmark run, appended to a JSON-lines file as they finish, so
    that a stopped run resumes without redoing them: the tuning of each budget, and each
    (method, budget, seed) point with its accuracy. `scope` names the run's settings
    (dataset, budgets, seeds, proxy model, ...): only entries of the same scope are reused.
    """

    def __init__(self, path: str | os.PathLike, scope: dict):
        import json

        self.path, self.scope = Path(path), settings_key(scope)
        self.tuned: dict[int, dict] = {}
        self.points: dict[tuple[str, str, int], dict] = {}
        self.full: dict[int, dict] = {}
        self.transfer_tuned: dict[str, dict[int, dict]] = {}  # eval model -> count -> tuning
        self.transfer_full: dict[str, dict] = {}  # eval model -> scores on the full pool
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a line cut short by the stop
                if not isinstance(entry, dict) or entry.get("scope") != self.scope:
                    continue
                if entry.get("kind") == "tuned":
                    self.tuned = {int(k): v for k, v in entry["tuned"].items()}
                elif entry.get("kind") == "point":
                    point = entry["point"]
                    self.points[(point["method"], point["budget"], int(point["seed"]))] = point
                elif entry.get("kind") == "full":
                    self.full[int(entry["seed"])] = entry["scores"]
                elif entry.get("kind") == "transfer_tuned":
                    self.transfer_tuned[entry["model"]] = {int(k): v for k, v in entry["tuned"].items()}
                elif entry.get("kind") == "transfer_full":
                    self.transfer_full[entry["model"]] = entry["scores"]

    def add(self, kind: str, **fields) -> None:
        import json

        with open(self.path, "a") as handle:
            handle.write(json.dumps({"scope": self.scope, "kind": kind, **fields}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def budget_counts(budgets: Sequence[Any], pool_size: int) -> list[tuple[str, int]]:
    """(label, count) per budget, smallest first; every count at least 1."""
    out = []
    for budget in budgets:
        parsed = Budget.parse(budget)
        if parsed.kind == "tokens":
            raise UsageError(f"budget {budget!r}: the benchmark takes counts or fractions, not tokens.")
        count = max(1, parsed.resolve(pool_size).count)
        out.append((str(budget), count))
    return sorted(out, key=lambda item: item[1])


def _select(task: Task, selector, count: int, seed: int) -> dict:
    tracemalloc.start()
    clock, cpu = time.perf_counter(), time.process_time()
    try:
        selection = selector.select(task.pool, count, target=task.target, seed=seed)
    finally:
        seconds, cpu = time.perf_counter() - clock, time.process_time() - cpu
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    positions = task.pool.positions_of(selection.ids)
    chosen = {"positions": positions, "weights": selection.weights, "select_s": seconds, "select_cpu_s": cpu,
              "peak_mb": peak / 2**20}
    race = selection.meta.get("race")
    if race:  # auto: who won, why, and what the race cost
        chosen["race"] = {key: race.get(key) for key in ("decision", "why", "fallback", "cpu_s", "full_fit_cpu_s")}
    return chosen


def _parallel(jobs: list[tuple], workers: int, label: str, on_result=None) -> list:
    """Run fit_and_score on each job's arguments, in `workers` processes, with a progress bar;
    `on_result(i, result)` is called as each one finishes (in order)."""
    results = []
    with progress(label, len(jobs)) as bar:
        for result in _fits(jobs, workers):
            results.append(result)
            if on_result:
                on_result(len(results) - 1, result)
            bar.advance()
    return results


def _fits(jobs: list[tuple], workers: int):
    """fit_and_score of each job, in order: here, or in `workers` processes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield fit_and_score(*job)
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=1):
        yield from Parallel(n_jobs=workers, return_as="generator", batch_size=1)(
            delayed(fit_and_score)(*job) for job in jobs)


def _in_plan_order(points: list[dict], selectors, budgets_n, seeds) -> list[dict]:
    """Points sorted as the run plans them: method, then budget, then seed."""
    rank = {name: i for i, (name, _) in enumerate(selectors)}
    budget_rank = {label: i for i, (label, _) in enumerate(budgets_n)}
    seed_rank = {seed: i for i, seed in enumerate(seeds)}
    return sorted(points, key=lambda p: (rank[p["method"]], budget_rank[p["budget"]], seed_rank[p["seed"]]))


def tune(task: Task, model: str, counts: list[int], repeats: int, workers: int) -> dict[int, dict]:
    """The regularisation for each budget count, chosen on the validation split with random
    selections of that count (the one procedure used for every method)."""
    plan = []
    for count in counts:
        for value, repeat, positions in tuning_jobs(model, len(task.train_y), count, repeats):
            plan.append((count, value, repeat, positions))
    jobs = [(model, value, task.train_x, task.train_y, positions, None, task.val_x, task.val_y, repeat)
            for _, value, repeat, positions in plan]
    scores = _parallel(jobs, workers, f"tune {proxy_spec(model).param} on {task.name}")
    tuned = {}
    for count in counts:
        results = [(value, repeat, acc) for (c, value, repeat, _), (acc, _) in zip(plan, scores) if c == count]
        value, means = choose_value(model, results)
        tuned[count] = {"value": value, "validation_accuracy": means}
    return tuned


def run_bench(task: Task, methods: Sequence[Any] | str, budgets: Sequence[Any], seeds: int | Sequence[int] = 5,
              model: str = "logreg", workers: int = 1, tune_repeats: int = 3, cells: CellLog | None = None,
              eval_models: Sequence[str] | str = (), transformer: str | None = None) -> dict:
    """Run the protocol on `task`; returns the run's record with every raw point (see results.py).

    cells: a `CellLog` to append finished pieces to and take them back from (a resumed run
    redoes only the points it had not finished).
    eval_models: models besides the proxy that are trained on every selection and scored on
    the test split (`transfer.EVAL_MODELS`); each point then holds `transfer[name]` and the
    run `transfer` (the models, their tuning, their full-pool fit). transformer: a local
    model folder for the "transformer" eval model (default: the packaged MiniLM, cut).
    """
    from thresher.evaluate.proxy import kd_weight, soft_targets, teacher_probabilities
    from thresher.evaluate.transfer import Transfer, parse_eval_models

    clock = time.perf_counter()
    spec = proxy_spec(model)
    seeds = list(range(seeds)) if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds:
        raise UsageError("give at least one seed.")
    pool_size = len(task.train_y)
    budgets_n = budget_counts(budgets, pool_size)
    selectors = resolve_methods(methods)
    counts = sorted({n for _, n in budgets_n} | {pool_size})
    if cells is not None and all(n in cells.tuned for n in counts):
        tuned = {n: cells.tuned[n] for n in counts}
    else:
        tuned = tune(task, model, counts, tune_repeats, workers)
        if cells is not None:
            cells.add("tuned", tuned={str(n): v for n, v in tuned.items()})
    transfer = Transfer(task, parse_eval_models(eval_models, model), transformer)
    extras = list(transfer.models)
    transfer_tuned = {}
    for name in extras:
        if cells is not None and all(n in cells.transfer_tuned.get(name, {}) for n in counts):
            transfer_tuned[name] = {n: cells.transfer_tuned[name][n] for n in counts}
            continue
        transfer_tuned[name] = transfer.tune(name, pool_size, counts, tune_repeats)
        if cells is not None:
            cells.add("transfer_tuned", model=name, tuned={str(n): v for n, v in transfer_tuned[name].items()})
    tuning_s = time.perf_counter() - clock
    kept: list[dict] = []  # points a stopped run had finished
    # Knowledge distillation ("+kd" methods): the teacher is the proxy fitted on the whole pool,
    # and its share of the targets grows as the budget shrinks (proxy.kd_weight).
    if any(name.endswith(KD_SUFFIX) for name, _ in selectors) and model != "logreg":
        raise UsageError(f"the +kd methods distil into the logistic-regression proxy; run them with --model "
                         f"logreg, not {model}.")
    # Fitted at the first +kd point a resumed run has not finished, then kept; targets once per budget.
    teacher = functools.cache(lambda: teacher_probabilities(tuned[pool_size]["value"], task.train_x,
                                                            task.train_y, len(task.classes)))

    @functools.cache
    def soft_targets_at(count: int) -> np.ndarray:
        return soft_targets(teacher(), task.train_y, kd_weight(count / pool_size))

    points, skipped, failed = [], {}, {}
    # Each method x budget is selected for every seed, then fitted and logged at once: a
    # stopped run keeps every finished group, and the costly selections are not lost.
    with progress(f"select and fit on {task.name}", len(selectors) * len(budgets_n) * len(seeds)) as bar:
        for name, selector in selectors:
            try:
                selector.check(task.pool, task.target)
            except ThresherError as err:
                skipped[name] = str(err)
                bar.advance(len(budgets_n) * len(seeds))
                continue
            for label, count in budgets_n:
                group = []
                for seed in seeds:
                    if name in failed:
                        bar.advance()
                        continue
                    done = cells.points.get((name, label, seed)) if cells is not None else None
                    if done is not None and done.get("n") == count and set(extras) <= set(done.get("transfer", {})):
                        kept.append(done)
                        bar.advance()
                        continue
                    try:
                        chosen = _select(task, selector, count, seed)
                    except Exception as err:  # a broken method is reported, not allowed to stop the others
                        failed[name] = f"{type(err).__name__}: {err}"
                        bar.advance()
                        continue
                    point = {"method": name, "budget": label, "n": count, "fraction": count / pool_size,
                             "seed": seed, "n_selected": int(len(chosen["positions"])),
                             "weighted": chosen["weights"] is not None, "select_s": round(chosen["select_s"], 5),
                             "select_cpu_s": round(chosen["select_cpu_s"], 4),
                             **({"race": chosen["race"]} if "race" in chosen else {}),
                             "peak_mb": round(chosen["peak_mb"], 3), spec.param: tuned[count]["value"],
                             "classes_covered": int(len(np.unique(task.train_y[chosen["positions"]])))}
                    if task.domains is not None:
                        point["domain_precision"] = float(np.mean(task.domains[chosen["positions"]] == task.target_domain))
                    distil = soft_targets_at(count) if name.endswith(KD_SUFFIX) else None
                    if distil is not None:
                        point["kd_weight"] = kd_weight(count / pool_size)
                    group.append((point, (model, tuned[count]["value"], task.train_x, task.train_y,
                                          chosen["positions"], chosen["weights"], task.test_x, task.test_y, seed,
                                          distil)))
                    bar.advance()
                if name not in failed:
                    _score_group(group, workers, transfer, transfer_tuned, cells)
                    points += [point for point, _ in group]

    everything = np.arange(pool_size)
    full_value = tuned[pool_size]["value"]
    # lbfgs logistic regression is deterministic: one fit stands for every seed.
    full_seeds = seeds[:1] if model == "logreg" else seeds
    fitted_full = {s: cells.full[s] for s in full_seeds if s in cells.full} if cells is not None else {}
    todo_full = [s for s in full_seeds if s not in fitted_full]
    jobs = [(model, full_value, task.train_x, task.train_y, everything, None, task.test_x, task.test_y, s)
            for s in todo_full]

    def finished(i: int, result) -> None:
        if cells is not None:
            cells.add("full", seed=todo_full[i], scores=list(result))

    scores = _parallel(jobs, workers, f"fit {model} on all of {task.name}", on_result=finished)
    fitted_full.update(zip(todo_full, scores))
    transfer_record = _transfer_full(task, transfer, transfer_tuned, pool_size, seeds, cells)
    full_scores = [tuple(fitted_full[s]) for s in full_seeds]
    points = _in_plan_order(kept + points, selectors, budgets_n, seeds)
    if len(full_seeds) == 1:
        full_scores = full_scores * len(seeds)
    full = [{"seed": s, "accuracy": round(a, 6), "macro_f1": round(f, 6)} for s, (a, f) in zip(seeds, full_scores)]
    return {
        "dataset": task.name, "scenario": task.scenario, "dataset_info": task.info, "features": task.features,
        "model": {"name": model, "description": spec.description, "tuned_param": spec.param,
                  "grid": list(spec.grid), "tune_repeats": tune_repeats,
                  "tuning": "per budget: best mean validation accuracy over random selections of that budget"},
        "pool_size": pool_size, "validation_size": len(task.val_y), "test_size": len(task.test_y),
        "classes": len(task.classes), "seeds": seeds,
        "budgets": [{"budget": label, "n": n, "fraction": n / pool_size, "tuned": tuned[n]} for label, n in budgets_n],
        "full": {"n": pool_size, "tuned": tuned[pool_size], "points": full, "fitted_once": len(full_seeds) == 1},
        "points": points, "skipped": skipped, "failed": failed,
        "target_domain": task.target_domain,
        **({"transfer": transfer_record} if transfer_record else {}),
        "timing": {"tuning_s": round(tuning_s, 2), "total_s": round(time.perf_counter() - clock, 2)},
    }


def _score_group(group: list[tuple[dict, tuple]], workers: int, transfer, tuned: dict, cells: CellLog | None) -> None:
    """Fit the proxy on each (point, job) of one method x budget (in `workers` processes),
    then every eval model; each point gets its scores and is logged as it is complete."""
    for (point, _), (accuracy, macro_f1) in zip(group, _fits([job for _, job in group], workers)):
        point["accuracy"], point["macro_f1"] = round(accuracy, 6), round(macro_f1, 6)
    for point, job in group:
        if transfer:
            positions, weights = job[4], job[5]
            point["transfer"] = {name: transfer.score(name, tuned[name][point["n"]]["value"], positions, weights,
                                                      point["seed"]) for name in transfer.models}
        if cells is not None:
            cells.add("point", point=point)


def _transfer_full(task: Task, transfer, tuned: dict, pool_size: int, seeds, cells: CellLog | None) -> dict | None:
    """Each eval model fitted once on the full pool; the run's `transfer` record (models,
    tuning, full fits), or None without eval models."""
    if not transfer and not transfer.skipped:
        return None
    full = {}
    everything = np.arange(pool_size)
    for name in transfer.models:  # one fit on the full pool, with the first seed: a reference line
        scores = cells.transfer_full.get(name) if cells is not None else None
        if scores is None:
            scores = transfer.score(name, tuned[name][pool_size]["value"], everything, None, seeds[0])
            if cells is not None:
                cells.add("transfer_full", model=name, scores=scores)
        full[name] = {"n": pool_size, "seed": seeds[0], "fitted_once": True, **scores}
    return {"models": transfer.describe(), "skipped": transfer.skipped,
            "tuned": {name: {str(n): v for n, v in by_count.items()} for name, by_count in tuned.items()},
            "full": full}
