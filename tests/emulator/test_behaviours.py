"""Behaviour spec strings and mappings: one syntax for the CLI, scripts, Python and the admin API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hallsim.emulator import MATRIX_BEHAVIOURS, Behaviour, ScriptError, catalogue, parse_behaviour
from hallsim.emulator.behaviours import DEFAULT_DENY_REASON


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("allow", Behaviour("allow")),
        ("deny", Behaviour("deny", reason=DEFAULT_DENY_REASON)),
        ("deny:RESTRICTED: needs a human", Behaviour("deny", reason="RESTRICTED: needs a human")),
        ("http-503", Behaviour("http", status=503)),
        ("http-500:oops, <b>down</b>", Behaviour("http", status=500, body="oops, <b>down</b>")),
        ("timeout", Behaviour("timeout")),
        ("slow:2.5", Behaviour("slow", delay=2.5, then=Behaviour("allow"))),
        ("slow:12:deny:late", Behaviour("slow", delay=12.0, then=Behaviour("deny", reason="late"))),
        ("malformed-json", Behaviour("malformed-json")),
        ("empty-body", Behaviour("empty-body")),
        ("missing-denied", Behaviour("missing-denied")),
        ("denied-as-string", Behaviour("denied-as-string", value="false")),
        ("denied-as-string:true", Behaviour("denied-as-string", value="true")),
        ("reset", Behaviour("reset")),
        ("close", Behaviour("close")),
        ("  allow  ", Behaviour("allow")),
    ],
)
def test_spec_strings(spec: str, expected: Behaviour) -> None:
    assert parse_behaviour(spec) == expected


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"behaviour": "deny", "reason": "why"}, Behaviour("deny", reason="why")),
        (
            {
                "behaviour": "allow",
                "decision_id": "d-1",
                "artifact_hash": "ab",
                "selected_worker_species_id": "w",
            },
            Behaviour("allow", decision_id="d-1", artifact_hash="ab", selected_worker_species_id="w"),
        ),
        (
            {"behaviour": "slow", "delay": 3, "then": "http-503"},
            Behaviour("slow", delay=3.0, then=Behaviour("http", status=503)),
        ),
        (
            {"behaviour": "http-429", "json": {"retry": True}, "headers": {"Retry-After": 5}},
            Behaviour("http", status=429, json_body='{"retry": true}', headers=(("Retry-After", "5"),)),
        ),
        ({"behaviour": "denied-as-string", "value": True}, Behaviour("denied-as-string", value="true")),
    ],
)
def test_mapping_form(mapping: dict[str, Any], expected: Behaviour) -> None:
    assert parse_behaviour(mapping) == expected
    # a JSON object given as a string is the same mapping form (the CLI's way to fix decision fields)
    assert parse_behaviour(json.dumps(mapping)) == expected


def test_a_decision_can_be_fixed_to_exactly_a_recorded_one() -> None:
    recorded = {
        "behaviour": "deny",
        "decision_id": "3f8e2d1c-0000-4000-8000-000000000000",
        "artifact_hash": "0" * 64,
        "reason": "DENY_REQUIRES_HUMAN_APPROVAL",
        "selected_worker_species_id": "wrk.data.write",
    }
    behaviour = parse_behaviour(recorded)
    assert behaviour.to_mapping() == recorded


@pytest.mark.parametrize(
    "spec",
    [
        *MATRIX_BEHAVIOURS,
        "deny",
        "slow:0.5:denied-as-string:true",
        "http-418:I'm a teapot",
        '{"behaviour": "allow", "decision_id": "x"}',
        '{"behaviour": "slow", "delay": 1, "then": {"behaviour": "deny", "decision_id": "y"}}',
    ],
)
def test_spec_round_trips(spec: str) -> None:
    behaviour = parse_behaviour(spec)
    assert parse_behaviour(behaviour.spec) == behaviour
    assert parse_behaviour(behaviour.to_mapping()) == behaviour


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("denyy", "unknown behaviour 'denyy'"),
        ("http", "unknown behaviour 'http'"),
        ("http-abc", "status from 200 to 599"),
        ("http-99", "status from 200 to 599"),
        ("http-600", "status from 200 to 599"),
        ("slow", "needs a delay"),
        ("slow:soon", "expected a delay in seconds"),
        ("slow:-1", "expected a delay in seconds"),
        ("slow:nan", "expected a delay in seconds"),
        ("slow:1:nope", "unknown behaviour 'nope'"),
        ("denied-as-string:maybe", "expected `true` or `false`"),
        ("timeout:5", "takes no argument"),
        ("{not json", "not JSON"),
        ({"reason": "x"}, "needs `behaviour: NAME`"),
        ({"behaviour": "allow", "reason": "x"}, "unknown parameter(s) reason"),
        ({"behaviour": "http-500", "body": "a", "json": {}}, "not both"),
        ({"behaviour": "deny", "decision_id": 5}, "expected a string"),
        (42, "expected a spec string"),
        ({"behaviour": "http-502", "headers": {"Content-Length": "5"}}, "the emulator sets it"),
        ({"behaviour": "http-502", "headers": {"Retry After": "5"}}, "expected an HTTP header name"),
        ({"behaviour": "http-502", "headers": {"X-A": "1\r\nX-B: 2"}}, "expected one line of ASCII text"),
    ],
)
def test_bad_behaviours_say_what_was_expected(spec: Any, message: str) -> None:
    with pytest.raises(ScriptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_behaviour(spec)


def test_an_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ScriptError) as caught:
        parse_behaviour("reste")
    for usage in (
        "allow",
        "deny[:REASON]",
        "http-STATUS[:TEXT]",
        "timeout",
        "reset",
        "close",
        "slow:SECONDS",
    ):
        assert usage in str(caught.value)


def test_catalogue_has_one_line_per_behaviour() -> None:
    infos = catalogue()
    names = [info.name for info in infos]
    assert names == [
        "allow",
        "deny",
        "http-<status>",
        "timeout",
        "slow",
        "malformed-json",
        "empty-body",
        "missing-denied",
        "denied-as-string",
        "reset",
        "close",
        "policy",
    ]
    assert all(info.summary and "\n" not in info.summary for info in infos)
    assert "decision_id" in next(i for i in infos if i.name == "allow").parameters


@pytest.mark.parametrize(
    ("spec", "waits"),
    [
        ("timeout", True),
        ("slow:15", True),
        ("slow:0.5:deny", True),
        ('{"behaviour": "slow", "delay": 2}', True),
        ("allow", False),
        ("deny", False),
        ("http-504", False),
        ("reset", False),
        ("close", False),
    ],
)
def test_a_behaviour_says_whether_its_answer_waits(spec: str, waits: bool) -> None:
    # the matrix runs a row that only waits beside the rows that work (harness/matrix.py)
    assert parse_behaviour(spec).waits is waits


def test_matrix_behaviours_cover_every_distinct_failure() -> None:
    kinds = [parse_behaviour(spec) for spec in MATRIX_BEHAVIOURS]
    assert len(set(MATRIX_BEHAVIOURS)) == len(MATRIX_BEHAVIOURS)
    statuses = {b.status for b in kinds if b.kind == "http"}
    assert {400, 401, 403, 404, 429, 500, 502, 503, 504} <= statuses
    assert any(b.kind == "http" and b.body for b in kinds), "a non-JSON error body"
    slow = next(b for b in kinds if b.kind == "slow")
    # past Make's 10 s module timeout, under Pipedream's 30 s default (make.md, pipedream.md)
    assert slow.delay is not None
    assert 10 < slow.delay < 30
    assert {b.value for b in kinds if b.kind == "denied-as-string"} == {"true", "false"}
    expected = {
        "allow",
        "deny",
        "timeout",
        "malformed-json",
        "empty-body",
        "missing-denied",
        "reset",
        "close",
    }
    assert expected <= {b.kind for b in kinds}


def test_cached_answers_keep_each_behaviours_own_fields(hall: Any, http: Any) -> None:
    """The same body answered by behaviours with and without fixed decision fields, in both orders: each
    answer has its own hash, reason and a fresh id (answers are encoded once per body and behaviour)."""
    from hallsim.emulator import GUIDE_REQUEST, artifact_hash

    fixed = {"behaviour": "allow", "artifact_hash": "f" * 64}
    hall.set_rules([{"respond": [fixed, "allow", "deny:first", "deny:second", "allow"], "after": "last"}])
    answers = [http.post("/api/route", json=GUIDE_REQUEST).json() for _ in range(6)]
    assert [a["artifact_hash"] for a in answers] == ["f" * 64] + [artifact_hash(GUIDE_REQUEST)] * 5
    assert [a.get("reason") for a in answers] == [None, None, "first", "second", None, None]
    assert len({a["decision_id"] for a in answers}) == 6
    assert [e.decision["decision_id"] for e in hall.journal()] == [a["decision_id"] for a in answers]
