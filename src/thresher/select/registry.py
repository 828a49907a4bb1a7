"""The selection methods in the one step registry (`thresher.steps`): `methods()` lists
the selectors, `get_method(name)` finds one. Add a method with `@register` on its class in
a module of `thresher.select`; it is found without further edits."""

from __future__ import annotations

from thresher.steps import get_step, register, steps


def methods() -> dict[str, type]:
    """All registered selection methods, by name, sorted."""
    return steps("selector")


def get_method(name: str) -> type:
    """The selector class called `name`; an unknown name lists the known ones."""
    return get_step(name, "selector")


__all__ = ["get_method", "methods", "register"]
