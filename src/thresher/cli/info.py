"""`thresher info`: the facts of a pool (files, records, bad records, tokens, labels)."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from thresher.cli.common import console, open_pool, pool_options, reports_errors


@click.command()
@click.argument("pool", nargs=-1, required=True)
@pool_options
@click.option("--quarantine", "quarantine_path", default=None, type=click.Path(dir_okay=False),
              help="With --on-bad-record=quarantine, write the bad records here.")
@click.option("--tokens/--no-tokens", default=True, show_default=True, help="Count whitespace tokens.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes that read the pool.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@click.option("--overwrite", is_flag=True, help="Replace an existing quarantine file.")
@reports_errors
def info(pool, quarantine_path, tokens, workers, as_json, overwrite, **reading) -> None:
    """Describe a pool: files, format, records, bad records, tokens, labels, fingerprint.

    \b
    Example:
      thresher info 'data/*.jsonl.gz' --label-field intent --on-bad-record quarantine
    """
    from thresher.io import check_outputs

    clock = time.perf_counter()
    data = open_pool(pool, **reading)
    check_outputs({"--quarantine": quarantine_path}, data.paths, overwrite)
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
        data.write_quarantine(quarantine_path, overwrite=overwrite)
        facts["quarantine_file"] = quarantine_path
    from thresher.features.store import cache_root, store_contents

    held = store_contents()
    facts["feature_store"] = {f"{kind}": f"{v['entries']} entries, {v['mb']} MB" for kind, v in held.items()} or \
        {"empty": str(cache_root())}
    facts["seconds"] = round(time.perf_counter() - clock, 3)
    if as_json:
        click.echo(json.dumps(facts, indent=2, default=str))
        return
    _print_facts(facts)


def _print_facts(facts: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=False, box=None)
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in (value.get("top", value)).items()) + (
                f"  ({value['distinct']} distinct)" if "distinct" in value else "")
        elif isinstance(value, list):
            value = ", ".join(map(str, value))
        table.add_row(Text(key), Text(str(value), overflow="fold"))  # labels and paths are data, not markup
    console().print(table)


COMMANDS = (info,)
