"""Shared by the representation benchmarks: run one measured step in a child process.

Each step runs as `python SCRIPT --child JSON`, so its peak RSS is its own. The parent
reads the child's resource usage with os.wait4 (user + sys CPU of the child and anything
it waited for, and its peak RSS) and the child's own JSON line of figures from stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DATA = Path(os.environ.get("THRESHER_DATA", ROOT.parent / "shared" / "data"))


def run_child(script: str, config: dict, timeout: float = 3600) -> dict:
    """Run `script --child config` and return its figures plus cpu_s, wall_s, peak_rss_mb."""
    clock = time.perf_counter()
    process = subprocess.Popen([sys.executable, script, "--child", json.dumps(config)], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "THRESHER_PROGRESS": "0"})
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"child {config} failed with status {status}")
    figures = json.loads(output.strip().splitlines()[-1])
    return {**figures, "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "process_wall_s": round(time.perf_counter() - clock, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}


def child_config() -> dict | None:
    """The config when this process is a child, else None."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return json.loads(sys.argv[2])
    return None


def run_script(child, main) -> None:
    """A benchmark script's entry: run `child(config)` when started as a child, else `main()`."""
    config = child_config()
    if config is not None:
        print(json.dumps(child(config)))
    else:
        main()


def cpu_now() -> float:
    times = os.times()
    return times.user + times.system


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def save(name: str, document: dict, lines: list[str]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=1))
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
