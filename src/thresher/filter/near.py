"""Near-duplicate removal: MinHash signatures, LSH banding, optional true-Jaccard
verification, union-find clusters, one survivor per cluster.

    sel = NearDedup(threshold=0.8).apply(pool, workers=2)

Broder, "On the resemblance and containment of documents" (1997) for MinHash; Li,
Owen & Zhang, "One Permutation Hashing" (NeurIPS 2012) and Shrivastava, "Optimal
Densification for Fast and Accurate Minwise Hashing" (ICML 2017) for the default
one-permutation signatures; Lee et al., "Deduplicating Training Data Makes Language
Models Better" (ACL 2022) for the use on training data.

Memory: workers write each batch's signatures, band keys and (for verification) shingle
sets to files in a work folder; the main process reads one band at a time, so RAM holds
O(pool) numbers, not O(pool x permutations).
"""

from __future__ import annotations

import errno
import mmap
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from thresher.errors import ThresherError, UsageError
from thresher.filter.base import Filter, Reasons, prefixed, text_buffers
from thresher.params import Param
from thresher.steps import register
from thresher.filter.lsh import banding_rates, candidate_pairs, check_threshold, choose_banding, concatenate_files
from thresher.progress import progress


def shingle_hashes(text, shingle: str, ngram: int, whole_if_short: bool = True):
    """Shingle hashes of each text: (shingles,) uint64 flat and (n + 1,) int64 offsets."""
    from thresher.filter import _kernels

    data, offsets = text_buffers(text)
    if shingle == "char":
        return _kernels.char_ngrams(data, offsets, ngram)
    words, word_offsets = _kernels.word_hashes(data, offsets)
    return _kernels.word_ngrams(words, word_offsets, ngram, whole_if_short)


@dataclass
class BatchPart:
    """Where one batch's results went: files `<folder>/<name>.<kind>`, and small per-record arrays."""

    folder: str
    name: str
    n: int
    set_sizes: np.ndarray  # (n,) int64 shingles per record (with repeats)
    lengths: np.ndarray  # (n,) int64 text length in characters

    def path(self, kind: str) -> str:
        return os.path.join(self.folder, f"{self.name}.{kind}")


@dataclass
class SignatureTask:
    """Per-batch work on a worker: shingle, sign, band; write the results to files."""

    checkpoint = False  # its results are files in this run's temporary folder: nothing to resume from

    folder: str
    shingle: str
    ngram: int
    num_perm: int
    scheme: str
    seed: int
    bands: int
    rows: int
    keep_sets: bool

    def __call__(self, batch) -> BatchPart:
        from thresher.filter import _kernels

        text = batch.column("text")
        shingles = None
        if self.scheme == "oph" and self.shingle == "word":
            data, offsets = text_buffers(text)
            words, word_offsets = _kernels.word_hashes(data, offsets)
            sig, sets, doc_offsets = _kernels.oph_word_signatures(words, word_offsets, self.ngram, self.num_perm,
                                                                  np.uint64(self.seed))
        else:
            shingles, doc_offsets = shingle_hashes(text, self.shingle, self.ngram)
            if self.scheme == "oph":
                sig = _kernels.signatures_oph(shingles, doc_offsets, self.num_perm, np.uint64(self.seed))
            else:
                a, b = permutations(self.num_perm, self.seed)
                sig = _kernels.signatures_minhash(shingles, doc_offsets, a, b)
        part = BatchPart(self.folder, uuid.uuid4().hex, len(sig), np.diff(doc_offsets),
                         pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64))
        _kernels.band_keys(sig, self.bands, self.rows).tofile(part.path("keys"))
        if self.keep_sets:
            # The high half of each shingle hash is enough to tell shingles apart.
            sets = (shingles >> np.uint64(32)).astype(np.uint32) if shingles is not None else sets
            sets.tofile(part.path("sets"))
        else:
            sig.tofile(part.path("sig"))
        return part


_WORK_FOLDER = re.compile(r"thresher-minhash-(\d+)-([0-9a-f]{8})-.+")


def work_folder_prefix(pid: int | None = None) -> str:
    """The start of a work folder's name: the process and host it belongs to, so that a
    later run can tell a killed run's leftover from a live one's folder."""
    from thresher.io import HOST_TAG

    return f"thresher-minhash-{os.getpid() if pid is None else pid}-{HOST_TAG}-"


