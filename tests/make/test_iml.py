"""Mappings (IML): shared/reference/make.md "Blueprint JSON" -- `{{id.path}}` by module id, nested paths,
backticks for odd keys, 1-indexed arrays, text with embedded mappings, `;`-separated function arguments, a
missing value behaves as empty. Functions: Make help centre "Functions" (general, text, math, date, array)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from hallsim.harness.make._iml import Env, MappingWarning
from hallsim.harness.make._template import TemplateError, compile_value

NOW = datetime(2024, 5, 1, 13, 4, 5, 678000, tzinfo=timezone.utc)
OUTPUTS: dict[int, Any] = {
    1: {
        "worker_id": "wrk_make_acme_prod",
        "data_label": "internal",
        "score": "42",
        "items": [{"name": "pen", "qty": 2}, {"name": "ink", "qty": 5}],
        "odd key": "backticked",
        "tags": ["a", "b", "c"],
        "blank": "",
    },
    2: {
        "statusCode": 200,
        "headers": [{"name": "content-type", "value": "application/json"}],
        "data": {"denied": True, "decision_id": "d-1", "reason": "DENY_POLICY_GATE"},
    },
}
VARIABLES = {
    "organization": {"HALL": "http://org"},
    "team": {"TEAM_ONLY": "t"},
    "input": {"limit": 3},
    "scenario": {},
    "variable": {"PYHALL_HALL_URL": "http://guide"},
}


def evaluate(text: Any, outputs: dict[int, Any] | None = None) -> tuple[Any, list[MappingWarning]]:
    warnings: list[MappingWarning] = []
    env = Env(OUTPUTS if outputs is None else outputs, VARIABLES, NOW, warnings.append, where=9, bundle=1)
    return compile_value(text).eval(env), warnings


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # paths by module id, nested, backticks, 1-indexed arrays
        ("{{1.worker_id}}", "wrk_make_acme_prod"),
        ("{{2.data.denied}}", True),
        ("{{2.data.decision_id}}", "d-1"),
        ("{{1.`odd key`}}", "backticked"),
        ("{{`2`.statusCode}}", 200),
        ("{{1.items[2].name}}", "ink"),
        ("{{1.items[1].qty}}", 2),
        ("{{1.items}}", OUTPUTS[1]["items"]),  # a field that is one mapping keeps its type
        # text with embedded mappings is text
        ("Bearer {{1.worker_id}}!", "Bearer wrk_make_acme_prod!"),
        ('{"denied": {{2.data.denied}}, "n": {{1.items[2].qty}}}', '{"denied": true, "n": 5}'),
        ("{{1.tags}}", ["a", "b", "c"]),
        ("tags: {{1.tags}}", "tags: a, b, c"),
        # variables: organization, team, scenario inputs, and the guide's variable.X
        ("{{var.organization.HALL}}/api/route", "http://org/api/route"),
        ("{{var.team.TEAM_ONLY}}", "t"),
        ("{{var.input.limit}}", 3),
        ("{{variable.PYHALL_HALL_URL}}/api/route", "http://guide/api/route"),
        # general functions
        ('{{if(2.data.denied; "blocked"; "go")}}', "blocked"),
        ('{{if(1.blank; "yes"; "no")}}', "no"),
        ('{{ifempty(1.blank; "default")}}', "default"),
        ('{{ifempty(1.nothing; "default")}}', "default"),
        ('{{switch(1.data_label; "public"; 1; "internal"; 2; 3)}}', 2),
        ('{{switch(1.data_label; "x"; 1; 9)}}', 9),
        ('{{get(1.items; "2.name")}}', "ink"),
        ("{{get(1.tags; 3)}}", "c"),
        ('{{omit(2.data; "reason"; "denied")}}', {"decision_id": "d-1"}),
        ('{{pick(2.data; "reason")}}', {"reason": "DENY_POLICY_GATE"}),
        # text functions
        ("{{upper(1.data_label)}}", "INTERNAL"),
        ('{{lower("ABC")}}', "abc"),
        ("{{capitalize(1.data_label)}}", "Internal"),
        ("{{length(1.worker_id)}}", 18),
        ("{{length(1.items)}}", 2),
        ("{{toString(2.data.denied)}}", "true"),
        ("{{toString(2.statusCode)}}", "200"),
        ('{{replace(1.worker_id; "_"; "-")}}', "wrk-make-acme-prod"),  # plain text: every occurrence
        ('{{replace(1.worker_id; "/_/"; "-")}}', "wrk-make_acme_prod"),  # a regex without g: the first
        ('{{replace(1.worker_id; "/_/g"; "-")}}', "wrk-make-acme-prod"),
        ("{{substring(1.worker_id; 0; 3)}}", "wrk"),
        ('{{indexOf(1.worker_id; "make")}}', 4),
        ('{{contains(1.worker_id; "acme")}}', True),
        ('{{split("a,b"; ",")}}', ["a", "b"]),
        ('{{trim("  x ")}}', "x"),
        ('{{md5("abc")}}', "900150983cd24fb0d6963f7d28e17f72"),
        ('{{sha256("abc")}}', "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ('{{base64("hall")}}', "aGFsbA=="),
        ('{{encodeURL("a b&c")}}', "a%20b%26c"),
        # math and operators
        ("{{1.score + 8}}", "428"),  # text + number concatenates, as in JS
        ("{{parseNumber(1.score) + 8}}", 50),
        ("{{1.items[1].qty * 3}}", 6),
        ("{{10 / 4}}", 2.5),
        ("{{round(2.5)}}", 3),
        ("{{floor(2.7)}}", 2),
        ("{{ceil(2.1)}}", 3),
        ("{{max(1; 7; 3)}}", 7),
        ('{{sum(map(1.items; "qty"))}}', 7),
        ("{{average(2; 4)}}", 3),
        ('{{formatNumber(1234.5; 2; "."; ",")}}', "1,234.50"),
        ("{{2.statusCode = 200}}", True),
        ('{{1.data_label != "internal"}}', False),
        ("{{2.statusCode >= 300}}", False),
        ("{{2.data.denied & 2.statusCode = 200}}", True),
        # arrays
        ('{{join(map(1.items; "name"); ", ")}}', "pen, ink"),
        ("{{first(1.tags)}}", "a"),
        ("{{last(1.tags)}}", "c"),
        ("{{slice(1.tags; 1)}}", ["b", "c"]),
        ("{{reverse(1.tags)}}", ["c", "b", "a"]),
        ('{{sort(map(1.items; "qty"); "desc")}}', [5, 2]),
        ('{{add(1.tags; "d")}}', ["a", "b", "c", "d"]),
        ('{{remove(1.tags; "b")}}', ["a", "c"]),
        ('{{deduplicate(split("a,a,b"; ","))}}', ["a", "b"]),
        ("{{keys(2.data)}}", ["denied", "decision_id", "reason"]),
        # dates: moment.js tokens, timezones, arithmetic
        ('{{formatDate(now; "YYYY-MM-DDTHH:mm:ssZ")}}', "2024-05-01T13:04:05+00:00"),
        ("{{formatDate(now; YYYY-MM-DD)}}", "2024-05-01"),  # unquoted text argument, as Make allows
        ('{{formatDate(now; "DD.MM.YYYY HH:mm"; "Europe/Prague")}}', "01.05.2024 15:04"),
        ('{{formatDate(addDays(now; 1); "dddd D MMMM")}}', "Thursday 2 May"),
        ('{{formatDate(now; "X")}}', "1714568645"),
        ('{{formatDate(parseDate("2024-12-25"; "YYYY-MM-DD"); "MMM Do")}}', "Dec 25th"),
        ("{{now}}", NOW),
        ("at {{now}}", "at 2024-05-01T13:04:05.678Z"),
        ("{{timestamp}}", 1714568645),
        # keywords
        ("{{emptystring}}", ""),
        ("{{emptyarray}}", []),
        ("a{{space}}b", "a b"),
    ],
)
def test_mapping_evaluates_like_make(mapping: str, expected: Any) -> None:
    value, warnings = evaluate(mapping)
    assert value == expected
    assert warnings == []


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        # make.md: the parsed JSON is under data, so the guide's {{2.denied}} resolves to empty
        ("{{2.denied}}", "module 2 outputs statusCode, headers, data"),
        ("{{2.data.nope}}", "2.data has denied, decision_id, reason"),
        ("{{1.items[3].name}}", "1.items has 2 item(s) (arrays count from 1)"),
        ("{{1.items[0]}}", "1.items has 2 item(s) (arrays count from 1)"),
        ("{{1.worker_id.x}}", "1.worker_id is text, not a collection"),
        ("{{7.anything}}", "module 7 did not run for this bundle"),
        ("{{var.team.MISSING}}", "no team variable `MISSING` was supplied (supplied: TEAM_ONLY)"),
    ],
)
def test_missing_value_resolves_to_empty_with_a_warning(mapping: str, message: str) -> None:
    value, warnings = evaluate(mapping)
    assert value is None
    [warning] = warnings
    assert warning.expression == mapping
    assert warning.module == 9
    assert message in warning.message


def test_missing_value_in_text_is_empty_text() -> None:
    value, warnings = evaluate("denied={{2.denied}};")
    assert value == "denied=;"
    assert len(warnings) == 1


def test_ifempty_asks_for_a_default_without_a_warning() -> None:
    value, warnings = evaluate('{{ifempty(2.denied; "unknown")}}')
    assert value == "unknown"
    assert warnings == []


def test_if_evaluates_only_the_branch_it_takes() -> None:
    _, warnings = evaluate('{{if(2.data.denied; "x"; 2.nope)}}')
    assert warnings == []


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ("{{frobnicate(1.x)}}", "uses the function `frobnicate`, which hallsim does not support"),
        ("{{http_module.denied}}", "`http_module` is not a module id"),
        ("{{1.x", "opens `{{` without a closing `}}`"),
        ("{{upper(1.x}}", "cannot be read"),
        ("{{hello}}", "neither a mapping, a keyword nor a function call"),
        ("{{1.items[x]}}", "array index must be a number"),
    ],
)
def test_unreadable_mapping_is_an_error_naming_the_expression(mapping: str, problem: str) -> None:
    with pytest.raises(TemplateError) as caught:
        compile_value({"field": mapping})
    assert problem in str(caught.value)
    assert caught.value.expression.startswith("{{")


def test_escaped_quotes_inside_a_mapping_read_as_quotes() -> None:
    # public exports write \" inside mappings in JSON bodies (patterns/webhook-router-error-handler)
    body = '{"seen": "{{formatDate(now; \\"YYYY-MM-DD\\")}}", "who": "{{1.worker_id}}"}'
    value, warnings = evaluate(body)
    assert value == '{"seen": "2024-05-01", "who": "wrk_make_acme_prod"}'
    assert warnings == []


def test_constant_collections_compile_to_themselves() -> None:
    mapper = {"a": 1, "b": ["x", {"c": True}]}
    value, _ = evaluate(mapper)
    assert value == mapper


# ----- the function reference, each with its help-centre example (help.make.com "General functions",
# "Math functions", "Text and binary functions", "Date and time functions", "Array functions")
CONTACTS = [{"name": "Ann", "email": "a@x"}, {"name": "Bob", "email": "b@x"}, {"name": "Ann", "email": "c@x"}]


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # "Mapping arrays": an empty index is the first element
        ("{{1.items[].name}}", "pen"),
        ("{{1.items[]}}", {"name": "pen", "qty": 2}),
        ("{{1.tags[]}}", "a"),
        # "Array functions"
        ("{{length(shuffle(1.tags))}}", 3),
        ("{{sort(shuffle(1.tags))}}", ["a", "b", "c"]),
        ('{{flatten(split("a,b"; ","))}}', ["a", "b"]),
        ('{{toCollection(1.items; "name"; "qty")}}', {"pen": 2, "ink": 5}),
        ("{{arrayDifference(1.tags; slice(1.tags; 1))}}", ["a"]),
        ('{{arrayDifference(1.tags; add(slice(1.tags; 1); "z"); "symmetric")}}', ["a", "z"]),
        ('{{length(distinct(3.contacts; "name"))}}', 2),
        ('{{map(distinct(3.contacts; "name"); "email")}}', ["a@x", "b@x"]),
        ('{{contains(1.tags; "b")}}', True),
        ('{{toArray(pick(2.data; "reason"))}}', [{"key": "reason", "value": "DENY_POLICY_GATE"}]),
        # "Math functions"
        ("{{median(1; 5; 3; 10)}}", 4),
        ("{{trunc(3.789; 1)}}", 3.7),
        ("{{stdevP(2; 4; 4; 4; 5; 5; 7; 9)}}", 2.0),
        ("{{round(stdevS(1; 2; 3; 4); 2)}}", 1.29),
        # "Type coercion": text that is a number counts in math functions; a number reads as text
        ('{{sum("2"; 3; "x")}}', 5),
        ("{{round(1.score)}}", 42),
        ("{{length(2.statusCode)}}", 3),
        ("{{upper(2.data.denied)}}", "TRUE"),
        # "Text and binary functions"
        ('{{escapeMarkdown("*bold*")}}', "\\*bold\\*"),
        ('{{replaceEmojiCharacters("ok 👍"; "")}}', "ok "),
        ('{{toBinary("6869"; "hex")}}', "hi"),
        ('{{toBinary(base64("hall"); "base64")}}', "hall"),
        ('{{ascii("Ěšá x")}}', " x"),
        ('{{stripHTML("<b>bold</b>")}}', "bold"),
        ('{{escapeHTML("<b>")}}', "&lt;b&gt;"),
        ('{{startcase("hello world")}}', "Hello World"),
        ('{{decodeURL("a%20b")}}', "a b"),
        ('{{sha1("abc")}}', "a9993e364706816aba3e25717850c26c9cd0d89d"),
        # "Date and time functions"
        ('{{formatDate(setHour(now; 5); "HH:mm")}}', "05:04"),
        ('{{formatDate(setMinute(now; 30); "HH:mm")}}', "13:30"),
        ('{{formatDate(setSecond(now; 59); "ss")}}', "59"),
        ('{{formatDate(setDay(now; "monday"); "YYYY-MM-DD")}}', "2024-04-29"),
        ('{{formatDate(setDay(now; 7); "dddd")}}', "Saturday"),
        ('{{formatDate(setDate(now; 31); "YYYY-MM-DD")}}', "2024-05-31"),
        ('{{formatDate(setMonth(now; "december"); "YYYY-MM-DD")}}', "2024-12-01"),
        ('{{formatDate(setYear(now; 2030); "YYYY")}}', "2030"),
        ('{{dateDifference(addDays(now; 2); now; "days")}}', 2),
        ('{{dateDifference(addHours(now; 1); now; "minutes")}}', 60),
        ('{{formatDate(addMonths(now; 1); "YYYY-MM-DD")}}', "2024-06-01"),
        ('{{formatDate(addYears(now; 1); "YYYY")}}', "2025"),
        ('{{formatDate(addMinutes(now; 10); "HH:mm")}}', "13:14"),
        ('{{formatDate(addSeconds(now; 10); "ss")}}', "15"),
        # "General functions"
        ("{{if(1 = 1; A; B)}}", "A"),
        ("{{if(1 = 2; A; B)}}", "B"),
        ("{{ifempty(emptystring; B)}}", "B"),
        ('{{switch("B"; "A"; 1; "B"; 2; "C"; 3; 4)}}', 2),
        ("{{get(1.items; 2)}}", {"name": "ink", "qty": 5}),
    ],
)
def test_function_reference_examples(mapping: str, expected: Any) -> None:
    outputs = {**OUTPUTS, 3: {"contacts": CONTACTS}}
    value, warnings = evaluate(mapping, outputs)
    assert value == expected
    assert warnings == []


SYSTEM = {
    "executionId": "d61a793c6b044af2af2d9bac4bc1ec41",
    "scenario.id": 91503,
    "scenario.name": "Gate",
    "team.id": 7,
    "organization.name": "Acme",
}


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # help.make.com "System variables"
        ("{{executionId}}", "d61a793c6b044af2af2d9bac4bc1ec41"),
        (
            "run {{executionId}} of {{scenario.name}} ({{scenario.id}})",
            "run d61a793c6b044af2af2d9bac4bc1ec41 of Gate (91503)",
        ),
        ("{{team.id}}", 7),
        ("{{organization.name}}", "Acme"),
        ("{{operationsConsumed}}", 4),
        ("{{execution.operationsConsumed + 1}}", 5),
    ],
)
def test_system_variables(mapping: str, expected: Any) -> None:
    warnings: list[MappingWarning] = []
    env = Env(OUTPUTS, VARIABLES, NOW, warnings.append, system=SYSTEM, operations=4)
    assert compile_value(mapping).eval(env) == expected
    assert warnings == []


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # arguments are read by the expression scanner: `;` and `)` inside a string do not split
        ("{{if(true; 'a;b'; 'c')}}", "a;b"),
        ("{{if(false; 'a)b'; 'c')}}", "c"),
        ("{{if(true; 'a)b'; 'c')}}", "a)b"),
        ('{{join(split("x;y"; ";"); "|")}}', "x|y"),
    ],
)
def test_function_arguments_are_scanned_like_values(mapping: str, expected: Any) -> None:
    value, warnings = evaluate(mapping)
    assert value == expected
    assert warnings == []
