"""The method registry: every selector by name, so the CLI, the benchmark and the docs
list the same set. Add a method with `@register` on its class and a line in BUILTIN."""

from __future__ import annotations

import difflib
import importlib

from thresher.errors import UsageError

_METHODS: dict[str, type] = {}
_loaded = False

# Modules whose import registers the built-in methods.
BUILTIN = ("thresher.select.baselines",)


def register(cls: type) -> type:
    """Class decorator: make a Selector subclass findable by its `name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name to be registered")
    if cls.name in _METHODS and _METHODS[cls.name] is not cls:
        raise ValueError(f"two methods are named {cls.name!r}")
    _METHODS[cls.name] = cls
    return cls


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in BUILTIN:
            importlib.import_module(module)
        _loaded = True


def methods() -> dict[str, type]:
    """All registered methods, by name, sorted."""
    _load()
    return dict(sorted(_METHODS.items()))


def get_method(name: str) -> type:
    """The selector class called `name`; an unknown name lists the known ones."""
    known = methods()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"unknown method {name!r}.{hint} Known methods: {', '.join(known)} (see `thresher methods`).")
    return known[name]
