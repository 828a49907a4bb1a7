"""Parameters of steps (selectors and filters): one system for both.

A step declares `params = {"name": Param(default, kind, help, choices)}`; its constructor
takes only those keyword arguments, converts them (strings from the command line become
the declared kind), checks choices and then calls the step's `validate()`, so a bad value
is reported when the object is made, before any record is read. The CLI generates its
method options from the same metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thresher.errors import UsageError


def split_param(pair: str) -> tuple[str, str]:
    """("name", "value") from "name=value", the name stripped and with - as _ (as Python
    spells parameters); ValueError without "=". The value is returned as written."""
    key, equals, value = pair.partition("=")
    if not equals:
        raise ValueError(f"{pair!r} is not key=value")
    return key.strip().replace("-", "_"), value


@dataclass(frozen=True)
class Param:
    """One step parameter: default, type, help text, allowed values.

    kind: the Python type values are converted to (bool, int, float, str), or `object`
    for values that are passed through as given (lists of pools, rule dicts).
    """

    default: Any
    kind: type
    help: str
    choices: tuple | None = None

    def convert(self, step: str, name: str, value: Any) -> Any:
        """`value` as this parameter's kind; UsageError naming the step and value otherwise."""
        if self.kind is object:
            return value
        if isinstance(value, str) and self.default is None and value.strip().lower() in ("", "none", "null"):
            value = None  # "none" on the command line means the default "not set"
        elif self.kind is bool and isinstance(value, str):
            lowered = value.lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise UsageError(f"{step}: parameter {name}={value!r} is not true or false.")
            value = lowered in ("1", "true", "yes")
        elif value is not None and not isinstance(value, self.kind):
            try:
                value = self.kind(value)
            except (TypeError, ValueError):
                raise UsageError(f"{step}: parameter {name}={value!r} is not a {self.kind.__name__}.") from None
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"{step}: parameter {name}={value!r} is not one of {', '.join(map(str, self.choices))}.")
        return value


class Configured:
    """Parameters in the constructor, nothing else: `params` declares them, `config` holds
    the converted values, `validate()` checks combinations (called once, at construction)."""

    name = ""
    params: dict[str, Param] = {}

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.params)
        if unknown:
            known = ", ".join(self.params) or "none"
            raise UsageError(f"{self.name} has no parameter {sorted(unknown)[0]!r}; its parameters: {known}.")
        self.config = {name: spec.convert(self.name, name, params.get(name, spec.default))
                       for name, spec in self.params.items()}
        self.validate()

    def validate(self) -> None:
        """Raise UsageError naming a bad parameter value (no data is read here)."""

    def get_params(self) -> dict[str, Any]:
        return dict(self.config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


__all__ = ["Configured", "Param", "split_param"]
