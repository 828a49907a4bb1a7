"""Errors a user can act on.

Every error thresher raises for a user's mistake or bad data is a `ThresherError`:
its message names the file, the record and what to do, and the CLI prints it without a
traceback. `exit_code` follows the CLI convention: 2 for usage errors, 1 for failures.
"""

from __future__ import annotations


class ThresherError(Exception):
    """Base class for errors reported to the user without a traceback."""

    exit_code = 1


class UsageError(ThresherError, ValueError):
    """The request itself is wrong: a bad option, budget, field name or output path."""

    exit_code = 2


class BadRecordError(ThresherError):
    """A record could not be read and `on_bad_record="error"` was in force."""

    def __init__(self, file: str, line: int, reason: str, unit: str = "line", hint: str | None = None):
        self.file = file
        self.line = line
        self.reason = reason
        first = f"{hint}, or use" if hint else "Fix the record, or use"
        super().__init__(
            f"{file} {unit} {line}: {reason}.\n"
            f"  {first} --on-bad-record=quarantine (on_bad_record='quarantine') to set such records "
            "aside with their reasons and go on, or --on-bad-record=skip to drop them (still counted)."
        )


class MissingDependencyError(ThresherError):
    """An optional dependency is needed for this feature."""

    exit_code = 2

    def __init__(self, package: str, extra: str, feature: str):
        super().__init__(
            f"{feature} needs the '{package}' package. Install it with: pip install 'thresher[{extra}]'"
        )
