"""`thresher dedup`, `thresher filter`, `thresher decontaminate`: the filters on the command line.

Each reads a pool, runs its filters, writes the kept records to --out (and optionally a
manifest, an HTML report and the bad records), and ends with a summary table of kept and
dropped records per reason. --dry-run reads and decides but writes nothing: it prints
the counts and example drops instead. Only click is imported at module level.
"""

from __future__ import annotations

import time

import click

from thresher.cli.common import (
    console, manifest_outputs, open_pool, pool_options, quarantine_option, quarantine_file, reports_errors, summary,
    text_only, write_quarantine,
)


def output_options(command):
    """--out, --manifest, --report, --quarantine, --dry-run, --examples, --workers, --overwrite."""
    options = [
        click.option("-o", "--out", default=None, type=click.Path(dir_okay=False),
                     help="Where to write the kept records (format from the name). Needed unless --dry-run."),
        click.option("--manifest", default=None, type=click.Path(dir_okay=False),
                     help="Also save the Selection (kept ids; dropped ids with reasons and scores) as Parquet."),
        click.option("--report", default=None, type=click.Path(dir_okay=False),
                     help="Write an HTML report with examples of dropped records per reason."),
        quarantine_option,
        click.option("--dry-run", is_flag=True, help="Decide, print counts and example drops; write nothing."),
        click.option("--examples", default=3, show_default=True, type=click.IntRange(min=0),
                     help="Example drops per reason to print with --dry-run (the report shows 5)."),
        click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
                     help="Processes that read the pool; the result is the same for any number."),
        click.option("--overwrite", is_flag=True, help="Replace existing output files."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def check_run(data, outputs: dict, inputs=(), extra: dict | None = None):
    """Check every output of a filter run before the work; returns where bad records go."""
    from thresher.errors import UsageError
    from thresher.io import check_outputs

    if not outputs["dry_run"] and not outputs["out"]:
        raise UsageError("give --out for the kept records, or --dry-run to only count.")
    if outputs["dry_run"]:
        return None
    quarantine = quarantine_file(data, outputs["quarantine_path"], outputs["out"])
    check_outputs({"--out": outputs["out"], **manifest_outputs(outputs["manifest"]), "--report": outputs["report"],
                   "--quarantine": quarantine, **(extra or {})}, [*data.paths, *inputs], outputs["overwrite"])
    return quarantine


def finish(data, selections, outputs: dict, quarantine, clock, title, notes=()):
    """Combine the filters' selections, write what was asked, print the summary."""
    from thresher.filter.report import combine, counts, examples, write_html

    out, manifest, report, overwrite = outputs["out"], outputs["manifest"], outputs["report"], outputs["overwrite"]
    selection = combine(data, selections)
    bad = data.bad_records
    rows = [("read", f"{len(data) + len(bad):,}"), ("pool", f"{len(data):,}")]
    if len(bad):
        rows.append(("bad", f"{len(bad):,} (--on-bad-record={data.on_bad_record})"))
    rows.append(("kept", f"{len(selection):,}"))
    for code, count in counts(selection):
        rows.append((f"dropped: {code}", f"{count:,}"))
    rows.extend(notes)
    if outputs["dry_run"]:
        rows.append(("written", "nothing (--dry-run)"))
    else:
        written = data.take(selection).write(out, overwrite=overwrite)
        rows.append(("written", f"{written:,} -> {out}"))
        if manifest:
            selection.save(manifest, overwrite=overwrite, inputs=data.paths)
            rows.append(("manifest", f"{manifest} (+ {manifest}.json)"))
        write_quarantine(data, quarantine, overwrite, rows)
        if report:
            write_html(report, selection, examples(data, selection, per_reason=5), title,
                       details=[(k, v) for k, v in rows], overwrite=overwrite, inputs=data.paths)
            rows.append(("report", str(report)))
    rows.append(("time", f"{time.perf_counter() - clock:.2f} s"))
    summary(rows)
    if outputs["dry_run"] and outputs["examples"]:
        _print_examples(examples(data, selection, per_reason=outputs["examples"], chars=160))
    return selection


def _print_examples(by_code: dict) -> None:
    from rich.text import Text

    out = console()
    for code, items in by_code.items():
        out.print(Text(str(code), style="bold"))
        for item in items:
            out.print(f"  id {item['id']}: {item['reason']}\n    {item['text']!r}", markup=False)


def _outputs(out, manifest, report, quarantine_path, dry_run, examples, workers, overwrite) -> dict:
    return {"out": out, "manifest": manifest, "report": report, "quarantine_path": quarantine_path,
            "dry_run": dry_run, "examples": examples, "workers": workers, "overwrite": overwrite}


@click.command()
@click.argument("pool", nargs=-1, required=True)
@click.option("--exact", is_flag=True, help="Drop exact duplicates of the normalised text.")
@click.option("--near", is_flag=True, help="Drop near duplicates (MinHash + LSH).")
@click.option("--threshold", default=0.8, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Near: Jaccard similarity of shingle sets that makes a duplicate.")
@click.option("--num-perm", default=128, show_default=True, type=click.IntRange(min=2), help="Near: signature length.")
@click.option("--bands", default=None, type=click.IntRange(min=1), help="Near: LSH bands (default: chosen for the threshold).")
@click.option("--rows", default=None, type=click.IntRange(min=1), help="Near: rows per band (with --bands).")
@click.option("--shingle", type=click.Choice(["word", "char"]), default="word", show_default=True,
              help="Near: shingles of words or of characters.")
@click.option("--ngram", default=5, show_default=True, type=click.IntRange(min=1), help="Near: words (or characters) per shingle.")
@click.option("--scheme", type=click.Choice(["oph", "minhash"]), default="oph", show_default=True,
              help="Near: one-permutation hashing (fast) or classic K-hash MinHash.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Near: confirm candidate pairs by their true Jaccard similarity.")
@click.option("--keep", type=click.Choice(["first", "longest", "priority"]), default="first", show_default=True,
              help="Which record of a group survives (priority: exact only, with --priority-field).")
@click.option("--priority-field", default=None, help="Exact: numeric field; the highest value survives.")
@click.option("--normalize", "normalise", default="nfkc,lower,space", show_default=True,
              help="Exact: comma-separated normalisations among nfkc, lower, punct, space (or 'none').")
@click.option("--work-dir", default=None, type=click.Path(file_okay=False),
              help="Near: folder for on-disk signatures (default: system temp).")
@output_options
@pool_options
@reports_errors
def dedup(pool, exact, near, threshold, num_perm, bands, rows, shingle, ngram, scheme, verify, keep,
          priority_field, normalise, work_dir, out, manifest, report, quarantine_path, dry_run, examples, workers,
          overwrite, **reading):
    """Drop exact and/or near-duplicate records of POOL; write the rest to OUT.

    \b
    Examples:
      thresher dedup 'crawl/*.jsonl.zst' --exact --near --threshold 0.8 --out deduped.jsonl
      thresher dedup pool.jsonl --near --dry-run
    """
    from thresher.errors import UsageError
    from thresher.filter import ExactDedup, NearDedup

    clock = time.perf_counter()
    outputs = _outputs(out, manifest, report, quarantine_path, dry_run, examples, workers, overwrite)
    if not exact and not near:
        raise UsageError("choose --exact, --near or both.")
    if keep == "priority" and (near or not priority_field):
        raise UsageError("--keep priority works with --exact alone and needs --priority-field.")
    steps = {s.strip() for s in normalise.split(",") if s.strip() and s.strip() != "none"}
    if steps - {"nfkc", "lower", "punct", "space"}:
        raise UsageError(f"--normalize {normalise!r}: choose among nfkc, lower, punct, space, or none.")
    filters = []
    if exact:
        filters.append(ExactDedup(nfkc="nfkc" in steps, lowercase="lower" in steps, punctuation="punct" in steps,
                                  whitespace="space" in steps, keep=keep, priority_field=priority_field))
    if near:
        filters.append(NearDedup(threshold=threshold, num_perm=num_perm, bands=bands, rows=rows, shingle=shingle,
                                 ngram=ngram, scheme=scheme, verify=verify,
                                 keep="first" if keep == "priority" else keep, work_dir=work_dir))
    data = open_pool(pool, **reading)
    quarantine = check_run(data, outputs)
    selections = [f.apply(data, workers=workers) for f in filters]
    notes = [("banding", f.banding.describe()) for f in filters if hasattr(f, "banding")]
    finish(data, selections, outputs, quarantine, clock, "thresher dedup", notes)


@click.command(name="filter")
@click.argument("pool", nargs=-1, required=True)
@click.option("--rules", default="default", show_default=True,
              help="'default' (Gopher/C4 rules) or a YAML file that switches and tunes rules.")
@click.option("--save-scores", default=None, type=click.Path(dir_okay=False),
              help="Write every measurement of every record (Parquet) to re-threshold later.")
@click.option("--scores-from", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Use measurements saved by --save-scores instead of measuring again.")
@output_options
@pool_options
@reports_errors
def filter_(pool, rules, save_scores, scores_from, out, manifest, report, quarantine_path, dry_run, examples, workers,
            overwrite, **reading):
    """Drop records of POOL that break quality rules; write the rest to OUT.

    \b
    Examples:
      thresher filter pool.jsonl --rules default --out clean.jsonl --report filter.html
      thresher filter pool.jsonl --rules my_rules.yaml --dry-run
    """
    import pyarrow.parquet as pq

    from thresher.filter import QualityFilter
    from thresher.io import atomic_path

    clock = time.perf_counter()
    outputs = _outputs(out, manifest, report, quarantine_path, dry_run, examples, workers, overwrite)
    quality = QualityFilter(rules=rules)
    data = open_pool(pool, **reading)
    quarantine = check_run(data, outputs, [scores_from] if scores_from else [],
                           {"--save-scores": None if dry_run else save_scores})
    measurements = read_measurements(scores_from, quality) if scores_from else None
    selection = quality.apply(data, workers=workers, measurements=measurements)
    notes = [("rules", ", ".join(selection.meta["rules_enabled"]))]
    if save_scores and not dry_run:
        with atomic_path(save_scores, overwrite=overwrite, inputs=data.paths) as tmp:
            pq.write_table(quality.measurements, str(tmp))
        notes.append(("scores", str(save_scores)))
    finish(data, [selection], outputs, quarantine, clock, "thresher filter", notes)


def read_measurements(path: str, quality):
    """The table `--save-scores` wrote; a UsageError naming `path` for anything else."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from thresher.errors import UsageError

    advice = "give a file written by `thresher filter --save-scores`, or leave --scores-from out to measure again."
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise UsageError(f"--scores-from {path} is not a Parquet file ({str(err).splitlines()[0]}); {advice}") from None
    needed = ["id", *(rule.name for rule in quality.rules.values() if rule.enabled)]
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise UsageError(f"--scores-from {path} has no column {', '.join(missing)} (it has: "
                         f"{', '.join(table.column_names) or 'none'}); {advice}")
    return table


@click.command()
@click.argument("pool", nargs=-1, required=True)
@click.option("--against", "against", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="An evaluation set (read with the pool's text options); repeat for several.")
@click.option("--ngram", default=13, show_default=True, type=click.IntRange(min=1), help="Words per n-gram.")
@click.option("--flag", is_flag=True, help="Keep contaminated records, with the reason in the manifest.")
@output_options
@pool_options
@reports_errors
def decontaminate(pool, against, ngram, flag, out, manifest, report, quarantine_path, dry_run, examples, workers,
                  overwrite, **reading):
    """Drop records of POOL that share an n-gram with an evaluation set; write the rest to OUT.

    \b
    Example:
      thresher decontaminate pool.jsonl --against mmlu_test.jsonl --against gsm8k_test.jsonl \\
          --ngram 13 --out clean.jsonl
    """
    from thresher.filter import Decontaminate

    clock = time.perf_counter()
    outputs = _outputs(out, manifest, report, quarantine_path, dry_run, examples, workers, overwrite)
    evals = [open_pool([path], **text_only(reading)) for path in against]
    data = open_pool(pool, **reading)
    quarantine = check_run(data, outputs, [path for e in evals for path in e.paths])
    selection = Decontaminate(against=evals, ngram=ngram, mode="flag" if flag else "drop").apply(data, workers=workers)
    by_set = ", ".join(f"{name}: {count}" for name, count in selection.meta["contaminated_by_set"].items())
    notes = [("contaminated", f"{selection.meta['contaminated']:,} ({by_set})"),
             ("eval n-grams", f"{selection.meta['eval_ngrams']:,} ({selection.meta['eval_items_shorter_than_ngram']} "
                              f"items shorter than {ngram} words)")]
    finish(data, [selection], outputs, quarantine, clock, "thresher decontaminate", notes)


COMMANDS = (dedup, filter_, decontaminate)
