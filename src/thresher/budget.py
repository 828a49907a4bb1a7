"""Budgets: how much of a pool to keep.

A budget is a count (`2000`), a fraction or percent of the pool (`0.1`, `"10%"`), or a
token budget (`"2M tokens"`, counted as whitespace-separated tokens by default).
`Budget.parse` reads any of these; `Budget.resolve` turns it into a concrete limit for a
pool of a given size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np

from thresher.errors import UsageError

BudgetLike = Union[int, float, str, "Budget"]

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000, "g": 1_000_000_000, "t": 10**12}
_TOKENS = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmbgt]?)\s*tok(en)?s?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmbgt]?)\s*(records?|examples?|docs?|rows?)?\s*$", re.IGNORECASE)
_PERCENT = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*%\s*$")

_HELP = 'Use a count (2000, "50k"), a fraction or percent ("0.1", "10%") or tokens ("2M tokens").'


def _zero(budget) -> UsageError:
    return UsageError(f"budget {budget!r} keeps nothing; ask for at least one record or token. {_HELP}")


@dataclass(frozen=True)
class Budget:
    """A parsed budget. `kind` is "count", "fraction" or "tokens"; `value` its amount."""

    kind: Literal["count", "fraction", "tokens"]
    value: float
    text: str = ""

    @classmethod
    def parse(cls, budget: BudgetLike) -> "Budget":
        """Read a budget from an int, a float in (0, 1], or a string."""
        if isinstance(budget, Budget):
            return budget
        if isinstance(budget, bool):
            raise UsageError(f"budget {budget!r} is not a number. {_HELP}")
        if isinstance(budget, (int, np.integer)):
            if budget < 0:
                raise UsageError(f"budget {budget} is negative. {_HELP}")
            if budget == 0:
                raise _zero(int(budget))
            return cls("count", int(budget), str(budget))
        if isinstance(budget, (float, np.floating)):
            if not (0 < budget <= 1) or math.isnan(budget):
                raise UsageError(
                    f"budget {budget} is a float outside (0, 1]; a float is a fraction of the pool. "
                    f"For a count pass an int. {_HELP}"
                )
            return cls("fraction", float(budget), str(budget))
        if not isinstance(budget, str):
            raise UsageError(f"budget {budget!r} has type {type(budget).__name__}. {_HELP}")
        text = budget.strip()
        if m := _PERCENT.match(text):
            fraction = float(m.group(1)) / 100
            if fraction <= 0:
                raise _zero(budget)
            return cls("fraction", fraction, text)
        if m := _TOKENS.match(text):
            tokens = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
            if math.floor(tokens) == 0:
                raise _zero(budget)
            return cls("tokens", math.floor(tokens), text)
        if m := _COUNT.match(text):
            number = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
            if "." in m.group(1) and not m.group(2) and not m.group(3):
                return cls.parse(number)  # "0.1" means a fraction, as the float does
            if number != math.floor(number):
                raise UsageError(f"budget {budget!r} is not a whole number of records. {_HELP}")
            if number == 0:
                raise _zero(budget)
            return cls("count", int(number), text)
        raise UsageError(f"cannot read budget {budget!r}. {_HELP}")

    def resolve(self, pool_size: int, total_tokens: int | None = None, replace: bool = False) -> "Limit":
        """The concrete limit for a pool of `pool_size` records (and `total_tokens` tokens)."""
        if self.kind == "tokens":
            if total_tokens is None:
                raise ValueError("a token budget needs the pool's token count")
            if total_tokens == 0:
                raise UsageError(
                    f"budget {self.text or self.value} is in tokens, but the pool's texts have no tokens (all empty or "
                    "whitespace). Give a count or a fraction, or check --text-field / --template."
                )
            if self.value > total_tokens and not replace:
                raise UsageError(
                    f"budget {self.text or self.value} is more than the pool's {total_tokens:,} tokens. "
                    "Ask for fewer, or sample with replacement (--replace)."
                )
            return Limit(count=None, tokens=int(self.value))
        if self.kind == "fraction":
            if self.value > 1 and not replace:
                raise UsageError(
                    f"budget {self.text} is more than the whole pool. "
                    "Ask for at most 100%, or sample with replacement (--replace)."
                )
            # The epsilon keeps 0.29 * 100 at 29 rather than 28.999...
            return Limit(count=math.floor(self.value * pool_size + 1e-9), tokens=None)
        if self.value > pool_size and not replace:
            raise UsageError(
                f"budget {int(self.value):,} is more than the pool's {pool_size:,} records. "
                "Ask for fewer, or sample with replacement (--replace)."
            )
        return Limit(count=int(self.value), tokens=None)

    def __str__(self) -> str:
        return self.text or (f"{self.value:g}" if self.kind != "fraction" else f"{self.value:.4%}")


@dataclass(frozen=True)
class Limit:
    """A resolved budget: at most `count` records, or at most `tokens` tokens."""

    count: int | None
    tokens: int | None

    def cut(self, order: np.ndarray, costs: np.ndarray | None) -> np.ndarray:
        """The prefix of a ranking `order` (positions, best first) that fits the limit.

        For a token limit, records are taken in rank order until the next one would not
        fit; `costs` (n,) gives each position's token count.
        """
        if self.count is not None:
            return order[: self.count]
        assert costs is not None, "a token limit needs per-record costs"
        spent = np.cumsum(costs[order], dtype=np.int64)
        return order[: int(np.searchsorted(spent, self.tokens, side="right"))]
