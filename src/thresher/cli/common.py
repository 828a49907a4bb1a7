"""What every `thresher` command shares: reading a pool, checking outputs, reporting
errors, logging to stderr, and the summary table. Only click is imported at module level.

Usage errors exit with 2, failures with 1; a user's mistake prints one message, not a
traceback. Progress bars and log messages go to stderr, the summary table to stdout.
Every value that comes from data is printed as plain text, never as Rich markup.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable, Iterable

import click

from thresher.errors import ThresherError, UsageError

POOL_HELP = "POOL is one or more files or globs of one format: JSONL (.jsonl, .jsonl.gz, .jsonl.zst), Parquet or CSV."


def console(stderr: bool = False):
    """A Rich console for tables (stdout) or notes (stderr), without highlighting."""
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


def quarantine_option(command: Callable) -> Callable:
    """`--quarantine PATH`: where bad records go with --on-bad-record=quarantine."""
    return click.option("--quarantine", "quarantine_path", default=None, type=click.Path(dir_okay=False),
                        help="Where to write bad records with --on-bad-record=quarantine "
                             "(default: OUT.quarantine.jsonl).")(command)


def open_pool(paths, format_, text_field, template, label_field, domain_field, id_field, on_bad_record, csv_delimiter,
              checkpoint=None):
    """A Pool read with the options of `pool_options`."""
    from thresher.data import Pool

    pool = Pool.from_files(list(paths), format=format_, text_field=text_field or None, template=template,
                           label_field=label_field, domain_field=domain_field, id_field=id_field,
                           on_bad_record=on_bad_record, csv_delimiter=csv_delimiter)
    pool.checkpoint_dir = checkpoint
    return pool


def open_targets(paths: Iterable[str], reading: dict, label_field: str | None = None):
    """Target pools (read like the pool, text only unless `label_field` names their labels):
    None, one Pool, or a list for several."""
    paths = list(paths)
    if not paths:
        if label_field:
            raise UsageError("--target-label-field names the targets' labels: give the targets with --target.")
        return None
    pools = [open_pool([path], **{**text_only(reading), "label_field": label_field}) for path in paths]
    return pools[0] if len(pools) == 1 else pools


def text_only(reading: dict) -> dict:
    """The pool's reading options for a set of texts (targets, evaluation sets): no labels, domains or ids."""
    return {**reading, "label_field": None, "domain_field": None, "id_field": None}


def quarantine_file(data, path: str | None, out: str | None) -> str | None:
    """Where this run writes bad records: PATH, else OUT.quarantine.jsonl; None unless
    the pool is read with --on-bad-record=quarantine (or there is no OUT nor PATH)."""
    if data.on_bad_record != "quarantine":
        return None
    return path or (f"{out}.quarantine.jsonl" if out else None)


def manifest_outputs(manifest: str | None) -> dict[str, str | None]:
    """The files `--manifest M` writes: the Parquet manifest and its JSON sidecar M.json."""
    return {"--manifest": manifest, "--manifest's sidecar": f"{manifest}.json" if manifest else None}


def write_quarantine(data, path: str | None, overwrite: bool, rows: list[tuple[str, str]]) -> None:
    """Write the pool's bad records to `path` (if any and a path), and say so in `rows`."""
    bad = data.bad_records
    if path and len(bad):
        bad.write(path, overwrite=overwrite)
        rows.append(("quarantine", f"{len(bad):,} -> {path}"))


def parse_params(pairs: Iterable[str]) -> dict[str, str]:
    """{"by": "domain"} from ("by=domain",): the -p/--param options."""
    from thresher.params import split_param

    params = {}
    for pair in pairs:
        try:
            key, value = split_param(pair)
        except ValueError as err:
            raise click.BadParameter(str(err), param_hint="-p/--param") from None
        params[key] = value
    return params


def os_error_message(err: OSError) -> str:
    """An OSError as one line that names the file when the error knows it."""
    message = err.strerror or str(err)
    for name in (err.filename, getattr(err, "filename2", None)):
        if name is not None and str(name) not in message:
            message = f"{name}: {message}"
    return message


def reports_errors(command: Callable) -> Callable:
    """Turn thresher's errors into one line on stderr and the right exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = command(*args, **kwargs)
        except ThresherError as err:
            click.echo(f"thresher: {err}", err=True)
            sys.exit(err.exit_code)
        except OSError as err:
            click.echo(f"thresher: {os_error_message(err)}", err=True)
            sys.exit(1)
        except MemoryError as err:
            click.echo(f"thresher: out of memory{f' ({err})' if str(err) else ''}.", err=True)
            sys.exit(1)
        except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM (thresher._startup.Terminated: exit 143)
            click.echo(f"thresher: {getattr(err, 'what', 'interrupted')}; no output was left half-written.", err=True)
            sys.exit(getattr(err, "exit_code", 130))
        if kwargs.get("checkpoint"):  # done: the shards kept for a resume are not needed any more
            from thresher.data import checkpoint

            checkpoint.clear_used()
        return result

    return wrapper


def reasons(counts: dict[str, int]) -> str:
    """"near-duplicate: 12, short: 3": counts per reason, most first."""
    return ", ".join(f"{reason}: {count}" for reason, count in sorted(counts.items(), key=lambda kv: -kv[1]))


def summary(rows: list[tuple[str, str]]) -> None:
    """The table that ends every run (stdout); keys and values are plain text."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="thresher summary", show_header=False, title_justify="left")
    for key, value in rows:
        table.add_row(Text(str(key)), Text(str(value), overflow="fold"))
    console().print(table)


class _StderrHandler(logging.Handler):
    """Log records as "thresher: message" lines on the current stderr (found at each
    record, so a test runner that swaps stderr still sees them)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(f"thresher: {record.getMessage()}", err=True)
        except Exception:  # pragma: no cover - logging must never break a run
            self.handleError(record)


def configure_logging(verbose: bool, quiet: bool) -> None:
    """Show thresher's log messages on stderr: INFO and above, DEBUG with --verbose,
    warnings only with --quiet."""
    logger = logging.getLogger("thresher")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


__all__ = [
    "POOL_HELP", "configure_logging", "console", "manifest_outputs", "open_pool", "open_targets", "os_error_message",
    "parse_params", "pool_options", "quarantine_option", "quarantine_file", "reasons", "reports_errors", "summary",
    "text_only", "write_quarantine",
]
