"""The user's own labelled data as a benchmark `Dataset`: train and test files (validation
optional), or one pool from which test and validation are carved.

    entry = dataset_entry({"name": "mine", "train": "a.jsonl", "test": "b.jsonl", "label_field": "intent"})
    ds = load_entry(entry)                              # a Dataset, as load_dataset gives
    ds = dataset_from_pools("mine", pool=Pool.from_parquet("all.parquet", label_field="y"), test_share=0.2)

Files are read by `thresher.Pool` (JSONL/.gz/.zst, Parquet, CSV; text or a template; the
bad-record policy), so a record without its label stops with the Pool's error naming the
file and line, or is set aside with on_bad_record="quarantine"/"skip". A missing
validation split is carved from train (stratified, `split_seed`); with a pool, test and
then validation are carved. The dataset's `notes` and `splits` say what was carved.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from thresher.errors import UsageError
from thresher.evaluate.datasets import SPLIT_SEED, VALIDATION_SHARE, Dataset, Split

log = logging.getLogger("thresher.evaluate")

TEST_SHARE = 0.2  # the share of a pool carved as test when no test_share is given
PATH_KEYS = ("train", "test", "validation", "pool")
READING_KEYS = ("text_field", "template", "label_field", "domain_field", "id_field", "format", "csv_delimiter",
                "on_bad_record")
ENTRY_KEYS = {"name", *PATH_KEYS, "test_share", "validation_share", "split_seed", *READING_KEYS}
SUFFIXES = {".gz", ".zst", ".jsonl", ".json", ".ndjson", ".parquet", ".pq", ".csv", ".tsv"}


def default_name(path: str | os.PathLike) -> str:
    """The file's name less its data suffixes: "my/train.jsonl.gz" -> "train"."""
    name = Path(path).name
    while Path(name).suffix.lower() in SUFFIXES:
        name = name[: -len(Path(name).suffix)]
    return name or Path(path).name


def dataset_entry(entry: dict, base: str | os.PathLike | None = None) -> dict:
    """A suite's dataset mapping checked and filled in: paths resolved against `base` (the
    suite file's folder), defaults written out, so equal requests have equal settings.

    Keys: name, train + test (+ validation) or pool (+ test_share, validation_share),
    split_seed, label_field (required) and the reading options text_field, template,
    domain_field, id_field, format, csv_delimiter, on_bad_record.
    """
    if not isinstance(entry, dict):
        raise UsageError(f"dataset {entry!r}: give a name or a mapping with train/test or pool paths.")
    label = entry.get("name") or entry.get("train") or entry.get("pool") or "dataset"
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        raise UsageError(f"dataset {label}: unknown key {sorted(unknown)[0]!r}; known keys: "
                         f"{', '.join(sorted(ENTRY_KEYS))}.")
    if not entry.get("label_field"):
        raise UsageError(f"dataset {label}: name the field holding the class label (label_field, --label-field).")
    if entry.get("pool"):
        clash = [key for key in ("train", "test", "validation") if entry.get(key)]
        if clash:
            raise UsageError(f"dataset {label}: give either pool (test and validation are carved from it) or "
                             f"train and test files, not both (found pool and {clash[0]}).")
    elif not (entry.get("train") and entry.get("test")):
        raise UsageError(f"dataset {label}: give train and test files (validation optional), or one pool file "
                         "with test_share.")
    elif entry.get("test_share") is not None:
        raise UsageError(f"dataset {label}: test_share carves test from a pool; with a test file, leave it out.")
    entry = {key: value for key, value in entry.items() if value is not None}
    out: dict[str, Any] = {}
    for key in PATH_KEYS:
        if entry.get(key):
            path = Path(os.path.expanduser(str(entry[key])))
            out[key] = str(path if path.is_absolute() or base is None else Path(base) / path)
    out["name"] = str(entry.get("name") or default_name(out.get("train") or out["pool"]))
    if "pool" in out:
        out["test_share"] = _share(entry.get("test_share", TEST_SHARE), "test_share", out["name"])
    out["validation_share"] = _share(entry.get("validation_share", VALIDATION_SHARE), "validation_share", out["name"])
    out["split_seed"] = int(entry.get("split_seed", SPLIT_SEED))
    defaults = {"text_field": "text", "on_bad_record": "error"}
    for key in READING_KEYS:
        value = entry.get(key, defaults.get(key))
        if value is not None:
            out[key] = value
    return out


def _share(value: Any, key: str, name: str) -> float:
    try:
        share = float(str(value).rstrip("%")) / (100 if str(value).endswith("%") else 1)
    except ValueError:
        share = -1.0
    if not 0 < share < 1:
        raise UsageError(f"dataset {name}: {key}={value!r} must be a share between 0 and 1 (e.g. 0.2 or 20%).")
    return share


