"""Checking a run against expectations, and how a mismatch reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from hallsim.emulator.journal import JournalEntry
from hallsim.harness.expectations import MISSING, check_run, match, matcher_problem, render_failure
from hallsim.harness.record import AuditWrite, Execution, RouteDecision, RunRecord, UnitResult
from hallsim.harness.scenario import Expectations

from .records import entry, hall_call, record

DECISION = {"decision_id": "d-1", "denied": True, "artifact_hash": "abc", "reason": "nope"}
REQUEST = {"capability_id": "cap.data.write.v1", "worker_id": "wrk_a", "data_label": "RESTRICTED"}
JOURNAL = [entry(200, DECISION, request=REQUEST)]
STEPS = (
    UnitResult("step", "pyhall_gate", True, status="exited", exports={"denied": True, "decision_id": "d-1"}),
    UnitResult("step", "write", False, protected=True, status="not_run", exports={}),
)
SINK = AuditWrite("sink", {"decision_id": "d-1", "artifact_hash": "abc", "denied": True})


def pipedream_run(
    journal: Sequence[JournalEntry] = JOURNAL, audit: Sequence[AuditWrite] = (SINK,)
) -> RunRecord:
    timeline = [hall_call("pyhall_gate"), Execution("step", "pyhall_gate", False)]
    return record("pipedream", timeline, journal, units=STEPS, outcome="exited", audit=audit)


@pytest.mark.parametrize(
    ("expected", "actual", "ok"),
    [
        (True, True, True),
        (True, 1, False),  # a boolean never equals a number
        (False, "false", False),  # nor a string
        (1, 1.0, True),
        ({"a": 1}, {"a": 1, "b": 2}, True),  # mappings: listed keys only
        ({"a": 1}, {"b": 2}, False),
        ([1, 2], [1, 2, 3], False),  # lists: whole
        (None, None, True),
        (None, MISSING, False),  # null is not absent
        ({"$absent": True}, MISSING, True),
        ({"$absent": True}, None, False),
        ({"$present": True}, None, True),
        ({"$type": "string"}, "x", True),
        ({"$type": "number"}, True, False),
        ({"$regex": "^hall_server_error: HTTP 5"}, "hall_server_error: HTTP 503", True),
        ({"$one_of": [True, "true"]}, "true", True),
        ({"$not": None}, "x", True),
        ({"$hall": "decision_id"}, "d-1", True),
        ({"$hall": "decision_id"}, "d-2", False),
    ],
)
def test_match_semantics(expected: Any, actual: Any, ok: bool) -> None:
    assert (match(expected, actual, "x", DECISION) == []) is ok


def test_hall_matcher_says_when_no_decision_was_issued() -> None:
    (mismatch,) = match({"$hall": "decision_id"}, None, "x", None)
    assert "issued no decision" in mismatch.expected


@pytest.mark.parametrize("bad", [{"$present": False}, {"$type": "str"}, {"$regex": "("}, {"$a": 1, "$b": 2}])
def test_bad_matchers_are_named(bad: dict) -> None:
    assert matcher_problem(bad)


def test_a_run_meeting_its_expectations_has_no_mismatch() -> None:
    expect = Expectations.model_validate(
        {
            "outcome": ["exited", "completed"],
            "protected_ran": False,
            "steps": {
                "pyhall_gate": {
                    "status": "exited",
                    "exports": {"denied": True, "decision_id": {"$hall": "decision_id"}},
                },
                "write": {"status": "not_run"},
            },
            "hall_calls": {
                "count": 1,
                "with": {"data_label": "RESTRICTED", "worker_id": {"$regex": "^wrk_"}},
            },
            "audit": {"count": 1, "matches_decision": True, "fields": {"denied": True}},
        }
    )
    assert check_run(expect, pipedream_run()) == []


def test_each_unmet_expectation_is_reported_expected_against_actual() -> None:
    expect = Expectations.model_validate(
        {
            "outcome": ["completed"],
            "protected_ran": True,
            "steps": {
                "pyhall_gate": {"exports": {"denied": False, "reason": "x"}},
                "audit": {"status": "success"},
            },
            "hall_calls": 2,
        }
    )
    mismatches = check_run(expect, pipedream_run())
    where = [m.where for m in mismatches]
    assert where == [
        "expect.outcome",
        "expect.protected_ran",
        "expect.steps.pyhall_gate.exports.denied",
        "expect.steps.pyhall_gate.exports.reason",
        "expect.steps.audit",
        "expect.hall_calls.count",
    ]
    text = render_failure(mismatches, title="scenario x", trace="TRACE")
    assert "expect.steps.pyhall_gate.exports.denied:\n    expected: false\n    actual:   true" in text
    assert 'expected: "x"\n    actual:   (absent)' in text
    assert "steps are pyhall_gate, write" in text
    assert text.endswith("--- run trace ---\nTRACE")


def test_audit_record_must_carry_the_decision_the_hall_issued() -> None:
    run = pipedream_run(audit=[AuditWrite("sink", {"decision_id": "forged", "artifact_hash": "abc"})])
    expect = Expectations.model_validate({"audit": {"matches_decision": True}})
    (mismatch,) = check_run(expect, run)
    assert mismatch.where == "expect.audit[0].decision_id"
    assert mismatch.actual == '"forged"'
    assert '"d-1"' in mismatch.expected


def test_each_audit_record_is_held_to_the_decision_it_names() -> None:
    # two gate calls (two bundles): each record carries its own decision; a swapped hash is still caught
    second = {"decision_id": "d-2", "denied": False, "artifact_hash": "def"}
    journal = [*JOURNAL, entry(200, second, request=REQUEST, seq=2)]
    records = [{"decision_id": "d-1", "artifact_hash": "abc"}, {"decision_id": "d-2", "artifact_hash": "def"}]
    run = pipedream_run(journal, [AuditWrite("sink", r) for r in records])
    expect = Expectations.model_validate({"audit": {"count": 2, "matches_decision": True}})
    assert check_run(expect, run) == []
    swapped = pipedream_run(journal, [AuditWrite("sink", {"decision_id": "d-1", "artifact_hash": "def"})])
    (mismatch,) = check_run(Expectations.model_validate({"audit": {"matches_decision": True}}), swapped)
    assert mismatch.where == "expect.audit[0].artifact_hash"
    assert '"abc"' in mismatch.expected


def test_make_run_modules_routes_and_status() -> None:
    run = record(
        "make",
        [RouteDecision(1, 3, 1, "Allowed", True, "filter passed")],
        units=[
            UnitResult("module", "2", True, executions=1, output={"statusCode": 200}),
            UnitResult("module", "4", False, protected=False),
            UnitResult("module", "5", True, protected=True, executions=1, output={}),
        ],
        outcome="success",
    )
    expect = Expectations.model_validate(
        {
            "status": "success",
            "modules": {"2": {"output": {"statusCode": 200}}, "4": {"executed": True}},
            "routes": [["Denied"]],
        }
    )
    assert [m.where for m in check_run(expect, run)] == ["expect.modules.4.executed", "expect.routes"]
