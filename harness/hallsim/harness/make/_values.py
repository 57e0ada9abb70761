"""Make's values as mappings see them: how they read as text, as numbers, as truth, and how they compare."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

MISSING_TEXT = "(empty)"


def is_empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, (list, dict)) and not value)


def to_text(value: Any) -> str:
    """How a value reads when embedded in text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return format_iso(value)
    if isinstance(value, list):
        return ", ".join(to_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, default=to_text, separators=(",", ":"))
    return str(value)


def format_iso(value: datetime) -> str:
    # Make shows dates as ISO 8601 in UTC with milliseconds
    utc = value.astimezone(timezone.utc) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value not in ("", "false")
    if isinstance(value, (int, float)):
        return value != 0
    return True


def describe(value: Any) -> str:
    """A short rendering of a value for traces: empty shows as (empty), text is quoted."""
    if value is None:
        return MISSING_TEXT
    if isinstance(value, str):
        return MISSING_TEXT if value == "" else json.dumps(value)
    if isinstance(value, (bool, int, float)):
        return to_text(value)
    if isinstance(value, datetime):
        return format_iso(value)
    text = json.dumps(value, default=to_text)
    return text if len(text) <= 80 else text[:77] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def loose_equal(left: Any, right: Any) -> bool:
    if is_empty(left) and is_empty(right):
        return True
    if _is_number(left) or _is_number(right):
        ln, rn = to_number(left), to_number(right)
        if ln is not None and rn is not None:
            return ln == rn
    return to_text(left) == to_text(right)


def arith(op: str, left: Any, right: Any) -> Any:
    if op == "+" and (isinstance(left, str) or isinstance(right, str) or left is None or right is None):
        return to_text(left) + to_text(right)
    ln, rn = to_number(left), to_number(right)
    if ln is None or rn is None:
        return None
    if op == "+":
        result = ln + rn
    elif op == "-":
        result = ln - rn
    elif op == "*":
        result = ln * rn
    elif op == "/":
        if rn == 0:
            return None
        result = ln / rn
    else:  # %
        if rn == 0:
            return None
        result = math.fmod(ln, rn)
    return int(result) if result == int(result) and abs(result) < 2**53 else result


def compare(op: str, left: Any, right: Any) -> bool:
    if op in ("=", "=="):
        return loose_equal(left, right)
    if op in ("!=", "<>"):
        return not loose_equal(left, right)
    ln, rn = to_number(left), to_number(right)
    if ln is not None and rn is not None:
        pair: tuple[Any, Any] = (ln, rn)
    else:
        pair = (to_text(left), to_text(right))
    a, b = pair
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)
