"""Shared helpers: every test builds its own small data in a temporary folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thresher.progress import set_progress


@pytest.fixture(autouse=True)
def _quiet():
    set_progress(False)
    yield
    set_progress(None)


def write_jsonl(path: Path, records: list, raw_lines: dict[int, bytes] | None = None) -> Path:
    """Write records as JSON lines; `raw_lines` puts given bytes at given 0-based lines."""
    raw_lines = raw_lines or {}
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    for at, raw in sorted(raw_lines.items()):
        lines.insert(at, raw)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def make_records(n: int, classes: int = 3, domains: int = 2) -> list[dict]:
    return [
        {
            "id": f"doc-{i}",
            "text": f"record {i} " + "word " * (i % 7),
            "label": f"class-{i % classes}",
            "domain": f"d{i % domains}",
            "score": i / 10,
            "nested": {"a": i, "tags": ["x", "y"][: i % 3]},
        }
        for i in range(n)
    ]


@pytest.fixture
def records() -> list[dict]:
    return make_records(60)


@pytest.fixture
def jsonl_pool_path(tmp_path, records) -> Path:
    return write_jsonl(tmp_path / "pool.jsonl", records)
