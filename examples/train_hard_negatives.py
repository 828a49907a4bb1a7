"""HardNegativeMiner: mined hard negatives with false-negative protection, topic-balanced batches.

A synthetic retrieval task: each query has one positive document; the corpus also holds
near-copies of some positives (unlabelled positives, the false negatives mining must
avoid). A linear dual encoder over frozen features is trained with in-batch negatives
plus mined ones; prints recall@10.

    python examples/train_hard_negatives.py
"""

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from thresher.train import HardNegativeMiner

torch.set_num_threads(1)
rng = np.random.default_rng(0)
m, d = 1500, 32
topics = rng.normal(size=(20, d)) * 3
query_topic = rng.integers(20, size=m)
queries = topics[query_topic] + rng.normal(size=(m, d))
docs = queries @ rng.normal(size=(d, d)) / np.sqrt(d) + 1.2 * rng.normal(size=(m, d))  # a different "language"
copies = docs[:300] + 0.05 * rng.normal(size=(300, d))  # unlabelled positives of the first 300 queries
corpus = np.concatenate([docs, copies]).astype(np.float32)
queries = queries.astype(np.float32)
train, test = np.arange(1200), np.arange(1200, m)


def recall_at_10(encode_q, encode_d) -> float:
    with torch.no_grad():
        q = F.normalize(encode_q(torch.tensor(queries[test])), dim=1)
        c = F.normalize(encode_d(torch.tensor(corpus)), dim=1)
        top = (q @ c.T).topk(10, dim=1).indices.numpy()
    return float(np.mean([t in row for t, row in zip(test, top)]))


def fit(miner, mined: bool) -> float:
    torch.manual_seed(0)
    encode_q, encode_d = torch.nn.Linear(d, 64), torch.nn.Linear(d, 64)
    opt = torch.optim.Adam([*encode_q.parameters(), *encode_d.parameters()], lr=3e-3)
    miner.fit(queries[train])
    for epoch in range(6):
        if mined:  # refresh negatives with the current encoders (ANCE-style)
            with torch.no_grad():
                q = F.normalize(encode_q(torch.tensor(queries[train])), dim=1).numpy()
                c = F.normalize(encode_d(torch.tensor(corpus)), dim=1).numpy()
            miner.mine(q, c, train)
        miner.set_epoch(epoch)
        for batch in DataLoader(train, batch_sampler=miner):
            q = F.normalize(encode_q(torch.tensor(queries[batch])), dim=1)
            docs_in_batch = [batch] + ([miner.negatives(batch).reshape(-1)] if mined else [])
            c = F.normalize(encode_d(torch.tensor(corpus[torch.cat(docs_in_batch)])), dim=1)
            loss = F.cross_entropy(q @ c.T / 0.05, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return recall_at_10(encode_q, encode_d)


print(f"in-batch negatives only        : recall@10 {fit(HardNegativeMiner(batch_size=64, seed=0), False):.3f}")
print(f"topic batches (TAS)            : recall@10 {fit(HardNegativeMiner(batch_size=64, topics=20, seed=0), False):.3f}")
for name, margin in (("mined, no protection", None), ("mined, margin protection", 0.05)):
    miner = HardNegativeMiner(num_negatives=2, rank_window=(0, 20), margin=margin, batch_size=64, seed=0)
    print(f"{name:<31}: recall@10 {fit(miner, True):.3f}")
