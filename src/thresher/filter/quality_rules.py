"""The measurements behind the quality rules, and the default rule set.

Most rules and thresholds are those of Rae et al., "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher" (2021), appendix A.1.1 (the "Gopher rules");
the last few come from the C4 filters of Raffel et al., "Exploring the Limits of Transfer
Learning with a Unified Text-to-Text Transformer" (2020), section 2.2. Words are
whitespace-separated tokens, as in the Gopher rules.
"""

from __future__ import annotations

import re
from collections import Counter
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


_ALPHA = re.compile(r"[^\W\d_]")


def _ngram_fractions(words: list[str], total_chars: int) -> dict[str, float]:
    """Gopher's repetition measures: characters in the most frequent n-gram (n = 2..4) and
    in duplicated n-grams (n = 5..10), as fractions of all word characters."""
    values = {f"top_{n}gram_chars": 0.0 for n in (2, 3, 4)} | {f"dup_{n}gram_chars": 0.0 for n in range(5, 11)}
    if total_chars == 0:
        return values
    for n in range(2, min(len(words), 10) + 1):
        grams = list(zip(*(words[i:] for i in range(n))))
        counts = Counter(grams)
        if n <= 4:
            gram, count = counts.most_common(1)[0]
            if count > 1:
                values[f"top_{n}gram_chars"] = count * sum(len(w) for w in gram) / total_chars
            continue
        covered = bytearray(len(words))
        for start, gram in enumerate(grams):
            if counts[gram] > 1:
                covered[start: start + n] = b"\x01" * n
        values[f"dup_{n}gram_chars"] = sum(len(w) for w, c in zip(words, covered) if c) / total_chars
    return values


def measure(text: str) -> dict[str, float]:
    """Every measurement of one document, by rule name."""
    words = text.split()
    n_words = len(words)
    total_chars = sum(len(w) for w in words)
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
    lowered = [w.lower().strip(".,;:!?\"'()[]") for w in words]
    symbols = text.count("#") + text.count("...") + text.count("…")
    values = {
        "word_count": float(n_words),
        "mean_word_length": total_chars / n_words if n_words else 0.0,
        "symbol_to_word_ratio": symbols / n_words if n_words else float(symbols > 0),
        "bullet_lines": sum(line.startswith(BULLETS) for line in lines) / n_lines,
        "ellipsis_lines": sum(line.endswith(ELLIPSES) for line in lines) / n_lines,
        "alpha_words": sum(1 for w in words if _ALPHA.search(w)) / n_words if n_words else 0.0,
        "stop_words": float(len(GOPHER_STOP_WORDS.intersection(lowered))),
        "duplicate_lines": dup_lines / n_lines,
        "duplicate_line_chars": dup_line_chars / line_chars if line_chars else 0.0,
        "lorem_ipsum": float("lorem ipsum" in text.lower()),
        "curly_braces": float("{" in text),
        "terminal_punctuation_lines": sum(line.endswith((".", "!", "?", '"', "'", "”")) for line in lines) / n_lines,
    }
    values.update(_ngram_fractions(lowered, total_chars))
    return values
