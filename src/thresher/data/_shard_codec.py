"""A checkpoint shard on disk, in a format that can only hold data, never code.

A shard result (`thresher.data.scan.ShardResult`) is written as an uncompressed zip:
`tree.json` describes its structure, and each array is its own entry, a NumPy `.npy`
(read with `allow_pickle=False`) or an Arrow IPC stream (a label, domain or id column).
Only these types are written: None, bool, int, float, str, list, tuple, dict, NumPy
arrays and scalars of non-object dtypes, Arrow arrays and `ShardResult` itself; anything
else raises `Unencodable`, and the caller keeps no checkpoint for that shard. Reading
gives back the same types, dtypes and shapes; a file that does not parse raises
`Undecodable`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from typing import Any

import numpy as np
import pyarrow as pa

FORMAT = "thresher-shard/1"
_TREE = "tree.json"


class Unencodable(TypeError):
    """A value this format cannot hold."""


class Undecodable(ValueError):
    """A file that is not a shard of this format (truncated, planted, another version)."""


def encode(result: Any) -> bytes:
    """The bytes of a shard file holding `result`."""
    entries: dict[str, bytes] = {}
    tree = {"format": FORMAT, "value": _encode(result, entries)}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_TREE, json.dumps(tree))
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def decode(data: bytes) -> Any:
    """The result held by a shard file's bytes; raises Undecodable when they do not parse."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            tree = json.loads(archive.read(_TREE))
            if not isinstance(tree, dict) or tree.get("format") != FORMAT:
                raise Undecodable(f"not a {FORMAT} file")
            return _decode(tree["value"], archive)
    except Undecodable:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, OSError, EOFError,
            pa.ArrowException, RecursionError) as err:
        raise Undecodable(f"{type(err).__name__}: {err}") from None


def _encode(value: Any, entries: dict[str, bytes]) -> Any:
    from thresher.data.scan import ShardResult

    if isinstance(value, (np.ndarray, np.generic)):  # first: np.float64 is also a float
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise Unencodable(f"a NumPy array of dtype {array.dtype}")
        name = f"{len(entries)}.npy"
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        entries[name] = buffer.getvalue()
        return {"scalar" if isinstance(value, np.generic) else "ndarray": name}
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, list):
        return [_encode(item, entries) for item in value]
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, entries) for item in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, entries), _encode(v, entries)] for k, v in value.items()]}
    if isinstance(value, pa.Array):
        name = f"{len(entries)}.arrow"
        table = pa.Table.from_arrays([value], names=["values"])
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        entries[name] = sink.getvalue().to_pybytes()
        return {"arrow": name}
    if type(value) is ShardResult:
        return {"shard": {f.name: _encode(getattr(value, f.name), entries) for f in dataclasses.fields(value)}}
    raise Unencodable(f"a value of type {type(value).__module__}.{type(value).__qualname__}")


def _decode(node: Any, archive: zipfile.ZipFile) -> Any:
    from thresher.data.scan import ShardResult

    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(item, archive) for item in node]
    if not isinstance(node, dict) or len(node) != 1:
        raise Undecodable(f"unexpected node {str(node)[:80]}")
    (kind, body), = node.items()
    if kind == "tuple":
        return tuple(_decode(item, archive) for item in _as_list(body))
    if kind == "dict":
        return {_decode(k, archive): _decode(v, archive) for k, v in _as_list(body)}
    if kind in ("ndarray", "scalar"):
        array = np.load(io.BytesIO(archive.read(body)), allow_pickle=False)
        return array[()] if kind == "scalar" else array
    if kind == "arrow":
        with pa.ipc.open_stream(archive.read(body)) as reader:
            table = reader.read_all()
        if table.num_columns != 1:
            raise Undecodable("an Arrow entry without exactly one column")
        return table.column(0).combine_chunks()
    if kind == "shard":
        if not isinstance(body, dict):
            raise Undecodable("a shard node that is not a mapping")
        names = {f.name for f in dataclasses.fields(ShardResult)}
        if set(body) != names:
            raise Undecodable("a shard node with other fields than a ShardResult")
        return ShardResult(**{name: _decode(value, archive) for name, value in body.items()})
    raise Undecodable(f"unknown node kind {kind!r}")


def _as_list(body: Any) -> list:
    if not isinstance(body, list):
        raise Undecodable("a sequence node that is not a list")
    return body
