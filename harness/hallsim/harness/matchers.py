"""The `$`-matcher language of scenario expectations, and how a mismatch is reported.

Values in expectations match like this:
- a plain value matches an equal JSON value (`true` does not match `1`, nor `"true"`);
- a mapping matches when every key it lists matches (keys it does not list are ignored);
- a list matches element by element and must be as long;
- a one-key mapping whose key starts with `$` is a matcher: `$present: true`, `$absent: true`,
  `$type: string|number|boolean|null|object|array`, `$regex: PATTERN`, `$one_of: [A, B]`, `$not: VALUE`,
  and `$hall: FIELD`, which equals the FIELD of the decision the emulator issued in this run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hallsim.harness.record import ABSENT, DECISION_FIELDS

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
}
MATCHERS = ("$present", "$absent", "$type", "$regex", "$one_of", "$not", "$hall")


#: stands for a key that is not there at all (as opposed to a key holding null)
MISSING: Any = ABSENT


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    where: str
    expected: str
    actual: str

    def render(self) -> str:
        return f"{self.where}:\n    expected: {self.expected}\n    actual:   {self.actual}"


class ExpectationFailure(AssertionError):
    """A scenario whose run did not do what it expects; the message is the expected-vs-actual report."""

    def __init__(self, report: str, mismatches: Sequence[Mismatch] = ()) -> None:
        super().__init__(report)
        self.report = report
        self.mismatches = tuple(mismatches)


def show(value: Any) -> str:
    """A value as the user wrote it in YAML/JSON terms."""
    if value is MISSING:
        return "(absent)"
    if isinstance(value, Mapping) and len(value) == 1 and str(next(iter(value))).startswith("$"):
        ((op, arg),) = value.items()
        return f"{op} {show(arg)}"
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def matcher_problem(value: Any) -> str | None:
    """Why `value` is a malformed matcher, or None (also for plain values)."""
    if not isinstance(value, Mapping) or not any(str(k).startswith("$") for k in value):
        return None
    if len(value) != 1:
        return f"a matcher mapping holds exactly one `$` key; got {', '.join(map(str, value))}"
    ((op, arg),) = value.items()
    if op not in MATCHERS:
        return f"unknown matcher {op!r}; expected one of {', '.join(MATCHERS)}"
    if op in ("$present", "$absent") and arg is not True:
        return f"{op} takes `true`"
    if op == "$type" and arg not in _JSON_TYPES:
        return f"$type: expected one of {', '.join(_JSON_TYPES)}; got {show(arg)}"
    if op == "$regex":
        if not isinstance(arg, str):
            return "$regex takes a pattern string"
        try:
            re.compile(arg)
        except re.error as err:
            return f"$regex: not a valid regular expression: {err}"
    if op == "$one_of" and not isinstance(arg, list):
        return "$one_of takes a list of values"
    if op == "$hall" and arg not in DECISION_FIELDS:
        return f"$hall: expected one of {', '.join(DECISION_FIELDS)}; got {show(arg)}"
    if op == "$not":
        return matcher_problem(arg)
    return None


def match(expected: Any, actual: Any, where: str, decision: Mapping[str, Any] | None) -> list[Mismatch]:
    """Mismatches between an expected value (with matchers) and an actual one; empty when it matches."""
    if isinstance(expected, Mapping) and len(expected) == 1 and str(next(iter(expected))).startswith("$"):
        ((op, arg),) = expected.items()
        ok, shown = _apply(op, arg, actual, where, decision)
        return [] if ok else [Mismatch(where, shown, show(actual))]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [Mismatch(where, "an object with " + ", ".join(map(str, expected)), show(actual))]
        found: list[Mismatch] = []
        for key, value in expected.items():
            found.extend(match(value, actual.get(key, MISSING), f"{where}.{key}", decision))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [Mismatch(where, show(expected), show(actual))]
        found = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found.extend(match(want, got, f"{where}[{index}]", decision))
        return found
    return [] if _equal(expected, actual) else [Mismatch(where, show(expected), show(actual))]


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual) and actual is not MISSING


def _apply(
    op: str, arg: Any, actual: Any, where: str, decision: Mapping[str, Any] | None
) -> tuple[bool, str]:
    if op == "$present":
        return actual is not MISSING, "present (any value)"
    if op == "$absent":
        return actual is MISSING, "absent"
    if op == "$type":
        return actual is not MISSING and _JSON_TYPES[arg](actual), f"a {arg}"
    if op == "$regex":
        return isinstance(actual, str) and re.search(arg, actual) is not None, f"text matching /{arg}/"
    if op == "$one_of":
        return any(_equal(option, actual) for option in arg), "one of " + ", ".join(show(o) for o in arg)
    if op == "$not":
        return bool(match(arg, actual, where, decision)), f"not {show(arg)}"
    # $hall: what the emulator issued
    if decision is None:
        return False, f"the Hall's {arg} (but the Hall issued no decision in this run)"
    value = decision.get(arg, MISSING)
    return _equal(value, actual), f"{show(value)} (the {arg} the Hall issued)"


def render_failure(mismatches: Sequence[Mismatch], *, title: str, trace: str = "") -> str:
    lines = [title, ""]
    lines.extend(m.render() for m in mismatches)
    if trace:
        lines.extend(["", "--- run trace ---", trace.rstrip()])
    return "\n".join(lines)
