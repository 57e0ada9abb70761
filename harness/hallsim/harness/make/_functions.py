"""The IML functions and keywords hallsim supports: every function of the Make help centre's function
reference ("General functions", "Math functions", "Text and binary functions", "Date and time functions",
"Array functions"). `if`, `ifempty` and `switch` are evaluated lazily in `_iml.Call`; the table still lists
them so the parser knows them. Anything not here is a load-time error naming the module and the expression.

Arguments are coerced as help.make.com "Type coercion" describes: a math function reads text as a number
("5" is 5) and ignores what is not one; a text function reads a number, a boolean ("true"/"false"), a date
(ISO 8601) or an array (items joined by ", ") as text (`_values.to_text`, `to_number`)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import urllib.parse
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hallsim.harness.make._date_functions import DATE_SETTERS, date_difference
from hallsim.harness.make._dates import add_months, format_date, parse_date, to_datetime
from hallsim.harness.make._iml import Env
from hallsim.harness.make._values import is_empty, loose_equal, to_number, to_text

Function = Callable[..., Any]


def _num(value: Any) -> float | None:
    return to_number(value)


def _int_or_float(value: float) -> int | float:
    return int(value) if value == int(value) else value


def _lazy(env: Env, *args: Any) -> Any:  # pragma: no cover - replaced by the lazy branch in Call.eval
    raise AssertionError("lazy functions are evaluated in Call.eval")


def _get(env: Env, collection: Any, path: Any = None, *_: Any) -> Any:
    current = collection
    if path is None:
        return current
    if isinstance(path, (int, float)) and not isinstance(path, bool):
        parts: list[Any] = [int(path)]
    else:
        parts = [part for part in re.split(r"\.|\[(\d+)\]", to_text(path)) if part]
    for part in parts:
        if isinstance(current, list):
            index = int(part) if str(part).isdigit() else 0
            if not 1 <= index <= len(current):  # arrays are 1-indexed (make.md)
                return None
            current = current[index - 1]
        elif isinstance(current, dict):
            current = current.get(str(part))
        else:
            return None
    return current


def _length(env: Env, value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, dict)):
        return len(value)
    return len(to_text(value))


def _replace(env: Env, text: Any, search: Any, replacement: Any = "") -> str:
    subject = to_text(text)
    pattern = to_text(search)
    regex = re.fullmatch(r"/(.*)/([gimsuy]*)", pattern, re.S)
    if regex:
        flags = re.I if "i" in regex.group(2) else 0
        flags |= re.M if "m" in regex.group(2) else 0
        count = 0 if "g" in regex.group(2) else 1
        replace = re.sub(r"\$(\d)", r"\\\1", to_text(replacement))
        return re.sub(regex.group(1), replace, subject, count=count, flags=flags)
    return subject.replace(pattern, to_text(replacement))


def _substring(env: Env, text: Any, start: Any = 0, end: Any = None) -> str:
    subject = to_text(text)
    begin = int(_num(start) or 0)
    stop = len(subject) if end is None else int(_num(end) or 0)
    return subject[begin:stop]  # substring is 0-based in Make, unlike arrays


def _contains(env: Env, haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(loose_equal(item, needle) for item in haystack)
    return to_text(needle) in to_text(haystack)


def _split(env: Env, text: Any, separator: Any = ",") -> list[str]:
    return to_text(text).split(to_text(separator) or ",")


def _join(env: Env, array: Any, separator: Any = ", ") -> str:
    items = array if isinstance(array, list) else ([] if array is None else [array])
    return to_text(separator).join(to_text(item) for item in items)


def _map(env: Env, array: Any, key: Any, filter_key: Any = None, filter_values: Any = None) -> list[Any]:
    items = array if isinstance(array, list) else []
    allowed = None if filter_key is None else {v.strip() for v in to_text(filter_values).split(",")}
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if allowed is not None and to_text(item.get(to_text(filter_key))) not in allowed:
            continue
        out.append(_get(env, item, key))
    return out


def _array(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _slice(env: Env, array: Any, start: Any = 0, end: Any = None) -> list[Any]:
    items = _array(array)
    return items[int(_num(start) or 0) : None if end is None else int(_num(end) or 0)]


def _sort(env: Env, array: Any, order: Any = "asc", key: Any = None) -> list[Any]:
    items = list(_array(array))
    text_order = to_text(order).lower()
    reverse = text_order.startswith("desc")

    def sort_key(item: Any) -> tuple[int, Any]:
        value = _get(env, item, key) if key else item
        number = to_number(value) if not isinstance(value, str) else None
        return (
            (0, number)
            if number is not None
            else (1, to_text(value).lower() if "ci" in text_order else to_text(value))
        )

    return sorted(items, key=sort_key, reverse=reverse)


def _deduplicate(env: Env, array: Any) -> list[Any]:
    out: list[Any] = []
    for item in _array(array):
        if not any(loose_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _distinct(env: Env, array: Any, key: Any = None) -> list[Any]:
    """distinct(array; [key]): the first item of each value of `key` (help.make.com "Array functions")."""
    if key is None:
        return _deduplicate(env, array)
    out: list[Any] = []
    seen: list[Any] = []
    for item in _array(array):
        value = _get(env, item, key)
        if not any(loose_equal(value, known) for known in seen):
            seen.append(value)
            out.append(item)
    return out


def _flatten(env: Env, array: Any, depth: Any = 1) -> list[Any]:
    """flatten(array; [depth]): sub-arrays concatenated, to `depth` levels (Array.prototype.flat)."""
    levels = int(_num(depth) or 1)

    def flat(items: list[Any], level: int) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, list) and level > 0:
                out.extend(flat(item, level - 1))
            else:
                out.append(item)
        return out

    return flat(_array(array), levels)


def _shuffle(env: Env, array: Any) -> list[Any]:
    items = list(_array(array))
    random.shuffle(items)
    return items


def _to_collection(env: Env, array: Any, key: Any, value: Any) -> dict[str, Any]:
    """toCollection(array; key; value): a collection of `item[key]: item[value]` (help.make.com)."""
    out: dict[str, Any] = {}
    for item in _array(array):
        if isinstance(item, dict):
            out[to_text(item.get(to_text(key)))] = item.get(to_text(value))
    return out


def _array_difference(env: Env, first: Any, second: Any, mode: Any = "classic") -> list[Any]:
    """arrayDifference(array1; array2; mode): classic = items of array1 not in array2; symmetric = items in
    exactly one of them."""
    a, b = _array(first), _array(second)
    only_a = [x for x in a if not any(loose_equal(x, y) for y in b)]
    if to_text(mode).lower() == "symmetric":
        return only_a + [y for y in b if not any(loose_equal(y, x) for x in a)]
    return only_a


def _median(env: Env, *args: Any) -> Any:
    values = sorted(_numbers(args))
    if not values:
        return None
    middle = len(values) // 2
    result = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return _int_or_float(result)


def _stdev(sample: bool) -> Function:
    def run(env: Env, *args: Any) -> Any:
        values = _numbers(args)
        if len(values) < (2 if sample else 1):
            return None
        mean = sum(values) / len(values)
        squares = sum((v - mean) ** 2 for v in values)
        return math.sqrt(squares / (len(values) - 1 if sample else len(values)))

    return run


def _trunc(env: Env, value: Any, digits: Any = 0) -> Any:
    number = _num(value)
    if number is None:
        return None
    factor = 10 ** int(_num(digits) or 0)
    return _int_or_float(math.trunc(number * factor) / factor)


def _escape_markdown(env: Env, text: Any) -> str:
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|>~])", r"\\\1", to_text(text))


_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\U00002300-\U000023ff"
    "\U0000fe0f\U0000200d\U0001f1e6-\U0001f1ff]+"
)


def _replace_emoji(env: Env, text: Any, replacement: Any = "") -> str:
    return _EMOJI.sub(to_text(replacement), to_text(text))


def _to_binary(env: Env, value: Any, encoding: Any = None) -> str:
    """toBinary(value; [encoding]): Make shows binary data as its text; hex and base64 decode first."""
    text = to_text(value)
    kind = to_text(encoding).lower()
    try:
        if kind == "hex":
            return bytes.fromhex(text).decode("utf-8", errors="replace")
        if kind == "base64":
            return base64.b64decode(text).decode("utf-8", errors="replace")
    except ValueError:
        return ""
    return text


def _numbers(args: tuple[Any, ...]) -> list[float]:
    flat: list[Any] = []
    for arg in args:
        flat.extend(arg if isinstance(arg, list) else [arg])
    return [n for n in (to_number(v) for v in flat) if n is not None]


def _aggregate(name: str) -> Function:
    def run(env: Env, *args: Any) -> Any:
        values = _numbers(args)
        if not values:
            return None
        if name == "max":
            return _int_or_float(max(values))
        if name == "min":
            return _int_or_float(min(values))
        if name == "sum":
            return _int_or_float(sum(values))
        return _int_or_float(sum(values) / len(values))

    return run


def _rounding(kind: str) -> Function:
    def run(env: Env, value: Any, digits: Any = 0) -> Any:
        number = _num(value)
        if number is None:
            return None
        places = int(_num(digits) or 0)
        factor = 10**places
        if kind == "round":
            result = math.floor(number * factor + 0.5) / factor  # JS Math.round: halves go up
        elif kind == "floor":
            result = math.floor(number * factor) / factor
        else:
            result = math.ceil(number * factor) / factor
        return _int_or_float(result)

    return run


def _parse_number(env: Env, text: Any, decimal: Any = ".") -> Any:
    raw = to_text(text).strip()
    separator = to_text(decimal) or "."
    thousands = "," if separator == "." else "."
    cleaned = raw.replace(thousands, "").replace(separator, ".")
    number = to_number(cleaned)
    return None if number is None else _int_or_float(number)


def _format_number(env: Env, value: Any, decimals: Any = 0, decimal: Any = ",", thousands: Any = ".") -> str:
    number = _num(value)
    if number is None:
        return ""
    places = int(_num(decimals) or 0)
    text = f"{number:,.{places}f}"
    return text.replace(",", "\0").replace(".", to_text(decimal)).replace("\0", to_text(thousands))


def _escape_html(text: str) -> str:
    # imported when used: the html package loads its table of 2,231 named entities (~10 ms) on import
    import html

    return html.escape(text, quote=True)


def _hash(algorithm: str) -> Function:
    def run(env: Env, text: Any, *_: Any) -> str:
        return hashlib.new(algorithm, to_text(text).encode()).hexdigest()

    return run


def _add_time(unit: str) -> Function:
    def run(env: Env, date: Any, amount: Any) -> Any:
        moment = to_datetime(date)
        number = _num(amount)
        if moment is None or number is None:
            return None
        if unit == "months":
            return add_months(moment, int(number))
        if unit == "years":
            return add_months(moment, int(number) * 12)
        return moment + timedelta(**{unit: number})

    return run


def _pick_omit(keep: bool) -> Function:
    def run(env: Env, collection: Any, *keys: Any) -> Any:
        if not isinstance(collection, dict):
            return collection
        names = {to_text(k) for key in keys for k in (key if isinstance(key, list) else [key])}
        return {k: v for k, v in collection.items() if (k in names) == keep}

    return run


def _merge(env: Env, *collections: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for collection in collections:
        if isinstance(collection, dict):
            out.update(collection)
    return out


def _to_string(env: Env, value: Any) -> str:
    return to_text(value)


def _not(env: Env, value: Any) -> bool:
    from hallsim.harness.make._values import truthy

    return not truthy(value)


FUNCTIONS: dict[str, Function] = {
    # general
    "if": _lazy,
    "ifempty": _lazy,
    "switch": _lazy,
    "get": _get,
    "pick": _pick_omit(True),
    "omit": _pick_omit(False),
    "not": _not,
    # text
    "toString": _to_string,
    "lower": lambda env, v: to_text(v).lower(),
    "upper": lambda env, v: to_text(v).upper(),
    "capitalize": lambda env, v: (lambda t: t[:1].upper() + t[1:])(to_text(v)),
    "startcase": lambda env, v: to_text(v).title(),
    "trim": lambda env, v: to_text(v).strip(),
    "length": _length,
    "replace": _replace,
    "substring": _substring,
    "indexOf": lambda env, v, s, start=0: to_text(v).find(to_text(s), int(_num(start) or 0)),
    "contains": _contains,
    "split": _split,
    "ascii": lambda env, v, *_: to_text(v).encode("ascii", "ignore").decode(),
    "encodeURL": lambda env, v: urllib.parse.quote(to_text(v), safe="~()*!.'"),
    "decodeURL": lambda env, v: urllib.parse.unquote(to_text(v)),
    "escapeHTML": lambda env, v: _escape_html(to_text(v)),
    "stripHTML": lambda env, v: re.sub(r"<[^>]*>", "", to_text(v)),
    "base64": lambda env, v: base64.b64encode(to_text(v).encode()).decode(),
    "md5": _hash("md5"),
    "sha1": _hash("sha1"),
    "sha256": _hash("sha256"),
    "sha512": _hash("sha512"),
    "toJSON": lambda env, v: json.dumps(v, default=to_text, separators=(",", ":")),
    "escapeMarkdown": _escape_markdown,
    "replaceEmojiCharacters": _replace_emoji,
    "toBinary": _to_binary,
    # math
    "parseNumber": _parse_number,
    "formatNumber": _format_number,
    "round": _rounding("round"),
    "floor": _rounding("floor"),
    "ceil": _rounding("ceil"),
    "abs": lambda env, v: None if _num(v) is None else _int_or_float(abs(_num(v) or 0)),
    "max": _aggregate("max"),
    "min": _aggregate("min"),
    "sum": _aggregate("sum"),
    "average": _aggregate("average"),
    "median": _median,
    "stdevP": _stdev(False),
    "stdevS": _stdev(True),
    "trunc": _trunc,
    # date
    "formatDate": lambda env, d, fmt="", tz=None: format_date(
        d, to_text(fmt), None if tz is None else to_text(tz), env
    ),
    "parseDate": lambda env, t, fmt="", tz=None: parse_date(
        t, to_text(fmt), None if tz is None else to_text(tz)
    ),
    "addSeconds": _add_time("seconds"),
    "addMinutes": _add_time("minutes"),
    "addHours": _add_time("hours"),
    "addDays": _add_time("days"),
    "addMonths": _add_time("months"),
    "addYears": _add_time("years"),
    **DATE_SETTERS,
    "dateDifference": date_difference,
    # array
    "join": _join,
    "first": lambda env, a: _array(a)[0] if _array(a) else None,
    "last": lambda env, a: _array(a)[-1] if _array(a) else None,
    "map": _map,
    "slice": _slice,
    "sort": _sort,
    "reverse": lambda env, a: list(reversed(_array(a))),
    "deduplicate": _deduplicate,
    "distinct": _distinct,
    "flatten": _flatten,
    "shuffle": _shuffle,
    "toCollection": _to_collection,
    "arrayDifference": _array_difference,
    "add": lambda env, a, *items: [*_array(a), *items],
    "remove": lambda env, a, *items: [x for x in _array(a) if not any(loose_equal(x, i) for i in items)],
    "keys": lambda env, c: list(c) if isinstance(c, dict) else [],
    "merge": _merge,
    "toArray": lambda env, c: (
        [{"key": k, "value": v} for k, v in c.items()] if isinstance(c, dict) else _array(c)
    ),
    "isEmpty": lambda env, v: is_empty(v),
}

KEYWORDS: dict[str, Callable[[Env], Any]] = {
    "now": lambda env: env.now,
    "timestamp": lambda env: int(env.now.timestamp()),
    "random": lambda env: random.random(),
    "uuid": lambda env: str(uuid.uuid4()),
    "pi": lambda env: math.pi,
    "emptystring": lambda env: "",
    "emptyarray": lambda env: [],
    "emptycollection": lambda env: {},
    "space": lambda env: " ",
    "newline": lambda env: "\n",
    "tab": lambda env: "\t",
    "carriagereturn": lambda env: "\r",
    "nbsp": lambda env: "\u00a0",
}


def supported_functions() -> str:
    return ", ".join(sorted(FUNCTIONS))
