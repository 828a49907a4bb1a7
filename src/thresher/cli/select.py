"""`thresher select`: choose records within a budget and write them.

The method options (--threshold, --clusters, --embeddings, ...) are generated from the
registered selectors' parameters (`thresher.params.Param`): one option per parameter
name, typed by its kind, so a new selector's parameters reach the command line without
an edit here. A parameter whose name a command option already uses (--seed, --budget,
--target, ...) is given with `-p name=value`, the general form.
"""

from __future__ import annotations

import os
import time
from typing import Any

import click

from thresher.cli.common import (
    manifest_outputs, open_pool, open_targets, parse_params, pool_options, quarantine_option, quarantine_file,
    reasons, reports_errors, summary, write_quarantine,
)

# Python names of the generated options, kept apart from the command's own options.
PREFIX = "method__"


@click.command()
@click.argument("pool", nargs=-1, required=True)
@click.option("-m", "--method", default="random", show_default=True, help="Selection method (see `thresher methods`).")
@click.option("-b", "--budget", default="100%", show_default=True,
              help='How much to keep: a count (2000, 50k), a fraction or percent (0.1, 10%) or tokens ("2M tokens"). '
                   "Leave it out to let the method decide (e.g. semdedup --threshold).")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the chosen records; the format follows the name (.jsonl[.gz|.zst], .parquet, .csv).")
@click.option("--manifest", default=None, type=click.Path(dir_okay=False),
              help="Also save the Selection (ids, weights, scores, reasons, metadata) as a Parquet manifest, "
                   "with a JSON sidecar.")
@click.option("--report", default=None, type=click.Path(dir_okay=False),
              help="Also write an HTML page on what was kept: shares by class, domain and cluster against the "
                   "pool, the scores' histogram with the cut, example kept and dropped records.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Random seed.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes that read the pool; the selection is the same for any number.")
@click.option("--order", type=click.Choice(["pool", "selection"]), default="pool", show_default=True,
              help="Write records in pool order or in the order the method chose them.")
@click.option("--replace", is_flag=True, help="Sample with replacement (random only); records repeat in the output.")
@click.option("--target", "targets", multiple=True, metavar="PATH",
              help="Examples of the task you care about, for target-aware methods; read with the pool's text "
                   "options. Repeat for several targets.")
@click.option("--target-label-field", metavar="FIELD",
              help="The targets' label field, for methods that learn from labelled examples (llkd's teacher, "
                   "auto's validation set).")
@click.option("--kl/--no-kl", "report_kl", default=True, show_default=True,
              help="dsir: report the selection's KL reduction toward the target (reads the written records again).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A method parameter, e.g. -p by=domain (repeatable; see `thresher methods`); the options "
                   "at the end say the same for each method parameter.")
@quarantine_option
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@pool_options
@reports_errors
def select(pool, method, budget, out, manifest, report, seed, workers, order, replace, targets, target_label_field,
           report_kl, params, quarantine_path, overwrite, **options) -> None:
    """Choose records from POOL within a budget and write them to OUT.

    \b
    Examples:
      thresher select pool.jsonl --method random --budget 10% --out picked.jsonl
      thresher select pool.parquet --method stratified --label-field intent --budget 2000 \\
          --out picked.parquet --manifest picked.manifest.parquet
      thresher select 'raw/*.jsonl.gz' -m random -b "2M tokens" -o picked.jsonl.gz --workers 2
      thresher select pool.jsonl --embeddings pool_emb.npy -m kmeans-quota --clusters 1000 -b 20% -o picked.jsonl
      thresher select pool.jsonl -m semdedup --threshold 0.95 -o deduped.jsonl
      thresher select unlabelled.jsonl -m llkd --target labelled.jsonl --target-label-field intent -b 10% \\
          -o picked.jsonl --manifest picked.manifest.parquet
    """
    from thresher.io import check_outputs
    from thresher.select import get_method

    clock = time.perf_counter()
    reading = {k: v for k, v in options.items() if not k.startswith(PREFIX)}
    given = {k[len(PREFIX):]: v for k, v in options.items() if k.startswith(PREFIX) and v is not None}
    cls = get_method(method)
    _check_method_options(method, cls, given)
    selector = cls(**{**parse_params(params), **given})
    data = open_pool(pool, **reading)
    target = open_targets(targets, reading, label_field=target_label_field)
    quarantine = quarantine_file(data, quarantine_path, out)
    # Every output against every input and each other, before the work: a mistake costs nothing.
    check_outputs({"--out": out, **manifest_outputs(manifest), "--report": report,
                   "--quarantine": quarantine},
                  [*data.paths, *_paths_of(target), *_embeddings_file(selector)], overwrite)
    selection = selector.select(data, budget, target=target, seed=seed, workers=workers, replace=replace)
    written = data.take(selection, order=order, repeat=replace).write(out, overwrite=overwrite)
    if manifest:
        selection.save(manifest, overwrite=overwrite, inputs=data.paths)
    bad = data.bad_records
    rows = [
        ("read", f"{selection.meta['pool_size'] + len(bad):,}"),
        ("bad", f"{len(bad):,}" + (f"  ({reasons(bad.counts())})" if len(bad) else "")),
        ("pool", f"{selection.meta['pool_size']:,}"),
        ("selected", f"{len(selection):,}  ({method}, budget {budget}, seed {seed})"),
        ("written", f"{written:,} -> {out}"),
    ]
    dropped = {code: count for code, count in selection.reason_counts().items() if code}
    if dropped:  # records a method ruled out whatever the budget (label issues, duplicates)
        rows.append(("ruled out", reasons(dropped)))
    if "race" in selection.meta:
        rows += _race_rows(selection.meta["race"])
    if "llkd" in selection.meta:
        shares = selection.meta["llkd"]["teacher_labels_of_chosen"]
        rows.append(("teacher's labels", f"{len(shares)} classes among the selected; "
                     + (f"in {manifest}'s group column (class names: llkd.classes in {manifest}.json)" if manifest
                        else "give --manifest FILE to keep them (its group column)")))
    if manifest:
        rows.append(("manifest", f"{manifest} (+ {manifest}.json)"))
    if report:
        from thresher.report import selection_report

        selection_report(data, selection, report, overwrite=overwrite)
        rows.append(("report", report))
    write_quarantine(data, quarantine, overwrite, rows)
    if report_kl and written and target is not None and hasattr(selector, "kl_reduction"):
        picked = open_pool([out], **{**reading, "format_": None, "checkpoint": None})
        reduction = selector.kl_reduction(data, picked, target, workers=workers)
        rows.append(("KL reduction", f"{reduction:.4f} nats (hashed n-grams; > 0: closer to the target)"))
    rows.append(("time", f"{time.perf_counter() - clock:.2f} s (selection {selection.meta['duration_s']:.2f} s)"))
    summary(rows)


