"""A benchmark suite: datasets and target-aware scenarios run under one protocol, from a
YAML file (`benchmarks/suite.yaml`) or from the command line's options.

    datasets: [banking77, digits]  # named datasets, or your own files (paths relative to this file):
      # - {name: mine, train: a.jsonl, test: b.jsonl, label_field: intent}   # validation optional
      # - {name: all, pool: all.parquet, test_share: 0.2, label_field: y}     # test, validation carved
    methods: [random, stratified]
    budgets: ["1%", "5%", "10%"]
    seeds: 5
    model: logreg            # or mlp
    eval_models: [tfidf-mlp] # also train these on every selection (logreg, mlp, tfidf-mlp, transformer)
    features: auto           # embed, tfidf; images always use raw pixels
    scenarios:               # target-aware: a mixed pool and N examples of one dataset
      - {target: banking77, mix: [banking77, clinc150, trec, sst2], target_size: 50, budgets: ["1%", "5%"]}
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from thresher.errors import UsageError

DEFAULTS: dict[str, Any] = {
    "datasets": [], "methods": ["random", "stratified"], "budgets": ["1%", "2%", "5%", "10%", "20%", "30%", "50%"],
    "seeds": 5, "model": "logreg", "features": "auto", "embed_model": None, "tune_repeats": 3, "scenarios": [],
    "eval_models": [], "transformer": None, "out": None, "report": None,
}
SCENARIO_KEYS = {"target", "mix", "target_size", "budgets", "methods"}


def _as_list(value: Any, key: str) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise UsageError(f"{key}: give a list or a comma-separated string, not {value!r}.")


def load_config(path: str | os.PathLike) -> dict:
    """Read a suite file; unknown keys are an error that names them."""
    try:
        import yaml
    except ImportError:
        raise UsageError("reading a suite file needs PyYAML: pip install pyyaml") from None
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"suite file {path} does not exist.")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UsageError(f"{path}: not valid YAML ({err}).") from None
    if not isinstance(config, dict):
        raise UsageError(f"{path}: the suite file must be a mapping of keys (datasets, methods, budgets, ...).")
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise UsageError(f"{path}: unknown key {sorted(unknown)[0]!r}; known keys: {', '.join(DEFAULTS)}.")
    if isinstance(config.get("datasets"), list):
        from thresher.evaluate.user_data import dataset_entry

        config["datasets"] = [dataset_entry(d, path.parent) if isinstance(d, dict) else d for d in config["datasets"]]
    return config


def normalize(config: dict) -> dict:
    """The config with defaults filled in and lists parsed; checks what can be checked early."""
    merged = {**DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    for key in ("datasets", "methods", "budgets", "eval_models"):
        merged[key] = [str(v) if key == "budgets" else v for v in _as_list(merged[key], key)]
    if any(isinstance(d, dict) for d in merged["datasets"]):
        from thresher.evaluate.user_data import dataset_entry

        merged["datasets"] = [dataset_entry(d) if isinstance(d, dict) else d for d in merged["datasets"]]
    scenarios = []
    for scenario in merged["scenarios"] or []:
        if not isinstance(scenario, dict) or "target" not in scenario or "mix" not in scenario:
            raise UsageError(f"scenario {scenario!r}: give at least target and mix.")
        unknown = set(scenario) - SCENARIO_KEYS
        if unknown:
            raise UsageError(f"scenario for {scenario['target']}: unknown key {sorted(unknown)[0]!r}.")
        scenarios.append({"target": scenario["target"], "mix": _as_list(scenario["mix"], "mix"),
                          "target_size": int(scenario.get("target_size", 50)),
                          "budgets": [str(b) for b in _as_list(scenario.get("budgets", merged["budgets"]), "budgets")],
                          "methods": _as_list(scenario.get("methods", merged["methods"]), "methods")})
    merged["scenarios"] = scenarios
    if not merged["datasets"] and not scenarios:
        raise UsageError("nothing to run: name a dataset (--dataset) or a suite file (--config).")
    return merged


def run_suite(config: dict, data_dir=None, cache_dir=None, source: str = "auto", workers: int = 1,
              on_run: Callable[[dict], None] | None = None, finished: list[dict] | None = None,
              cells_path: str | os.PathLike | None = None) -> list[dict]:
    """Run every dataset and scenario of a normalized config; returns the runs (each with its summary).

    finished: runs of an earlier, interrupted call (its results JSON); a dataset or scenario
    whose run there has the same settings is taken from it instead of being run again.
    cells_path: a JSON-lines file of finished pieces (`protocol.CellLog`): each tuning and
    point is appended as it finishes, and those already there (same settings) are reused.
    """
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import DEFAULT_MODEL, featurize
    from thresher.evaluate.protocol import CellLog, make_task, run_bench, settings_key
    from thresher.evaluate.results import summarize
    from thresher.evaluate.target import make_target_task
    from thresher.evaluate.user_data import file_stamps, load_entry

    embed_model = config["embed_model"] or DEFAULT_MODEL
    common = {"seeds": config["seeds"], "model": config["model"], "workers": workers,
              "tune_repeats": config["tune_repeats"], "eval_models": config["eval_models"],
              "transformer": config["transformer"]}
    done = {settings_key(run["settings"]): run for run in finished or [] if isinstance(run, dict) and "settings" in run}
    shared = {key: config[key] for key in ("seeds", "model", "features", "tune_repeats")} | {"embed_model": embed_model}
    if config["eval_models"]:  # only when given, so earlier runs' settings still match
        shared |= {"eval_models": config["eval_models"], "transformer": config["transformer"]}
    plan = [({"dataset": name, "methods": config["methods"], "budgets": config["budgets"], **shared,
              **({"files": file_stamps(name)} if isinstance(name, dict) else {})}, name)
            for name in config["datasets"]]
    plan += [({"scenario": scenario, **shared}, scenario) for scenario in config["scenarios"]]
    runs = []
    for settings, item in plan:
        run = done.get(settings_key(settings))
        if run is None:
            clock = time.perf_counter()
            if "dataset" in settings:
                dataset = (load_entry(item, config["out"]) if isinstance(item, dict)
                           else load_dataset(item, data_dir, source))
                features = featurize(dataset, config["features"] if dataset.kind == "text" else "auto", embed_model,
                                     cache_dir)
                task, methods, budgets = make_task(dataset, features), config["methods"], config["budgets"]
            else:
                task = make_target_task(item["mix"], item["target"], item["target_size"], data_dir,
                                        config["features"], embed_model, cache_dir, source)
                methods, budgets = item["methods"], item["budgets"]
            featurize_s = time.perf_counter() - clock
            # Eval models are not in the scope: a point is reused only when it holds their scores.
            scope = {key: value for key, value in settings.items() if key not in ("methods", "budgets", "eval_models")}
            if "scenario" in scope:
                scope["scenario"] = {k: v for k, v in scope["scenario"].items() if k not in ("methods", "budgets")}
            cells = CellLog(cells_path, scope) if cells_path else None
            run = run_bench(task, methods, budgets, cells=cells, **common)
            run["timing"]["load_and_featurize_s"] = round(featurize_s, 2)
            run["summary"] = summarize(run)
            run["settings"] = settings
        runs.append(run)
        if on_run:
            on_run(run)
    return runs
