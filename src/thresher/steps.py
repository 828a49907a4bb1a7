"""Steps: what selectors and filters have in common, and the one registry of both.

A step takes a pool and gives a `Selection`:

    step.run(pool, StepContext(budget="10%", seed=0)) -> Selection

Selectors (`kind = "selector"`, `thresher.select`) choose within a budget; filters
(`kind = "filter"`, `thresher.filter`) keep or drop every record for a reason and ignore
the budget. Both take their parameters in the constructor (`thresher.params.Param`), so
the CLI, the benchmark, `thresher methods` and the docs list the same set with the same
parameters. Register a step with `@register` on its class, in a module of one of
STEP_PACKAGES; it is found without further edits. Such modules must import quickly:
heavy libraries (numba, torch, faiss) are imported inside functions.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from thresher.errors import UsageError

if TYPE_CHECKING:
    from thresher.data.pool import Pool
    from thresher.selection import Selection

KINDS = ("selector", "filter")
# Packages whose modules register the built-in steps when imported; an entry may also be a
# single module (auto lives with the proxy models it races, in evaluate/).
STEP_PACKAGES = ("thresher.select", "thresher.filter", "thresher.evaluate.auto")

_STEPS: dict[str, type] = {}
_loaded = False


@dataclass(frozen=True)
class StepContext:
    """How to run a step: the budget and target (selectors), seed, engine and workers."""

    budget: Any = "100%"
    target: Any = None
    seed: int = 0
    engine: Any = None
    workers: int | None = None
    replace: bool = False


@runtime_checkable
class Step(Protocol):
    """Anything with a name, a kind and `run(pool, ctx) -> Selection`."""

    name: str
    kind: str

    def run(self, pool: "Pool", ctx: StepContext) -> "Selection": ...


def register(cls: type) -> type:
    """Class decorator: make a step findable by its `name`."""
    if not getattr(cls, "name", ""):
        raise ValueError(f"{cls.__name__} needs a name to be registered")
    if getattr(cls, "kind", None) not in KINDS:
        raise ValueError(f"{cls.__name__}.kind must be one of {', '.join(KINDS)}")
    if cls.name in _STEPS and _STEPS[cls.name] is not cls:
        raise ValueError(f"two steps are named {cls.name!r}")
    _STEPS[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for package_name in STEP_PACKAGES:
        package = importlib.import_module(package_name)
        if not hasattr(package, "__path__"):
            continue  # a single module: importing it registered its steps
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package_name}.{module.name}")
    _loaded = True


def steps(kind: str | None = None) -> dict[str, type]:
    """Registered steps by name, sorted; only those of `kind` ("selector", "filter") if given."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind={kind!r}: use one of {', '.join(KINDS)}")
    _load()
    return {name: cls for name, cls in sorted(_STEPS.items()) if kind is None or cls.kind == kind}


def get_step(name: str, kind: str | None = None) -> type:
    """The step class called `name` (of `kind`, if given); an unknown name lists the known ones."""
    known = steps(kind)
    if name not in known:
        what = {"selector": "method", "filter": "filter", None: "step"}[kind]
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        listing = "methods" if kind == "selector" else "methods --all"
        raise UsageError(f"unknown {what} {name!r}.{hint} Known: {', '.join(known)} (see `thresher {listing}`).")
    return known[name]


__all__ = ["KINDS", "Step", "StepContext", "get_step", "register", "steps"]
