"""Readers behind `load_dataset`: local folders (JSONL, MNIST IDX, CIFAR JPEG tar), the
Hugging Face hub, and scikit-learn's bundled digits. Splits that a source lacks are
carved with a fixed seed (stratified), and the dataset's `notes` say so."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import numpy as np

from thresher.errors import MissingDependencyError, ThresherError
from thresher.evaluate.datasets import SPLIT_SEED, VALIDATION_SHARE, Dataset, DatasetSpec, Split

TEST_SHARE = 0.2


def stratified_split(labels: np.ndarray, share: float, seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Positions (kept, held_out): `share` of each class held out, at random with `seed`.

    Every class with at least two examples keeps one and holds out at least one."""
    rng = np.random.default_rng(seed)
    held = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        if len(members) < 2:
            continue
        take = min(max(1, int(round(share * len(members)))), len(members) - 1)
        held.append(members[:take])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_jsonl_split(path: Path, label_field: str = "label", text_field: str = "text") -> tuple[Split, int]:
    """A split from a JSON Lines file; records without a single label are left out (returns how many)."""
    texts, labels, left_out = [], [], 0
    with _open(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ThresherError(f"{path} line {number}: not valid JSON ({err.msg}).") from None
            label = record.get(label_field)
            if isinstance(label, list):
                label = label[0] if len(label) == 1 else None
            if label is None:
                left_out += 1
                continue
            text = record.get(text_field)
            if not isinstance(text, str):
                raise ThresherError(f'{path} line {number}: field "{text_field}" is missing or not text.')
            texts.append(text)
            labels.append(str(label))
    return Split(np.array(labels, dtype=object), texts=texts), left_out


def _finish(spec: DatasetSpec, source: str, splits: dict[str, Split], notes: list[str]) -> Dataset:
    if "all" in splits:
        whole = splits.pop("all")
        train, test = stratified_split(whole.labels, TEST_SHARE)
        splits["train"], splits["test"] = whole.subset(train), whole.subset(test)
        notes.append(f"one split only: {int(TEST_SHARE * 100)}% held out as test (stratified, seed {SPLIT_SEED})")
    if "validation" not in splits:
        pool, held = stratified_split(splits["train"].labels, VALIDATION_SHARE)
        splits["validation"] = splits["train"].subset(held)
        splits["train"] = splits["train"].subset(pool)
        notes.append(f"no validation split: {int(VALIDATION_SHARE * 100)}% of train held out for tuning "
                     f"(stratified, seed {SPLIT_SEED}); the pool is the rest")
    return Dataset(spec.name, spec.kind, splits["train"], splits["validation"], splits["test"], source, notes)


def load_local(spec: DatasetSpec, folder: Path) -> Dataset:
    """Read a dataset from its folder in the shared/data layout."""
    notes: list[str] = []
    if spec.reader == "mnist_idx":
        splits = {"all": _read_mnist(folder)}
        notes.append("features: raw pixels scaled to [0, 1]")
    elif spec.reader == "cifar_tar":
        splits = _read_cifar(folder / spec.files["all"])
        notes.append("features: raw pixels scaled to [0, 1] (JPEG q75 re-encodings)")
    else:
        splits, dropped = {}, 0
        for split, name in spec.files.items():
            splits[split], left_out = read_jsonl_split(folder / name, spec.label_field)
            dropped += left_out
        if dropped:
            notes.append(f"{dropped} records without a single {spec.label_field} left out (single-label subset)")
    return _finish(spec, f"local:{folder}", splits, notes)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4: 4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _read_mnist(folder: Path) -> Split:
    images = _read_idx(folder / "t10k-images-idx3-ubyte.gz")
    labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return Split(np.array([str(v) for v in labels], dtype=object), pixels=pixels)


def _read_cifar(path: Path) -> dict[str, Split]:
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("Pillow", "images", "reading cifar10_jpeg") from None
    import tarfile

    rows: dict[str, tuple[list, list]] = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 4 or parts[1] not in rows:
                continue
            image = Image.open(io.BytesIO(archive.extractfile(member).read())).convert("RGB")
            rows[parts[1]][0].append(np.asarray(image, dtype=np.uint8).reshape(-1))
            rows[parts[1]][1].append(parts[2])
    return {split: Split(np.array(labels, dtype=object), pixels=np.stack(pixels).astype(np.float32) / 255.0)
            for split, (pixels, labels) in rows.items()}


def load_hub(spec: DatasetSpec) -> Dataset:
    """Read a dataset from the Hugging Face hub (needs the [hf] extra and a network)."""
    try:
        import datasets as hf
    except ImportError:
        raise ThresherError("the [hf] extra (datasets) is not installed") from None
    path, config, text_column, label_column = spec.hub
    try:
        loaded = hf.load_dataset(path, config)
    except Exception as err:  # the hub raises many kinds of errors when offline
        raise ThresherError(f"load_dataset({path!r}, {config!r}) failed: {type(err).__name__}: {err}") from None
    splits = {}
    for split in loaded:
        name = {"val": "validation", "dev": "validation"}.get(split, split)
        table = loaded[split]
        feature = table.features[label_column]
        names = getattr(feature, "names", None)
        labels = [names[v] if names else str(v) for v in table[label_column]]
        keep = [i for i, v in enumerate(table[label_column]) if not (isinstance(v, int) and v < 0)]
        texts = table[text_column]
        splits[name] = Split(np.array([labels[i] for i in keep], dtype=object), texts=[texts[i] for i in keep])
    if "test" not in splits:
        splits = {"all": splits.pop("train"), **{k: v for k, v in splits.items() if k == "validation"}}
    return _finish(spec, f"hub:{path}" + (f"/{config}" if config else ""), splits, [])


def load_digits_dataset() -> Dataset:
    """scikit-learn's bundled 1,797 8x8 digits (real handwriting; no network): 25% test, stratified, seed 0."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    spec = DatasetSpec("digits", "image", "")
    whole = Split(np.array([str(v) for v in bunch.target], dtype=object),
                  pixels=(bunch.data / 16.0).astype(np.float32))
    kept, test = stratified_split(whole.labels, 0.25)
    notes = ["scikit-learn's bundled digits: 25% held out as test (stratified, seed 0)",
             "features: raw pixels scaled to [0, 1]"]
    return _finish(spec, "sklearn:load_digits", {"train": whole.subset(kept), "test": whole.subset(test)}, notes)
