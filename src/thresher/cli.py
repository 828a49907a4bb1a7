"""The `thresher` command line: info, select, methods.

Usage errors exit with 2, failures with 1; a user's mistake prints one message, not a
traceback. Progress bars go to stderr, the summary table to stdout.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from typing import Any, Callable

import click

from thresher._version import __version__
from thresher.errors import ThresherError

POOL_HELP = "POOL is one or more files or globs of one format: JSONL (.jsonl, .jsonl.gz, .jsonl.zst), Parquet or CSV."


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def pool_options(command: Callable) -> Callable:
    """Options that say how to read a pool, shared by every command that reads one."""
    options = [
        click.option("--format", "format_", type=click.Choice(["jsonl", "parquet", "csv"]), default=None,
                     help="File format; by default from the file names."),
        click.option("--text-field", default="text", show_default=True,
                     help="Field holding the text. Use '' for pools without text."),
        click.option("--template", default=None,
                     help='Build the text from several fields, e.g. "{prompt}\\n{completion}" (overrides --text-field).'),
        click.option("--label-field", default=None, help="Field holding the class label (needed by stratified)."),
        click.option("--domain-field", default=None, help="Field holding the domain or group."),
        click.option("--id-field", default=None,
                     help="Field holding a unique id; without it a record's id is its 0-based position in the pool."),
        click.option("--on-bad-record", type=click.Choice(["error", "quarantine", "skip"]), default="error",
                     show_default=True,
                     help="What to do with a record that is not valid JSON, not UTF-8 or lacks a chosen field: stop "
                          "(error), set it aside in a quarantine file with its reason (quarantine), or drop it and "
                          "count it (skip)."),
        click.option("--csv-delimiter", default=None, help="Delimiter of CSV files (default ',')."),
        click.option("--checkpoint", default=None, type=click.Path(file_okay=False),
                     help="Keep each finished shard's result in this folder, so that a long run which is stopped "
                          "resumes at the shards it had not finished when run again; removed when the command "
                          "succeeds."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def open_pool(paths, format_, text_field, template, label_field, domain_field, id_field, on_bad_record, csv_delimiter,
              checkpoint=None):
    from thresher.data import Pool

    pool = Pool.from_files(list(paths), format=format_, text_field=text_field or None, template=template,
                           label_field=label_field, domain_field=domain_field, id_field=id_field,
                           on_bad_record=on_bad_record, csv_delimiter=csv_delimiter)
    pool.checkpoint_dir = checkpoint
    return pool


def open_targets(paths: tuple[str, ...], reading: dict):
    """Target pools (text only, read like the pool): None, one Pool, or a list for several."""
    if not paths:
        return None
    options = {**reading, "label_field": None, "domain_field": None, "id_field": None}
    pools = [open_pool([path], **options) for path in paths]
    return pools[0] if len(pools) == 1 else pools


def reports_errors(command: Callable) -> Callable:
    """Turn thresher's errors into one line on stderr and the right exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
        except ThresherError as err:
            click.echo(f"thresher: {err}", err=True)
            sys.exit(err.exit_code)
        except (OSError, MemoryError) as err:
            click.echo(f"thresher: {err}", err=True)
            sys.exit(1)
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (thresher._startup.Terminated: exit 143)
            click.echo(f"thresher: {getattr(err, 'what', 'interrupted')}; no output was left half-written.", err=True)
            sys.exit(getattr(err, "exit_code", 130))
        if kwargs.get("checkpoint"):  # done: the shards kept for a resume are not needed any more
            from thresher.data import checkpoint

            checkpoint.clear_used()
        return result

    return wrapper


class _Commands(click.Group):
    """A group that adds the subsystems' commands on first use, not at import, so a
    subsystem's cli module may import this one."""

    _loaded = False

    def _load(self) -> None:
        if not self._loaded:
            type(self)._loaded = True
            _register_commands()

    def list_commands(self, ctx):
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx, name):
        self._load()
        return super().get_command(ctx, name)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="thresher")
@click.option("--progress/--no-progress", default=None,
              help="Show progress bars (default: when stderr is a terminal).")
def main(progress: bool | None) -> None:
    """thresher: separate the training data that matters from the chaff.

    Select, deduplicate, filter, weight and mix training data; then prove the saving.

    \b
    Examples:
      thresher info pool.jsonl --label-field intent
      thresher select pool.jsonl --method random --budget 10% --out picked.jsonl
      thresher methods
    """
    from thresher._startup import handle_sigterm, start
    from thresher.progress import set_progress

    set_progress(progress)
    start()
    handle_sigterm()


