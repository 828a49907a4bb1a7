"""The `thresher` command line: one module per group of commands, sharing `common`.

    common.py    pool options, open_pool/open_targets, reports_errors, summary, console, logging
    info.py      thresher info
    select.py    thresher select (method options generated from the selectors' parameters)
    methods.py   thresher methods (selectors and filters)
    filter.py    thresher dedup, filter, decontaminate
    embed.py     thresher embed
    bench.py     thresher bench, report, demo

A command module imports only click and `thresher.cli.common` at module level; the work
is imported when a command runs. Nothing outside this package imports it.
"""

from __future__ import annotations

import click

from thresher._version import __version__
from thresher.cli import bench, embed, filter, info, methods, select, signals
from thresher.cli.common import configure_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="thresher")
@click.option("--progress/--no-progress", default=None,
              help="Show progress bars (default: when stderr is a terminal).")
@click.option("-v", "--verbose", is_flag=True, help="Also show debugging messages on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Show only warnings and errors on stderr (not progress notes).")
def main(progress: bool | None, verbose: bool, quiet: bool) -> None:
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

    if verbose and quiet:
        raise click.UsageError("choose --verbose or --quiet, not both.")
    configure_logging(verbose=verbose, quiet=quiet)
    set_progress(progress)
    start()
    handle_sigterm()


for _module in (info, select, methods, filter, embed, signals, bench):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
