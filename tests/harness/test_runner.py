"""Running scenarios against the real emulator and the real Pipedream and Make engines."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallsim.emulator import HallEmulator
from hallsim.harness.expectations import ExpectationFailure
from hallsim.harness.runner import run_scenario
from hallsim.harness.scenario import load_scenario

from .conftest import ROOT, WriteScenario


def test_a_passing_scenario_runs_once_and_passes(hall: HallEmulator, write_scenario: WriteScenario) -> None:
    path = write_scenario(
        """
        workflow: {option_a}
        hall: deny
        expect:
          outcome: exited
          protected_ran: false
          steps:
            pyhall_gate: {{status: exited, exports: {{denied: true, decision_id: {{$hall: decision_id}}}}}}
        """
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert result.passed, result.report()
    assert result.status == "passed"
    assert len(result.runs) == 1
    assert result.runs[0].record is not None
    assert result.runs[0].record.outcome == "exited"
    assert result.report() == ""


def test_a_failing_scenario_reports_expected_against_actual_with_the_trace(
    hall: HallEmulator, write_scenario: WriteScenario
) -> None:
    path = write_scenario(
        """
        workflow: {option_a}
        hall: deny
        expect:
          outcome: completed
          steps:
            pyhall_gate: {{exports: {{denied: false}}}}
        """
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert result.status == "failed"
    report = result.report()
    assert 'expect.outcome:\n    expected: completed\n    actual:   "exited"' in report
    assert "expect.steps.pyhall_gate.exports.denied:\n    expected: false\n    actual:   true" in report
    assert "--- run trace ---" in report
    assert "pyhall_gate" in report.split("--- run trace ---")[1]
    with pytest.raises(ExpectationFailure) as info:
        result.raise_for_failure()
    assert isinstance(info.value, AssertionError)
    assert [m.where for m in info.value.mismatches] == [
        "expect.outcome",
        "expect.steps.pyhall_gate.exports.denied",
    ]


def test_a_fail_open_run_fails_the_scenario_unless_it_is_pinned(
    hall: HallEmulator, write_scenario: WriteScenario
) -> None:
    # Option A runs the write on a 200 without `denied` (docs/matrix.md)
    unpinned = write_scenario("workflow: {option_a}\nhall: missing-denied\nexpect: {{protected_ran: true}}\n")
    result = run_scenario(load_scenario(unpinned), emulator=hall)
    assert not result.passed
    (mismatch,) = result.runs[0].mismatches
    assert mismatch.where == "fail-closed rule"
    assert "answered 200 without a `denied` field" in mismatch.actual
    assert "pins_fail_open: true" in mismatch.actual

    pinned = write_scenario(
        "workflow: {option_a}\nhall: missing-denied\npins_fail_open: true\nnote: known\n"
        "expect: {{protected_ran: true}}\n",
        "pinned.scenario.yaml",
    )
    result = run_scenario(load_scenario(pinned), emulator=hall)
    assert result.passed, result.report()
    assert result.fail_open_runs == 1


def test_a_pin_that_no_longer_fails_open_fails(hall: HallEmulator, write_scenario: WriteScenario) -> None:
    path = write_scenario(
        "workflow: {option_a}\nhall: deny\npins_fail_open: true\nnote: stale\nexpect: {{}}\n"
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert not result.passed
    (problem,) = result.problems
    assert problem.where == "pins_fail_open"
    assert "remove `pins_fail_open`" in problem.actual


def test_generated_events_run_once_each_and_failures_name_the_event(
    hall: HallEmulator, write_scenario: WriteScenario
) -> None:
    # under `allow`, events the Hall refuses (422) end in the gate's fail-closed branch: not all complete
    path = write_scenario(
        "workflow: {option_a}\nhall: allow\nevents: {{count: 9, seed: 3}}\nexpect: {{outcome: completed}}\n"
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert len(result.runs) == 9
    failed = [r for r in result.runs if not r.passed]
    assert failed
    assert all(r.label.startswith("event ") and "(" in r.label for r in failed)
    assert "event: " in result.report()
    assert {r.record.outcome for r in failed if r.record} == {"exited"}


def test_hall_script_and_inline_rules(hall: HallEmulator, write_scenario: WriteScenario) -> None:
    path = write_scenario(
        """
        workflow: {option_a}
        event: {{worker_id: wrk_x, data_label: RESTRICTED}}
        hall:
          rules:
            - match: {{data_label: RESTRICTED}}
              respond: "deny:needs approval"
          default: allow
        expect:
          steps: {{pyhall_gate: {{exports: {{denied: true, reason: needs approval}}}}}}
          hall_calls: {{count: 1, with: {{worker_id: wrk_x}}}}
        """
    )
    assert run_scenario(load_scenario(path), emulator=hall).passed
    script = load_scenario(ROOT / "scenarios/pipedream/inline_option_a.restricted.scenario.yaml")
    assert run_scenario(script, emulator=hall).passed


def test_make_scenario_routes_modules_and_audit(hall: HallEmulator, write_scenario: WriteScenario) -> None:
    path = write_scenario(
        """
        workflow: {gate_ignore}
        hall: allow
        expect:
          status: success
          routes: [Allowed]
          modules: {{2: {{output: {{data: {{decision_id: {{$hall: decision_id}}}}}}}}, 4: {{executed: true}}}}
          audit: {{count: 1, matches_decision: true}}
        """
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    # the guide's audit row maps {{2.decision_id}}, which is empty (docs/matrix.md): the record does not match
    assert [m.where for m in result.runs[0].mismatches] == [
        "expect.audit[0].decision_id",
        "expect.audit[0].artifact_hash",
    ]
    assert "the decision_id the Hall issued" in result.runs[0].mismatches[0].expected


def test_a_run_the_harness_refuses_is_an_error_not_a_crash(
    hall: HallEmulator, write_scenario: WriteScenario
) -> None:
    path = write_scenario(
        "workflow: {option_a}\nhall: allow\nsettings: {{no_such_setting: 1}}\nexpect: {{}}\n"
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert result.status == "error"
    assert "no_such_setting" in (result.runs[0].error or "")
    assert "no_such_setting" in result.report()


def test_every_scenario_in_the_repository_loads() -> None:
    paths = sorted((ROOT / "scenarios").rglob("*.scenario.yaml"))
    assert len(paths) >= 30
    for path in paths:
        assert isinstance(load_scenario(path).workflow, Path)
