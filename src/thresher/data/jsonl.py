"""JSON Lines: streamed in blocks of whole lines, parsed by Arrow, checked line by line
only where Arrow cannot be trusted.

A block that is valid UTF-8, parses with Arrow and has one row per line takes the fast
path; anything else (a broken line, a blank line, a type that changed) is re-read one line
at a time, so each bad line gets its own line number and reason.
"""

from __future__ import annotations

import json
import os
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from thresher.data.fields import FieldSpec
from thresher.data.records import describe_raw

BLOCK_BYTES = 1 << 20
_SAMPLE_LINES = 1000


def compression_of(path: str) -> str | None:
    lower = path.lower()
    for suffix, codec in ((".gz", "gzip"), (".zst", "zstd"), (".zstd", "zstd"), (".bz2", "bz2")):
        if lower.endswith(suffix):
            return codec
    return None


def open_stream(path: str):
    """A binary stream of the file's decompressed bytes."""
    return pa.input_stream(path, compression=compression_of(path))


def iter_file_blocks(path: str, start: int = 0, end: int | None = None,
                     block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int | None, bytes]]:
    """(byte offset in the file, block of whole lines) from bytes [start, end) of `path`.

    A byte range must begin at a line start. Compressed files are read whole and
    decompressed; their blocks have no file offset (None).
    """
    if compression_of(path) is not None:
        yield from _compressed_blocks(path, block_bytes)
        return
    stop = os.path.getsize(path) if end is None else end
    with open(path, "rb") as handle:
        position = start
        while position < stop:
            handle.seek(position)
            data = handle.read(min(block_bytes, stop - position))
            if not data:
                return
            # Cut after the last newline; the partial line is read again with the next block.
            while position + len(data) < stop:
                cut = data.rfind(b"\n") + 1
                if cut:
                    data = data[:cut] if cut < len(data) else data
                    break
                more = handle.read(min(block_bytes, stop - position - len(data)))  # a line longer than a block
                if not more:
                    break
                data += more
            yield position, data
            position += len(data)


def _compressed_blocks(path: str, block_bytes: int) -> Iterator[tuple[None, bytes]]:
    """Blocks of whole lines of a compressed file; a truncated or corrupt stream is a
    ThresherError naming the file (the decompressor's own words name none)."""
    from thresher.errors import ThresherError

    try:
        with open_stream(path) as stream:
            carry = b""
            while data := stream.read(block_bytes):
                data = carry + data if carry else data
                cut = data.rfind(b"\n") + 1
                carry, data = (data[cut:], data[:cut]) if cut else (data, b"")
                if data:
                    yield None, data
            if carry:
                yield None, carry
    except (pa.ArrowException, OSError) as err:
        raise ThresherError(
            f"{path}: the {compression_of(path)} stream is truncated or corrupt ({err}). Copy or download the file "
            "again; the records before the damage can be recovered with e.g. `zcat -f FILE > part.jsonl` "
            "(`zstdcat` for .zst)."
        ) from None


