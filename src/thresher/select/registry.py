"""The method registry: every selector by name, so the CLI, the benchmark and the docs
list the same set. Add a method with `@register` on its class, in a module under one of
the METHOD_PACKAGES; it is found without further edits. Such modules must import
quickly: heavy libraries (numba, torch, faiss) are imported inside functions."""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from thresher.errors import UsageError

_METHODS: dict[str, type] = {}
_loaded = False

# Packages whose modules register the built-in methods when imported.
METHOD_PACKAGES = ("thresher.select", "thresher.filter", "thresher.mix")


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
    if _loaded:
        return
    for package_name in METHOD_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ModuleNotFoundError as err:
            if err.name == package_name:
                continue
            raise
        for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not module.name.startswith("_") and module.name != "cli":
                importlib.import_module(f"{package_name}.{module.name}")
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