def _race_rows(race: dict) -> list[tuple[str, str]]:
    """The summary rows of a method that raced others (auto): its decision, and the race."""
    rows = [("decision", f"{race['decision']}: {race['why']}")]
    if race.get("candidates"):
        raced = ", ".join(f"{row['method']} {row['mean']:.3f}" for row in race["candidates"])
        rows.append(("race", f"validation accuracy {raced}; {race['cpu_s']:.1f} CPU-s "
                             f"(one fit on the whole pool: {race['full_fit_cpu_s']:.1f} CPU-s)"))
    return rows


def _check_method_options(method: str, cls: type, given: dict[str, Any]) -> None:
    from thresher.errors import UsageError

    for name in given:
        if name not in cls.params:
            known = ", ".join(_flag(p) for p in cls.params) or "none"
            raise UsageError(f"{_flag(name)} is not a parameter of {method}; its parameters: {known} "
                             "(see `thresher methods --kind selector`).")


def _paths_of(target) -> list[str]:
    pools = [] if target is None else target if isinstance(target, list) else [target]
    return [path for pool in pools for path in pool.paths]


def _embeddings_file(selector) -> list[str]:
    """The --embeddings file a selector reads (an input), if it names a file rather than a column."""
    value = getattr(selector, "config", {}).get("embeddings")
    return [value] if isinstance(value, str) and value and os.path.exists(value) else []


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def method_parameters() -> dict[str, list[tuple[str, Any]]]:
    """Every selector parameter name -> [(method, Param)] of the selectors that have it."""
    from thresher.steps import steps

    found: dict[str, list[tuple[str, Any]]] = {}
    for method, cls in steps("selector").items():
        for name, param in cls.params.items():
            found.setdefault(name, []).append((method, param))
    return dict(sorted(found.items()))


def method_option(name: str, users: list[tuple[str, Any]]) -> click.Option:
    """The option for parameter `name` of the selectors in `users`: a --x/--no-x flag for
    booleans, else typed by the parameter's kind (text where the selectors disagree);
    None when not given, so the method's default applies."""
    kinds = {param.kind for _, param in users}
    methods = ", ".join(method for method, _ in users)
    help_text = f"{users[0][1].help} (methods: {methods})"
    dest = PREFIX + name
    if kinds == {bool}:
        return click.Option([f"{_flag(name)}/--no-{name.replace('_', '-')}", dest], default=None, help=help_text)
    kind = kinds.pop() if len(kinds) == 1 and kinds <= {int, float, str} else str
    return click.Option([_flag(name), dest], type=kind, default=None, help=help_text)


def add_method_options(command: click.Command) -> None:
    """Add one option per selector parameter to `command`, after its own options; names
    the command already uses are left to -p."""
    taken = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for name, users in method_parameters().items():
        option = method_option(name, users)
        if not taken & {*option.opts, *option.secondary_opts}:
            command.params.append(option)


add_method_options(select)

COMMANDS = (select,)
