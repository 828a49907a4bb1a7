"""Shared by the bench tests: count (and stop) the proxy fits of a `thresher bench` run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from thresher.cli import main


class Fits:
    """The proxy fits a bench run made (`calls`), and the fit to stop at with Ctrl-C."""

    def __init__(self):
        self.calls: list = []
        self.stop_at: int | None = None

    def stop_at_third_point(self, command: list, out, total: int, fits: int) -> None:
        """Run `command --out out` and stop it while it fits the third point (of `fits`
        fits after the tuning; `total` fits in a whole run)."""
        self.calls.clear()
        self.stop_at = total - fits + 3
        CliRunner().invoke(main, command + ["--out", str(out)])

    def resume(self, command: list, out):
        """Run `command --out out --resume` to the end: (result, the results' first run)."""
        self.calls.clear()
        self.stop_at = None
        result = CliRunner().invoke(main, command + ["--out", str(out), "--resume"])
        return result, json.loads(out.read_text())["runs"][0] if out.exists() else None


@pytest.fixture
def counted_fits(monkeypatch) -> Fits:
    import thresher.evaluate.protocol as protocol

    real, fits = protocol.fit_and_score, Fits()

    def counted(*args):
        fits.calls.append(args[-1])
        if fits.stop_at is not None and len(fits.calls) == fits.stop_at:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(protocol, "fit_and_score", counted)
    return fits


def timeless(points: list[dict]) -> list[dict]:
    """Bench points without their timings, which differ from run to run."""
    return [{k: v for k, v in p.items() if k not in ("select_s", "select_cpu_s", "peak_mb")} for p in points]
