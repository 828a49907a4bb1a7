"""Static embeddings: a lookup table of token vectors distilled from the shipped MiniLM.

    encoder = load_static_encoder()            # distils on first use (one time), then loads from the cache
    vectors, truncated = encoder.encode(texts, batch_size=1024, bar=bar)   # (n, 256) float32, unit rows

The model2vec method (Tulkens & van Dongen 2024, "Model2Vec: Fast State-of-the-Art Static
Embeddings"): every token of the sentence encoder's vocabulary is passed through the
encoder once, the outputs are reduced by PCA and weighted by a smooth inverse frequency,
and a text's vector is the mean of its tokens' vectors. No attention runs at encoding time,
so it is two or more orders of magnitude cheaper than the encoder, at some loss of quality
(`benchmarks/embed_throughput.py` measures both).

Distillation needs torch and transformers (the `[embed]` extra) and the `model2vec[distill]`
package, once: the result (safetensors weights, a tokenizer.json, a config.json; nothing that
can run code) is written to the user cache (`$THRESHER_CACHE` or ~/.cache/thresher, under
models/) atomically, under a lock so two processes do not distil at once. Encoding with
the cached model imports neither torch nor transformers. A folder of any model2vec model
can be given instead of "static".
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import xxhash

from thresher.errors import MissingDependencyError, UsageError
from thresher.progress import progress_enabled

log = logging.getLogger(__name__)

STATIC_MODEL = "static"
PCA_DIMENSIONS = 256  # model2vec's default
MODELS = "models"


def is_static(model: str) -> bool:
    """Whether `model` names the distilled static model or a model2vec folder."""
    if model == STATIC_MODEL:
        return True
    config = Path(model) / "config.json"
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("model_type") == "model2vec"
    except (OSError, ValueError):
        return False


def static_identity(model: str) -> str:
    """An identity for cache keys: the teacher's identity and the distillation settings, or a folder's digest."""
    if model != STATIC_MODEL:
        digest = xxhash.xxh3_64()
        for path in sorted(p for p in Path(model).rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(model)}:{path.stat().st_size}".encode())
        return f"model2vec-dir:{Path(model).name}:{digest.hexdigest()}"
    from thresher.features.embed import DEFAULT_MODEL, resolve_model

    return f"static:{resolve_model(DEFAULT_MODEL)[1]}:pca{PCA_DIMENSIONS}:model2vec-{_model2vec_version()}"


def static_folder(cache_path: str | os.PathLike | None = None) -> Path:
    """Where the distilled model lives in the user cache (it may not exist yet)."""
    from thresher.features.store import cache_root

    name = xxhash.xxh3_64_hexdigest(static_identity(STATIC_MODEL).encode())
    return cache_root(cache_path) / MODELS / f"static-{name}"


class StaticEncoder:
    """A model2vec StaticModel behind the interface the Embedder uses."""

    def __init__(self, model, name: str):
        self.model, self.name = model, name
        self.dimension = int(model.dim)
        self.window = None  # a static model has no position limit: every token of a text counts

    def encode(self, texts: list[str], batch_size: int, bar) -> tuple[np.ndarray, int]:
        """Vectors (len(texts), d) float32 with unit rows, and how many texts were truncated (none)."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            # One process: model2vec's own multiprocessing would hide CPU time from the caller's accounting.
            out = self.model.encode(batch, max_length=None, batch_size=len(batch), use_multiprocessing=False)
            vectors[start : start + len(batch)] = _unit_rows(out)
            bar.advance(len(batch))
        return vectors, 0


_LOADED: dict[str, StaticEncoder] = {}


def load_static_encoder(model: str = STATIC_MODEL, cache_path: str | os.PathLike | None = None) -> StaticEncoder:
    """The static encoder for `model` ("static": distilled from MiniLM on first use; or a model2vec folder)."""
    folder = Path(model) if model != STATIC_MODEL else static_folder(cache_path)
    key = str(folder.resolve())
    if key not in _LOADED:
        if model == STATIC_MODEL and not (folder / "config.json").is_file():
            distill_static(folder)
        try:
            from model2vec import StaticModel
        except ImportError:
            raise MissingDependencyError("model2vec", "static", "static embeddings") from None
        _LOADED[key] = StaticEncoder(StaticModel.from_pretrained(folder, normalize=True), model)
    return _LOADED[key]


def distill_static(folder: Path, teacher: str | os.PathLike | None = None) -> Path:
    """Distil a static model from `teacher` (a Hugging Face model folder; default the packaged
    all-MiniLM-L6-v2) into `folder`, written whole or not at all (a one-time cost)."""
    from thresher.features.embed import DEFAULT_MODEL, embedding_session, resolve_model
    from thresher.features.store import _Exclusive, _private_folder

    location = str(teacher) if teacher is not None else resolve_model(DEFAULT_MODEL)[0]
    if not Path(location).is_dir():
        raise UsageError("the static model is distilled from the packaged all-MiniLM-L6-v2, which is not installed: "
                         "pip install 'thresher[embed,static]' (or give the folder of a model2vec model).")
    _private_folder(folder.parent)
    with _Exclusive(folder.parent / f"{folder.name}.lock"):
        if (folder / "config.json").is_file():  # another process distilled it while we waited
            return folder
        try:
            from model2vec.distill import distill_from_model
            from transformers import AutoModel, AutoTokenizer
        except ImportError as err:
            raise MissingDependencyError(err.name or "model2vec", "static",
                                         "distilling the static model (once)") from None
        log.warning("distilling the static model from %s into %s (once; about 40 CPU-s for MiniLM)",
                    Path(location).name, folder)
        with embedding_session(location, threads=1):
            if not progress_enabled():
                os.environ["TQDM_DISABLE"] = "1"  # model2vec's own bar counts the vocabulary; the session restores this
            encoder = AutoModel.from_pretrained(location)
            tokenizer = AutoTokenizer.from_pretrained(location)
            static = distill_from_model(encoder, tokenizer, device="cpu", pca_dims=PCA_DIMENSIONS)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            try:
                static.save_pretrained(staging)
                os.replace(staging, folder)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    return folder


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    from thresher.features.vectors import prepare

    return prepare(vectors)


def _model2vec_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("model2vec")
    except PackageNotFoundError:
        raise MissingDependencyError("model2vec", "static", "static embeddings") from None
