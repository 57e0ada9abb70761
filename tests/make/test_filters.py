"""Filters: shared/reference/make.md "Filters" -- every documented operator, the outer list OR and the inner
lists AND, `b` as a JSON boolean, number or string, and the boolean coercion (help.make.com "type
coercion"; for filters UNCONFIRMED, so a named setting: make.filter.boolean_coercion)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from hallsim.harness.make._filters import (
    OPERATORS,
    Condition,
    Filter,
    apply_operator,
    evaluate_filter,
    to_boolean,
)
from hallsim.harness.make._iml import Env
from hallsim.harness.make._template import compile_value

TYPE = "make-type-coercion"


@pytest.mark.parametrize(
    ("operator", "a", "b", "passes"),
    [
        ("exist", "x", None, True),
        ("exist", None, None, False),
        ("exist", "", None, False),
        ("exist", 0, None, True),
        ("notexist", None, None, True),
        ("notexist", False, None, False),
        ("text:equal", "Allowed", "Allowed", True),
        ("text:equal", "Allowed", "allowed", False),
        ("text:equal:ci", "Allowed", "allowed", True),
        ("text:equal", True, "true", True),  # a boolean reads as the text "true"
        ("text:equal", None, "false", False),  # empty is not the text "false"
        ("text:equal", 200, "200", True),
        ("text:notequal", "a", "b", True),
        ("text:notequal:ci", "A", "a", False),
        ("text:contain", "DENY_POLICY_GATE", "POLICY", True),
        ("text:contain:ci", "DENY_POLICY_GATE", "policy", True),
        ("text:notcontain", "abc", "z", True),
        ("text:notcontain:ci", "ABC", "b", False),
        ("text:startwith", "wrk_make", "wrk_", True),
        ("text:startwith:ci", "WRK_make", "wrk_", True),
        ("text:notstartwith", "wrk_make", "x", True),
        ("text:notstartwith:ci", "WRK", "w", False),
        ("text:endwith", "report.pdf", ".pdf", True),
        ("text:endwith:ci", "REPORT.PDF", ".pdf", True),
        ("text:notendwith", "a.txt", ".pdf", True),
        ("text:notendwith:ci", "A.PDF", ".pdf", False),
        ("text:pattern", "wrk_make_acme_prod", "^wrk_[a-z_]+$", True),
        ("text:pattern", "WRK", "^wrk$", False),
        ("text:pattern:ci", "WRK", "^wrk$", True),
        ("text:pattern", "abc", "/B/i", True),
        ("text:notpattern", "abc", "^z", True),
        ("text:notpattern:ci", "ABC", "^a", False),
        ("number:equal", "42", 42, True),
        ("number:equal", 42.0, "42", True),
        ("number:notequal", 1, 2, True),
        ("number:greater", "51", "50", True),  # the public pattern filter-gate: {{1.score}} > "50"
        ("number:greater", "50", "50", False),
        ("number:less", 3, 10, True),
        ("number:greaterorequal", 50, "50", True),
        ("number:lessorequal", 51, 50, False),
        ("number:equal", "abc", 1, False),  # not a number: the condition fails
        ("number:equal", None, 0, False),
        ("date:equal", "2024-05-01T00:00:00Z", "2024-05-01T00:00:00.000Z", True),
        ("date:greater", "2024-05-02", "2024-05-01", True),
        ("date:less", datetime(2024, 1, 1, tzinfo=timezone.utc), "2024-05-01", True),
        ("date:greaterorequal", "2024-05-01", "2024-05-01", True),
        ("date:lessorequal", "2024-05-02", "2024-05-01", False),
        ("date:notequal", "2024-05-02", "2024-05-01", True),
        ("date:equal", "not a date", "2024-05-01", False),
        ("time:less", "09:30", "10:00", True),
        ("time:equal", "10:00", "10:00:00", True),
        ("time:greater", "23:59:59", "00:00", True),
        ("time:greaterorequal", "08:00", "09:00", False),
        ("time:lessorequal", "09:00", "09:00", True),
        ("time:notequal", "09:00", "09:01", True),
        ("semver:greater", "1.10.0", "1.9.9", True),  # versions compare by number, not as text
        ("semver:equal", "v2.0", "2.0.0", True),
        ("semver:less", "0.3.0", "0.2.2", False),
        ("semver:notequal", "1.0.0", "1.0.1", True),
        ("semver:greaterorequal", "1.0.0", "1.0.0", True),
        ("semver:lessorequal", "1.0.1", "1.0.0", False),
        ("array:contain", ["a", "b"], "b", True),
        ("array:contain", ["a", "b"], "B", False),
        ("array:contain:ci", ["a", "b"], "B", True),
        ("array:notcontain", ["a"], "b", True),
        ("array:notcontain:ci", ["A"], "a", False),
        ("array:equal", ["a", "b"], 2, True),  # array length comparisons
        ("array:notequal", [], 0, False),
        ("array:greater", ["a", "b"], "1", True),
        ("array:less", None, 1, True),
        ("array:greaterorequal", ["a"], 1, True),
        ("array:lessorequal", ["a", "b"], 1, False),
        ("boolean:equal", True, True, True),
        ("boolean:equal", True, "true", True),  # exports hold both `true` and "true"
        ("boolean:equal", False, "false", True),
        ("boolean:notequal", True, "false", True),
        ("boolean:notequal", False, False, False),
    ],
)
def test_operator(operator: str, a: Any, b: Any, passes: bool) -> None:
    passed, why = apply_operator(operator, a, b, TYPE)
    assert passed is passes, why
    assert why


def test_every_operator_in_the_table_is_known() -> None:
    tested = {
        "exist",
        "notexist",
        "boolean:equal",
        "boolean:notequal",
        "array:contain",
        "array:notcontain",
        "array:contain:ci",
        "array:notcontain:ci",
    }
    for family in ("text",):
        for verb in ("equal", "contain", "startwith", "endwith", "pattern"):
            for form in (verb, "not" + verb):
                tested |= {f"{family}:{form}", f"{family}:{form}:ci"}
    for family in ("number", "date", "time", "semver", "array"):
        tested |= {
            f"{family}:{n}" for n in ("equal", "notequal", "greater", "less", "greaterorequal", "lessorequal")
        }
    assert tested == set(OPERATORS)


# help.make.com "type coercion" (via make.md): text is false only when "false" or empty; any number is
# true, even
# 0; other values are true unless null. Under `strict`, only true/false (or their text) are booleans.
@pytest.mark.parametrize(
    ("value", "make_type_coercion", "strict"),
    [
        (True, True, True),
        (False, False, False),
        ("true", True, True),
        ("false", False, False),
        ("FALSE", True, False),  # only the exact text "false" is false
        ("", False, None),
        (None, False, None),  # a missing value: false under Make's coercion, no boolean at all under strict
        ("no", True, None),
        (0, True, None),  # any number is true, even 0
        (1, True, None),
        ([], True, None),
        ({}, True, None),
    ],
)
def test_boolean_coercion(value: Any, make_type_coercion: bool, strict: bool | None) -> None:
    assert to_boolean(value, "make-type-coercion") is make_type_coercion
    assert to_boolean(value, "strict") is strict


@pytest.mark.parametrize(
    ("a", "b", "coercion", "passes"),
    [
        # make.md: if filters follow the coercion, boolean:equal with b=false passes for false, "false" AND
        # missing
        (False, "false", TYPE, True),
        ("false", "false", TYPE, True),
        (None, "false", TYPE, True),
        (None, False, TYPE, True),
        (None, "true", TYPE, False),
        (None, "false", "strict", False),
        (None, "true", "strict", False),
        ("false", "false", "strict", True),
    ],
)
def test_boolean_equal_on_a_missing_value_depends_on_the_coercion_setting(
    a: Any, b: Any, coercion: str, passes: bool
) -> None:
    passed, why = apply_operator("boolean:equal", a, b, coercion)
    assert passed is passes, why


def _filter(*groups: list[tuple[str, str, Any]]) -> Filter:
    return Filter(
        "f",
        tuple(
            tuple(Condition(compile_value(a), o, compile_value(b), a, b) for a, o, b in group)
            for group in groups
        ),
    )


def _env(outputs: dict[int, Any]) -> Env:
    return Env(outputs, {}, datetime.now(timezone.utc), lambda w: None, where=3)


@pytest.mark.parametrize(
    ("label", "score", "passes"),
    [
        ("RESTRICTED", "10", True),  # first AND group passes
        ("PUBLIC", "90", True),  # second group passes
        ("PUBLIC", "10", False),  # neither
        ("RESTRICTED", "90", True),  # both
    ],
)
def test_outer_list_is_or_inner_lists_are_and(label: str, score: str, passes: bool) -> None:
    flt = _filter(
        [("{{1.label}}", "text:equal", "RESTRICTED"), ("{{1.score}}", "number:less", "50")],
        [("{{1.score}}", "number:greater", "50")],
        [("{{1.label}}", "text:equal", "RESTRICTED"), ("{{1.score}}", "number:greater", "50")],
    )
    result = evaluate_filter(flt, _env({1: {"label": label, "score": score}}), TYPE)
    assert result.passed is passes
    # every operand is shown as what it resolved to
    assert result.groups[0][0].a_value == label
    assert result.groups[1][0].a_value == score


def test_filter_without_conditions_passes() -> None:
    assert evaluate_filter(Filter("empty", ()), _env({}), TYPE).passed is True
