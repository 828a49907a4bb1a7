"""Measuring a command as a benchmark contender: wall time, CPU seconds of its whole
process tree (user + sys) and peak RSS of the tree. Shared by the benchmark scripts
(run them as `python benchmarks/<script>.py`, which puts this folder on the path)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import psutil


def measure(command: list[str], env: dict | None = None) -> dict:
    """Run a command: wall seconds, CPU seconds (user + sys) of its whole process tree, peak tree RSS.

    CPU is the larger of wait4's rusage (the child and every descendant it waited for)
    and the sum over every process of the tree as last sampled (every 50 ms), which also
    counts workers that were never waited for (joblib's).
    """
    start = time.perf_counter()
    # stderr goes to a file: a pipe nobody reads while we poll could fill and stall the child.
    errors_file = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors_file, env=env)
    root = psutil.Process(process.pid)
    peak, last_cpu = 0, {}
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        rss = 0
        try:
            members = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            members = []
        for member in members:
            try:
                with member.oneshot():
                    rss += member.memory_info().rss
                    times = member.cpu_times()
                    last_cpu[member.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, rss)
        time.sleep(0.05)
    wall = time.perf_counter() - start
    errors_file.seek(0)
    errors = errors_file.read().decode(errors="replace")
    errors_file.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{errors[-3000:]}")
    cpu = max(usage.ru_utime + usage.ru_stime, sum(last_cpu.values()))
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak / 2**20}