def load_entry(entry: dict, quarantine_prefix: str | None = None) -> Dataset:
    """The Dataset of a `dataset_entry` mapping, its files read by Pool. With
    on_bad_record="quarantine", each file's bad records are written to
    `{quarantine_prefix}.{split}.quarantine.jsonl` (when a prefix is given)."""
    from thresher.data import Pool

    reading = {key: entry[key] for key in READING_KEYS if key in entry}
    reading["text_field"] = reading.get("text_field") or None
    pools = {key: Pool.from_files([entry[key]], **reading) for key in PATH_KEYS if key in entry}
    dataset = dataset_from_pools(entry["name"], pools.get("train"), pools.get("test"), pools.get("validation"),
                                 pools.get("pool"), entry.get("test_share", TEST_SHARE),
                                 entry["validation_share"], entry["split_seed"])
    if entry.get("on_bad_record", "error") != "error":
        for split, pool in pools.items():
            bad = pool.bad_records
            if not len(bad):
                continue
            where = f"{quarantine_prefix}.{split}.quarantine.jsonl" if quarantine_prefix else None
            if where and entry["on_bad_record"] == "quarantine":
                bad.write(where, overwrite=True)
            dataset.notes.append(f"{entry[split]}: {len(bad):,} bad records left out ({entry['on_bad_record']})"
                                 + (f", written to {where}" if where and entry["on_bad_record"] == "quarantine"
                                    else ""))
    return dataset


def read_split(pool, role: str) -> Split:
    """Texts and labels (as strings) of every good record of `pool`, in pool order."""
    where = ", ".join(pool.paths)
    if pool.fields.label_field is None:
        raise UsageError(f"{where} ({role}): the pool has no label field; name it (label_field=..., --label-field).")
    if not pool.fields.has_text:
        raise UsageError(f"{where} ({role}): the pool has no text; name the text field or give a template.")
    texts: list[str] = []
    labels: list[str] = []
    for batch in pool.stream(("text", "label")):
        texts += batch.column("text").to_pylist()
        labels += [str(v) for v in batch.column("label").to_pylist()]
    if not texts:
        raise UsageError(f"{where} ({role}): no records to read.")
    return Split(np.array(labels, dtype=object), texts=texts)


def dataset_from_pools(name: str, train=None, test=None, validation=None, pool=None, test_share: float = TEST_SHARE,
                       validation_share: float = VALIDATION_SHARE, split_seed: int = SPLIT_SEED) -> Dataset:
    """A text Dataset from labelled Pools: train and test (validation optional, else carved
    from train), or one `pool` from which test and then validation are carved, stratified by
    label with `split_seed`. Test classes absent from train are warned about (they can
    only count as errors)."""
    from thresher.evaluate.loaders import stratified_split

    notes: list[str] = []
    splits: dict[str, dict] = {}
    origins: dict[str, tuple] = {}  # split -> (the file's texts, positions in them)
    if pool is not None:
        whole = read_split(pool, "pool")
        kept, held = stratified_split(whole.labels, test_share, split_seed)
        train_split, test_split = whole.subset(kept), whole.subset(held)
        file_texts, train_positions = whole.texts, kept
        origins["test"] = (file_texts, held)
        source = f"pool={', '.join(pool.paths)}"
        splits["test"] = {"carved_from": "pool", "share": test_share, "seed": split_seed, "stratified": True,
                          "n": len(test_split)}
        notes.append(f"test: {len(test_split):,} records ({test_share:.0%} of each class) carved from the pool "
                     f"(stratified, seed {split_seed})")
    else:
        if train is None or test is None:
            raise UsageError(f"dataset {name}: give train and test pools, or one pool to carve them from.")
        train_split, test_split = read_split(train, "train"), read_split(test, "test")
        file_texts, train_positions = train_split.texts, np.arange(len(train_split))
        source = f"train={', '.join(train.paths)}; test={', '.join(test.paths)}"
    if validation is not None:
        validation_split = read_split(validation, "validation")
        source += f"; validation={', '.join(validation.paths)}"
    else:
        kept, held = stratified_split(train_split.labels, validation_share, split_seed)
        validation_split, train_split = train_split.subset(held), train_split.subset(kept)
        origins["validation"] = (file_texts, train_positions[held])
        train_positions = train_positions[kept]
        origin = "pool" if pool is not None else "train"
        splits["validation"] = {"carved_from": origin, "share": validation_share, "seed": split_seed,
                                "stratified": True, "n": len(validation_split)}
        notes.append(f"validation: {len(validation_split):,} records ({validation_share:.0%} of each class of "
                     f"{'what the test left' if pool is not None else 'train'}) carved for tuning (stratified, seed "
                     f"{split_seed}); the train pool is the rest")
    absent = sorted(set(test_split.labels.tolist()) - set(train_split.labels.tolist()))
    if absent:
        count = int(np.isin(test_split.labels, absent).sum())
        message = (f"{name}: {len(absent)} test class(es) never appear in train, so their {count:,} test records "
                   f"count as errors: {', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''}")
        log.warning(message)
        notes.append(message)
    if len(train_positions) != len(file_texts):
        origins["train"] = (file_texts, train_positions)
    return Dataset(name, "text", train_split, validation_split, test_split, source, notes, splits, origins)


def file_stamps(entry: dict) -> dict[str, list[int]]:
    """{path: [bytes, modification time ns]} of an entry's files, so a resumed run does not
    reuse results measured on files that have changed since."""
    stamps = {}
    for key in PATH_KEYS:
        if key in entry:
            try:
                stat = os.stat(entry[key])
            except OSError:
                continue  # reading it will say what is wrong
            stamps[entry[key]] = [stat.st_size, stat.st_mtime_ns]
    return stamps
