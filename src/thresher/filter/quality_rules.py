"""The measurements behind the quality rules, and the default rule set.

Most rules and thresholds are those of Rae et al., "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher" (2021), appendix A.1.1 (the "Gopher rules");
the last few come from the C4 filters of Raffel et al., "Exploring the Limits of Transfer
Learning with a Unified Text-to-Text Transformer" (2020), section 2.2. Words are
whitespace-separated tokens, as in the Gopher rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


GOPHER_STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "‣", "⁃")
ELLIPSES = ("...", "…")


@dataclass(frozen=True)
class Rule:
    """A bound on one measurement. `min`/`max` are inclusive; None means unbounded."""

    name: str
    help: str
    min: float | None = None
    max: float | None = None
    enabled: bool = True

    def failure(self, value: float) -> str | None:
        """Why `value` breaks this rule ("12 < min 50"), or None when it passes."""
        if self.min is not None and value < self.min:
            return f"{value:.4g} < min {self.min:g}"
        if self.max is not None and value > self.max:
            return f"{value:.4g} > max {self.max:g}"
        return None


DEFAULT_RULES: dict[str, Rule] = {rule.name: rule for rule in [
    Rule("word_count", "words in the document (Gopher: 50..100,000)", 50, 100_000),
    Rule("mean_word_length", "mean characters per word (Gopher: 3..10)", 3, 10),
    Rule("symbol_to_word_ratio", "('#' + ellipses) per word (Gopher: <= 0.1)", None, 0.1),
    Rule("bullet_lines", "fraction of lines starting with a bullet (Gopher: <= 0.9)", None, 0.9),
    Rule("ellipsis_lines", "fraction of lines ending in an ellipsis (Gopher: <= 0.3)", None, 0.3),
    Rule("alpha_words", "fraction of words with a letter; 1 - the non-alphabetic fraction (Gopher: >= 0.8)", 0.8),
    Rule("stop_words", "distinct Gopher stop words present: the, be, to, of, and, that, have, with (>= 2)", 2),
    Rule("duplicate_lines", "fraction of lines that repeat an earlier line (Gopher: <= 0.3)", None, 0.3),
    Rule("duplicate_line_chars", "fraction of characters in repeated lines (Gopher: <= 0.2)", None, 0.2),
    Rule("top_2gram_chars", "characters in the most frequent 2-gram (Gopher: <= 0.20)", None, 0.20),
    Rule("top_3gram_chars", "characters in the most frequent 3-gram (Gopher: <= 0.18)", None, 0.18),
    Rule("top_4gram_chars", "characters in the most frequent 4-gram (Gopher: <= 0.16)", None, 0.16),
    Rule("dup_5gram_chars", "characters in repeated 5-grams (Gopher: <= 0.15)", None, 0.15),
    Rule("dup_6gram_chars", "characters in repeated 6-grams (Gopher: <= 0.14)", None, 0.14),
    Rule("dup_7gram_chars", "characters in repeated 7-grams (Gopher: <= 0.13)", None, 0.13),
    Rule("dup_8gram_chars", "characters in repeated 8-grams (Gopher: <= 0.12)", None, 0.12),
    Rule("dup_9gram_chars", "characters in repeated 9-grams (Gopher: <= 0.11)", None, 0.11),
    Rule("dup_10gram_chars", "characters in repeated 10-grams (Gopher: <= 0.10)", None, 0.10),
    Rule("lorem_ipsum", "'lorem ipsum' occurs (C4: 0)", None, 0),
    Rule("curly_braces", "'{' occurs (C4 drops pages with code; off by default)", None, 0, enabled=False),
    Rule("terminal_punctuation_lines", "fraction of lines ending in . ! ? or a quote (C4; off by default)", 0.5,
         enabled=False),
]}

MEASUREMENTS = tuple(DEFAULT_RULES)


# A whitespace-separated word with a letter in it: a match starts where such a word does
# and runs to its end, so matches count those words (re's \s is str.split's whitespace).
_ALPHA_WORD = re.compile(r"\S*[^\W\d_]\S*")


REPETITION = tuple(f"top_{n}gram_chars" for n in (2, 3, 4)) + tuple(f"dup_{n}gram_chars" for n in range(5, 11))


def measure(text: str) -> dict[str, float]:
    """Every measurement of one document, by rule name."""
    return measure_batch([text])[0]


def measure_batch(texts: list[str]) -> list[dict[str, float]]:
    """Every measurement of each document, by rule name.

    The repetition measures (Gopher's: characters in the most frequent n-gram for
    n = 2..4, in duplicated n-grams for n = 5..10, as fractions of all word characters)
    are counted by a compiled kernel over word ids for the whole batch; words are compared
    by Python's string hash, so two different words would have to collide in 64 bits to
    be taken for the same one.
    """
    import numpy as np

    kernels = _repetition_kernels()
    rows, ids, lengths, offsets, totals = [], [], [], [0], []
    for text in texts:
        values, lowered, total_chars = _line_and_word_measures(text)
        rows.append(values)
        ids.extend(map(hash, lowered))
        lengths.extend(map(len, lowered))
        offsets.append(len(ids))
        totals.append(total_chars)
    fractions = np.zeros((len(texts), len(REPETITION)))
    if texts:
        kernels.repetition_fractions(np.array(ids, dtype=np.int64).view(np.uint64), np.array(lengths, dtype=np.int64),
                                       np.array(offsets, dtype=np.int64), np.array(totals, dtype=np.int64), fractions)
    for values, row in zip(rows, fractions.tolist()):
        values.update(zip(REPETITION, row))
    return rows


def _repetition_kernels():
    import numpy as np

    from thresher._startup import load_kernels

    def warm_up(kernels) -> None:
        one = np.ones(2, dtype=np.int64)
        kernels.repetition_fractions(one.view(np.uint64), one, np.array([0, 2]), one[:1], np.zeros((1, len(REPETITION))))

    return load_kernels("thresher.filter._kernels", warm_up)


def _line_and_word_measures(text: str) -> tuple[dict[str, float], list[str], int]:
    """The measurements other than repetition, the lowered words, and their characters."""
    words = text.split()
    n_words = len(words)
    total_chars = sum(map(len, words))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    n_lines = max(len(lines), 1)
    seen: set[str] = set()
    dup_lines = dup_line_chars = 0
    for line in lines:
        if line in seen:
            dup_lines += 1
            dup_line_chars += len(line)
        seen.add(line)
    line_chars = sum(len(line) for line in lines)
    lowered = [w.strip(".,;:!?\"'()[]") for w in text.lower().split()]  # lower() keeps the word breaks
    symbols = text.count("#") + text.count("...") + text.count("…")
    values = {
        "word_count": float(n_words),
        "mean_word_length": total_chars / n_words if n_words else 0.0,
        "symbol_to_word_ratio": symbols / n_words if n_words else float(symbols > 0),
        "bullet_lines": sum(line.startswith(BULLETS) for line in lines) / n_lines,
        "ellipsis_lines": sum(line.endswith(ELLIPSES) for line in lines) / n_lines,
        "alpha_words": len(_ALPHA_WORD.findall(text)) / n_words if n_words else 0.0,
        "stop_words": float(len(GOPHER_STOP_WORDS.intersection(lowered))),
        "duplicate_lines": dup_lines / n_lines,
        "duplicate_line_chars": dup_line_chars / line_chars if line_chars else 0.0,
        "lorem_ipsum": float("lorem ipsum" in text.lower()),
        "curly_braces": float("{" in text),
        "terminal_punctuation_lines": sum(line.endswith((".", "!", "?", '"', "'", "”")) for line in lines) / n_lines,
    }
    return values, lowered, total_chars
