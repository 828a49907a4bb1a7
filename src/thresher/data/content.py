"""The content fingerprint: a hash of exactly what a featurizer sees, so cached features
(embeddings, per-record model signals) are found again whenever the same texts come back.

A featurizer reads the standardised text of each record (the text field, or the template
applied), in pool order, for the records the bad-record policy keeps. Labels, domains,
ids, file names, file format and shard layout do not change what it computes, so they are
left out: the fingerprint is a hash of the per-record 64-bit hashes (xxh3) of the UTF-8
text values, in order, with their count. Per-record hashes are joined in order, so the
result does not depend on how the pool was cut into batches or shards: a JSON lines file,
a Parquet file and a list of strings with the same texts share one fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import xxhash

from thresher.data.scan import string_buffers

CONTENT_VERSION = 1


def text_hashes(text: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per-record hashes (n,) uint64 of a string array's UTF-8 values (nulls hash as empty)."""
    data, offsets = string_buffers(text)
    view = memoryview(data)
    bounds = offsets.tolist()
    return np.fromiter((xxhash.xxh3_64_intdigest(view[a:b]) for a, b in zip(bounds[:-1], bounds[1:])),
                       dtype=np.uint64, count=len(bounds) - 1)


def content_digest(parts: Iterable[np.ndarray]) -> str:
    """The content fingerprint (32 hex digits) from per-record hashes, in pool order."""
    digest = xxhash.xxh3_128(f"thresher-content-v{CONTENT_VERSION}".encode())
    count = 0
    for part in parts:
        part = np.ascontiguousarray(part, dtype="<u8")
        digest.update(part.tobytes())
        count += len(part)
    digest.update(f"|{count}".encode())
    return digest.hexdigest()


def texts_fingerprint(texts: Sequence[str]) -> str:
    """The content fingerprint of a list of texts: the same as a pool's with these texts."""
    return content_digest([text_hashes(pa.array(list(texts), pa.string()))])


@dataclass(frozen=True)
class TextHashes:
    """Per-batch scan task: the batch's per-record text hashes (m,) uint64."""

    def __call__(self, batch: pa.RecordBatch) -> np.ndarray:
        return text_hashes(batch.column("text"))


__all__ = ["TextHashes", "content_digest", "text_hashes", "texts_fingerprint"]
