"""Static embeddings (model2vec): the same cache and interface as MiniLM, no torch when
encoding, the distilled model written whole into the user cache, and `model=static` for
the embedding selectors even when the pool carries other vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from thresher import Pool
from thresher.features import static
from thresher.features.embed import Embedder, embed_pool

pytest.importorskip("model2vec")
tokenizers = pytest.importorskip("tokenizers")

WORDS = ["card", "pin", "reset", "refund", "weather", "sunny", "rain", "account", "close", "rate"]
TEXTS = ["reset my card pin", "card pin reset please", "sunny weather rain", "rain and sunny weather",
         "close my account", "refund rate"]


def write_model(folder, seed: int = 0) -> str:
    """A tiny model2vec model (a word-level tokenizer over WORDS, random 8-d vectors) in `folder`."""
    from model2vec import StaticModel
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocabulary = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    tokenizer = tokenizers.Tokenizer(WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    vectors = np.random.default_rng(seed).normal(size=(len(vocabulary), 8)).astype(np.float32)
    StaticModel(vectors, tokenizer, config={"model_type": "model2vec", "normalize": True}).save_pretrained(folder)
    return str(folder)


def _pool(texts):
    return Pool.from_arrow(pa.table({"text": texts}))


def test_a_model2vec_folder_embeds_through_the_cache_as_minilm_does(tmp_path):
    model = write_model(tmp_path / "m2v")
    assert static.is_static(model) and static.is_static("static") and not static.is_static(str(tmp_path))
    embedder = Embedder(model, cache_path=tmp_path / "cache")
    vectors = embedder.embed_pool(_pool(TEXTS))
    assert vectors.shape == (len(TEXTS), 8) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.summary["truncated"] == 0 and embedder.summary["cached"] is False
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # the same words point the same way
    np.testing.assert_allclose(Embedder(model, cache=False).embed_texts([TEXTS[4]])[0], vectors[4], atol=1e-6)
    again = Embedder(model, cache_path=tmp_path / "cache")
    assert np.array_equal(np.asarray(again.embed_pool(_pool(TEXTS))), np.asarray(vectors))
    assert again.summary["cached"] is True
    # Another model (other vectors) is another cache entry, not a stale hit.
    other = Embedder(write_model(tmp_path / "other", seed=1), cache_path=tmp_path / "cache")
    assert not np.allclose(np.asarray(other.embed_pool(_pool(TEXTS))), np.asarray(vectors))
    assert other.summary["cached"] is False


def test_encoding_with_a_static_model_imports_no_torch(tmp_path):
    model = write_model(tmp_path / "m2v")
    script = f"""
import sys, pyarrow as pa
from thresher import Pool
from thresher.features.embed import Embedder
vectors = Embedder({model!r}, cache_path={str(tmp_path / 'cache')!r}).embed_pool(Pool.from_arrow(pa.table({{"text": {TEXTS!r}}})))
print(vectors.shape, [name for name in ("torch", "transformers", "sentence_transformers") if name in sys.modules])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"({len(TEXTS)}, 8) []"


def test_a_static_model_embeds_the_text_even_when_the_pool_carries_vectors(tmp_path):
    model = write_model(tmp_path / "m2v")
    attached = _pool(TEXTS).with_features(np.ones((len(TEXTS), 3), dtype=np.float32))
    assert embed_pool(attached).shape == (len(TEXTS), 3)  # the default model keeps the attached vectors
    assert embed_pool(attached, model, cache_path=tmp_path / "cache").shape == (len(TEXTS), 8)
    from thresher import select

    picked = select(attached, "kmeans-quota", 2, model=model, clusters=2)
    assert picked.meta["params"]["model"] == model
    chosen = {TEXTS[i] for i in np.asarray(picked)}
    assert len(chosen) == 2 and not chosen <= {TEXTS[0], TEXTS[1]}  # one per cluster, by the static vectors


def test_distillation_writes_the_model_whole_into_the_cache(tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    (teacher / "vocab.txt").write_text("\n".join(words) + "\n")
    transformers.BertTokenizerFast(str(teacher / "vocab.txt")).save_pretrained(teacher)
    config = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=32)
    transformers.BertModel(config).save_pretrained(teacher)
    folder = tmp_path / "cache" / "models" / "static-test"
    assert static.distill_static(folder, teacher) == folder
    assert json.loads((folder / "config.json").read_text())["model_type"] == "model2vec"
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    vectors = Embedder(str(folder), cache=False).embed_texts(TEXTS)
    assert vectors.shape[0] == len(TEXTS) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