@main.command()
@click.argument("pool", nargs=-1, required=True)
@pool_options
@click.option("--quarantine", "quarantine_path", default=None, type=click.Path(dir_okay=False),
              help="With --on-bad-record=quarantine, write the bad records here.")
@click.option("--tokens/--no-tokens", default=True, show_default=True, help="Count whitespace tokens.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes that read the pool.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@reports_errors
def info(pool, quarantine_path, tokens, workers, as_json, **reading) -> None:
    """Describe a pool: files, format, records, bad records, tokens, labels, fingerprint.

    \b
    Example:
      thresher info 'data/*.jsonl.gz' --label-field intent --on-bad-record quarantine
    """
    clock = time.perf_counter()
    data = open_pool(pool, **reading)
    index = data.index(tokens=tokens and data.fields.has_text, workers=workers)
    facts: dict[str, Any] = {
        "files": data.paths,
        "format": data.format,
        "records": index.n,
        "bad_records": len(index.bad),
        "bad_reasons": index.bad.counts(),
        "blank_lines": index.blank_lines,
        "fields": data.fields.as_dict(),
        "fingerprint": data.fingerprint,
    }
    if index.tokens is not None:
        facts["tokens"] = int(index.tokens.sum())
        facts["tokens_per_record_mean"] = round(float(index.tokens.mean()), 2) if index.n else 0.0
    for name, column in (("labels", index.labels), ("domains", index.domains)):
        if column is not None:
            import pyarrow.compute as pc

            counts = pc.value_counts(column).to_pylist()
            counts.sort(key=lambda item: (-item["counts"], str(item["values"])))
            facts[name] = {"distinct": len(counts), "top": {str(c["values"]): c["counts"] for c in counts[:10]}}
    if quarantine_path and len(index.bad):
        data.write_quarantine(quarantine_path)
        facts["quarantine_file"] = quarantine_path
    facts["seconds"] = round(time.perf_counter() - clock, 3)
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in (value.get("top", value)).items()) + (
                f"  ({value['distinct']} distinct)" if "distinct" in value else "")
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(key, str(value))
    _console().print(table)


def _parse_params(pairs: tuple[str, ...]) -> dict[str, str]:
    from thresher.select.base import split_param

    params = {}
    for pair in pairs:
        try:
            key, value = split_param(pair)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="-p/--param") from None
        params[key] = value
    return params


@main.command()
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
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Random seed.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes that read the pool; the selection is the same for any number.")
@click.option("--order", type=click.Choice(["pool", "selection"]), default="pool", show_default=True,
              help="Write records in pool order or in the order the method chose them.")
@click.option("--replace", is_flag=True, help="Sample with replacement (random only); records repeat in the output.")
@click.option("--target", "targets", multiple=True, metavar="PATH",
              help="Examples of the task you care about, for target-aware methods; read with the pool's text "
                   "options. Repeat for several targets.")
@click.option("--balance", is_flag=True, default=None, help="stratified: equal numbers per class.")
@click.option("--embeddings", default=None, metavar="PATH",
              help="Embedding methods: a .npy of pool embeddings (one row per record, e.g. from `thresher embed`) "
                   "or a list/vector column name; default: embed the text.")
@click.option("--clusters", default=None, type=click.IntRange(min=1), help="Clustering methods: k-means clusters.")
@click.option("--threshold", default=None, type=float, help="semdedup: drop records with cosine above this to a kept one.")
@click.option("--target-proportions", default=None, metavar="P1,P2,...",
              help="dsir: shares of the budget per --target, e.g. 0.3,0.7 (default: by target size).")
