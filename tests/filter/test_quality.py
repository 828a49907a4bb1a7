"""Quality rules drop exactly the hand-written documents they should, name the rule and
the measured value, and can be switched, tuned and re-thresholded without re-measuring."""

from __future__ import annotations

import pyarrow as pa
import pytest

from thresher import Pool
from thresher.errors import UsageError
from thresher.filter import QualityFilter
from thresher.filter.quality import load_rules
from thresher.filter.quality_rules import measure

PROSE = (
    "The river runs through the valley and the farmers have planted wheat along both of its banks. "
    "In spring the water rises with the melting snow, and the fields that are closest to the shore "
    "turn green before any others. Children walk to the old stone bridge to watch the boats carry "
    "timber to the mill, where it is cut into boards that will be used to build houses in the town. "
    "Most families keep a small garden with beans, onions and herbs for the kitchen."
)

DOCS = {
    "good": PROSE,
    "short": "The elephant wandered along the riverbank and looked for fresh water.",
    "no_stop_words": " ".join(f"Quantum{i} entanglement{i} measurement{i} apparatus{i} calibration{i}" for i in range(12)),
    "bullets": "\n".join(f"- line {i} of the list that we have to read" for i in range(12)),
    "symbols": PROSE + " " + " ".join(["#tag"] * 12),
    "repeated_lines": "\n".join([PROSE] + ["Subscribe to the newsletter and have a look at all of the offers."] * 6),
    "lorem": PROSE + " Lorem ipsum dolor sit amet.",
    "numbers": PROSE + " " + " ".join(str(1000 + i) for i in range(60)),
}


def _pool():
    return Pool.from_arrow(pa.table({"id": list(DOCS), "text": list(DOCS.values())}), id_field="id")


def _broken_rules(selection):
    return {row["id"]: [row["reason"]] + [part.split(":")[0] for part in row["detail"].split("; ")[1:]]
            for row in selection.dropped.to_pylist()}


def test_default_rules_drop_exactly_the_bad_documents():
    selection = QualityFilter().apply(_pool())
    assert selection.ids.to_pylist() == ["good"]
    expected = {
        "short": "word_count", "no_stop_words": "stop_words", "bullets": "bullet_lines",
        "symbols": "symbol_to_word_ratio", "repeated_lines": "duplicate_lines", "lorem": "lorem_ipsum",
        "numbers": "alpha_words",
    }
    broken = _broken_rules(selection)
    assert set(broken) == set(expected)
    for name, rule in expected.items():
        assert rule in broken[name], (name, broken[name])
    assert broken["short"] == ["word_count"] and broken["lorem"] == ["lorem_ipsum"]
    reasons = {row["id"]: (row["reason"], row["detail"]) for row in selection.dropped.to_pylist()}
    assert reasons["short"] == ("word_count", "11 < min 50")
    assert selection.scores.tolist() == [1.0]


def test_measurements_of_a_known_document():
    values = measure("the cat and the dog\nthe cat and the dog\n... and so on...")
    assert values["word_count"] == 14
    assert values["duplicate_lines"] == pytest.approx(1 / 3)
    assert values["ellipsis_lines"] == pytest.approx(1 / 3)
    assert values["stop_words"] == 2  # the, and
    assert values["symbol_to_word_ratio"] == pytest.approx(2 / 14)


def test_rules_switch_and_tune_from_yaml_and_rethreshold_without_measuring(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  word_count: {min: 5}\n  lorem_ipsum: false\n  alpha_words: {min: 0.5}\n")
    quality = QualityFilter(rules=rules)
    measurements = quality.measure(_pool())
    selection = quality.apply(_pool(), measurements=measurements)
    assert sorted(selection.ids.to_pylist()) == ["good", "lorem", "numbers", "short"]
    only = QualityFilter(rules={"extends": "none", "rules": {"curly_braces": True}})
    assert [r.name for r in only.rules.values() if r.enabled] == ["curly_braces"]
    assert len(only.apply(_pool(), measurements=measurements)) == len(DOCS)


@pytest.mark.parametrize("config", [{"rules": {"nope": True}}, {"rules": {"word_count": {"min": "x"}}},
                                    {"extends": "all"}, "missing.yaml"])
def test_bad_rule_files_are_usage_errors(config):
    with pytest.raises(UsageError):
        load_rules(config)


def _gopher_repetition(words: list[str], total_chars: int) -> dict[str, float]:
    """The repetition measures written out plainly (Counter over word n-grams), to check
    the compiled kernel against."""
    from collections import Counter

    values = {}
    for n in range(2, 11):
        grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
        counts = Counter(grams)
        if n <= 4:
            gram, count = counts.most_common(1)[0] if counts else ((), 0)
            values[f"top_{n}gram_chars"] = count * sum(map(len, gram)) / total_chars if count > 1 else 0.0
        else:
            covered = [False] * len(words)
            for start, gram in enumerate(grams):
                if counts[gram] > 1:
                    covered[start:start + n] = [True] * n
            values[f"dup_{n}gram_chars"] = sum(len(w) for w, c in zip(words, covered) if c) / total_chars
    return values


def test_repetition_measures_match_a_plain_counter_on_random_repetitive_texts():
    import math
    import random

    from thresher.filter.quality_rules import REPETITION, measure_batch

    rng = random.Random(7)
    vocabulary = ["the", "cat", "sat", "on", "mat", "a", "dog", "Ran.", "ran", "(ran)", "é", "日本", "..."]
    texts = ["", "one", "two words", "a a a a a a a a a a a a"]
    for _ in range(300):
        pieces = [rng.choice(vocabulary) for _ in range(rng.randint(0, 40))]
        if pieces and rng.random() < 0.5:  # paste a repeated run somewhere
            start = rng.randrange(len(pieces))
            pieces[start:start] = pieces[start:start + rng.randint(2, 12)] * rng.randint(1, 3)
        texts.append(rng.choice([" ", "  ", "\n"]).join(pieces))
    for text, got in zip(texts, measure_batch(texts)):
        words = [w.strip(".,;:!?\"'()[]") for w in text.lower().split()]
        total = sum(len(w) for w in text.split())
        expected = _gopher_repetition(words, total) if total else {name: 0.0 for name in REPETITION}
        for name in REPETITION:
            assert math.isclose(got[name], expected[name], abs_tol=1e-12), (text, name, got[name], expected[name])
