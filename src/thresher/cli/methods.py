"""`thresher methods`: the registered steps, selectors and filters, with their parameters."""

from __future__ import annotations

import json

import click

from thresher.cli.common import console, reports_errors


def listing(kind: str | None = None) -> list[dict]:
    """Every registered step (of `kind` if given) as plain data: name, kind, shape
    (selectors: "score" or "set"), summary, paper, needs, params (default, kind, help, choices)."""
    from thresher.steps import steps

    return [
        {
            "name": name,
            "kind": cls.kind,
            "shape": getattr(cls, "shape", None),
            "summary": cls.summary,
            "paper": cls.paper,
            "needs": list(cls.needs),
            "params": {p: {"default": spec.default, "kind": spec.kind.__name__, "help": spec.help,
                           "choices": list(spec.choices) if spec.choices else None}
                       for p, spec in cls.params.items()},
        }
        for name, cls in steps(kind).items()
    ]


@click.command()
@click.option("--kind", type=click.Choice(["selector", "filter"]), default=None,
              help="Only selectors (for `thresher select`) or only filters (dedup, filter, decontaminate).")
@click.option("--json", "as_json", is_flag=True, help="Print the steps as JSON.")
@reports_errors
def methods(kind: str | None, as_json: bool) -> None:
    """List the selection methods and filters: what each keeps, its paper and parameters."""
    items = listing(kind)
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    for section in ("selector", "filter"):
        chosen = [item for item in items if item["kind"] == section]
        if not chosen:
            continue
        table = Table(title=f"thresher {section}s", title_justify="left")
        columns = ("method", "shape", "what it keeps", "paper", "parameters") if section == "selector" else (
            "filter", "what it drops", "paper", "parameters")
        for column in columns:
            table.add_column(column)
        for item in chosen:
            params = "\n".join(f"{p}={spec['default']!r}: {spec['help']}" for p, spec in item["params"].items())
            cells = [item["name"], item["shape"] or "-"] if section == "selector" else [item["name"]]
            cells += [item["summary"], item["paper"] or "-", params or "-"]
            table.add_row(*(Text(str(cell), overflow="fold") for cell in cells))
        out.print(table)


COMMANDS = (methods,)
