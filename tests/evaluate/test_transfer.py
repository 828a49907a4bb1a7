"""Does the saving transfer: eval models other than the proxy are trained on the same
selections, scored on the same test split, summarised, reported and resumed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from thresher.errors import UsageError
from thresher.evaluate.datasets import Dataset, Split
from thresher.evaluate.features import featurize
from thresher.evaluate.protocol import CellLog, make_task, run_bench
from thresher.evaluate.results import summarize, transfer_markdown, transfer_rows
from thresher.evaluate.transfer import Transfer, eval_model, parse_eval_models

WORDS = {"sport": "goal match team score coach league", "food": "bread soup dinner taste cook salad",
         "tech": "laptop code server chip network phone"}


def _split(n: int, seed: int) -> Split:
    """Texts of three topics: four words of the topic's vocabulary and two of another's."""
    rng = np.random.default_rng(seed)
    topics = sorted(WORDS)
    labels, texts = [], []
    for i in range(n):
        topic = topics[i % 3]
        own, other = WORDS[topic].split(), WORDS[topics[(i + 1) % 3]].split()
        texts.append(" ".join(rng.choice(own, 4).tolist() + rng.choice(other, 2).tolist()))
        labels.append(topic)
    return Split(np.array(labels, dtype=object), texts=texts)


def topic_task():
    dataset = Dataset("topics", "text", _split(240, 0), _split(60, 1), _split(90, 2), "generated in the test")
    return make_task(dataset, featurize(dataset, "tfidf"))


def test_tfidf_mlp_is_trained_on_every_selection_and_summarised():
    run = run_bench(topic_task(), ["random", "stratified"], ["10%", "50%"], seeds=2, tune_repeats=1,
                    eval_models="logreg,tfidf-mlp")
    run["summary"] = summarize(run)
    assert all(set(p["transfer"]) == {"tfidf-mlp"} for p in run["points"])  # the proxy is the run's own accuracy
    assert run["transfer"]["models"]["tfidf-mlp"]["param"] == "alpha"
    view = run["summary"]["transfer"]["tfidf-mlp"]
    assert view["methods"]["random"]["curve"]["50%"]["mean"] > 0.9  # the topics' words are easy to learn
    assert "vs_random" in view["methods"]["stratified"]["curve"]["10%"]
    assert 0.9 < view["full"]["mean"] <= 1
    header, rows = transfer_rows(run)
    assert header[:2] == ["eval model", "method"] and [r[0] for r in rows] == ["logreg (proxy)", "", "tfidf-mlp", ""]
    markdown = transfer_markdown({"runs": [run]}, methods=("stratified",))
    assert "| tfidf-mlp | stratified |" in markdown and "| logreg (proxy) | stratified |" in markdown

    from thresher.evaluate.report import render_html
    from thresher.evaluate.results import results_document

    assert "Does it transfer?" in render_html(results_document([run], "test", 1.0))


def test_a_resumed_run_refits_nothing_it_finished_and_adds_missing_eval_models(tmp_path, monkeypatch):
    task, log = topic_task(), tmp_path / "cells.jsonl"
    calls = []
    real = Transfer.score

    def counted(self, name, *args):
        calls.append(name)
        return real(self, name, *args)

    monkeypatch.setattr(Transfer, "score", counted)
    first = run_bench(task, ["random"], ["20%"], seeds=2, tune_repeats=1, cells=CellLog(log, {"s": 1}))
    assert calls == [] and "transfer" not in first
    second = run_bench(task, ["random"], ["20%"], seeds=2, tune_repeats=1, cells=CellLog(log, {"s": 1}),
                       eval_models=["tfidf-mlp"])
    assert calls == ["tfidf-mlp"] * 3  # two points without its scores, and the full fit
    calls.clear()
    third = run_bench(task, ["random"], ["20%"], seeds=2, tune_repeats=1, cells=CellLog(log, {"s": 1}),
                      eval_models=["tfidf-mlp"])
    assert calls == []
    assert [p["transfer"] for p in third["points"]] == [p["transfer"] for p in second["points"]]
    assert third["transfer"]["full"] == second["transfer"]["full"]


def test_a_task_without_text_skips_the_text_models_and_keeps_the_others():
    from tests.evaluate.test_protocol import planted_task

    task, _, _ = planted_task()
    run = run_bench(task, ["random"], ["10%"], seeds=1, tune_repeats=1, eval_models=["tfidf-mlp", "mlp"])
    assert "needs the records' text" in run["transfer"]["skipped"]["tfidf-mlp"]
    assert list(run["points"][0]["transfer"]) == ["mlp"]


def test_eval_model_names_are_checked():
    assert parse_eval_models("logreg, tfidf-mlp", "logreg") == ["tfidf-mlp"]
    assert parse_eval_models(None, "logreg") == []
    with pytest.raises(UsageError, match="use one of logreg, mlp, tfidf-mlp, transformer"):
        parse_eval_models("bert", "logreg")
    with pytest.raises(UsageError, match="listed twice"):
        parse_eval_models(["mlp", "mlp"], "logreg")
    with pytest.raises(UsageError, match="not a folder"):
        eval_model("transformer", "/no/such/model")


def test_bench_cli_writes_the_transfer_table(tmp_path):
    from thresher.cli import main

    for name, split in (("train", _split(120, 0)), ("test", _split(45, 2))):
        with open(tmp_path / f"{name}.jsonl", "w") as handle:
            for text, label in zip(split.texts, split.labels):
                handle.write(json.dumps({"text": text, "topic": label}) + "\n")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["bench", "--train", str(tmp_path / "train.jsonl"), "--test",
                                       str(tmp_path / "test.jsonl"), "--label-field", "topic", "--features", "tfidf",
                                       "-m", "random", "-b", "50%", "--seeds", "1", "--tune-repeats", "1",
                                       "--workers", "1", "--eval-model", "tfidf-mlp", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "does it transfer?" in result.output
    run = json.loads(out.read_text())["runs"][0]
    assert run["points"][0]["transfer"]["tfidf-mlp"]["accuracy"] > 0.8
    bad = CliRunner().invoke(main, ["bench", "-d", "digits", "--eval-model", "bert"])
    assert bad.exit_code != 0 and "use one of" in bad.output


def _tiny_encoder(folder) -> str:
    """A one-layer BERT with a 40-word vocabulary, saved as a local model folder."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    pytest.importorskip("accelerate")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted({w for v in WORDS.values() for w in v.split()})
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab=str(folder / "vocab.txt"))  # transformers 5
    if tokenizer("goal")["input_ids"][1] == 1:  # [UNK]: transformers 4 takes the file as vocab_file
        tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_transformer_fine_tunes_a_local_model_with_selection_weights(tmp_path, monkeypatch):
    from thresher.evaluate import transfer

    folder = _tiny_encoder(tmp_path)
    # A randomly initialised model learns from scratch: a larger step than the recipe's for a
    # pretrained encoder.
    monkeypatch.setitem(transfer.TRANSFORMER_RECIPE, "learning_rate", 3e-3)
    task = topic_task()
    model = eval_model("transformer", folder)
    state = model.prepare(task)
    positions = np.arange(0, 240, 2)
    first = model.fit_score(state, None, positions, None, 0, "test")
    again = model.fit_score(state, None, positions, None, 0, "test")
    assert first == again  # a seed fixes the fit
    assert first[0] > 0.6  # three topics with their own words, learned in 50 steps
    # A selection's weights weight the loss: a class weighted to zero is never learned.
    weights = np.where(task.train_y[positions] == 0, 0.0, 1.0).astype(np.float32)
    accuracy, _ = model.fit_score(state, None, positions, weights, 0, "test")
    assert accuracy <= 2 / 3 + 1e-9


def test_a_budget_smaller_than_the_classes_is_said_in_the_summary():
    run = run_bench(topic_task(), ["random"], [2, 30], seeds=1, tune_repeats=1)
    summary = summarize(run)
    assert summary["notes"] == ["budget 2 (2 records) is smaller than the 3 classes: at least 1 classes are in no "
                                "selection of that size, and their test records count as errors"]
    assert summary["methods"]["random"]["curve"]["2"]["classes_covered"] <= 2
    assert summary["methods"]["random"]["curve"]["30"]["classes_covered"] == 3
