"""Named benchmark datasets: a train pool, a validation split, a test split.

    ds = load_dataset("banking77")                # ../shared/data/banking77 or $THRESHER_DATA
    ds = load_dataset("digits")                   # scikit-learn's bundled handwritten digits
    ds.train.texts[:3], ds.train.labels[:3], ds.notes

Each dataset comes from (a) a local folder laid out like `shared/data/<name>/` (JSON
Lines with `text`, `label`, `split`), found with `data_dir=`/`--data-dir`, the
`THRESHER_DATA` environment variable, `../shared/data` or `/work/shared/data`; (b) the
Hugging Face hub through `datasets` when the folder is missing and the hub is reachable;
(c) scikit-learn's bundled digits. A dataset without a validation split gets one carved
from its train split (10%, stratified, seed 0) and the pool is the rest; one with a
single split is split into train and test the same way. `notes` says what was done.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from thresher.errors import ThresherError, UsageError

VALIDATION_SHARE = 0.1
SPLIT_SEED = 0


@dataclass
class Split:
    """One split: `labels: (n,) str`, and either `texts: list[str]` or `pixels: (n, d) float32`."""

    labels: np.ndarray
    texts: list[str] | None = None
    pixels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, positions: np.ndarray) -> "Split":
        positions = np.asarray(positions, dtype=np.int64)
        return Split(self.labels[positions],
                     [self.texts[p] for p in positions] if self.texts is not None else None,
                     self.pixels[positions] if self.pixels is not None else None)


@dataclass
class Dataset:
    """A benchmark dataset: train pool, validation and test splits, and how it was made."""

    name: str
    kind: str  # "text" or "image"
    train: Split
    validation: Split
    test: Split
    source: str
    notes: list[str] = field(default_factory=list)
    splits: dict = field(default_factory=dict)  # split -> how it was carved (share, seed), for the user's data
    # split -> (texts of the file it was carved from, positions in it): embedded as the whole
    # file, so the feature store's entry is the one `thresher select` on that file uses
    origins: dict = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.train.labels.tolist()) | set(self.test.labels.tolist()))

    def describe(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source, "train": len(self.train),
                "validation": len(self.validation), "test": len(self.test), "classes": len(self.classes),
                "notes": list(self.notes), **({"splits": self.splits} if self.splits else {})}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a named dataset lives and how to read it.

    folder: sub-folder of the data directory; files: split name -> file name in it
    (None: no local copy); reader: "jsonl", "mnist_idx" or "cifar_tar"; hub: (path,
    config, text column, label column) for the Hugging Face hub, or None.
    """

    name: str
    kind: str
    summary: str
    folder: str | None = None
    files: dict | None = None
    reader: str = "jsonl"
    label_field: str = "label"
    hub: tuple | None = None
    builtin: Callable[[], "Dataset"] | None = None


def _text(name, summary, folder=None, val=True, test="test.jsonl.gz", train="train.jsonl.gz", hub=None, **kw):
    files = {"train": train, "test": test}
    if val:
        files["validation"] = val if isinstance(val, str) else train.replace("train", "validation")
    return DatasetSpec(name, "text", summary, folder or name, files, hub=hub, **kw)