@click.option("--kl/--no-kl", "report_kl", default=True, show_default=True,
              help="dsir: report the selection's KL reduction toward the target (reads the written records again).")
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A method parameter, e.g. -p by=domain (repeatable; see `thresher methods`).")
@click.option("--quarantine", "quarantine_path", default=None, type=click.Path(dir_okay=False),
              help="Where to write bad records (default: OUT.quarantine.jsonl, with --on-bad-record=quarantine).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@pool_options
@reports_errors
def select(pool, method, budget, out, manifest, seed, workers, order, replace, targets, balance, embeddings, clusters,
           threshold, target_proportions, report_kl, params, quarantine_path, overwrite, **reading) -> None:
    """Choose records from POOL within a budget and write them to OUT.

    \b
    Examples:
      thresher select pool.jsonl --method random --budget 10% --out picked.jsonl
      thresher select pool.parquet --method stratified --label-field intent --budget 2000 \\
          --out picked.parquet --manifest picked.manifest.parquet
      thresher select 'raw/*.jsonl.gz' -m random -b "2M tokens" -o picked.jsonl.gz --workers 2
      thresher select pool.jsonl --embeddings pool_emb.npy -m kmeans-quota --clusters 1000 -b 20% -o picked.jsonl
      thresher select pool.jsonl -m semdedup --threshold 0.95 -o deduped.jsonl
    """
    from thresher.io import check_output_path
    from thresher.select import get_method

    clock = time.perf_counter()
    method_params: dict[str, Any] = _parse_params(params)
    if balance is not None:
        method_params["balance"] = balance
    for name, value in (("embeddings", embeddings), ("clusters", clusters), ("threshold", threshold),
                        ("target_proportions", target_proportions)):
        if value is not None:
            method_params[name] = value
    selector = get_method(method)(**method_params)
    data = open_pool(pool, **reading)
    # Check every output before the work, so a mistake costs nothing.
    check_output_path(out, overwrite, data.paths)
    if manifest:
        check_output_path(manifest, overwrite, data.paths)
    target = open_targets(targets, reading)
    selection = selector.select(data, budget, target=target, seed=seed, workers=workers, replace=replace)
    written = data.take(selection, order=order, repeat=replace).write(out, overwrite=overwrite)
    if manifest:
        selection.save(manifest, overwrite=overwrite, inputs=data.paths)
    bad = data.bad_records
    if len(bad) and data.on_bad_record == "quarantine":
        quarantine_path = quarantine_path or f"{out}.quarantine.jsonl"
        bad.write(quarantine_path, overwrite=True)
    rows = [
        ("read", f"{selection.meta['pool_size'] + len(bad):,}"),
        ("bad", f"{len(bad):,}" + (f"  ({_reasons(bad.counts())})" if len(bad) else "")),
        ("pool", f"{selection.meta['pool_size']:,}"),
        ("selected", f"{len(selection):,}  ({method}, budget {budget}, seed {seed})"),
        ("written", f"{written:,} -> {out}"),
    ]
    if manifest:
        rows.append(("manifest", f"{manifest} (+ {manifest}.json)"))
    if len(bad) and data.on_bad_record == "quarantine":
        rows.append(("quarantine", str(quarantine_path)))
    if report_kl and written and target is not None and hasattr(selector, "kl_reduction"):
        picked = open_pool([out], **{**reading, "format_": None, "checkpoint": None})
        reduction = selector.kl_reduction(data, picked, target, workers=workers)
        rows.append(("KL reduction", f"{reduction:.4f} nats (hashed n-grams; > 0: closer to the target)"))
    rows.append(("time", f"{time.perf_counter() - clock:.2f} s (selection {selection.meta['duration_s']:.2f} s)"))
    _summary(rows)


def _reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def _summary(rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title="thresher summary", show_header=False, title_justify="left")
    for key, value in rows:
        table.add_row(key, value)
    _console().print(table)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the methods as JSON.")
@reports_errors
def methods(as_json: bool) -> None:
    """List the selection methods, what each keeps, its paper and parameters."""
    from thresher.select import methods as registered

    listing = [
        {
            "name": name,
            "summary": cls.summary,
            "paper": cls.paper,
            "needs": list(cls.needs),
            "params": {p: {"default": spec.default, "help": spec.help} for p, spec in cls.params.items()},
        }
        for name, cls in registered().items()
    ]
    if as_json:
        click.echo(json.dumps(listing, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(title="thresher methods", title_justify="left")
    for column in ("method", "what it keeps", "paper", "parameters"):
        table.add_column(column)
    for item in listing:
        params = "\n".join(f"{p}={spec['default']!r}: {spec['help']}" for p, spec in item["params"].items())
        table.add_row(item["name"], item["summary"], item["paper"] or "-", params or "-")
    _console().print(table)


# Commands that live beside their subsystem. Each module has `register(main)` and
# imports only click at module level; missing modules are skipped.
COMMAND_MODULES = (
    "thresher.evaluate.cli",
    "thresher.filter.cli",
    "thresher.features.cli",
    "thresher.mix.cli",
)


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if name.startswith(err.name or "\0"):
                continue
            raise
        module.register(main)


if __name__ == "__main__":
    main()
