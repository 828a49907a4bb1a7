"""A uniform sample of a pool that costs a fraction of a pass: the first part of every
shard (a slice of each uncompressed JSON lines shard's bytes, of each in-memory table's
rows), or evenly spaced whole shards where a shard cannot be cut (compressed files, CSV,
Parquet row groups). `Pool.scan(sample=...)` reads it through the usual shard jobs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from thresher.data.sources import FileSource, MemorySource, Shard


def sample_shards(source: Any, shards: list[Shard], fraction: float) -> list[Shard]:
    """The first `fraction` (0 < fraction <= 1) of every shard, in whole lines or rows."""
    if isinstance(source, MemorySource):
        return [replace(s, end=s.start + max(1, math.ceil((s.end - s.start) * fraction))) for s in shards if s.end > s.start]
    if isinstance(source, FileSource) and source.format == "jsonl" and all(s.end is not None for s in shards):
        from thresher.data import jsonl

        cut = []
        for shard in shards:
            path = source.paths[shard.file_index]
            if jsonl.compression_of(path) is not None:
                cut.append(shard)
                continue
            end = _line_end(path, shard.start + int((shard.end - shard.start) * fraction), shard.end)
            if end > shard.start:
                cut.append(Shard(shard.file_index, shard.start, end, end - shard.start))
        return cut or shards[:1]
    step = 1.0 / fraction
    picked = sorted({min(len(shards) - 1, int(i * step)) for i in range(max(1, round(len(shards) * fraction)))})
    return [shards[i] for i in picked]


def _line_end(path: str, offset: int, limit: int) -> int:
    """The first line start at or after byte `offset` of `path` (at most `limit`)."""
    if offset <= 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(offset - 1)
        while offset < limit:
            piece = handle.read(1 << 16)
            if not piece:
                return limit
            newline = piece.find(b"\n")
            if newline >= 0:
                return min(offset + newline, limit)
            offset += len(piece)
    return limit
