"""What the stand-alone benchmark scripts share: the results document they write."""

from __future__ import annotations

import argparse
import json


def results_document(script: str, args: argparse.Namespace, runs: list) -> dict:
    """{command, machine, runs}: the command that reproduces `runs` (every option but --out)
    and the machine it ran on."""
    from thresher.evaluate.results import machine_info

    options = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "out")
    return {"command": f"python benchmarks/{script} {options}", "machine": machine_info(), "runs": runs}


def write_json(path: str | None, document: dict) -> None:
    """Write `document` to `path` (indented), when a path is given."""
    if path:
        with open(path, "w") as handle:
            json.dump(document, handle, indent=1)
