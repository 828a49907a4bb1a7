"""Build the generated pool of the memory benchmark (issue #13 D12): N short JSON lines
(`{"id": "r0000042", "text": "a few words"}`, 10 to 30 words each) with exact and near
duplicates planted, the same bytes for the same seed and size.

    python benchmarks/make_big_pool.py /work/scratch/pool_7600000.jsonl --records 7600000   # about 1 GB
    python benchmarks/make_big_pool.py /work/scratch/long_line.jsonl --long-line-mb 50      # one 50 MB line

Planted: `--exact` of the records (default 5%) repeat an earlier record's text with its
case and spacing changed (exact dedup's normalisation makes them equal); `--near` (default
5%) repeat an earlier text with one word replaced (near duplicates of Jaccard well under
1, found by near dedup, not by exact dedup). Written with plain file writes in blocks of
100k lines, so 7.6M records take well under a minute. Keep the output outside the
repository (e.g. /work/scratch/): never commit data.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

WORDS = (
    "data model training selection token corpus the of and to in a is that for it as with was on be by this are "
    "from or at an which but not have has were can will their more all one when there been what about into than "
    "them its only other new some could these two may first then do any like my now over such our man me even "
    "most made after also did many before must through back years where much your way well down should because "
    "river stone garden window paper music quiet yellow market winter summer bridge forest letter engine silver "
    "ocean mountain village doctor teacher kitchen morning evening number simple little bright narrow gentle"
).split()
BLOCK = 100_000


def build(path: Path, records: int, seed: int = 0, exact: float = 0.05, near: float = 0.05) -> None:
    """Write `records` JSON lines to `path` (atomically: a .tmp file, then a rename)."""
    rng = np.random.default_rng(seed)
    words = np.array(WORDS, dtype=object)
    texts: list[str] = []  # every text so far, so a duplicate can copy any earlier record
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for start in range(0, records, BLOCK):
            n = min(BLOCK, records - start)
            lengths = rng.integers(10, 31, size=n)
            picks = words[rng.integers(0, len(WORDS), size=int(lengths.sum()))]
            ends = np.cumsum(lengths)
            kind = rng.random(n)
            # Any earlier record: uniform below each record's own position.
            sources = (rng.random(n) * np.arange(start, start + n)).astype(np.int64)
            lines = []
            for i in range(n):
                position = start + i
                if position and kind[i] < exact:
                    text = texts[sources[i]]
                    text = text.upper() if i % 2 else "  " + text.replace(" ", "   ")
                elif position and kind[i] < exact + near:
                    parts = texts[sources[i]].split()
                    parts[i % len(parts)] = "changed"
                    text = " ".join(parts)
                else:
                    text = " ".join(picks[ends[i] - lengths[i]: ends[i]])
                texts.append(text)
                lines.append(f'{{"id": "r{position:07d}", "text": "{text}"}}\n')
            out.write("".join(lines))
    os.replace(tmp, path)


def build_long_line(path: Path, megabytes: float, seed: int = 0) -> None:
    """A pool of three records, the middle one a single JSON line of `megabytes` MB of words."""
    rng = np.random.default_rng(seed)
    target = int(megabytes * 2**20)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        out.write('{"id": "r0000000", "text": "a short first record"}\n')
        out.write('{"id": "r0000001", "text": "')
        written = 0
        while written < target:
            chunk = " ".join(np.array(WORDS, dtype=object)[rng.integers(0, len(WORDS), size=100_000)]) + " "
            chunk = chunk[: target - written]
            out.write(chunk)
            written += len(chunk)
        out.write('end"}\n')
        out.write('{"id": "r0000002", "text": "a short last record"}\n')
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--records", type=int, default=7_600_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--exact", type=float, default=0.05, help="fraction of planted exact duplicates")
    parser.add_argument("--near", type=float, default=0.05, help="fraction of planted near duplicates")
    parser.add_argument("--long-line-mb", type=float, default=None,
                        help="instead: a three-record pool whose middle line is this many MB")
    args = parser.parse_args()
    if args.long_line_mb is not None:
        build_long_line(args.path, args.long_line_mb, args.seed)
    else:
        build(args.path, args.records, args.seed, args.exact, args.near)
    print(f"{args.path}: {args.path.stat().st_size / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
