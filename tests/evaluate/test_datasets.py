"""Named datasets from a local folder in the shared/data layout; clear errors when missing."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from thresher.errors import ThresherError, UsageError
from thresher.evaluate.datasets import load_dataset
from thresher.evaluate.features import featurize
from tests.conftest import write_jsonl


def intent_records(split: str, n: int) -> list[dict]:
    topics = {"card_arrival": "where is my new card", "top_up": "how do I top up my account",
              "lost_card": "I lost my card yesterday"}
    return [{"text": f"{text} please {i}", "label": label, "split": split}
            for i in range(n) for label, text in [list(topics.items())[i % 3]]]


def make_banking(root, train=60, test=30):
    folder = root / "banking77"
    folder.mkdir(parents=True)
    write_jsonl(folder / "train.jsonl", intent_records("train", train))
    write_jsonl(folder / "test.jsonl", intent_records("test", test))
    return folder


def test_reads_a_local_folder_and_carves_a_validation_split(tmp_path):
    make_banking(tmp_path)
    ds = load_dataset("banking77", data_dir=tmp_path, source="local")
    assert ds.kind == "text" and ds.source == f"local:{tmp_path / 'banking77'}"
    assert len(ds.train) + len(ds.validation) == 60 and len(ds.test) == 30
    assert len(ds.validation) == 6  # 10% of each class, stratified
    assert sorted(set(ds.validation.labels)) == ["card_arrival", "lost_card", "top_up"]
    assert not set(ds.train.texts) & set(ds.validation.texts)
    assert any("validation" in note for note in ds.notes)


def test_thresher_data_environment_variable(tmp_path, monkeypatch):
    make_banking(tmp_path)
    monkeypatch.setenv("THRESHER_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert len(load_dataset("banking77", source="local").test) == 30


def test_single_label_subset_of_a_gzipped_multilabel_set(tmp_path):
    folder = tmp_path / "goemotions"
    folder.mkdir()
    for split in ("train", "validation", "test"):
        rows = [{"text": f"so happy {i}", "label": "joy" if i % 3 else None, "labels": ["joy"], "split": split}
                for i in range(9)]
        with gzip.open(folder / f"{split}.jsonl.gz", "wt") as handle:
            handle.write("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = load_dataset("goemotions", data_dir=tmp_path, source="local")
    assert len(ds.train) == 6 and set(ds.train.labels) == {"joy"}
    assert any("single" in note for note in ds.notes)


def test_mnist_idx_folder_is_split_into_train_and_test(tmp_path):
    folder = tmp_path / "mnist_test10k"
    folder.mkdir()
    images = np.arange(40 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(40, 28, 28)
    labels = np.arange(40, dtype=np.uint8) % 4
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">4I", 2051, 40, 28, 28) + images.tobytes())
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as handle:
        handle.write(struct.pack(">2I", 2049, 40) + labels.tobytes())
    ds = load_dataset("mnist_test10k", data_dir=tmp_path)
    assert len(ds.train) + len(ds.validation) + len(ds.test) == 40 and len(ds.test) == 8
    assert ds.train.pixels.shape[1] == 784 and ds.train.pixels.max() <= 1.0
    assert featurize(ds).name == "pixels"


def test_missing_folder_says_where_it_looked_and_what_to_do(tmp_path):
    with pytest.raises(ThresherError) as err:
        load_dataset("trec", data_dir=tmp_path / "nowhere", source="local")
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "trec") in message
    assert "--data-dir" in message and "THRESHER_DATA" in message


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UsageError, match="banking77"):
        load_dataset("bankin77")


def test_tfidf_fallback_features_are_named(tmp_path):
    make_banking(tmp_path)
    features = featurize(load_dataset("banking77", data_dir=tmp_path), "tfidf")
    assert features.name == "tfidf-svd" and features.train.shape[0] == 54
    assert np.allclose(np.linalg.norm(features.test, axis=1), 1.0, atol=1e-5)
