"""Bad records: never dropped silently.

A record that cannot be read (not JSON, not UTF-8, missing a chosen field) is handled by
the pool's `on_bad_record` policy: "error" stops with a message naming the file and line,
"quarantine" sets it aside with its reason (written to a quarantine file), "skip" drops it
but still counts it in the summary.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field

from thresher.errors import UsageError

POLICIES = ("error", "quarantine", "skip")


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise UsageError(f"on_bad_record={policy!r} is not one of {', '.join(POLICIES)}.")
    return policy


@dataclass
class BadRecord:
    """One unreadable record: where it is (file, 1-based line or row) and why."""

    file: str
    line: int
    reason: str
    raw: str = ""
    kind: str = "line"  # "line" for text formats, "row" for tables

    def as_dict(self) -> dict:
        return {"file": self.file, self.kind: self.line, "reason": self.reason, "record": self.raw}

    @property
    def reason_code(self) -> str:
        """The reason without record-specific details, for counting."""
        return self.reason.split(":")[0].split(" (")[0]


@dataclass
class BadRecordLog:
    """The bad records of one scan, in file order."""

    records: list[BadRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def counts(self) -> dict[str, int]:
        return dict(Counter(record.reason_code for record in self.records))

    def write(self, path: str | os.PathLike, overwrite: bool = True) -> None:
        """Write every bad record, with file, line and reason, as JSON lines."""
        from thresher.io import atomic_path

        with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")


def describe_raw(raw: bytes, limit: int = 100_000) -> str:
    """A record's bytes as text for the quarantine file; undecodable bytes are escaped."""
    text = raw.decode("utf-8", errors="backslashreplace")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"
