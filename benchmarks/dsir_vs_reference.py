"""DSIR side by side: thresher's `dsir` against the reference implementation (PyPI
`data-selection==1.0.3`, Xie et al. 2023) on the same 200k-document mixed-domain corpus.

For each target (the held-out Python-docs target, and a harder one whose domain overlaps
others: Rust docs at 5% of a pool full of Python docs, man pages and Debian docs) both
select k = 10% with their defaults, each in its own process; we report documents per
CPU-second (user + sys of the whole process tree), the ratio, wall time, peak RSS of the
tree, target-domain precision of the selection and its KL reduction (hashed unigram +
bigram distributions, `thresher.evaluate.kl`, the same code for both selections).

    python benchmarks/dsir_vs_reference.py                      # builds corpora and the reference venv once
    python benchmarks/dsir_vs_reference.py --reuse-reference    # keep the reference's last figures (it takes minutes)

Work files go to bench-work/dsir/ (ignored by git); figures to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from process_stats import measure

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT.parent / "shared" / "tools" / "make_mixed_corpus.py"
RESULTS = ROOT / "benchmarks" / "results"
CORPORA = {
    "pydoc": {"target_domain": "pydoc", "mix": None},
    "rust-overlap": {"target_domain": "rust_docs", "mix": "pydoc:0.30,rust_docs:0.05,manpages:0.35,debian_docs:0.30"},
}
REFERENCE_RUNNER = '''
import glob, json, sys
from data_selection import HashedNgramDSIR
raw, target, work, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dsir = HashedNgramDSIR(sorted(glob.glob(raw)), [target], cache_dir=work + "/cache")  # the package's defaults
dsir.fit_importance_estimator(num_tokens_to_fit="auto")
dsir.compute_importance_weights()
dsir.resample(out_dir=work + "/out", num_to_sample=k, cache_dir=work + "/resample-cache")
'''


def build_corpus(work: Path, name: str, docs: int) -> Path:
    folder = work / name
    if not (folder / "manifest.json").exists():
        spec = CORPORA[name]
        command = [sys.executable, str(TOOL), "--out", str(folder), "--n-raw", str(docs), "--target-domain", spec["target_domain"]]
        if spec["mix"]:
            command += ["--mix", spec["mix"]]
        print(f"building {folder} ...", file=sys.stderr)
        subprocess.run(command, check=True)
    return folder


def subset_corpus(full: Path, docs: int) -> Path:
    """The first `docs` records of a corpus (the tool shuffles, so this is a uniform sample) and its target."""
    folder = full.parent / f"{full.name}-{docs // 1000}k"
    if not (folder / "manifest.json").exists():
        (folder / "raw").mkdir(parents=True, exist_ok=True)
        (folder / "target").mkdir(exist_ok=True)
        with open(folder / "raw" / "raw_00.jsonl", "w") as out:
            left = docs
            for path in sorted((full / "raw").glob("*.jsonl")):
                with open(path) as lines:
                    for line in lines:
                        if left == 0:
                            break
                        out.write(line)
                        left -= 1
        (folder / "target" / "target.jsonl").write_bytes((full / "target" / "target.jsonl").read_bytes())
        (folder / "manifest.json").write_text(json.dumps({"subset_of": str(full), "n_raw": docs}))
    return folder


def reference_python(work: Path) -> str:
    venv = work / "ref-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "data-selection==1.0.3"], check=True)
    return str(python)


def run_reference(python: str, corpus: Path, k: int) -> tuple[dict, list[Path]]:
    work = corpus / "reference"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    runner = work.parent / "reference_runner.py"
    runner.write_text(REFERENCE_RUNNER)
    figures = measure([python, str(runner), str(corpus / "raw" / "*.jsonl"), str(corpus / "target" / "target.jsonl"),
                       str(work), str(k)])
    return figures, sorted((work / "out").glob("*.jsonl"))


def run_thresher(corpus: Path, out: Path, workers: int, params: tuple[str, ...] = ()) -> dict:
    command = [str(Path(sys.executable).parent / "thresher"), "select", str(corpus / "raw" / "*.jsonl"), "--method", "dsir",
               "--target", str(corpus / "target" / "target.jsonl"), "--budget", "10%", "--out", str(out),
               "--overwrite", "--workers", str(workers), "--no-kl"]
    for param in params:
        command += ["-p", param]
    return measure(command)


# thresher's defaults, and thresher with the reference's default 100-token minimum (its
# only default that differs), so that the quality columns also compare like with like.
CONFIGS = {"thresher": (), "thresher_min_length_100": ("min_length=100",)}


def quality(corpus: Path, picked: list[Path], target_domain: str) -> dict:
    """Target-domain precision and KL reduction of the records in `picked` (JSONL files)."""
    import numpy as np

    from thresher import Pool
    from thresher.evaluate.kl import kl_reduction
    from thresher.features.ngram_model import CountTask
    from thresher.features.ngrams import HashedNgrams

    featurizer = HashedNgrams()

    def counts_and_domains(paths):
        pool = Pool.from_jsonl([str(p) for p in paths], domain_field="domain")
        index, outputs = pool.scan([CountTask(featurizer)])
        return np.sum(outputs[0], axis=0), index.domains.to_pylist() if index.domains is not None else []

    raw, _ = counts_and_domains(sorted((corpus / "raw").glob("*.jsonl")))
    target, _ = counts_and_domains([corpus / "target" / "target.jsonl"])
    selected, domains = counts_and_domains(picked)
    precision = sum(d == target_domain for d in domains) / max(len(domains), 1)
    return {"selected": len(domains), "precision": precision, "kl_reduction": kl_reduction(target, raw, selected)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(ROOT / "bench-work" / "dsir"))
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3, help="thresher runs per target (median)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--targets", default=",".join(CORPORA),
                        help="corpora to run, each NAME or NAME:DOCS to run on the first DOCS records only")
    parser.add_argument("--reuse-reference", action="store_true",
                        help="use the reference's figures saved by an earlier run of this script on the same corpus")
    parser.add_argument("--no-reference", action="store_true", help="measure thresher alone")
    parser.add_argument("--only-reference", action="store_true", help="measure the reference and save its figures, then stop")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    lines, report = [], {"docs": args.docs, "budget": "10%", "runs": args.runs, "thresher_workers": args.workers,
                         "reference": "data-selection==1.0.3 (HashedNgramDSIR defaults, num_proc = all cores)",
                         "cpu_count": os.cpu_count(), "load_average_at_start": os.getloadavg(), "targets": {}}
    python = reference_python(work)
    for item in args.targets.split(","):
        name, _, subset = item.partition(":")
        corpus = build_corpus(work, name, args.docs)
        docs = int(subset) if subset else args.docs
        if docs < args.docs:
            corpus = subset_corpus(corpus, docs)
        domain = CORPORA[name]["target_domain"]
        k = docs // 10
        saved = corpus / "reference.json"
        if args.no_reference:
            ref = None
        elif args.reuse_reference and saved.exists():
            ref = json.loads(saved.read_text())
        else:
            figures, picked = run_reference(python, corpus, k)
            ref = {**figures, **quality(corpus, picked, domain), "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            saved.write_text(json.dumps(ref, indent=1))
        if args.only_reference:
            print(f"reference on {name}: {json.dumps(ref)}", flush=True)
            continue
        entry = {"target_domain": domain, "docs": docs}
        if ref is not None:
            ref["docs_per_cpu_s"] = docs / ref["cpu_s"]
            entry["reference"] = ref
        for config, params in CONFIGS.items():
            out = corpus / f"{config}-picked.jsonl"
            cold = run_thresher(corpus, out, args.workers, params)  # may compile and cache numba's code; reported apart
            runs = [run_thresher(corpus, out, args.workers, params) for _ in range(args.runs)]
            ours = {key: statistics.median(r[key] for r in runs) for key in ("wall_s", "cpu_s", "peak_rss_mb")}
            ours["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in runs)
            ours.update(quality(corpus, [out], domain))
            ours["first_run_cpu_s"] = cold["cpu_s"]
            ours["docs_per_cpu_s"] = docs / ours["cpu_s"]
            entry[config] = ours
            label = "thresher" + (f" ({' '.join(params)})" if params else "")
            mine = (f"{label} {ours['docs_per_cpu_s']:,.0f} docs/cpu-s (cpu {ours['cpu_s']:.2f} s, wall {ours['wall_s']:.2f} s, "
                    f"rss {ours['peak_rss_mb']:.0f} MB (max {ours['peak_rss_mb_max']:.0f}), precision {ours['precision']:.4f}, "
                    f"KL red. {ours['kl_reduction']:.4f})")
            if ref is None:
                lines.append(f"dsir {name} ({docs:,} docs, k=10%, thresher only): {mine}")
            else:
                entry[f"{config}_ratio"] = ours["docs_per_cpu_s"] / ref["docs_per_cpu_s"]
                lines.append(f"dsir {name} ({docs:,} docs, k=10%): reference {ref['docs_per_cpu_s']:,.0f} docs/cpu-s "
                             f"(cpu {ref['cpu_s']:.1f} s, wall {ref['wall_s']:.1f} s, rss {ref['peak_rss_mb']:.0f} MB, "
                             f"precision {ref['precision']:.4f}, KL red. {ref['kl_reduction']:.4f}) | {mine} | "
                             f"ratio {entry[f'{config}_ratio']:.1f}x")
            print(lines[-1], flush=True)
        report["targets"][item] = entry
    if args.only_reference:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "_thresher_only" if args.no_reference else ""
    (RESULTS / f"dsir_vs_reference{suffix}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"dsir_vs_reference{suffix}.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