def iter_blocks(path: str, start: int = 0, end: int | None = None, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Blocks of whole lines from bytes [start, end) of `path` (decompressed if compressed)."""
    for _, block in iter_file_blocks(path, start, end, block_bytes):
        yield block


def line_spans(block: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the block's lines: (n_lines,) int64 byte positions, ends exclude the newline."""
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.empty(len(newlines) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = newlines + 1
    ends = np.append(newlines, len(block)).astype(np.int64)
    if len(block) == 0 or block.endswith(b"\n"):
        return starts[:-1], ends[:-1]
    return starts, ends


def split_lines(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def is_valid_utf8(block: bytes) -> bool:
    if len(block) >= 1 << 31:
        try:
            block.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    offsets = pa.py_buffer(np.array([0, len(block)], dtype=np.int32).tobytes())
    try:
        pa.StringArray.from_buffers(1, offsets, pa.py_buffer(block)).validate(full=True)
        return True
    except pa.ArrowInvalid:
        return False


def _python_type(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def infer_schema(path: str, spec: FieldSpec) -> pa.Schema:
    """Arrow types of the fields `spec` reads, from the first lines of `path`.

    Text fields are strings. Label, domain and id are int64, float64 or bool when every
    sampled value is one, else strings (numbers are then read as their text). A later
    value of another scalar type turns the field into strings (see `JsonlParser`).
    """
    seen: dict[str, set[str]] = {field: set() for field in spec.other_sources.values()}
    if seen:
        lines = 0
        for block in iter_blocks(path, block_bytes=1 << 20):
            for line in split_lines(block):
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    for field in seen:
                        kind = _python_type(record.get(field))
                        if kind in ("bool", "int", "float", "str"):  # anything else is a bad record
                            seen[field].add(kind)
                lines += 1
                if lines >= _SAMPLE_LINES:
                    break
            break
    fields = [pa.field(name, pa.string()) for name in spec.text_sources]
    for name, kinds in seen.items():
        if name in spec.text_sources:
            continue
        if kinds == {"int"}:
            kind = pa.int64()
        elif kinds and kinds <= {"int", "float"}:
            kind = pa.float64()
        elif kinds == {"bool"}:
            kind = pa.bool_()
        else:
            kind = pa.string()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


_ACCEPTS = {
    "int64": {"int"},
    "double": {"int", "float"},
    "bool": {"bool"},
    "string": {"str", "int", "float", "bool"},
}


class _TypeChanged(Exception):
    """A label, domain or id value of another scalar type than the field's so far."""

    def __init__(self, field: str):
        self.field = field


class JsonlParser:
    """Parses blocks of JSON lines into the raw columns `spec` needs.

    A label, domain or id field sampled as numbers or booleans that later holds a value
    of another scalar type (an int label for 1,200 lines, then names) is read as strings
    from that block on; the scan makes the whole column strings (`scan.same_type`), so
    the result does not depend on where shards begin. An id column of ints alone stays int.
    """

    def __init__(self, spec: FieldSpec, schema: pa.Schema):
        self.spec = spec
        self.text_fields = set(spec.text_sources)
        self.template_fields = self.text_fields if spec.template else set()
        self.read_options = pa_json.ReadOptions(use_threads=False, block_size=BLOCK_BYTES * 2)
        self._use(schema)

    def _use(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.parse_options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

    def parse(self, block: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str]], int]:
        """Parse one block of lines whose byte spans are `starts`, `ends` (see `line_spans`).

        Returns the good rows' raw columns, their line indexes in the block (n,) int64, the
        bad lines as (line index, reason, raw text), and the count of blank lines.
        """
        while True:
            try:
                return self._parse(block, starts, ends)
            except _TypeChanged as change:
                at = self.schema.get_field_index(change.field)
                self._use(self.schema.set(at, pa.field(change.field, pa.string())))

    def _parse(self, block: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str]], int]:
        n_lines = len(starts)
        table = None
        if is_valid_utf8(block):
            try:
                options = self.read_options
                if len(block) >= options.block_size:
                    options = pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1)
                table = pa_json.read_json(pa.BufferReader(block), read_options=options, parse_options=self.parse_options)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                table = None
        if table is None or table.num_rows != n_lines:
            return self._parse_lines(block, starts, ends)
        rows = np.arange(n_lines, dtype=np.int64)
        missing = None
        for name in self.spec.required:
            nulls = table.column(name).is_null()
            missing = nulls if missing is None else pa.compute.or_(missing, nulls)
        if missing is None or not pa.compute.any(missing).as_py():
            return table, rows, [], 0
        bad = []
        for row in np.flatnonzero(missing.to_numpy(zero_copy_only=False)):
            line = block[starts[row]:ends[row]]
            bad.append((int(row), self._check_line(line)[0] or "a required field is null", describe_raw(line)))
        keep = ~missing.to_numpy(zero_copy_only=False)
        return table.filter(pa.array(keep)), rows[keep], bad, 0

    def _check_line(self, line: bytes) -> tuple[str | None, dict | None]:
        """(reason, None) for a bad line, (None, values) for a good one."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            return f"not valid UTF-8 (byte 0x{line[err.start]:02x} at position {err.start})", None
        try:
            record = json.loads(text)
        except ValueError as err:
            return f"not valid JSON: {err}", None
        if not isinstance(record, dict):
            return f"not a JSON object (a {type(record).__name__})", None
        values = {}
        for name in self.spec.required:
            value = record.get(name)
            if value is None:
                found = ", ".join(list(record)[:12]) or "no fields"
                state = "null" if name in record else "missing"
                return f'field "{name}" is {state} (found: {found})', None
            kind = _python_type(value)
            wanted = str(self.schema.field(name).type)
            allowed = _ACCEPTS.get(wanted, set())
            if name in self.text_fields and name not in self.template_fields:
                allowed = {"str"}
            if kind not in allowed:
                if name in self.text_fields:
                    return f'field "{name}" is a {kind}, not text', None
                if kind in _ACCEPTS["string"]:
                    raise _TypeChanged(name)
                return f'field "{name}" is a {kind}, but earlier records have {wanted}', None
            values[name] = str(value) if wanted == "string" and kind != "str" else value
        return None, values

    def _parse_lines(self, block: bytes, starts: np.ndarray, ends: np.ndarray) -> tuple[pa.Table, np.ndarray, list[tuple[int, str, str]], int]:
        columns: dict[str, list] = {name: [] for name in self.schema.names}
        good: list[int] = []
        bad: list[tuple[int, str, str]] = []
        blank = 0
        for row, (start, end) in enumerate(zip(starts.tolist(), ends.tolist())):
            line = block[start:end]
            if not line.strip():
                blank += 1
                continue
            reason, values = self._check_line(line)
            if reason is not None:
                bad.append((row, reason, describe_raw(line)))
                continue
            for name in columns:
                columns[name].append(values.get(name))
            good.append(row)
        table = pa.table({name: pa.array(columns[name], type=self.schema.field(name).type) for name in columns}, schema=self.schema)
        return table, np.asarray(good, dtype=np.int64), bad, blank


def iter_selected_lines(path: str, wanted: np.ndarray, on_block=None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without newline) for each 1-based line number in sorted `wanted`.

    Streams the whole file; `on_block(n_bytes)` is called after each block, for progress.
    """
    first = 1
    position = 0
    for block in iter_blocks(path):
        if on_block is not None:
            on_block(len(block))
        if position >= len(wanted):
            return
        starts, ends = line_spans(block)
        stop = int(np.searchsorted(wanted, first + len(starts), side="left"))
        for number in wanted[position:stop].tolist():
            yield number, block[starts[number - first]:ends[number - first]]
        position = stop
        first += len(starts)


def read_spans(path: str, offsets: np.ndarray, lengths: np.ndarray, on_bytes=None) -> Iterator[bytes]:
    """The raw lines at byte `offsets` with `lengths` of an uncompressed file, in the order given."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset, length in zip(offsets.tolist(), lengths.tolist()):
            yield os.pread(fd, length, offset)
            if on_bytes is not None:
                on_bytes(length)
    finally:
        os.close(fd)
