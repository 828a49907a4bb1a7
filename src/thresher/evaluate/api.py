"""`thresher.evaluate.bench`: the proof on your own labelled data, from Python.

    from thresher.evaluate import bench
    doc = bench("my/train.jsonl", "my/test.jsonl", label_field="intent",
                methods=["random", "kmeans-quota"], budgets=["5%", "10%"], seeds=5, out="r.json")
    doc["runs"][0]["summary"]["methods"]["kmeans-quota"]["curve"]

Only the standard library is imported here; the work is imported when `bench` runs, so
`import thresher.evaluate` stays light.
"""

from __future__ import annotations

import os
import time
from typing import Any, Sequence

PathOrPool = Any  # a path (str or os.PathLike) or a thresher.Pool with a label field


def bench(train: PathOrPool = None, test: PathOrPool = None, validation: PathOrPool = None, *,
          pool: PathOrPool = None, methods: Sequence[Any] | str = ("random",), budgets: Sequence[Any] | str = ("10%",),
          seeds: int | Sequence[int] = 5, label_field: str | None = None, name: str | None = None,
          text_field: str = "text", template: str | None = None, on_bad_record: str = "error",
          test_share: float | str | None = None, validation_share: float | str | None = None, split_seed: int = 0,
          model: str = "logreg", features: str = "auto", embed_model: str | None = None,
          cache_dir: str | os.PathLike | None = None, workers: int = 1, tune_repeats: int = 3,
          eval_models: Sequence[str] | str = (), transformer: str | None = None,
          out: str | os.PathLike | None = None, report: str | os.PathLike | None = None) -> dict:
    """Run `thresher bench`'s protocol on your data; returns the results document it writes.

    train, test (validation optional, else 10% of each class of train is carved for tuning),
    or `pool` alone (test_share of each class, default 0.2, and then validation are carved;
    stratified, `split_seed`): paths of files `thresher.Pool` reads (read with label_field,
    text_field or template, on_bad_record), or Pools built with a label field.
    methods: names (a name may carry parameters, "rds:spread=3") or Selector objects;
    budgets: counts or shares ("10%", 0.1, 500). The dataset is called `name` (default: the
    train or pool file's name). out / report: also write the results JSON / HTML report.
    eval_models: models also trained on every selection ("tfidf-mlp", "transformer", ...;
    see `thresher.evaluate.transfer`), with `transformer` a local model folder for the last.
    Returns {"runs": [run], ...}: the run holds every raw point, the tuning and its summary.
    """
    from thresher.errors import UsageError
    from thresher.evaluate.user_data import dataset_entry, dataset_from_pools, load_entry

    clock = time.perf_counter()
    given = {"train": train, "test": test, "validation": validation, "pool": pool}
    given = {key: value for key, value in given.items() if value is not None}
    if all(isinstance(value, (str, os.PathLike)) for value in given.values()):
        entry = dataset_entry({**{key: os.fspath(value) for key, value in given.items()}, "name": name,
                               "label_field": label_field, "text_field": text_field, "template": template,
                               "on_bad_record": on_bad_record, "test_share": test_share,
                               "validation_share": validation_share, "split_seed": split_seed})
        dataset = load_entry(entry, os.fspath(out) if out else None)
    else:
        pools = {key: _as_pool(value, key, label_field, text_field, template, on_bad_record)
                 for key, value in given.items()}
        paths = {"train": "pool", "test": "pool"} if "pool" not in pools else {"pool": "pool"}
        entry = dataset_entry(paths | {"label_field": "label", "name": name or _pool_name(pools),
                                 "test_share": test_share, "validation_share": validation_share,
                                 "split_seed": split_seed})  # checks the shares as the suite does
        if "pool" in pools and len(pools) > 1:
            raise UsageError("give pool (test and validation are carved from it) or train and test, not both.")
        dataset = dataset_from_pools(entry["name"], pools.get("train"), pools.get("test"), pools.get("validation"),
                                     pools.get("pool"), entry.get("test_share", 0.2), entry["validation_share"],
                                     entry["split_seed"])
    run = run_dataset(dataset, methods, budgets, seeds, model, features, embed_model, cache_dir, workers,
                      tune_repeats, eval_models, transformer)
    return _document([run], clock, out, report)


def run_dataset(dataset, methods, budgets, seeds, model: str = "logreg", features: str = "auto",
                embed_model: str | None = None, cache_dir=None, workers: int = 1, tune_repeats: int = 3,
                eval_models: Sequence[str] | str = (), transformer: str | None = None) -> dict:
    """One run of the protocol on a loaded `Dataset`, as `thresher bench` makes it (with its summary)."""
    from thresher.evaluate.features import DEFAULT_MODEL, featurize
    from thresher.evaluate.protocol import make_task, run_bench
    from thresher.evaluate.results import summarize

    clock = time.perf_counter()
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    if isinstance(budgets, (str, int, float)):
        budgets = [b.strip() for b in str(budgets).split(",") if b.strip()]
    found = featurize(dataset, features if dataset.kind == "text" else "auto", embed_model or DEFAULT_MODEL, cache_dir)
    featurize_s = time.perf_counter() - clock
    run = run_bench(make_task(dataset, found), methods, [str(b) for b in budgets], seeds=seeds, model=model,
                    workers=workers, tune_repeats=tune_repeats, eval_models=eval_models, transformer=transformer)
    run["timing"]["load_and_featurize_s"] = round(featurize_s, 2)
    run["summary"] = summarize(run)
    return run


def _as_pool(value, role: str, label_field, text_field, template, on_bad_record):
    from thresher.data import Pool
    from thresher.errors import UsageError

    if isinstance(value, (str, os.PathLike)):
        if not label_field:
            raise UsageError(f"{os.fspath(value)} ({role}): name the field holding the class label (label_field=...).")
        return Pool.from_files([os.fspath(value)], text_field=text_field or None, template=template,
                               label_field=label_field, on_bad_record=on_bad_record)
    if not isinstance(value, Pool):
        raise UsageError(f"{role}: give a path or a thresher.Pool, not {type(value).__name__}.")
    if value.fields.label_field is None:
        raise UsageError(f"{role} pool {', '.join(value.paths)} has no label field; build it with "
                         "label_field=... (e.g. Pool.from_jsonl(path, label_field='intent')).")
    return value


def _pool_name(pools: dict) -> str:
    from thresher.evaluate.user_data import default_name

    first = pools.get("train") or pools.get("pool")
    path = first.paths[0] if first is not None and first.paths else "dataset"
    return default_name(path.strip("<>")) or "dataset"


def _document(runs: list[dict], clock: float, out, report) -> dict:
    from thresher.evaluate.report import write_report
    from thresher.evaluate.results import results_document, write_json

    document = results_document(runs, "thresher.evaluate.bench(...)", time.perf_counter() - clock)
    if out:
        write_json(document, out)
    if report:
        write_report(document, report)
    return document
