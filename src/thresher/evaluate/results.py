"""Results: summaries of a run's raw points, the results JSON, and the terminal table.

The JSON keeps every raw point (method, budget, seed, accuracy, macro-F1, selection time
and peak memory), the per-budget tuning, the summaries, and where and how it was measured
(dataset, features, model, thresher version, machine).
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import os
import platform
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from thresher._version import __version__
from thresher.errors import UsageError
from thresher.evaluate.metrics import area_vs_random, data_to_target, mean_ci, paired_vs_random
from thresher.io import atomic_path


def _by(points: list[dict], key: str) -> dict:
    grouped: dict = defaultdict(lambda: defaultdict(list))
    for p in points:
        grouped[p["method"]][p["budget"]].append(p)
    return grouped


def summarize(run: dict) -> dict:
    """Per method and budget: mean accuracy with its 95% CI, macro-F1, selection cost; per
    method: the data-to-target budget, the area against random and paired tests against it."""
    fractions = {b["budget"]: b["fraction"] for b in run["budgets"]}
    full_acc = [p["accuracy"] for p in run["full"]["points"]]
    mean, low, high = mean_ci(full_acc)
    if run["full"].get("fitted_once"):  # a deterministic model: one fit, no spread to report
        low = high = math.nan
    summary: dict = {"full": {"mean": mean, "low": low, "high": high,
                              "macro_f1": float(np.mean([p["macro_f1"] for p in run["full"]["points"]]))},
                     "methods": {}}
    grouped = _by(run["points"], "budget")
    random = grouped.get("random")
    for method, budgets in grouped.items():
        curve = {}
        for budget, points in budgets.items():
            acc = [p["accuracy"] for p in sorted(points, key=lambda p: p["seed"])]
            m, lo, hi = mean_ci(acc)
            entry = {"mean": m, "low": lo, "high": hi, "n": len(acc),
                     "macro_f1": float(np.mean([p["macro_f1"] for p in points])),
                     "select_s": float(np.mean([p["select_s"] for p in points])),
                     "peak_mb": float(np.max([p["peak_mb"] for p in points]))}
            if all("select_cpu_s" in p for p in points):
                entry["select_cpu_s"] = float(np.mean([p["select_cpu_s"] for p in points]))
            races = [p["race"]["decision"] for p in points if p.get("race")]
            if races:  # auto: how often each candidate won the race at this budget
                entry["race"] = {name: races.count(name) for name in sorted(set(races), key=races.index)}
            if all("classes_covered" in p for p in points):
                entry["classes_covered"] = float(np.mean([p["classes_covered"] for p in points]))
            if "domain_precision" in points[0]:
                entry["domain_precision"] = float(np.mean([p["domain_precision"] for p in points]))
            if random is not None and method != "random" and budget in random:
                entry["vs_random"] = paired_vs_random(acc, _accuracies(random[budget]))
            curve[budget] = entry
        order = sorted(curve, key=lambda b: fractions[b])
        result = {"curve": {b: curve[b] for b in order},
                  "data_to_target": data_to_target([fractions[b] for b in order],
                                                   {fractions[b]: _accuracies(budgets[b]) for b in order}, full_acc)}
        if random is not None and method != "random":
            shared = [b for b in order if b in random]
            if shared:
                result["area_vs_random"] = area_vs_random([fractions[b] for b in shared],
                                                          [curve[b]["mean"] for b in shared],
                                                          [float(np.mean(_accuracies(random[b]))) for b in shared])
        summary["methods"][method] = result
    summary["notes"] = budget_notes(run)
    if run.get("transfer"):
        summary["transfer"] = {name: summarize(transfer_view(run, name)) for name in run["transfer"]["full"]}
    return summary


def budget_notes(run: dict) -> list[str]:
    """What a budget too small for the classes means, said once per such budget."""
    classes = run.get("classes") or 0
    return [f"budget {b['budget']} ({b['n']:,} records) is smaller than the {classes} classes: at least "
            f"{classes - b['n']} classes are in no selection of that size, and their test records count as errors"
            for b in run["budgets"] if b["n"] < classes]


def transfer_view(run: dict, name: str) -> dict:
    """The run as eval model `name` saw it: each point's accuracy is that model's, and the
    full-pool line is its one full fit (so `summarize` gives its curves and paired tests)."""
    full = run["transfer"]["full"][name]
    points = [{**p, "accuracy": p["transfer"][name]["accuracy"], "macro_f1": p["transfer"][name]["macro_f1"]}
              for p in run["points"] if name in p.get("transfer", {})]
    view = {key: value for key, value in run.items() if key != "transfer"}
    view["points"] = points
    view["full"] = {"n": full["n"], "fitted_once": True,
                    "points": [{"seed": s, "accuracy": full["accuracy"], "macro_f1": full["macro_f1"]}
                               for s in run["seeds"]]}
    return view


def _accuracies(points: list[dict]) -> list[float]:
    return [p["accuracy"] for p in sorted(points, key=lambda p: p["seed"])]


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    import sklearn

    info["scikit_learn"] = sklearn.__version__
    info["numpy"] = np.__version__
    return info


def results_document(runs: list[dict], command: str, wall_s: float, cpu_s: float | None = None) -> dict:
    """The results JSON: every run with its raw points and summary, plus provenance."""
    return {"thresher_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "wall_s": round(wall_s, 1), "cpu_s": None if cpu_s is None else round(cpu_s, 1),
            "machine": machine_info(), "runs": runs}


def merge_documents(documents: list[dict]) -> dict:
    """One results document from several: runs of the same dataset or scenario under the
    same protocol (features, proxy model, tuning, seeds) become one run holding every
    budget and point (a point present twice keeps the later document's); others are kept
    side by side. Summaries are recomputed."""
    merged: dict[str, dict] = {}
    for document in documents:
        for run in document.get("runs", []):
            key = json.dumps([run["dataset"], run["scenario"], run.get("features", {}).get("name"),
                              run["model"]["name"], run["model"].get("tune_repeats"), run["seeds"]], default=str)
            if key not in merged:
                merged[key] = copy.deepcopy(run)
                continue
            into = merged[key]
            if into["pool_size"] != run["pool_size"] or into["test_size"] != run["test_size"]:
                raise UsageError(f"{run['dataset']}: two results files disagree on the pool or test size "
                                 f"({into['pool_size']} vs {run['pool_size']}); they are not the same data.")
            budgets = {b["budget"]: b for b in into["budgets"]} | {b["budget"]: b for b in run["budgets"]}
            into["budgets"] = sorted(budgets.values(), key=lambda b: b["n"])
            points = {(p["method"], p["budget"], p["seed"]): p for p in into["points"] + run["points"]}
            into["points"] = list(points.values())
            into["skipped"] = {**into.get("skipped", {}), **run.get("skipped", {})}
            into["failed"] = {**into.get("failed", {}), **run.get("failed", {})}
            if run.get("transfer"):
                ours = into.setdefault("transfer", {"models": {}, "skipped": {}, "tuned": {}, "full": {}})
                for key in ("models", "skipped", "full"):
                    ours[key] = {**ours.get(key, {}), **run["transfer"].get(key, {})}
                for name, tuned in run["transfer"].get("tuned", {}).items():
                    ours["tuned"][name] = {**ours["tuned"].get(name, {}), **tuned}
    runs = list(merged.values())
    for run in runs:
        run["summary"] = summarize(run)
    first = documents[0] if documents else {}
    return {**first, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "merged_from": [d.get("command") for d in documents], "runs": runs}


def _clean(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def write_json(document: dict, path: str | os.PathLike, overwrite: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(_clean(document), indent=1) + "\n")
    return path


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.{digits}f}"


def cell(entry: dict) -> str:
    """"mean ±half-width" in points, e.g. "84.1 ±1.2"."""
    if entry["low"] is None or math.isnan(entry["low"]):
        return pct(entry["mean"])
    return f"{pct(entry['mean'])}±{100 * (entry['high'] - entry['low']) / 2:.1f}"


def table_rows(run: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the accuracy-vs-budget table of one run (accuracy %, mean ±95% CI)."""
    summary = run["summary"]
    budgets = [b["budget"] for b in run["budgets"]]
    header = ["method"] + [f"{b['budget']}\n{b['n']:,}" for b in run["budgets"]] + \
             [f"full\n{run['pool_size']:,}", "1 pt of\nfull at", "area vs\nrandom"]
    rows = []
    for method, result in summary["methods"].items():
        to_target = result["data_to_target"]
        reach = "not reached" if to_target["budget"] is None else f"{pct(to_target['budget'], 0)}%"
        area = result.get("area_vs_random")
        rows.append([method] + [cell(result["curve"][b]) if b in result["curve"] else "-" for b in budgets] +
                    ["", reach, "" if area is None else f"{100 * area:+.1f}"])
    rows.append(["full data"] + [""] * len(budgets) + [cell(summary["full"]), "", ""])
    return header, rows


def transfer_rows(run: dict) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the transfer table of one run: per eval model (the proxy first) and
    method, test accuracy % by budget with the paired difference against random in points and
    its 95% interval, e.g. "84.1 (+2.3 [+1.0,+3.5])"; ([], []) for a run without eval models."""
    summary = run["summary"]
    if not summary.get("transfer"):
        return [], []
    budgets = [b["budget"] for b in run["budgets"]]
    header = ["eval model", "method"] + budgets + ["full"]
    rows = []
    for label, view in [(f"{run['model']['name']} (proxy)", summary), *summary["transfer"].items()]:
        for method, result in view["methods"].items():
            cells = []
            for budget in budgets:
                entry = result["curve"].get(budget)
                if entry is None:
                    cells.append("-")
                    continue
                vs = entry.get("vs_random")
                cells.append(pct(entry["mean"]) + ("" if not vs else f" ({100 * vs['mean_diff']:+.1f} "
                                                                   f"[{100 * vs['low']:+.1f},{100 * vs['high']:+.1f}])"))
            rows.append([label, method] + cells + [pct(view["full"]["mean"])])
            label = ""
    return header, rows


def print_table(run: dict, console=None) -> None:
    """The accuracy-vs-budget table of one run and its notes; names, reasons and notes
    are printed as text, never as Rich markup."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # a log or a pipe: do not squeeze the table into 80 columns
        console = Console(file=console.file, highlight=False, soft_wrap=True, width=max(console.width, 200))
    header, rows = table_rows(run)
    info = run["dataset_info"]
    title = (f"{run['dataset']}: test accuracy % (mean ±95% CI, {len(run['seeds'])} seeds) by budget (share and "
             f"count of the pool); {run['model']['name']} on {run['features']['name']}")
    if run.get("target_domain"):
        title += f"; target {run['target_domain']}"
    table = Table(title=escape(title), title_justify="left")
    for name in header:
        table.add_column(escape(name), justify="left" if name == "method" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*map(escape, row))
    console.print(table)
    if run.get("target_domain"):
        precision = {m: ", ".join(f"{b} {pct(e.get('domain_precision'), 0)}%" for b, e in r["curve"].items())
                     for m, r in run["summary"]["methods"].items()}
        for method, text in precision.items():
            console.print(f"  domain precision ({method}): {text}", markup=False)
    for method, reason in {**run["skipped"], **run["failed"]}.items():
        kind = "skipped" if method in run["skipped"] else "FAILED"
        console.print(f"  {kind} {method}: {reason}", markup=False)
    for note in info.get("notes", []) + run["summary"].get("notes", []):
        console.print(f"  note: {note}", markup=False)
    header, rows = transfer_rows(run)
    if rows:
        table = Table(title=escape(f"{run['dataset']}: does it transfer? test accuracy % of each eval model "
                                   f"trained on the same selections (paired difference against random, points, "
                                   f"95% interval)"), title_justify="left")
        for name in header:
            table.add_column(escape(name), justify="left" if name in ("eval model", "method") else "right",
                             no_wrap=True)
        for row in rows:
            table.add_row(*map(escape, row))
        console.print(table)
    for name, reason in (run.get("transfer") or {}).get("skipped", {}).items():
        console.print(f"  eval model {name} skipped: {reason}", markup=False)


def marked(entry: dict) -> str:
    """The mean in points, with ↑ or ↓ when its paired interval against random excludes zero."""
    vs = entry.get("vs_random")
    mark = "" if not vs else ("↑" if vs["low"] > 0 else "↓" if vs["high"] < 0 else "")
    return pct(entry["mean"]) + mark


def markdown_table(document: dict, methods: tuple[str, ...] = ("random", "stratified"), marks: bool = False) -> str:
    """The headline table of a results document as Markdown: dataset x budget, mean test
    accuracy % per method (± half-width of the 95% CI), with the full pool in the last column.
    marks: the mean alone, with ↑ (↓) where the paired 95% interval against random is above
    (below) zero. Target-aware runs are left out: their figures are of another kind."""
    runs = [run for run in document["runs"] if run["scenario"] == "standard"]
    budgets: list[str] = []
    for run in runs:
        budgets += [b["budget"] for b in run["budgets"] if b["budget"] not in budgets]
    lines = ["| dataset (pool, features) | method | " + " | ".join(budgets) + " | full |",
             "|---|---|" + "---:|" * (len(budgets) + 1)]
    for run in runs:
        name = f"{run['dataset']} ({run['pool_size']:,}, {run['features']['name'].split(':')[0]})"
        for method in methods:
            result = run["summary"]["methods"].get(method)
            if result is None:
                continue
            cells = [(marked(result["curve"][b]) if marks else cell(result["curve"][b])) if b in result["curve"]
                     else "" for b in budgets]
            lines.append(f"| {name} | {method} | " + " | ".join(cells) + f" | {pct(run['summary']['full']['mean'])} |")
            name = ""
    return "\n".join(lines)


def transfer_markdown(document: dict, methods: tuple[str, ...] | None = None) -> str:
    """The transfer tables of a results document as Markdown: per dataset, eval model and
    method, accuracy % by budget with the paired difference against random."""
    lines = []
    for run in document["runs"]:
        header, rows = transfer_rows(run)
        if not rows:
            continue
        lines += [f"**{run['dataset']}** (pool {run['pool_size']:,}, {len(run['seeds'])} seeds)", "",
                  "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
        model = shown = ""
        for row in rows:
            model = row[0] or model
            if methods is None or row[1] in methods:
                lines.append("| " + " | ".join([model if model != shown else ""] + row[1:]) + " |")
                shown = model
        lines.append("")
    return "\n".join(lines)


def race_markdown(document: dict, method: str = "auto") -> str:
    """Who won `auto`'s race, per dataset and budget, next to its paired difference against
    random (points, 95% interval) and its selection CPU-s: a Markdown table."""
    runs = [run for run in document["runs"] if method in run["summary"]["methods"]]
    budgets: list[str] = []
    for run in runs:
        budgets += [b["budget"] for b in run["budgets"] if b["budget"] not in budgets]
    lines = ["| dataset | " + " | ".join(budgets) + " |", "|---|" + "---|" * len(budgets)]
    for run in runs:
        curve = run["summary"]["methods"][method]["curve"]
        cells = []
        for budget in budgets:
            entry = curve.get(budget)
            if entry is None:
                cells.append("")
                continue
            winners = ", ".join(f"{name} {count}" if count > 1 else name for name, count in entry.get("race", {}).items())
            vs = entry.get("vs_random")
            diff = f"{100 * vs['mean_diff']:+.1f} [{100 * vs['low']:+.1f},{100 * vs['high']:+.1f}]" if vs else ""
            cells.append(" ".join(part for part in (winners and f"{winners}:", diff) if part))
        lines.append(f"| {run['dataset']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
