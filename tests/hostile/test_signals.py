"""SIGTERM (kill's default, Slurm's and Kubernetes' first word) cleans up like Ctrl-C:
no temporary file or work folder is left, and the command exits 143. Leftovers of
processes killed outright (SIGKILL) are swept by a later run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from thresher._startup import Terminated, handle_sigterm

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGTERM") or os.name != "posix", reason="POSIX signals")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sigterm_raises_terminated_in_the_process_that_installed_it():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        handle_sigterm()
        with pytest.raises(Terminated) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs before this returns
        assert isinstance(caught.value, KeyboardInterrupt)  # every Ctrl-C cleanup path runs for it
        assert caught.value.exit_code == 143
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_write_stopped_by_sigterm_leaves_no_temporary_file(tmp_path):
    out = tmp_path / "picked.jsonl"
    script = (
        "import sys, time\n"
        "from thresher._startup import handle_sigterm\n"
        "from thresher.io import atomic_path\n"
        "handle_sigterm()\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    open(tmp, 'w').write('partial')\n"
        "    print(tmp, flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    tmp = Path(child.stdout.readline().strip())
    assert tmp.exists()
    child.send_signal(signal.SIGTERM)
    child.communicate(timeout=30)
    assert child.returncode != -signal.SIGTERM  # handled, not killed
    assert not tmp.exists() and not out.exists()
    assert os.listdir(tmp_path) == []


def test_the_cli_stopped_by_sigterm_mid_run_cleans_up_and_exits_143(tmp_path):
    words = [f"w{i}" for i in range(5000)]
    pool = tmp_path / "pool.jsonl"
    with open(pool, "w") as handle:
        for i in range(120_000):
            handle.write(json.dumps({"text": " ".join(words[(i * 7 + k * 13) % 5000] for k in range(40))}) + "\n")
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "deduped.jsonl"
    child = subprocess.Popen([sys.executable, "-m", "thresher.cli", "--no-progress", "dedup", str(pool), "--near",
                              "--work-dir", str(work), "--out", str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(work.iterdir()) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert child.poll() is None, "the run ended before it could be stopped; make the pool bigger"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 143, err
    assert "Traceback" not in err and "terminated" in err
    assert list(work.iterdir()) == []
    assert sorted(os.listdir(tmp_path)) == ["pool.jsonl", "work"]


def test_work_folders_of_dead_runs_are_swept(tmp_path):
    from thresher.filter import NearDedup
    from thresher.filter.near import work_folder_prefix
    from thresher import Pool
    from tests.conftest import make_records, write_jsonl

    dead = tmp_path / f"{work_folder_prefix(_dead_pid())}abc123"
    alive = tmp_path / f"{work_folder_prefix(os.getpid())}def456"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "0.keys").write_bytes(b"\0" * 16)
    pool = Pool.from_jsonl(write_jsonl(tmp_path / "pool.jsonl", make_records(50)))
    NearDedup(threshold=0.8, work_dir=str(tmp_path)).apply(pool)
    assert not dead.exists()
    assert alive.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "pool.jsonl"])
