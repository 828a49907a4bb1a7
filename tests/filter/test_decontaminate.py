"""Decontamination catches a planted 13-gram (not a 12-gram), names the evaluation set
and the n-gram, and can flag instead of drop."""

from __future__ import annotations

import pyarrow as pa

from thresher import Pool
from thresher.filter import Decontaminate

from ..conftest import write_jsonl

QUESTION = ("Which of the following best describes the role of mitochondria in eukaryotic cells when "
            "oxygen is plentiful and glucose is available")
WORDS = QUESTION.lower().split()


def _pool(texts):
    return Pool.from_arrow(pa.table({"id": [f"p{i}" for i in range(len(texts))], "text": texts}), id_field="id")


def test_planted_13gram_caught_and_12gram_not(tmp_path):
    eval_path = write_jsonl(tmp_path / "mmlu_test.jsonl", [{"text": QUESTION}, {"text": "short item"}])
    other = write_jsonl(tmp_path / "gsm8k_test.jsonl", [{"text": "Tom has three apples and buys five more at the shop on Sunday morning"}])
    texts = [
        "Intro text. " + " ".join(WORDS[2:15]).upper() + "! and more words after it.",  # 13 words, other case
        "Intro text. " + " ".join(WORDS[2:14]) + " and then something else entirely.",  # only 12 words
        "nothing to see here at all",
        "He said tom has three apples, and buys five more at the shop on Sunday morning.",
    ]
    selection = Decontaminate(against=[eval_path, other]).apply(_pool(texts))
    assert selection.ids.to_pylist() == ["p1", "p2"]
    dropped = selection.dropped
    reasons = {i: f"{code}: {detail}" for i, code, detail in zip(dropped.column("id").to_pylist(),
               dropped.column("reason").to_pylist(), dropped.column("detail").to_pylist())}
    assert reasons["p0"] == f"contaminated: 13-gram '{' '.join(WORDS[2:15])}' from mmlu_test.jsonl"
    assert reasons["p3"].endswith("from gsm8k_test.jsonl")
    assert selection.meta["contaminated_by_set"] == {"mmlu_test.jsonl": 1, "gsm8k_test.jsonl": 1}
    assert selection.meta["eval_items_shorter_than_ngram"] == 1


def test_flag_mode_keeps_records_with_reason_and_ngram_is_configurable(tmp_path):
    eval_path = write_jsonl(tmp_path / "eval.jsonl", [{"text": QUESTION}])
    texts = [" ".join(WORDS[:8]), "unrelated words only"]
    assert len(Decontaminate(against=[eval_path]).apply(_pool(texts))) == 2
    flagged = Decontaminate(against=[eval_path], ngram=8, mode="flag").apply(_pool(texts))
    assert len(flagged) == 2
    assert flagged.kept.column("reason").to_pylist()[0] == "contaminated"
    assert flagged.kept.column("detail").to_pylist()[0].startswith("8-gram 'which of the")
