"""Filters: `{name, conditions: [[{a, o, b}, ...], ...]}`, the outer list OR, each inner list AND, with every
documented operator (shared/reference/make.md "Filters").

How a filter coerces to boolean is UNCONFIRMED (make.md: the documented coercion is for module fields); the
setting `make.filter.boolean_coercion` picks it and every condition result says which value it used."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hallsim.harness.make._dates import to_datetime
from hallsim.harness.make._iml import Env
from hallsim.harness.make._template import Template
from hallsim.harness.make._values import describe, is_empty, to_number, to_text


@dataclass(frozen=True)
class Condition:
    a: Template
    operator: str
    b: Template | None
    a_source: Any
    b_source: Any


@dataclass(frozen=True)
class Filter:
    name: str | None
    groups: tuple[tuple[Condition, ...], ...]
    #: a fallback route's marker (UNCONFIRMED how a blueprint marks it; see settings
    #: make.router.fallback_marker)
    fallback: bool = False


@dataclass(frozen=True)
class ConditionResult:
    a_source: Any
    a_value: Any
    operator: str
    b_source: Any
    b_value: Any
    passed: bool
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a_source,
            "a_resolved": _jsonable(self.a_value),
            "o": self.operator,
            "b": self.b_source,
            "b_resolved": _jsonable(self.b_value),
            "passed": self.passed,
            "why": self.why,
        }


@dataclass(frozen=True)
class FilterResult:
    name: str | None
    passed: bool
    groups: tuple[tuple[ConditionResult, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "conditions": [[condition.to_dict() for condition in group] for group in self.groups],
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    return to_text(value)


# --------------------------------------------------------------------------------------------------
# coercion


def to_boolean(value: Any, coercion: str) -> bool | None:
    """make-type-coercion (help.make.com "type coercion", via make.md): text is false only when "false" or
    empty;
    any number is true, even 0; other values are true unless null. strict: only true/false (or their text)."""
    if isinstance(value, bool):
        return value
    if coercion == "strict":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return None
    if value is None:
        return False
    if isinstance(value, str):
        return value not in ("false", "")
    return True


def _text(value: Any, ci: bool) -> str:
    text = to_text(value)
    return text.lower() if ci else text


def _regex(pattern: str, ci: bool) -> re.Pattern[str] | None:
    flags = re.I if ci else 0
    literal = re.fullmatch(r"/(.*)/([gimsuy]*)", pattern, re.S)
    if literal:
        pattern = literal.group(1)
        flags |= re.I if "i" in literal.group(2) else 0
        flags |= re.M if "m" in literal.group(2) else 0
    try:
        return re.compile(pattern, flags)
    except re.error:
        return None


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "equal": lambda a, b: bool(a == b),
    "notequal": lambda a, b: bool(a != b),
    "greater": lambda a, b: bool(a > b),
    "less": lambda a, b: bool(a < b),
    "greaterorequal": lambda a, b: bool(a >= b),
    "lessorequal": lambda a, b: bool(a <= b),
}


_TEXT_PHRASES = {
    "equal": ("=", "≠"),
    "contain": ("contains", "does not contain"),
    "startwith": ("starts with", "does not start with"),
    "endwith": ("ends with", "does not end with"),
}


def _time_seconds(value: Any) -> float | None:
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", to_text(value))
    if not match:
        return None
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + int(match.group(3) or 0)


def _semver(value: Any) -> tuple[int, ...] | None:
    match = re.fullmatch(r"\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?.*", to_text(value))
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def _typed(kind: str, value: Any) -> Any:
    if kind == "number":
        return to_number(value) if not is_empty(value) else None
    if kind == "date":
        return to_datetime(value)
    if kind == "time":
        return _time_seconds(value)
    return _semver(value)


def apply_operator(operator: str, a: Any, b: Any, coercion: str) -> tuple[bool, str]:
    """One condition: whether it passes and, for the trace, why."""
    family, _, rest = operator.partition(":")
    name, _, modifier = rest.partition(":")
    ci = modifier == "ci"
    if operator in ("exist", "notexist"):
        exists = not (a is None or a == "")
        passed = exists if operator == "exist" else not exists
        return passed, f"{describe(a)} {'exists' if exists else 'does not exist'}"
    if family == "text":
        left, right = _text(a, ci), _text(b, ci)
        case = " (case-insensitive)" if ci else ""
        if name in ("pattern", "notpattern"):
            regex = _regex(to_text(b), ci)
            if regex is None:
                return False, f"{describe(b)} is not a valid pattern"
            matched = regex.search(to_text(a)) is not None
            passed = matched if name == "pattern" else not matched
            return (
                passed,
                f"{describe(left)} {'matches' if matched else 'does not match'} {describe(b)}{case}",
            )
        positive = name[3:] if name.startswith("not") else name
        result = {
            "equal": left == right,
            "contain": right in left,
            "startwith": left.startswith(right),
            "endwith": left.endswith(right),
        }[positive]
        passed = result != name.startswith("not")
        phrase = _TEXT_PHRASES[positive][0 if result else 1]
        return passed, f"text {describe(left)} {phrase} {describe(right)}{case}"
    if family in ("number", "date", "time", "semver"):
        left, right = _typed(family, a), _typed(family, b)
        if left is None or right is None:
            bad = a if left is None else b
            return False, f"{describe(bad)} is not a {family}, so the condition fails"
        passed = _COMPARE[name](left, right)
        return passed, f"{family} {describe(a)} {name} {describe(b)} is {'true' if passed else 'false'}"
    if family == "boolean":
        left_bool, right_bool = to_boolean(a, coercion), to_boolean(b, coercion)
        coerced = f"{describe(a)} coerced to {_bool_text(left_bool)}"
        if left_bool is None or right_bool is None:
            bad = a if left_bool is None else b
            return (
                False,
                f"{describe(bad)} is not a boolean under {coercion} coercion, so the condition fails",
            )
        equal = left_bool == right_bool
        passed = equal if name == "equal" else not equal
        return passed, f"{coerced}; {_bool_text(left_bool)} {'=' if equal else '≠'} {_bool_text(right_bool)}"
    if family == "array":
        items = a if isinstance(a, list) else ([] if a is None else [a])
        if name in ("contain", "notcontain"):
            needle = _text(b, ci)
            found = any(_text(item, ci) == needle for item in items)
            passed = found if name == "contain" else not found
            return (
                passed,
                f"array of {len(items)} {'contains' if found else 'does not contain'} {describe(b)}",
            )
        size = to_number(b)
        if size is None:
            return False, f"{describe(b)} is not a number, so the length comparison fails"
        passed = _COMPARE[name](len(items), size)
        return passed, f"array length {len(items)} {name} {describe(b)} is {'true' if passed else 'false'}"
    raise KeyError(operator)


def _bool_text(value: bool | None) -> str:
    return "neither" if value is None else ("true" if value else "false")


def _build_operators() -> frozenset[str]:
    names = {"exist", "notexist"}
    for verb in ("equal", "contain", "startwith", "endwith", "pattern"):
        for form in (verb, "not" + verb):
            names.update({f"text:{form}", f"text:{form}:ci"})
    for family in ("number", "date", "time", "semver", "array"):
        names.update(f"{family}:{name}" for name in _COMPARE)
    names.update({"array:contain", "array:notcontain", "array:contain:ci", "array:notcontain:ci"})
    names.update({"boolean:equal", "boolean:notequal"})
    return frozenset(names)


OPERATORS = _build_operators()


def filter_context(flt: Filter) -> str:
    """How a warning names the filter a mapping sits in."""
    return f"filter `{flt.name}`" if flt.name else "filter"


def evaluate_filter(flt: Filter, env: Env, coercion: str) -> FilterResult:
    """Evaluate every condition (so the trace can show each operand), OR over AND groups."""
    groups: list[tuple[ConditionResult, ...]] = []
    passed_any = False
    for group in flt.groups:
        results: list[ConditionResult] = []
        for condition in group:
            if condition.operator in ("exist", "notexist"):
                env.quiet += 1  # asking whether a value exists is not a broken mapping
                try:
                    a_value = condition.a.eval(env)
                finally:
                    env.quiet -= 1
            else:
                a_value = condition.a.eval(env)
            b_value = condition.b.eval(env) if condition.b is not None else None
            passed, why = apply_operator(condition.operator, a_value, b_value, coercion)
            results.append(
                ConditionResult(
                    condition.a_source, a_value, condition.operator, condition.b_source, b_value, passed, why
                )
            )
        groups.append(tuple(results))
        if results and all(result.passed for result in results):
            passed_any = True
    if not flt.groups:
        passed_any = True  # a filter without conditions lets every bundle through
    return FilterResult(flt.name, passed_any, tuple(groups))
