import json

import numpy as np
import pyarrow as pa
import pytest

import thresher
from thresher import Pool, Selection
from thresher.errors import UsageError


def _scored(n=10):
    scores = np.arange(n, dtype=float)
    order = np.argsort(-scores)
    return Selection.create(order[:3], scores=scores[order[:3]], dropped_ids=order[3:], dropped_scores=scores[order[3:]],
                            dropped_reasons=["low score"] * (n - 3), meta={"method": "planted", "pool_size": n})


def test_ids_weights_scores_and_dropped():
    sel = _scored()
    assert sel.ids.to_pylist() == [9, 8, 7]
    assert sel.scores.tolist() == [9.0, 8.0, 7.0]
    assert sel.weights is None
    assert len(sel.dropped) == 7
    assert sel.reason_counts() == {"low score": 7}


def test_recut_uses_stored_scores_without_a_pool():
    sel = _scored()
    assert sel.recut(5).ids.to_pylist() == [9, 8, 7, 6, 5]
    assert sel.recut("20%").ids.to_pylist() == [9, 8]
    assert sel.recut(threshold=6.5).ids.to_pylist() == [9, 8, 7]
    with pytest.raises(UsageError):
        Selection.create([1, 2], meta={"method": "random"}).recut(1)


def test_composition():
    a = Selection.create([1, 2, 3, 4], weights=[1, 2, 3, 4], meta={"method": "a"})
    b = Selection.create([4, 2, 9], meta={"method": "b"})
    both = a & b
    assert both.ids.to_pylist() == [2, 4] and both.weights.tolist() == [2.0, 4.0]
    assert (a - b).ids.to_pylist() == [1, 3]
    assert (a | b).ids.to_pylist() == [1, 2, 3, 4, 9]
    assert both.method == "(a) & (b)"


def test_composing_selections_of_different_pools_is_refused():
    a = Selection.create([1], meta={"method": "a", "pool_fingerprint": "x"})
    b = Selection.create([1], meta={"method": "b", "pool_fingerprint": "y"})
    with pytest.raises(UsageError, match="different pools"):
        a & b


def test_weights_must_be_positive():
    with pytest.raises(ValueError):
        Selection.create([1, 2], weights=[1.0, 0.0])


def test_save_and_load_round_trip(tmp_path):
    pool = Pool.from_arrow(pa.table({"text": ["a", "b", "c", "d"], "k": ["w", "x", "y", "z"]}), id_field="k")
    sel = thresher.select(pool, "random", 2, seed=4)
    sel.save(tmp_path / "m.parquet")
    again = Selection.load(tmp_path / "m.parquet")
    assert again == sel
    assert again.meta["method"] == "random" and again.meta["seed"] == 4
    assert again.meta["pool_fingerprint"] == pool.fingerprint
    sidecar = json.loads((tmp_path / "m.parquet.json").read_text())
    assert sidecar["n_selected"] == 2 and sidecar["thresher_version"] == thresher.__version__
    assert pool.take(again).to_arrow().column("k").to_pylist() == sorted(sel.ids.to_pylist())
    with pytest.raises(UsageError, match="exists"):
        sel.save(tmp_path / "m.parquet")


def test_take_in_selection_order():
    pool = Pool.from_arrow(pa.table({"text": list("abcdef")}))
    sel = Selection.create([4, 1, 3])
    assert pool.take(sel, order="selection").to_arrow().column("text").to_pylist() == ["e", "b", "d"]
    assert pool.take(sel).to_arrow().column("text").to_pylist() == ["b", "d", "e"]


def test_ids_not_in_the_pool_are_refused():
    pool = Pool.from_arrow(pa.table({"text": list("abc")}))
    with pytest.raises(UsageError, match="not in this pool"):
        pool.take(Selection.create([5]))


def test_save_replaces_neither_the_manifest_nor_its_sidecar_without_overwrite(tmp_path):
    sel = Selection.create(["a", "b"], meta={"method": "planted"})
    manifest = tmp_path / "m.parquet"
    (tmp_path / "m.parquet.json").write_text("{}")
    with pytest.raises(UsageError, match="m.parquet.json"):
        sel.save(manifest)
    assert not manifest.exists() and (tmp_path / "m.parquet.json").read_text() == "{}"
    sel.save(manifest, overwrite=True)
    assert Selection.load(manifest).ids.to_pylist() == ["a", "b"]