def work_folder(work_dir: str | None) -> str:
    """The path of a new work folder in `work_dir` (default: the system temp folder), not
    yet created (see `_create`), after removing the folders there that killed runs of
    this host left behind."""
    from thresher.io import dead_owner

    parent = work_dir or tempfile.gettempdir()
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        raise UsageError(f"work folder {parent} does not exist; create it or give another --work-dir.") from None
    except OSError as err:
        raise UsageError(f"work folder {parent} cannot be read ({err.strerror or err}); give another --work-dir.") from None
    for name in names:
        path = os.path.join(parent, name)
        if dead_owner(name, _WORK_FOLDER) and os.path.isdir(path) and not os.path.islink(path) \
                and os.lstat(path).st_uid == getattr(os, "getuid", lambda: os.lstat(path).st_uid)():
            shutil.rmtree(path, ignore_errors=True)
    return os.path.join(os.path.abspath(parent), work_folder_prefix() + uuid.uuid4().hex[:12])


def _create(folder: str) -> None:
    """Create the private (0700) work folder; a parent that refuses is a usage error."""
    try:
        os.mkdir(folder, 0o700)
    except OSError as err:
        raise UsageError(f"cannot create a work folder in {os.path.dirname(folder)} ({err.strerror or err}); "
                         "give a folder you can write to with --work-dir (work_dir=).") from None


