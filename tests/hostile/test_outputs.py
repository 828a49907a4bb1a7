"""Outputs: a run never silently loses to another run writing the same file, keeps the
mode of a file it replaces, and sweeps the temporary files of runs that were killed."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from click.testing import CliRunner

from thresher.cli import main
from thresher.errors import ThresherError
from thresher.io import atomic_path, temp_path
from tests.conftest import make_records, write_jsonl


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_an_output_that_appears_while_writing_is_not_replaced(tmp_path):
    out = tmp_path / "picked.jsonl"
    with pytest.raises(ThresherError, match=str(out)) as caught:
        with atomic_path(out) as tmp:
            tmp.write_text("mine\n")
            out.write_text("theirs\n")  # another run finished first
    assert "--overwrite" in str(caught.value)
    assert out.read_text() == "theirs\n"
    assert os.listdir(tmp_path) == ["picked.jsonl"]  # no temporary file left


def test_with_overwrite_the_last_writer_wins(tmp_path):
    out = tmp_path / "picked.jsonl"
    with atomic_path(out, overwrite=True) as tmp:
        tmp.write_text("mine\n")
        out.write_text("theirs\n")
    assert out.read_text() == "mine\n"


def test_a_new_output_is_written_when_nothing_is_in_the_way(tmp_path):
    out = tmp_path / "picked.jsonl"
    with atomic_path(out) as tmp:
        tmp.write_text("mine\n")
    assert out.read_text() == "mine\n"
    assert os.listdir(tmp_path) == ["picked.jsonl"]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_overwrite_keeps_the_mode_of_the_replaced_file(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(50))
    out = tmp_path / "picked.jsonl"
    out.write_text("old\n")
    os.chmod(out, 0o600)
    result = CliRunner().invoke(main, ["select", str(pool), "-b", "10", "-o", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 10
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_temporary_files_of_dead_runs_are_swept_before_writing(tmp_path):
    out = tmp_path / "picked.jsonl"
    dead = temp_path(out, pid=_dead_pid())
    alive = temp_path(out, pid=os.getpid())
    other = tmp_path / ".other.jsonl.tmp-1-x"  # another output's: not ours to judge
    for path in (dead, alive, other):
        path.write_text("partial")
    assert dead.name.startswith(".picked.jsonl.tmp-")
    with atomic_path(out) as tmp:
        tmp.write_text("mine\n")
    assert not dead.exists()
    assert alive.exists() and other.exists()
    assert out.read_text() == "mine\n"


def test_a_full_work_folder_of_near_dedup_is_named_with_what_to_do(tmp_path, monkeypatch):
    import errno

    from thresher.filter import near

    def full(paths, whole):
        raise OSError(errno.ENOSPC, "No space left on device", whole)

    monkeypatch.setattr(near, "concatenate_files", full)  # as a full disk would fail it
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(50))
    work = tmp_path / "work"
    work.mkdir()
    result = CliRunner().invoke(main, ["dedup", str(pool), "--near", "--work-dir", str(work),
                                       "--out", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 1, result.output
    assert str(work) in result.output and "--work-dir" in result.output and "No space left" in result.output
    assert "Traceback" not in result.output
    assert list(work.iterdir()) == []


def test_a_missing_work_folder_of_near_dedup_is_a_usage_error(tmp_path):
    pool = write_jsonl(tmp_path / "pool.jsonl", make_records(50))
    result = CliRunner().invoke(main, ["dedup", str(pool), "--near", "--work-dir", str(tmp_path / "nowhere"),
                                       "--out", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 2, result.output
    assert "nowhere" in result.output and "--work-dir" in result.output
