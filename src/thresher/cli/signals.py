"""`thresher signals`: train the cheap proxy on a labelled pool and record what it makes of
each record (EL2N, GraNd, forgetting events, AUM, cartography, out-of-fold probabilities).

Only click is imported at module level.
"""

from __future__ import annotations

import time

import click

from thresher.cli.common import open_pool, pool_options, reports_errors, summary

SIGNAL_COLUMNS = ("el2n", "grand", "forgetting", "aum", "confidence", "variability", "loss")


@click.command()
@click.argument("pool", nargs=-1, required=True)
@click.option("--embeddings", default="", help="Pool embeddings: a .npy file (one row per record) or a vector "
              "column; default: the pool's text embedded with --model (cached).")
@click.option("--model", default="all-MiniLM-L6-v2", show_default=True, help="sentence-transformers model that "
              "embeds the text (a name or a local folder).")
@click.option("--proxy", type=click.Choice(["softmax", "mlp"]), default="softmax", show_default=True,
              help="The proxy trained on the embeddings.")
@click.option("--epochs", default=20, show_default=True, type=click.IntRange(min=2), help="Epochs of training.")
@click.option("--proxy-seeds", default=3, show_default=True, type=click.IntRange(min=1),
              help="Trainings (seeds 0..k-1) the signals are averaged over.")
@click.option("-o", "--out", default=None, type=click.Path(dir_okay=False),
              help="Also write one row per record (id, label, every signal, the out-of-fold probability of the "
                   "given label and the predicted label) as Parquet (.parquet) or CSV (.csv).")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@pool_options
@reports_errors
def signals(pool, embeddings, model, proxy, epochs, proxy_seeds, out, overwrite, **reading) -> None:
    """Record model signals for POOL (needs --label-field) into the feature store.

    The proxy (softmax regression or a small MLP on the embeddings) is trained once per
    seed on every record; after each epoch each record's loss, probability of its label,
    margin and error norm are kept, and a cross-fitted proxy gives out-of-fold
    probabilities. The selectors el2n, forgetting, aum, cartography, moderate, ccs and
    label-issues read the same entries, so running this first makes them train nothing.
    A run stopped part way keeps every finished seed.

    \b
    Example:
      thresher signals pool.jsonl --label-field intent -o signals.parquet
      thresher select pool.jsonl --label-field intent -m label-issues -o clean.jsonl
    """
    import numpy as np

    from thresher.errors import UsageError
    from thresher.features.signals import SignalSpec, record_signals
    from thresher.io import atomic_path, check_outputs
    from thresher.select._embedding import pool_embeddings
    from thresher.select.signals import label_codes

    clock = time.perf_counter()
    data = open_pool(pool, **reading)
    if not data.fields.label_field:
        raise UsageError("thresher signals trains a proxy on the pool's labels: name the field with --label-field.")
    if out and not out.endswith((".parquet", ".csv")):
        raise UsageError(f"--out {out}: give a .parquet or .csv file.")
    check_outputs({"--out": out}, data.paths, overwrite)
    index = data.index()
    labels, classes = label_codes(index.labels)
    x = np.asarray(pool_embeddings(data, index.n, embeddings, model), dtype=np.float32)
    spec = SignalSpec(proxy=proxy, epochs=epochs, seeds=tuple(range(proxy_seeds)))
    found = record_signals(x, labels, len(classes), spec, out_of_fold=True)
    facts = found.summary()
    rows = [("records", f"{index.n:,} in {len(classes)} classes"),
            ("proxy", f"{proxy}, {epochs} epochs, seeds 0-{proxy_seeds - 1}, on {x.shape[1]}-d features"),
            ("store", f"{found.meta['store']} ({found.meta['cached_entries']} of {proxy_seeds + 1} entries cached)")]
    for name in SIGNAL_COLUMNS:
        q = facts[name]
        rows.append((name, f"median {q['median']:g}  (p10 {q['p10']:g}, p90 {q['p90']:g}; {q['min']:g} to {q['max']:g})"))
    rows.append(("learned", f"{index.n - facts['never_learned']:,} (never learned {facts['never_learned']:,}, "
                            f"never forgotten {facts['unforgettable']:,})"))
    probabilities = found.out_of_fold
    predicted = probabilities.argmax(axis=1)
    disputed = int(np.sum(predicted != labels))
    rows.append(("out-of-fold", f"the cross-fitted proxy disagrees with {disputed:,} labels "
                                f"({disputed / max(index.n, 1):.1%}); `-m label-issues` judges them"))
    if out:
        import pyarrow as pa

        table = pa.table({"id": data.ids_at(np.arange(index.n)), "label": index.labels,
                          **{name: getattr(found, name)() for name in SIGNAL_COLUMNS},
                          "p_given": probabilities[np.arange(index.n), labels],
                          "predicted": pa.array([classes[c] for c in predicted])})
        with atomic_path(out, overwrite=overwrite, inputs=data.paths) as tmp:
            if out.endswith(".parquet"):
                import pyarrow.parquet as pq

                pq.write_table(table, tmp)
            else:
                import pyarrow.csv as pcsv

                pcsv.write_csv(table, tmp)
        rows.append(("written", str(out)))
    rows.append(("time", f"{time.perf_counter() - clock:.2f} s"))
    summary(rows)


COMMANDS = [signals]
