"""Compiled JSON-lines scanning (numba, cached on disk): where one top-level string field
of each line lies, without building the record.

`text_spans` reads a block of JSON lines and, for every line, finds the value of one
top-level key and checks the whole line against the JSON grammar (RFC 8259). It is
conservative: it accepts only a line that is one object, whose key appears once, unescaped,
with a string value, whose strings hold no raw control characters and only valid escapes
(surrogates in pairs). Anything else stops it, and the caller reads that block with Arrow,
which gives the authoritative answer (and the bad-record reasons). So the fast path never
accepts a line the Arrow path would reject, and it reads the same text.

Import this module only where the work is done: it imports numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OBJECT = 1
_ARRAY = 2


@njit(cache=True, inline="always")
def _space(data, i, end):
    while i < end and (data[i] == 32 or data[i] == 9 or data[i] == 10 or data[i] == 13):
        i += 1
    return i


@njit(cache=True, inline="always")
def _hex(byte):
    if 48 <= byte <= 57:
        return np.int64(byte) - 48
    if 97 <= byte <= 102:
        return np.int64(byte) - 87
    if 65 <= byte <= 70:
        return np.int64(byte) - 55
    return np.int64(-1)


@njit(cache=True)
def _hex4(data, i, end):
    """The value of 4 hex digits at data[i:i+4], or -1."""
    if i + 4 > end:
        return np.int64(-1)
    value = np.int64(0)
    for k in range(4):
        digit = _hex(data[i + k])
        if digit < 0:
            return np.int64(-1)
        value = value * 16 + digit
    return value


@njit(cache=True)
def _string(data, i, end):
    """data[i] is the opening quote. Returns (position of the closing quote, has escapes)
    or (-1, False) when the string is not valid JSON."""
    i += 1
    escapes = False
    while i < end:
        byte = data[i]
        if byte == 34:
            return i, escapes
        if byte < 32:
            return -1, False
        if byte == 92:
            escapes = True
            if i + 1 >= end:
                return -1, False
            kind = data[i + 1]
            if kind == 117:  # \uXXXX
                value = _hex4(data, i + 2, end)
                if value < 0 or 0xDC00 <= value <= 0xDFFF:
                    return -1, False
                if 0xD800 <= value <= 0xDBFF:  # a high surrogate needs its low half
                    if i + 7 >= end or data[i + 6] != 92 or data[i + 7] != 117:
                        return -1, False
                    low = _hex4(data, i + 8, end)
                    if not 0xDC00 <= low <= 0xDFFF:
                        return -1, False
                    i += 12
                else:
                    i += 6
                continue
            if kind in (34, 92, 47, 98, 102, 110, 114, 116):
                i += 2
                continue
            return -1, False
        i += 1
    return -1, False


@njit(cache=True)
def _number(data, i, end):
    """Position after the number starting at data[i], or -1."""
    if i < end and data[i] == 45:
        i += 1
    if i >= end:
        return -1
    if data[i] == 48:
        i += 1
    elif 49 <= data[i] <= 57:
        while i < end and 48 <= data[i] <= 57:
            i += 1
    else:
        return -1
    if i < end and data[i] == 46:
        i += 1
        if i >= end or not 48 <= data[i] <= 57:
            return -1
        while i < end and 48 <= data[i] <= 57:
            i += 1
    if i < end and (data[i] == 101 or data[i] == 69):
        i += 1
        if i < end and (data[i] == 43 or data[i] == 45):
            i += 1
        if i >= end or not 48 <= data[i] <= 57:
            return -1
        while i < end and 48 <= data[i] <= 57:
            i += 1
    return i


@njit(cache=True)
def _literal(data, i, end, word):
    if i + len(word) > end:
        return -1
    for k in range(len(word)):
        if data[i + k] != word[k]:
            return -1
    return i + len(word)


@njit(cache=True)
def _value(data, i, end, stack, true_, false_, null_):
    """Position after the JSON value starting at data[i] (whitespace skipped first), or -1."""
    depth = 0
    while True:
        i = _space(data, i, end)
        if i >= end:
            return -1
        byte = data[i]
        if byte == 34:
            close, _ = _string(data, i, end)
            if close < 0:
                return -1
            i = close + 1
        elif byte == 123 or byte == 91:
            i = _space(data, i + 1, end)
            if i < end and data[i] == (125 if byte == 123 else 93):
                i += 1  # empty container: a complete value
            else:
                if depth == len(stack):
                    return -1  # nested deeper than we track: let Arrow decide
                stack[depth] = _OBJECT if byte == 123 else _ARRAY
                depth += 1
                if byte == 123:
                    i = _key(data, i, end)
                    if i < 0:
                        return -1
                continue
        elif byte == 45 or 48 <= byte <= 57:
            i = _number(data, i, end)
        elif byte == 116:
            i = _literal(data, i, end, true_)
        elif byte == 102:
            i = _literal(data, i, end, false_)
        elif byte == 110:
            i = _literal(data, i, end, null_)
        else:
            return -1
        if i < 0:
            return -1
        # A value is complete: close containers, or go on to the next element.
        while True:
            if depth == 0:
                return i
            i = _space(data, i, end)
            if i >= end:
                return -1
            byte = data[i]
            if byte == 44:
                i += 1
                if stack[depth - 1] == _OBJECT:
                    i = _key(data, i, end)
                    if i < 0:
                        return -1
                break
            if (byte == 125 and stack[depth - 1] == _OBJECT) or (byte == 93 and stack[depth - 1] == _ARRAY):
                depth -= 1
                i += 1
                continue
            return -1


@njit(cache=True)
def _key(data, i, end):
    """Skip `"key" :` (whitespace around); position after the colon, or -1."""
    i = _space(data, i, end)
    if i >= end or data[i] != 34:
        return -1
    close, _ = _string(data, i, end)
    if close < 0:
        return -1
    i = _space(data, close + 1, end)
    if i >= end or data[i] != 58:
        return -1
    return i + 1


@njit(cache=True)
def text_spans(data, starts, ends, key, value_starts, value_ends):
    """For each line data[starts[l]:ends[l]], the span of the string value of top-level
    `key` (bytes, uint8): value_starts[l] just after its opening quote, value_ends[l] at
    its closing quote (the text is still JSON-escaped). Returns how many lines, from the
    first, were read this way; it stops at the first line it does not accept.
    """
    stack = np.zeros(64, dtype=np.uint8)
    true_ = np.array([116, 114, 117, 101], dtype=np.uint8)
    false_ = np.array([102, 97, 108, 115, 101], dtype=np.uint8)
    null_ = np.array([110, 117, 108, 108], dtype=np.uint8)
    width = len(key)
    for line in range(len(starts)):
        i = _space(data, starts[line], ends[line])
        end = ends[line]
        if i >= end or data[i] != 123:
            return line
        i = _space(data, i + 1, end)
        found = False
        if i < end and data[i] == 125:
            return line  # {}: the key is missing
        while True:
            i = _space(data, i, end)
            if i >= end or data[i] != 34:
                return line
            close, escaped = _string(data, i, end)
            if close < 0 or escaped:
                return line  # an escaped key may spell ours: Arrow decides
            same = close - i - 1 == width
            if same:
                for k in range(width):
                    if data[i + 1 + k] != key[k]:
                        same = False
                        break
            i = _space(data, close + 1, end)
            if i >= end or data[i] != 58:
                return line
            i = _space(data, i + 1, end)
            if same:
                if found or i >= end or data[i] != 34:
                    return line  # twice, or not a string (null, a number): Arrow decides
                close, _ = _string(data, i, end)
                if close < 0:
                    return line
                value_starts[line] = i + 1
                value_ends[line] = close
                found = True
                i = close + 1
            else:
                i = _value(data, i, end, stack, true_, false_, null_)
                if i < 0:
                    return line
            i = _space(data, i, end)
            if i >= end:
                return line
            if data[i] == 44:
                i += 1
                continue
            if data[i] == 125:
                break
            return line
        if _space(data, i + 1, end) != end or not found:
            return line
    return len(starts)
