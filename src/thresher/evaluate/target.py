"""Target-aware scenarios: a pool that mixes several datasets, and a target given as a few
examples of one of them.

    task = make_target_task(["banking77", "clinc150", "trec", "sst2"], target="banking77", target_size=50)
    run = run_bench(task, ["random", "stratified", "dsir"], ["1%", "5%"])

The pool is the union of the sources' train splits; each record's label is
"<source>:<label>" and its domain the source's name. The target is `target_size`
examples drawn (seed 0) from the target dataset's validation split, handed to every
selector as a text Pool with `.features["embeddings"]`; the rest of that split tunes the proxy. The
score is the proxy's accuracy on the target's test split (predicting another source's
label counts as wrong), and the domain precision: the share of selected records that come
from the target's source. Target-aware methods (DSIR, Xie et al. 2023; RDS+, Ivison et
al. 2025; LESS, Xia et al. 2024) plug in as they are registered.
"""

from __future__ import annotations

import numpy as np

from thresher.errors import UsageError
from thresher.evaluate.datasets import Dataset, Split, load_dataset
from thresher.evaluate.features import DEFAULT_MODEL, embed_available, embed_texts, tfidf_features
from thresher.evaluate.protocol import Task, encode_labels


def _tagged(split: Split, source: str) -> np.ndarray:
    return np.array([f"{source}:{label}" for label in split.labels], dtype=object)


def make_target_task(sources: list[str], target: str, target_size: int = 50, data_dir=None, features: str = "auto",
                     model: str = DEFAULT_MODEL, cache_dir=None, source: str = "auto", seed: int = 0) -> Task:
    """A Task over a mixed pool of `sources` with `target_size` examples of `target` as the target."""
    import pyarrow as pa

    from thresher.data import Pool

    if target not in sources:
        sources = list(sources) + [target]
    if len(sources) < 2:
        raise UsageError("a target-aware scenario needs a pool of at least two datasets (--mix a,b,...).")
    loaded: dict[str, Dataset] = {name: load_dataset(name, data_dir, source) for name in sources}
    for name, dataset in loaded.items():
        if dataset.kind != "text":
            raise UsageError(f"the target-aware scenario mixes text datasets; {name} is {dataset.kind}.")
    goal = loaded[target]
    if target_size < 1 or target_size >= len(goal.validation):
        raise UsageError(f"target_size={target_size}: give 1 to {len(goal.validation) - 1} "
                         f"({target} has {len(goal.validation)} validation records).")
    order = np.random.default_rng(seed).permutation(len(goal.validation))
    target_split, tuning_split = goal.validation.subset(np.sort(order[:target_size])), \
        goal.validation.subset(np.sort(order[target_size:]))

    texts = [t for name in sources for t in loaded[name].train.texts]
    labels = np.concatenate([_tagged(loaded[name].train, name) for name in sources])
    domains = np.concatenate([np.full(len(loaded[name].train), name, dtype=object) for name in sources])
    kind = ("embed" if embed_available() else "tfidf") if features == "auto" else features
    if kind == "embed":
        # Per source and split, so the cache of each dataset's own embeddings is reused.
        train_x = np.concatenate([embed_texts(loaded[name].train.texts, model, cache_dir) for name in sources])
        validation = embed_texts(goal.validation.texts, model, cache_dir)
        tuning_x, target_x = validation[np.sort(order[target_size:])], validation[np.sort(order[:target_size])]
        test_x = np.asarray(embed_texts(goal.test.texts, model, cache_dir))
        detail = {"name": f"embed:{model}", "kind": "sentence-embeddings", "model": model}
    elif kind == "tfidf":
        made = tfidf_features(texts, tuning_split.texts + target_split.texts, goal.test.texts)
        tuning_x, target_x = made.validation[: len(tuning_split)], made.validation[len(tuning_split):]
        train_x, test_x = made.train, made.test
        detail = {"name": made.name, **made.detail}
    else:
        raise UsageError(f"features={features!r}: the target-aware scenario takes auto, embed or tfidf.")

    classes, (train_y, val_y, test_y) = encode_labels(labels, _tagged(tuning_split, target), _tagged(goal.test, target))
    table = pa.table({"text": texts, "label": labels.tolist(), "domain": domains.tolist()})
    pool = Pool.from_arrow(table, name=f"<mix of {', '.join(sources)}>", label_field="label",
                           domain_field="domain").with_features(train_x)
    target_pool = Pool.from_arrow(pa.table({"text": target_split.texts}),
                                  name=f"<{target} target examples>").with_features(np.asarray(target_x))
    name = f"{target} in mix of {'+'.join(sources)}"
    info = {"name": name, "kind": "text", "source": ", ".join(loaded[n].source for n in sources),
            "train": len(labels), "validation": len(tuning_split), "test": len(goal.test), "classes": len(classes),
            "notes": [f"target: {target_size} examples of {target} drawn from its validation split (seed {seed}); "
                      "the rest of that split tunes the proxy",
                      f"pool: {', '.join(f'{n} {len(loaded[n].train):,}' for n in sources)}; labels are "
                      "source:label, so predicting another source's label counts as wrong"]
            + [f"{n}: {note}" for n in sources for note in loaded[n].notes]}
    return Task(name, pool, train_x, train_y, tuning_x, val_y, test_x, test_y, classes, detail, info,
                scenario="target", target=target_pool, domains=domains, target_domain=target,
                texts={"train": texts, "validation": list(tuning_split.texts), "test": list(goal.test.texts)})
