"""Diagnostics are log records of the "thresher" logger: the command shows them on stderr
(INFO by default, DEBUG with -v, warnings only with -q); a library user sees nothing
unless they configure logging."""

from __future__ import annotations

import logging
import subprocess
import sys

from click.testing import CliRunner

from thresher.cli import main
from thresher.data import Pool

from .conftest import make_records, write_jsonl


def _info_logging_notes(monkeypatch, tmp_path, *flags):
    original = Pool.index

    def index(self, *args, **kwargs):
        log = logging.getLogger("thresher.data.pool")
        log.info("a note for people")
        log.debug("a detail for debugging")
        log.warning("a warning")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Pool, "index", index)
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(10))
    result = CliRunner().invoke(main, [*flags, "info", str(pool), "--json"])
    assert result.exit_code == 0, result.output
    return result.stderr


def test_the_command_shows_info_messages_on_stderr(monkeypatch, tmp_path):
    err = _info_logging_notes(monkeypatch, tmp_path)
    assert "thresher: a note for people" in err and "thresher: a warning" in err
    assert "a detail for debugging" not in err


def test_quiet_hides_info_messages_but_not_warnings(monkeypatch, tmp_path):
    err = _info_logging_notes(monkeypatch, tmp_path, "-q")
    assert "a note for people" not in err and "thresher: a warning" in err


def test_verbose_shows_debug_messages(monkeypatch, tmp_path):
    err = _info_logging_notes(monkeypatch, tmp_path, "--verbose")
    assert "a detail for debugging" in err and "a note for people" in err


def test_a_library_user_sees_nothing_unless_logging_is_configured():
    code = ("import logging, thresher; logging.getLogger('thresher.features.store').warning('quiet please');"
            "logging.basicConfig(); logging.getLogger('thresher.features.store').warning('now shown')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert "quiet please" not in err and "now shown" in err