def _is_write_failure(err: OSError, folder: str) -> bool:
    """Whether an error came from writing the work folder (full, read-only, no access)
    rather than from reading the pool. NumPy's `tofile` says only "N requested and 0 written"."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM):
        return err.filename is None or str(err.filename).startswith(folder)
    return "requested and" in str(err) or str(err.filename or "").startswith(folder)


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multipliers (odd) and offsets of the K hash functions of classic MinHash."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


@register
class NearDedup(Filter):
    """Drop records whose shingle sets have Jaccard similarity >= threshold with a kept one."""

    name = "near-dedup"
    summary = "MinHash + LSH near-duplicate removal; one survivor per cluster of similar records."
    paper = "Broder 1997 (MinHash); Shrivastava 2017 (densified one-permutation hashing); Lee et al. 2022"
    params = {
        "threshold": Param(0.8, float, "Jaccard similarity of shingle sets that makes a duplicate"),
        "num_perm": Param(128, int, "signature length K"),
        "bands": Param(None, int, "LSH bands b; none: chosen for the threshold (see choose_banding)"),
        "rows": Param(None, int, "rows per band r (with bands)"),
        "shingle": Param("word", str, "n-grams of lowercased words, or of characters", ("word", "char")),
        "ngram": Param(5, int, "words (or characters) per shingle"),
        "scheme": Param("oph", str, "one-permutation hashing (fast) or K hash functions", ("oph", "minhash")),
        "verify": Param(True, bool, "confirm candidate pairs by true Jaccard (else: the signature estimate)"),
        "keep": Param("first", str, "survivor of a cluster: first in pool order or longest", ("first", "longest")),
        "seed": Param(1, int, "seed of the hash functions"),
        "work_dir": Param(None, str, "folder for the on-disk signatures (default: the system temp folder)"),
    }

    def validate(self) -> None:
        c = self.config
        check_threshold(c["threshold"])
        if not isinstance(c["num_perm"], int) or c["num_perm"] < 2:
            raise UsageError(f"num_perm={c['num_perm']!r}: give a whole number >= 2 (128 is usual).")
        if c["shingle"] not in ("word", "char"):
            raise UsageError(f"shingle={c['shingle']!r}: use 'word' or 'char'.")
        if not isinstance(c["ngram"], int) or c["ngram"] < 1:
            raise UsageError(f"ngram={c['ngram']!r}: give a whole number >= 1.")
        if c["scheme"] not in ("oph", "minhash"):
            raise UsageError(f"scheme={c['scheme']!r}: use 'oph' or 'minhash'.")
        if c["keep"] not in ("first", "longest"):
            raise UsageError(f"keep={c['keep']!r}: use 'first' or 'longest'.")
        if (c["bands"] is None) != (c["rows"] is None):
            raise UsageError("give both bands and rows, or neither (they are then chosen for the threshold).")
        self.banding = (choose_banding(c["threshold"], c["num_perm"]) if c["bands"] is None
                        else banding_rates(int(c["bands"]), int(c["rows"]), c["num_perm"], c["threshold"]))

    def _run(self, pool, engine, workers):
        c = self.config
        folder = work_folder(c["work_dir"])  # named before it exists, so a stop at any point removes it
        try:
            _create(folder)
            task = SignatureTask(folder, c["shingle"], c["ngram"], c["num_perm"], c["scheme"], int(c["seed"]),
                                 self.banding.bands, self.banding.rows, bool(c["verify"]))
            index, outputs = pool.scan([task], engine=engine, workers=workers)
            parts: list[BatchPart] = outputs[0] if outputs else []
            n = index.n
            sizes = np.concatenate([p.set_sizes for p in parts]) if parts else np.zeros(0, np.int64)
            # Only keep="longest" reads the lengths: spare the (n,) int64 array otherwise.
            lengths = (np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int64)) \
                if c["keep"] == "longest" else None
            with progress("LSH bands", self.banding.bands) as bar:
                left, right = candidate_pairs(parts, n, self.banding.bands, sizes > 0, bar=bar)
            similarity = _Similarity(parts, sizes, c["verify"], folder, c["num_perm"])
            jaccard = similarity.pairs(left, right)
            accepted = jaccard >= c["threshold"]
            keep, reasons, scores = _survivors(pool, n, left[accepted], right[accepted], lengths, c["keep"], similarity)
            similarity.close()
        except OSError as err:
            if not _is_write_failure(err, folder):
                raise
            raise ThresherError(f"near-dedup cannot write its signatures in the work folder {folder} "
                                f"({err.strerror or err}). Free space there, or give a folder with room and write "
                                "access with --work-dir (work_dir=).") from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        extra = {"banding": {"bands": self.banding.bands, "rows": self.banding.rows,
                             "expected": self.banding.describe()},
                 "candidate_pairs": int(len(left)), "duplicate_pairs": int(accepted.sum())}
        return keep, reasons, scores, extra


class _Similarity:
    """Jaccard of record pairs: exact from the stored shingle sets, or estimated from
    signatures. Reads through a memory map in chunks and releases the pages after each."""

    # Pairs per chunk: each pair touches a page or two of the map at random, and those pages
    # count as resident until released, so 16k pairs held ~120 MB of the map at once.
    CHUNK = 1 << 12

    def __init__(self, parts: list[BatchPart], sizes: np.ndarray, verify: bool, folder: str, num_perm: int):
        self.verify, self.sizes = verify, sizes
        kind = "sets" if verify else "sig"
        whole = os.path.join(folder, f"all.{kind}")
        concatenate_files([p.path(kind) for p in parts if p.n], whole)
        self.file = open(whole, "rb")
        length = os.fstat(self.file.fileno()).st_size
        self.map = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ) if length else None
        if verify:
            self.values = np.frombuffer(self.map, dtype=np.uint32) if self.map else np.zeros(0, np.uint32)
            self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        else:
            self.values = (np.frombuffer(self.map, dtype=np.uint32).reshape(-1, num_perm) if self.map
                           else np.zeros((0, num_perm), np.uint32))

    def pairs(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """(pairs,) float64 Jaccard similarity of each pair."""
        from thresher.filter import _clusters

        out = np.empty(len(left), dtype=np.float64)
        for start in range(0, len(left), self.CHUNK):
            a, b = left[start: start + self.CHUNK], right[start: start + self.CHUNK]
            if self.verify:
                out[start: start + len(a)] = _clusters.pair_jaccard(self.values, self.offsets, a, b)
            else:
                out[start: start + len(a)] = _clusters.signature_agreement(self.values, a, b)
            if self.map is not None and hasattr(mmap, "MADV_DONTNEED"):
                self.map.madvise(mmap.MADV_DONTNEED)
        return out

    def close(self) -> None:
        self.values = None
        if self.map is not None:
            self.map.close()
        self.file.close()


def _survivors(pool, n: int, left: np.ndarray, right: np.ndarray, lengths: np.ndarray, keep_rule: str,
               similarity: _Similarity):
    """Cluster the duplicate pairs; keep one record per cluster; name the survivor in each drop."""
    from thresher.filter import _clusters

    component = _clusters.union_find(n, left, right)
    if keep_rule == "longest":
        order = np.lexsort((np.arange(n), -lengths, component))
        first_of = np.ones(n, dtype=bool)
        first_of[1:] = component[order[1:]] != component[order[:-1]]
        survivor_of_component = np.empty(n, dtype=np.int64)
        survivor_of_component[component[order[first_of]]] = order[first_of]
        survivor = survivor_of_component[component]
    else:
        survivor = component
    keep = survivor == np.arange(n)
    dropped = np.flatnonzero(~keep)
    scores = np.full(n, np.nan)
    jaccard = similarity.pairs(survivor[dropped], dropped)
    scores[dropped] = jaccard
    # Reasons for the dropped records only, as Arrow strings (see `Reasons`); "%.2f" is
    # the format f"{j:.2f}" uses.
    details = pc.binary_join_element_wise("of id ", prefixed("", pool.ids_at(survivor[dropped])), ", jaccard ",
                                          pa.array(np.char.mod("%.2f", jaccard), pa.string()), "")
    reasons = Reasons(dropped, pa.repeat(pa.scalar("near-duplicate"), len(dropped)), details)
    return keep, reasons, scores
