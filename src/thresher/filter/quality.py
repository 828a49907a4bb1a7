"""Heuristic quality rules: measure once, threshold as often as you like.

    f = QualityFilter(rules="default")                  # or a YAML file, or a dict
    scores = f.measure(pool)                            # id + one column per measurement
    sel = f.apply(pool, measurements=scores)            # re-thresholds without re-reading

A rules file switches and tunes rules by name (see `quality_rules.DEFAULT_RULES`):

    extends: default          # or "none": only the rules listed here
    rules:
      word_count: {min: 20, max: 50000}
      stop_words: false       # off
      curly_braces: true      # on, with its default bound

Each dropped record names the first rule it breaks and the measured value
("word_count: 12 < min 50"), followed by any other broken rules.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from thresher.errors import UsageError
from thresher.filter.base import Filter
from thresher.params import Param
from thresher.steps import register
from thresher.filter.quality_rules import DEFAULT_RULES, MEASUREMENTS, Rule, measure_batch


def load_rules(rules: str | os.PathLike | dict | None = "default") -> dict[str, Rule]:
    """The rule set: "default", a YAML file path, or a dict in the file's shape."""
    if rules is None or rules == "default":
        return dict(DEFAULT_RULES)
    if isinstance(rules, (str, os.PathLike)):
        if not os.path.exists(rules):
            raise UsageError(f"rules {rules!r}: not 'default' and no such file.")
        import yaml

        try:
            with open(rules) as handle:
                config = yaml.safe_load(handle) or {}
        except yaml.YAMLError as err:
            raise UsageError(f"rules file {rules}: not valid YAML ({err}).") from None
        where = str(rules)
    else:
        config, where = rules, "rules"
    if not isinstance(config, dict):
        raise UsageError(f"{where}: expected a mapping with 'rules:' (and optionally 'extends:').")
    unknown_keys = set(config) - {"extends", "rules"}
    if unknown_keys:
        raise UsageError(f"{where}: unknown key {sorted(unknown_keys)[0]!r}; use 'extends' and 'rules'.")
    extends = config.get("extends", "default")
    if extends not in ("default", "none"):
        raise UsageError(f"{where}: extends={extends!r}; use 'default' or 'none'.")
    chosen = {name: rule if extends == "default" else dataclasses.replace(rule, enabled=False)
              for name, rule in DEFAULT_RULES.items()}
    for name, spec in (config.get("rules") or {}).items():
        if name not in DEFAULT_RULES:
            raise UsageError(f"{where}: unknown rule {name!r}. Rules: {', '.join(DEFAULT_RULES)}.")
        chosen[name] = _tune(DEFAULT_RULES[name], spec, where)
    return chosen


def _tune(rule: Rule, spec: Any, where: str) -> Rule:
    if isinstance(spec, bool):
        return dataclasses.replace(rule, enabled=spec)
    if not isinstance(spec, dict) or set(spec) - {"min", "max", "enabled"}:
        raise UsageError(f"{where}: rule {rule.name}: give true, false or a mapping of min, max, enabled.")
    changes: dict[str, Any] = {"enabled": bool(spec.get("enabled", True))}
    for bound in ("min", "max"):
        if bound in spec:
            value = spec[bound]
            if value is not None and not isinstance(value, (int, float)):
                raise UsageError(f"{where}: rule {rule.name}: {bound}={value!r} is not a number.")
            changes[bound] = value
    return dataclasses.replace(rule, **changes)


@dataclass
class MeasureTask:
    """Per-batch: every measurement of every record, (batch,) float64 per measurement."""

    def __call__(self, batch) -> dict[str, np.ndarray]:
        rows = measure_batch([text or "" for text in batch.column("text").to_pylist()])
        return {name: np.array([row[name] for row in rows], dtype=np.float64) for name in MEASUREMENTS}


@register
class QualityFilter(Filter):
    """Drop records that break any enabled rule; keep every measurement as a score."""

    name = "quality"
    summary = "Gopher- and C4-style heuristic quality rules; each drop names the rule and value."
    paper = "Rae et al. 2021 (Gopher), appendix A; Raffel et al. 2020 (C4), section 2.2"
    params = {"rules": Param("default", object, "'default' (Gopher/C4 rules), a YAML file that switches and tunes "
                                                "rules, or a dict in that file's shape")}

    def validate(self) -> None:
        self.rules = load_rules(self.config["rules"])
        self.measurements: pa.Table | None = None

    def get_params(self) -> dict:
        return {"rules": {name: {"min": r.min, "max": r.max} for name, r in self.rules.items() if r.enabled}}

    def measure(self, pool, *, engine=None, workers: int | None = None) -> pa.Table:
        """Every measurement of every record: a table of `id` plus one float64 column per rule."""
        index, outputs = pool.scan([MeasureTask()], engine=engine, workers=workers)
        parts = outputs[0] if outputs else []
        columns = {"id": pool.ids_at(np.arange(index.n))}
        for name in MEASUREMENTS:
            columns[name] = pa.array(np.concatenate([p[name] for p in parts]) if parts else np.zeros(0))
        return pa.table(columns)

    def apply(self, pool, *, engine=None, workers: int | None = None, measurements: pa.Table | None = None):
        """Keep or drop every record; with `measurements` (from `measure`) nothing is re-measured."""
        self.measurements = measurements
        return super().apply(pool, engine=engine, workers=workers)

    def _run(self, pool, engine, workers):
        table = self.measurements
        if table is None:
            table = self.measure(pool, engine=engine, workers=workers)
        elif table.num_rows != len(pool) or not _same_ids(table.column("id"), pool.ids_at(np.arange(len(pool)))):
            raise UsageError("these measurements come from another pool (their ids differ); measure this pool again.")
        self.measurements = table
        enabled = [rule for rule in self.rules.values() if rule.enabled]
        n = table.num_rows
        failures = [[] for _ in range(n)]
        broken = np.zeros(n, dtype=np.int64)
        by_rule = {}
        for rule in enabled:
            values = table.column(rule.name).to_numpy()
            bad = np.zeros(n, dtype=bool)
            if rule.min is not None:
                bad |= values < rule.min
            if rule.max is not None:
                bad |= values > rule.max
            broken += bad
            by_rule[rule.name] = int(bad.sum())
            for row in np.flatnonzero(bad):
                failures[row].append((rule.name, rule.failure(float(values[row]))))
        keep = broken == 0
        # The first broken rule is the reason code; the detail is its measurement, then the other broken rules'.
        reasons = [(f[0][0], "; ".join([f[0][1]] + [f"{rule}: {detail}" for rule, detail in f[1:]])) if f else None
                   for f in failures]
        passed = 1.0 - broken / max(len(enabled), 1)
        extra = {"rules_enabled": [rule.name for rule in enabled], "broken_by_rule": by_rule}
        return keep, reasons, passed, extra


def _same_ids(saved, ids) -> bool:
    saved = saved.combine_chunks() if isinstance(saved, pa.ChunkedArray) else saved
    try:
        return saved.cast(ids.type).equals(ids)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
