"""Hostile cases, run as a user would: each is a `thresher` command in a scratch folder.

For every case the script checks the exit code, that stderr is one clear line
("thresher: ..."), never a traceback, and that no input file changed. Then it stops
runs with kill -9 at random moments and checks that running the same command again
(with --checkpoint) writes a byte-identical output. The unit tests in tests/hostile/
cover each defect one by one; this is the end-to-end tally for the closing note.

    python benchmarks/hostile_cases.py [--trials 6] [--out benchmarks/results/hostile_cases.json]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THRESHER = [sys.executable, "-m", "thresher.cli", "--no-progress"]


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _pool(path: Path, n: int = 300, labels=None) -> Path:
    with open(path, "w") as handle:
        for i in range(n):
            label = labels(i) if labels else f"c{i % 5}"
            handle.write(json.dumps({"id": i, "text": f"record {i} about topic {i % 17} " * (1 + i % 4),
                                     "label": label}) + "\n")
    return path


class _Planted:
    """A pickle payload that creates a file when unpickled (it must never be)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def cases(work: Path) -> list[dict]:
    """(name, args, files that must not change, expected exit code, extra check)."""
    pool = _pool(work / "pool.jsonl")
    bad = work / "bad.jsonl"
    bad.write_bytes(pool.read_bytes() + b"not json\n")
    target = _pool(work / "target.jsonl", 40)
    existing_q = work / "o3.jsonl.quarantine.jsonl"
    existing_q.write_text("keep me\n")
    sidecar = work / "m.parquet.json"
    sidecar.write_text("{}")
    corrupt = work / "c.parquet"
    corrupt.write_bytes(b"PAR1garbagegarbagePAR1")
    misnamed = work / "j.parquet"
    misnamed.write_bytes(pool.read_bytes())
    scores = work / "scores.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"x": [1, 2]}), scores)
    markup = _pool(work / "markup.jsonl", 20, labels=lambda i: "[/bold]" if i % 2 else "[link=http://x]y[/link]")
    ragged = work / "ragged.csv"
    ragged.write_text("id,text,label\n" + "".join(f"{i},text {i},c{i % 3}\n" for i in range(50)) + "51,too,many,fields\n")
    mixed = _pool(work / "mixed.jsonl", 1300, labels=lambda i: i % 3 if i < 1200 else f"s{i % 3}")
    truncated = work / "cut.jsonl.gz"
    whole = gzip.compress(pool.read_bytes())
    truncated.write_bytes(whole[: len(whole) // 2])
    brackets = work / "pool[1].jsonl"
    shutil.copy(pool, brackets)
    empty = work / "empty.jsonl"
    empty.write_text("".join(json.dumps({"text": ""}) + "\n" for _ in range(20)))
    shared = work / "shared-ck"
    shared.mkdir(mode=0o777)
    os.chmod(shared, 0o777)
    planted = work / "ck"
    planted.mkdir(mode=0o700)
    marker = work / "PWNED"
    for name in ("a.shard", "b.shard"):
        (planted / name).write_bytes(pickle.dumps(_Planted(str(marker))))
    d = str
    return [
        dict(name="D1 quarantine is the pool", args=["select", d(bad), "-m", "random", "-b", "10%", "-o", d(work / "o1.jsonl"),
             "--on-bad-record", "quarantine", "--quarantine", d(bad)], keep=[bad], code=2),
        dict(name="D1 quarantine is the output", args=["select", d(bad), "-m", "random", "-b", "10%", "-o", d(work / "o2.jsonl"),
             "--on-bad-record", "quarantine", "--quarantine", d(work / "o2.jsonl")], keep=[bad], code=2),
        dict(name="D1 existing quarantine file without --overwrite", args=["select", d(bad), "-m", "random", "-b", "10%",
             "-o", d(work / "o3.jsonl"), "--on-bad-record", "quarantine"], keep=[bad, existing_q], code=2),
        dict(name="D3 exact + near where one drops nothing", args=["dedup", d(pool), "--exact", "--near", "-o", d(work / "dd.jsonl")],
             keep=[pool], code=0, produces=work / "dd.jsonl"),
        dict(name="D5 dedup writes its quarantine", args=["dedup", d(bad), "--exact", "--on-bad-record", "quarantine",
             "-o", d(work / "dq.jsonl")], keep=[bad], code=0, produces=work / "dq.jsonl.quarantine.jsonl"),
        dict(name="D6 output is the target (--overwrite)", args=["select", d(pool), "-m", "dsir", "--target", d(target), "-b", "10%",
             "-o", d(target), "--overwrite"], keep=[pool, target], code=2),
        dict(name="D6 output is an --against set (--overwrite)", args=["decontaminate", d(pool), "--against", d(target),
             "-o", d(target), "--overwrite"], keep=[pool, target], code=2),
        dict(name="D9 corrupt Parquet", args=["info", d(corrupt)], keep=[corrupt], code=1),
        dict(name="D9 JSON named .parquet", args=["info", d(misnamed)], keep=[misnamed], code=1),
        dict(name="D9 --scores-from without an id column", args=["filter", d(pool), "--scores-from", d(scores), "-o",
             d(work / "f.jsonl")], keep=[pool, scores], code=2),
        dict(name="D10 Rich markup in labels", args=["info", d(markup), "--label-field", "label"], keep=[markup], code=0,
             stdout_has="[/bold]"),
        dict(name="D13 ragged CSV row quarantined", args=["info", d(ragged), "--on-bad-record", "quarantine"], keep=[ragged],
             code=0),
        dict(name="D14 label int for 1,200 lines, then text", args=["info", d(mixed), "--label-field", "label"], keep=[mixed],
             code=0),
        dict(name="D15 manifest is the output", args=["select", d(pool), "-m", "random", "-b", "10", "-o", d(work / "m1.jsonl"),
             "--manifest", d(work / "m1.jsonl")], keep=[pool], code=2, absent=work / "m1.jsonl"),
        dict(name="D15 existing manifest sidecar", args=["select", d(pool), "-m", "random", "-b", "10", "-o", d(work / "m2.jsonl"),
             "--manifest", d(work / "m.parquet")], keep=[pool, sidecar], code=2, absent=work / "m2.jsonl"),
        dict(name="D17 truncated .gz names the file", args=["info", d(truncated)], keep=[truncated], code=1,
             stderr_has="cut.jsonl.gz"),
        dict(name="D19 brackets in a file name", args=["info", d(brackets)], keep=[brackets], code=0),
        dict(name="D20 budget 0", args=["select", d(pool), "-m", "random", "-b", "0", "-o", d(work / "z1.jsonl")], keep=[pool],
             code=2, absent=work / "z1.jsonl"),
        dict(name="D20 budget 0%", args=["select", d(pool), "-m", "random", "-b", "0%", "-o", d(work / "z2.jsonl")], keep=[pool],
             code=2, absent=work / "z2.jsonl"),
        dict(name="D20 token budget with --replace over empty texts", args=["select", d(empty), "-m", "random", "-b",
             "2M tokens", "--replace", "-o", d(work / "z3.jsonl")], keep=[empty], code=2, absent=work / "z3.jsonl"),
        dict(name="D2 planted pickle in the checkpoint folder", args=["select", d(pool), "-m", "random", "-b", "10%",
             "-o", d(work / "p.jsonl"), "--checkpoint", d(planted)], keep=[pool], code=0, absent=marker),
        dict(name="D2 group/world-writable checkpoint folder", args=["select", d(pool), "-m", "random", "-b", "10%",
             "-o", d(work / "w.jsonl"), "--checkpoint", d(shared)], keep=[pool], code=2, absent=work / "w.jsonl"),
        dict(name="broken JSON line, default policy", args=["select", d(bad), "-m", "random", "-b", "10%", "-o",
             d(work / "b.jsonl")], keep=[bad], code=1, stderr_has="line 301"),
        dict(name="output is the input", args=["select", d(pool), "-m", "random", "-b", "10%", "-o", d(pool), "--overwrite"],
             keep=[pool], code=2),
        dict(name="missing text field", args=["select", d(pool), "--text-field", "body", "-m", "random", "-b", "10%",
             "-o", d(work / "t.jsonl")], keep=[pool], code=1, stderr_has="--text-field"),
        dict(name="unknown method", args=["select", d(pool), "-m", "randon", "-b", "10%", "-o", d(work / "u.jsonl")],
             keep=[pool], code=2, stderr_has="random"),
        dict(name="bad method parameter", args=["select", d(pool), "-m", "semdedup", "--threshold", "5", "-b", "10%",
             "-o", d(work / "v.jsonl")], keep=[pool], code=2),
    ]


def run_case(case: dict, work: Path) -> dict:
    before = {str(p): _digest(p) for p in case["keep"]}
    process = subprocess.run(THRESHER + case["args"], cwd=work, capture_output=True, text=True, timeout=600)
    stderr = [line for line in process.stderr.splitlines() if line.strip()]
    clear = process.returncode == 0 or (len(stderr) >= 1 and stderr[0].startswith("thresher: ")
                                        and "Traceback" not in process.stderr)
    unchanged = all(_digest(Path(p)) == digest for p, digest in before.items())
    ok = process.returncode == case["code"] and clear and unchanged
    if case.get("produces") is not None:
        ok &= Path(case["produces"]).exists()
    if case.get("absent") is not None:
        ok &= not Path(case["absent"]).exists()
    if case.get("stderr_has"):
        ok &= case["stderr_has"] in process.stderr
    if case.get("stdout_has"):
        ok &= case["stdout_has"] in process.stdout
    return {"case": case["name"], "exit": process.returncode, "expected": case["code"], "clear": clear,
            "inputs_unchanged": unchanged, "passed": bool(ok), "stderr": stderr[:2]}


def kill_resume(work: Path, trials: int, seed: int) -> list[dict]:
    """kill -9 a checkpointed run at a random moment, run it again, compare with a clean run."""
    big = work / "big.jsonl"
    with open(big, "w") as handle:
        for i in range(600_000):
            handle.write(json.dumps({"text": f"document {i} on subject {i % 97} with words {i % 13} and {i % 7}"}) + "\n")
    target = _pool(work / "big_target.jsonl", 200)
    args = ["select", str(big), "-m", "dsir", "--target", str(target), "-b", "10%", "--workers", "2", "--no-kl"]
    reference = work / "reference.jsonl"
    clock = time.perf_counter()
    subprocess.run(THRESHER + args + ["-o", str(reference)], check=True, capture_output=True, cwd=work)
    full = time.perf_counter() - clock
    rng = random.Random(seed)
    results = []
    for trial in range(trials):
        out, ck = work / f"resumed{trial}.jsonl", work / f"ck{trial}"
        command = THRESHER + args + ["-o", str(out), "--checkpoint", str(ck)]
        process = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        delay = rng.uniform(0.1, 0.8) * full
        time.sleep(delay)
        killed = process.poll() is None
        if killed:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        # Killed after the output was renamed into place (while clearing checkpoints or
        # printing the summary): it must then be whole; a rerun rightly refuses to replace it.
        whole_before_kill = out.exists()
        partial = whole_before_kill and _digest(out) != _digest(reference)
        if not whole_before_kill:
            again = subprocess.run(command, cwd=work, capture_output=True)
            same = again.returncode == 0 and _digest(out) == _digest(reference)
        else:
            same = not partial
        leftovers = [p.name for p in work.glob(f".{out.name}.tmp-*")]
        results.append({"trial": trial, "killed_after_s": round(delay, 2), "killed": killed,
                        "output_existed_after_kill": whole_before_kill, "partial_output": bool(partial),
                        "resumed_identical": same,
                        "checkpoints_left": sorted(p.name for p in ck.glob("*")) if ck.exists() else [],
                        "temp_files_left": leftovers})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "hostile_cases.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="thresher-hostile-"))
    try:
        outcomes = [run_case(case, work) for case in cases(work)]
        trials = kill_resume(work, args.trials, args.seed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    passed = sum(o["passed"] for o in outcomes)
    clear = sum(o["clear"] and o["exit"] == o["expected"] for o in outcomes)
    resumed = sum(t["resumed_identical"] and not t["partial_output"] for t in trials)
    for outcome in outcomes:
        print(f"{'ok ' if outcome['passed'] else 'BAD'} {outcome['case']}: exit {outcome['exit']} "
              f"(expected {outcome['expected']}) {outcome['stderr'][0] if outcome['stderr'] else ''}"[:200])
    for trial in trials:
        print(f"kill/resume trial {trial['trial']}: killed after {trial['killed_after_s']} s, "
              f"output already whole: {trial['output_existed_after_kill']}, partial output: {trial['partial_output']}, "
              f"identical to a clean run: {trial['resumed_identical']}")
    summary = (f"{passed} of {len(outcomes)} hostile cases pass; {clear} give a clear one-line message with the expected "
               f"exit code; kill -9 and resume: {resumed} of {len(trials)} byte-identical")
    print(summary)
    Path(args.out).write_text(json.dumps({"summary": summary, "cases": outcomes, "kill_resume": trials}, indent=1) + "\n")


if __name__ == "__main__":
    main()
