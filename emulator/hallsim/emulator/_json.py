"""Strict JSON for everything the emulator reads (request bodies, admin bodies, journal entries when read).

RFC 8259 JSON only, so every value the emulator keeps can be written back as valid JSON and never makes an
answer fail later: text must be UTF-8 (RFC 8259 section 8.1); `NaN`, `Infinity` and numbers that overflow to
infinity (`1e999`) are refused (section 6 has no such values; Python's json takes them by default); a string
with a lone surrogate (`"\\ud800"`, section 8.2 "unpaired surrogates") is refused (it cannot be encoded as
UTF-8); nesting deeper than `MAX_DEPTH` is refused (deep nesting only serves to exhaust a parser's stack);
integers longer than Python's int limit (4300 digits) are refused by json itself."""

from __future__ import annotations

import json
import math
import re
from typing import Any

#: the deepest nesting accepted: the contract's bodies are flat; 64 leaves room for any real extra field
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONProblem(ValueError):
    """Text that is not strict JSON; the message says what was found and where."""


def _constant(name: str) -> Any:
    raise JSONProblem(f"{name} is not a JSON value (JSON numbers are finite)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:24] + "..."
        raise JSONProblem(f"the number {shown} is out of range (it overflows to infinity)")
    return value


_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_float)


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON; JSONProblem says what is wrong (never another exception)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise JSONProblem(f"not UTF-8 (byte {err.start} is {raw[err.start : err.start + 1]!r})") from None
    else:
        text = raw
    if text.startswith("\ufeff"):  # RFC 8259 8.1: a parser may ignore a byte order mark; refuse it plainly
        raise JSONProblem("starts with a byte order mark (U+FEFF); JSON text has none")
    try:
        value = _DECODER.decode(text)
    except JSONProblem:
        raise
    except RecursionError:
        raise JSONProblem(f"nested deeper than {max_depth} levels") from None
    except ValueError as err:  # JSONDecodeError, and int's digit limit
        raise JSONProblem(str(err)) from None
    if text.count("[") + text.count("{") > max_depth and _depth(value) > max_depth:
        raise JSONProblem(f"nested deeper than {max_depth} levels")
    if "\\u" in text and _has_surrogate(value):
        raise JSONProblem("a string holds a lone surrogate (\\ud800-\\udfff unpaired): not Unicode text")
    return value


def _depth(value: Any) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def _has_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
