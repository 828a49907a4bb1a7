"""HardNegativeMiner benchmark: question -> answer retrieval with a linear dual encoder.

Frozen TF-IDF+SVD features (fitted on training questions and answers) go through two
linear maps (query side, document side) trained with an InfoNCE loss (temperature 0.05).
Contenders, same steps: in-batch negatives only; topic-balanced batches (TAS, k-means
over queries); in-batch plus 3 mined negatives per query from ranks [0, 30), mined with
the frozen features before the first epoch and re-mined with the current encoders every
second epoch (ANCE-style), without and with false-negative protection (margin 0.05 below the
positive's score). Recall@10 of held-out questions against the whole answer corpus.

- GSM8K: 7,473 training pairs, 1,319 test questions; answers are unique.
- P3 (T0 mixture sample): 8,000 training / 1,500 test prompt -> completion pairs; many
  completions are identical ("No", "positive", ...), so the corpus is full of unlabelled
  positives; a hit is any top-10 document with the gold completion's text.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from train_common import CpuClock, mean_std, read_jsonl, tfidf_svd

from thresher.train import HardNegativeMiner

EPOCHS = 6
BATCH = 128


def gsm8k(root: Path):
    train, test = read_jsonl(root / "gsm8k" / "train.jsonl"), read_jsonl(root / "gsm8k" / "test.jsonl")
    questions = [r["question"] for r in train + test]
    answers = [r["answer"] for r in train + test]
    return questions, answers, len(train)


def p3(root: Path, n_train: int = 8_000, n_test: int = 1_500):
    with gzip.open(root / "p3_t0_50k" / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    chosen = np.random.default_rng(0).choice(len(rows), size=n_train + n_test, replace=False)
    questions = [rows[i]["prompt"] for i in chosen]
    answers = [rows[i]["completion"].replace("<|endoftext|>", "").strip() for i in chosen]
    return questions, answers, n_train


def recall_at_10(encode_q, encode_d, q_feats, d_feats, test_ids, answers) -> float:
    with torch.no_grad():
        docs = F.normalize(encode_d(d_feats), dim=1)
        hits = 0
        for start in range(0, len(test_ids), 512):
            ids = test_ids[start:start + 512]
            top = (F.normalize(encode_q(q_feats[ids]), dim=1) @ docs.T).topk(10, dim=1).indices.numpy()
            hits += sum(any(answers[d] == answers[q] for d in row) for q, row in zip(ids, top))
    return hits / len(test_ids)


def fit(variant: dict, q_feats, d_feats, n_train: int, test_ids, answers, seed: int) -> dict:
    torch.manual_seed(seed)
    dim = q_feats.shape[1]
    encode_q, encode_d = torch.nn.Linear(dim, 128), torch.nn.Linear(dim, 128)
    opt = torch.optim.Adam([*encode_q.parameters(), *encode_d.parameters()], lr=2e-3)
    train_ids = np.arange(n_train)
    miner = HardNegativeMiner(num_negatives=3, rank_window=(0, 30), margin=variant.get("margin"), batch_size=BATCH,
                              topics=variant.get("topics"), seed=seed)
    miner.fit(q_feats[:n_train].numpy())
    mined = variant.get("mined", False)
    clock, dropped = CpuClock(), []
    for epoch in range(EPOCHS):
        if mined and epoch % 2 == 0:
            with torch.no_grad():
                q = q_feats[:n_train] if epoch == 0 else F.normalize(encode_q(q_feats[:n_train]), dim=1)
                d = d_feats[:n_train] if epoch == 0 else F.normalize(encode_d(d_feats[:n_train]), dim=1)
            miner.mine(q.numpy(), d.numpy(), train_ids)
            dropped.append(miner.dropped_as_false_negative / n_train)
        miner.set_epoch(epoch)
        for batch in miner:
            idx = torch.tensor(batch)
            docs = torch.cat([idx, miner.negatives(idx).reshape(-1)]) if mined else idx
            logits = F.normalize(encode_q(q_feats[idx]), dim=1) @ F.normalize(encode_d(d_feats[docs]), dim=1).T
            loss = F.cross_entropy(logits / 0.05, torch.arange(len(idx)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return {"seed": seed, "recall_at_10": recall_at_10(encode_q, encode_d, q_feats, d_feats, test_ids, answers),
            "train_cpu_s": clock(), "protected_per_query": float(np.mean(dropped)) if dropped else 0.0}


VARIANTS = {
    "in-batch negatives only": {},
    "TAS topic batches (50 k-means topics), in-batch": {"topics": 50},
    "mined, no false-negative protection": {"mined": True, "margin": None},
    "mined, margin protection (0.05)": {"mined": True, "margin": 0.05},
}


def run_retrieval(root: Path, seeds: list[int]) -> dict:
    out = {}
    for name, loader in (("gsm8k", gsm8k), ("p3_t0_50k", p3)):
        questions, answers, n_train = loader(root)
        q_all, d_all = tfidf_svd(questions[:n_train] + answers[:n_train], questions, answers)[1:]
        q_feats, d_feats = torch.tensor(q_all), torch.tensor(d_all)
        test_ids = np.arange(n_train, len(questions))
        table = {}
        for label, variant in VARIANTS.items():
            rows = [fit(variant, q_feats, d_feats, n_train, test_ids, answers, s) for s in seeds]
            table[label] = {"per_seed": rows, **{k: mean_std([r[k] for r in rows])
                                                 for k in ("recall_at_10", "train_cpu_s", "protected_per_query")}}
        out[name] = {"train_pairs": n_train, "test_queries": len(test_ids), "corpus": len(answers),
                     "distinct_answers": len(set(answers)), "variants": table}
        print(f"retrieval {name} done", flush=True)
    return out


def retrieval_table(results: dict) -> list[str]:
    lines = []
    for name, data in results.items():
        lines += [f"## HardNegativeMiner: {name} question -> answer retrieval, recall@10 "
                  f"({data['train_pairs']} training pairs, {data['test_queries']} test queries, corpus "
                  f"{data['corpus']} answers, {data['distinct_answers']} distinct)", "",
                  "| contender | recall@10 % | candidates dropped as false negatives / query | train CPU s |",
                  "|---|---|---|---|"]
        for label, row in data["variants"].items():
            r, p, c = row["recall_at_10"], row["protected_per_query"], row["train_cpu_s"]
            lines.append(f"| {label} | {r['mean'] * 100:.1f} ± {r['std'] * 100:.1f} | {p['mean']:.2f} | "
                         f"{c['mean']:.1f} |")
        lines.append("")
    return lines
