"""`thresher bench`, `thresher report` and `thresher demo`: the proof, on the command line.

Imports only click at module level; the work is imported when a command runs.
"""

from __future__ import annotations

import os
import resource
import shlex
import sys
import time
from pathlib import Path

import click

from thresher.cli.common import console, pool_options, reports_errors
from thresher.errors import UsageError

DEMO_BUDGETS = "2%,5%,10%,20%,50%"


def _cpu_seconds() -> float:
    """CPU seconds (user + sys) of this process, its finished children and its live workers."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
    except ImportError:
        pass
    return total


def _finish(runs: list[dict], command: str, clock: float, cpu: float, out: str | None, report: str | None) -> dict:
    from thresher.evaluate.report import write_report
    from thresher.evaluate.results import results_document, write_json

    document = results_document(runs, command, time.perf_counter() - clock, _cpu_seconds() - cpu)
    if out:
        write_json(document, out)
        click.echo(f"results: {out}")
    if report:
        write_report(document, report)
        click.echo(f"report: {report}")
    click.echo(f"wall time {document['wall_s']:.0f} s, CPU {document['cpu_s']:.0f} s")
    return document


def _read_results(path: str, advice: str = "") -> dict:
    """A results document written by `thresher bench`; a clear error for anything else."""
    import json

    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"{path} is not a results file written by thresher bench ({err}){advice}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("runs"), list):
        raise UsageError(f"{path} is not a results file written by thresher bench (it has no runs){advice}.")
    return document


def _finished_runs(out: str | None) -> list[dict]:
    """The runs an earlier `bench --out OUT` wrote, for --resume (none if OUT is not there yet)."""
    if not out:
        raise click.UsageError("--resume continues the results file given by --out; give --out.")
    if not os.path.exists(out):
        return []
    return _read_results(out, "; move it away or run without --resume")["runs"]


def _check_outputs(out: str | None, report: str | None, inputs=()) -> None:
    """bench and demo rewrite their results as they go (--resume reads them back), so an
    existing file is replaced and a missing folder is made; but no output may be an input
    or the other output."""
    from thresher.io import check_outputs

    cells = f"{out}.cells.jsonl" if out else None
    check_outputs({"--out": out, "--report": report, "--out's OUT.cells.jsonl": cells}, inputs, overwrite=True,
                  create_folders=True)


def _own_data(train, test, validation, pool, test_share, validation_share, split_seed, name, reading: dict,
              checkpoint) -> dict | None:
    """The suite entry for --train/--test[/--validation] or --pool (None when neither is given);
    reading options without such files are a usage error, not silently ignored."""
    if not (train or test or validation or pool):
        defaults = {"text_field": "text", "on_bad_record": "error"}
        given = [key for key, value in reading.items() if value is not None and value != defaults.get(key)]
        given += ["test_share"] * (test_share is not None) + ["validation_share"] * (validation_share is not None)
        given += ["name"] * (name is not None)
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise click.UsageError(f"{flag} reads your own files: give them with --train/--test or --pool.")
        return None
    if checkpoint:
        raise click.UsageError("bench reads your files once; --checkpoint is for select and filter.")
    if pool and (train or test or validation):
        raise click.UsageError("give --pool (test and validation are carved from it) or --train and --test, not both.")
    if not pool and not (train and test):
        raise click.UsageError(f"--{'test' if train else 'train'} is missing: give --train and --test "
                               "(--validation optional), or one --pool.")
    entry = {"name": name, "train": train, "test": test, "validation": validation, "pool": pool,
             "test_share": test_share, "validation_share": validation_share, "split_seed": split_seed,
             **reading}
    return {key: value for key, value in entry.items() if value is not None}


def _command_line() -> str:
    return "thresher " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@click.command()
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="A suite file (YAML): datasets, methods, budgets, seeds, scenarios; options given here win.")
@click.option("-d", "--dataset", "datasets", multiple=True,
              help="A named dataset (repeatable or comma-separated); see --list.")
@click.option("-m", "--methods", default=None,
              help="Methods to compare, comma-separated ('all' = every registered method); a method may "
                   "carry parameters, e.g. rds:spread=3, and a '+kd' suffix (random+kd) trains the proxy on "
                   "its selection with the full-pool proxy's soft labels (knowledge distillation). "
                   "Default: random,stratified.")
@click.option("-b", "--budgets", default=None, help="Budgets, comma-separated (counts or shares: 1%,5%,1000).")
@click.option("--seeds", default=None, type=click.IntRange(min=1), help="Seeds per point (default 5).")
@click.option("--model", type=click.Choice(["logreg", "mlp"]), default=None,
              help="Proxy model (default logreg).")
@click.option("--eval-model", "eval_models", multiple=True,
              help="Does the saving transfer? Also train these models on every selection and score them on "
                   "the test split (repeatable or comma-separated): logreg, mlp (on the run's features), "
                   "tfidf-mlp (an MLP on TF-IDF of the texts), transformer (a small pretrained transformer "
                   "fine-tuned with the Hugging Face Trainer; the [trainer] extra). The report gains a "
                   "transfer table.")
@click.option("--transformer", default=None, type=click.Path(file_okay=False),
              help="A local Hugging Face model folder for --eval-model transformer (default: the packaged "
                   "all-MiniLM-L6-v2, its first 3 layers).")
@click.option("--features", type=click.Choice(["auto", "embed", "tfidf"]), default=None,
              help="Text features: sentence embeddings (the [embed] extra) or the TF-IDF fallback; auto picks "
                   "embed when installed. Images always use raw pixels.")
@click.option("--embed-model", default=None,
              help="A local sentence-transformers model folder (default: the packaged all-MiniLM-L6-v2).")
@click.option("--target", default=None, help="Target-aware scenario: the dataset whose examples are the target.")
@click.option("--mix", default=None, help="Target-aware scenario: datasets mixed into the pool, comma-separated.")
@click.option("--target-size", default=50, show_default=True, type=click.IntRange(min=1),
              help="Target-aware scenario: how many target examples the selectors see.")
@click.option("--data-dir", default=None, type=click.Path(file_okay=False),
              help="Folder holding the datasets (default: $THRESHER_DATA, ../shared/data, /work/shared/data).")
@click.option("--source", type=click.Choice(["auto", "local", "hub"]), default="auto", show_default=True,
              help="Read datasets from the local folder, the Hugging Face hub, or local then hub.")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False),
              help="Embedding cache (default: $THRESHER_CACHE or ~/.cache/thresher).")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(min=1),
              help="Processes that fit the proxy models.")
@click.option("--tune-repeats", default=None, type=click.IntRange(min=1),
              help="Random selections per budget used to tune the proxy's regularisation (default 3).")
@click.option("-o", "--out", default=None, type=click.Path(dir_okay=False), help="Write the results JSON here.")
@click.option("--report", default=None, type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report (plots with CI bands) here.")
@click.option("--resume", is_flag=True,
              help="Go on with a run that was stopped: keep what --out and its OUT.cells.jsonl (every "
                   "finished tuning and point, written as they finish) hold for the same settings, and run "
                   "only the rest.")
@click.option("--list", "list_datasets", is_flag=True, help="List the named datasets and exit.")
@click.option("--train", "train_path", default=None, type=click.Path(dir_okay=False),
              help="Your own data: the train pool file (with --test and --label-field).")
@click.option("--test", "test_path", default=None, type=click.Path(dir_okay=False),
              help="Your own data: the test file the proxy is scored on.")
@click.option("--validation", "validation_path", default=None, type=click.Path(dir_okay=False),
              help="Your own data: the validation file used for tuning (default: carved from --train).")
@click.option("--pool", "pool_path", default=None, type=click.Path(dir_okay=False),
              help="Your own data in one file: test (--test-share) and validation are carved from it.")
@click.option("--test-share", default=None, help="With --pool: the share of each class held out as test "
              "(default 0.2).")
@click.option("--validation-share", default=None,
              help="The share of each class of train carved as validation when no --validation is given "
                   "(default 0.1).")
@click.option("--split-seed", default=0, show_default=True, type=int, help="Seed of the carved splits.")
@click.option("--name", default=None, help="Your dataset's name in the results (default: the --train or "
              "--pool file's name).")
@pool_options
@reports_errors
def bench(config_path, datasets, methods, budgets, seeds, model, eval_models, transformer, features, embed_model, target, mix, target_size,
          data_dir, source, cache_dir, workers, tune_repeats, out, report, resume, list_datasets, train_path,
          test_path, validation_path, pool_path, test_share, validation_share, split_seed, name, format_,
          text_field, template, label_field, domain_field, id_field, on_bad_record, csv_delimiter,
          checkpoint) -> None:
    """Measure selection methods: accuracy of a proxy model against budget, next to random and full data.

    \b
    Examples:
      thresher bench --dataset banking77 --methods random,stratified --budgets 1%,5%,10%,30%,100% \\
          --seeds 5 --out results/banking77.json --report results/banking77.html
      thresher bench --config benchmarks/suite.yaml
      thresher bench --target banking77 --mix banking77,clinc150,trec,sst2 --budgets 1%,5%

    \b
    On your own labelled data (JSONL/.gz/.zst, Parquet or CSV, read like `thresher select`'s pool):
      thresher bench --train my/train.jsonl --test my/test.jsonl --label-field intent \\
          --methods random,kmeans-quota --budgets 5%,10%,20% --out r.json --report r.html
      thresher bench --pool my/all.parquet --label-field y --test-share 0.2

    Without --validation, 10% of each class of train is carved for tuning; with --pool, test
    and then validation are carved (stratified, --split-seed). The results' notes say what was
    carved. A suite file's datasets may be such mappings too: {name, train, test, label_field}.

    With --out, the results file is rewritten after every dataset and scenario, and every
    finished point is appended to OUT.cells.jsonl, so a stopped run keeps what it
    finished; run the same command with --resume to go on.
    """
    from thresher.evaluate.results import print_table
    from thresher.evaluate.suite import load_config, normalize, run_suite

    if list_datasets:
        from thresher.evaluate.datasets import datasets as named

        for name, spec in named().items():
            click.echo(f"{name:28s} {spec.kind:6s} {spec.summary}")
        return
    clock, cpu = time.perf_counter(), _cpu_seconds()
    config = load_config(config_path) if config_path else {}
    given = {"methods": methods, "budgets": budgets, "seeds": seeds, "model": model, "features": features,
             "embed_model": embed_model, "tune_repeats": tune_repeats, "out": out, "report": report,
             "eval_models": [m for item in eval_models for m in item.split(",") if m.strip()] or None,
             "transformer": transformer}
    if datasets:
        given["datasets"] = [d for item in datasets for d in item.split(",") if d]
    own = _own_data(train_path, test_path, validation_path, pool_path, test_share, validation_share, split_seed,
                    name, {"format": format_, "text_field": text_field, "template": template,
                           "label_field": label_field, "domain_field": domain_field, "id_field": id_field,
                           "on_bad_record": on_bad_record, "csv_delimiter": csv_delimiter}, checkpoint)
    if own is not None:
        given["datasets"] = [*given.get("datasets", config.get("datasets") or []), own]
    if target or mix:
        if not (target and mix):
            raise click.UsageError("a target-aware scenario needs both --target and --mix.")
        given["scenarios"] = [{"target": target, "mix": mix, "target_size": target_size}]
        given.setdefault("datasets", [])
    config = normalize({**config, **{k: v for k, v in given.items() if v is not None}})
    inputs = [config_path] if config_path else []
    inputs += [path for path in (train_path, test_path, validation_path, pool_path) if path]
    _check_outputs(config["out"], config["report"], inputs)
    out_console = console()
    done: list[dict] = []

    def on_run(run: dict) -> None:
        print_table(run, out_console)
        done.append(run)
        if config["out"]:  # keep what is finished, so a long suite that is stopped still leaves results
            from thresher.evaluate.results import results_document, write_json

            write_json(results_document(done, _command_line(), time.perf_counter() - clock,
                                        _cpu_seconds() - cpu), config["out"])

    finished = _finished_runs(config["out"]) if resume else None
    cells = Path(f"{config['out']}.cells.jsonl") if config["out"] else None
    if cells is not None and not resume:
        cells.unlink(missing_ok=True)  # pieces of an earlier run are only for --resume
    runs = run_suite(config, data_dir, cache_dir, source, workers, on_run=on_run, finished=finished,
                     cells_path=cells)
    if cells is not None:
        cells.unlink(missing_ok=True)  # everything is in --out now
    _finish(runs, _command_line(), clock, cpu, config["out"], config["report"])

@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", default=None, type=click.Path(dir_okay=False),
              help="Write the HTML report (plots with CI bands, tables) here.")
@click.option("--merged", default=None, type=click.Path(dir_okay=False),
              help="Write the merged results JSON here.")
@click.option("--methods", "table_methods", default=None,
              help="Methods in the printed Markdown table, comma-separated (default: all of them).")
@click.option("--marks", is_flag=True, help="Print means with ↑/↓ where the paired 95%% interval against random "
              "is above/below zero, instead of mean ± half-width.")
@click.option("--table", "tables", multiple=True, type=click.Choice(["race", "transfer"]),
              help="Also print auto's who-won-the-race table, or the eval models' transfer table.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@reports_errors
def report(results, out, merged, table_methods, marks, tables, overwrite) -> None:
    """Report on `thresher bench` results: merge RESULTS files, print the headline table.

    Runs of the same dataset (or scenario) under the same protocol are merged into one,
    so budgets or methods measured in separate runs appear together; summaries, paired
    tests against random and data-to-target budgets are recomputed. The Markdown table
    (test accuracy %, mean ± half-width of the 95% CI) goes to stdout.

    \b
    Example:
      thresher report results/low_budgets.json results/high_budgets.json \\
          --out report.html --merged all.json
    """
    from thresher.evaluate.report import write_report
    from thresher.evaluate.results import markdown_table, merge_documents, write_json
    from thresher.io import check_outputs

    check_outputs({"--out": out, "--merged": merged}, results, overwrite)
    document = merge_documents([_read_results(path) for path in results])
    if merged:
        write_json(document, merged, overwrite=overwrite)
    if out:
        write_report(document, out, overwrite=overwrite)
    standard = [run for run in document["runs"] if run["scenario"] == "standard"]
    methods = [m.strip() for m in table_methods.split(",")] if table_methods else []
    if not methods:
        for run in standard:
            methods += [m for m in run["summary"]["methods"] if m not in methods]
    click.echo(markdown_table(document, tuple(methods), marks=marks))
    if "race" in tables:
        from thresher.evaluate.results import race_markdown

        click.echo("\n" + race_markdown(document))
    if "transfer" in tables:
        from thresher.evaluate.results import transfer_markdown

        click.echo("\n" + transfer_markdown(document, tuple(methods) if table_methods else None))

@click.command()
@click.option("-m", "--methods", default="all", show_default=True,
              help="Methods to compare ('all' = every registered method that can run on labelled images).")
@click.option("-b", "--budgets", default=DEMO_BUDGETS, show_default=True, help="Budgets, comma-separated.")
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="Seeds per point.")
@click.option("--model", type=click.Choice(["logreg", "mlp"]), default="logreg", show_default=True,
              help="Proxy model.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes that fit the proxy models.")
@click.option("-o", "--out", default=None, type=click.Path(dir_okay=False), help="Write the results JSON here.")
@click.option("--report", default=None, type=click.Path(dir_okay=False), help="Write an HTML report here.")
@reports_errors
def demo(methods, budgets, seeds, model, workers, out, report) -> None:
    """The proof in a minute: every method against random and full data on real handwritten digits.

    Uses scikit-learn's bundled digits (1,797 8x8 images; no data of yours, no network):
    a logistic-regression proxy trained on each selection, tuned per budget, scored on a
    held-out test split.
    """
    from thresher.evaluate.datasets import load_dataset
    from thresher.evaluate.features import featurize
    from thresher.evaluate.protocol import make_task, run_bench
    from thresher.evaluate.results import print_table, summarize

    _check_outputs(out, report)
    clock, cpu = time.perf_counter(), _cpu_seconds()
    dataset = load_dataset("digits")
    run = run_bench(make_task(dataset, featurize(dataset)), methods, budgets.split(","), seeds=seeds,
                    model=model, workers=workers)
    run["summary"] = summarize(run)
    print_table(run, console())
    _finish([run], _command_line(), clock, cpu, out, report)


COMMANDS = (bench, report, demo)