def _registry() -> dict[str, DatasetSpec]:
    specs = [
        _text("banking77", "online-banking intents, 77 classes (Casanueva et al. 2020)", val=False,
              train="train.jsonl", test="test.jsonl", hub=("PolyAI/banking77", None, "text", "label")),
        _text("clinc150", "intents in 10 domains, 150 classes, in-scope only (Larson et al. 2019)",
              train="train.jsonl", test="test.jsonl", val="validation.jsonl",
              hub=("clinc_oos", "plus", "text", "intent")),
        _text("sst2", "binary movie-review sentiment, sentence level (Socher et al. 2013)",
              train="train.jsonl", test="test.jsonl", val="validation.jsonl",
              hub=("SetFit/sst2", None, "text", "label")),
        _text("trec", "question type, 6 coarse classes (Li & Roth 2002)", val=False,
              train="train.jsonl", test="test.jsonl", hub=("CogComp/trec", None, "text", "coarse_label")),
        _text("goemotions", "Reddit emotions, single-label subset, 28 classes (Demszky et al. 2020)",
              val="validation.jsonl.gz"),
        _text("goemotions_ekman", "Reddit emotions, single-label subset of the Ekman-7 grouping",
              folder="goemotions", val="validation.jsonl.gz", label_field="labels_ekman"),
        DatasetSpec("ag_news_test", "text", "news topic, 4 classes; AG News test split only, split 80/20 here",
                    "ag_news_test", {"all": "test.jsonl"}, hub=("ag_news", None, "text", "label")),
        DatasetSpec("mnist_test10k", "image", "MNIST test set (10k digits), split 80/20 here; raw pixels",
                    "mnist_test10k", {"all": "t10k"}, reader="mnist_idx"),
        DatasetSpec("cifar10_jpeg", "image", "CIFAR-10 50k/10k as JPEG q75; raw pixels (needs Pillow)",
                    "cifar10_jpeg", {"all": "cifar10_jpeg.tar.gz"}, reader="cifar_tar"),
    ]
    tweet_tasks = {"emotion": val_file("jsonl"), "hate": val_file("jsonl"), "irony": val_file("jsonl"),
                   "offensive": val_file("jsonl"), "emoji": val_file("jsonl.gz")}
    tweet_tasks.update({f"stance_{t}": val_file("jsonl") for t in ("abortion", "atheism", "climate", "feminist",
                                                                   "hillary")})
    for task, files in tweet_tasks.items():
        specs.append(DatasetSpec(f"tweeteval_{task}", "text", f"TweetEval {task} (Barbieri et al. 2020)",
                                 f"tweeteval/{task}", files, hub=("tweet_eval", task, "text", "label")))
    from thresher.evaluate.loaders import load_digits_dataset

    specs.append(DatasetSpec("digits", "image", "scikit-learn's bundled 8x8 handwritten digits; raw pixels",
                             builtin=load_digits_dataset))
    return {spec.name: spec for spec in specs}


def val_file(ext: str) -> dict:
    return {"train": f"train.{ext}", "validation": f"validation.{ext}", "test": f"test.{ext}"}


def datasets() -> dict[str, DatasetSpec]:
    """Every named dataset, by name."""
    return _registry()


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Where datasets are looked for: `data_dir` if given, else $THRESHER_DATA if set, else
    ../shared/data (from the working directory) and /work/shared/data."""
    if data_dir:
        return [Path(data_dir)]
    if os.environ.get("THRESHER_DATA"):
        return [Path(os.environ["THRESHER_DATA"])]
    dirs = [Path.cwd().parent / "shared" / "data", Path("/work/shared/data")]
    unique = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def find_folder(spec: DatasetSpec, data_dir=None) -> Path | None:
    for base in candidate_dirs(data_dir):
        folder = base / spec.folder
        if folder.is_dir() and all((folder / f).exists() or _prefixed(folder, f) for f in spec.files.values()):
            return folder
    return None


def _prefixed(folder: Path, name: str) -> bool:
    return any(p.name.startswith(name) for p in folder.iterdir())


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, source: str = "auto") -> Dataset:
    """The dataset called `name`. source: "auto" (local folder, else the hub), "local" or "hub"."""
    specs = datasets()
    if name not in specs:
        raise UsageError(f"unknown dataset {name!r}. Known datasets: {', '.join(specs)}.")
    if source not in ("auto", "local", "hub"):
        raise UsageError(f"source={source!r}: use auto, local or hub.")
    spec = specs[name]
    if spec.builtin is not None:
        return spec.builtin()
    from thresher.evaluate import loaders

    folder = find_folder(spec, data_dir) if source != "hub" else None
    if folder is not None:
        return loaders.load_local(spec, folder)
    looked = ", ".join(str(d / spec.folder) for d in candidate_dirs(data_dir))
    hub_error = ""
    if source != "local" and spec.hub is not None:
        try:
            return loaders.load_hub(spec)
        except ThresherError as err:
            hub_error = f" The Hugging Face hub did not serve it either: {err}"
    where = f"looked in {looked}" if source != "hub" else "the hub was asked only"
    raise ThresherError(
        f"dataset {name!r} was not found ({where}).{hub_error}\n"
        f"  Point thresher at a folder holding {spec.folder}/ with --data-dir DIR or the THRESHER_DATA "
        "environment variable" + (", or install the [hf] extra and go online to read it from the hub."
                                   if spec.hub else "."))
