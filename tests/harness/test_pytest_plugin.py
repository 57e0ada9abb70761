"""The pytest plugin, driven with pytester: collection, failure reports, JUnit, xdist, fixtures."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET

import pytest

from .conftest import GATE_IGNORE, OPTION_A

PASSING = f"""
workflow: {OPTION_A}
hall: deny
expect:
  outcome: exited
  protected_ran: false
"""
FAILING = f"""
workflow: {OPTION_A}
hall: deny
expect:
  outcome: completed
  steps:
    pyhall_gate: {{exports: {{denied: false}}}}
"""


def test_scenario_files_are_collected_and_other_yaml_is_not(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", deny=PASSING)
    pytester.makefile(".scenario.yml", other=PASSING)
    pytester.makefile(".yaml", workflow="steps: []\n", config="not: a scenario\n")
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["deny.scenario.yaml::deny", "other.scenario.yml::other", "*2 tests collected*"]
    )
    assert "workflow.yaml" not in result.stdout.str()


def test_a_passing_and_a_failing_scenario(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", good=PASSING, bad=FAILING)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    # the failure is the expected-vs-actual report, then the trace; no Python traceback
    result.stdout.fnmatch_lines(
        [
            "*bad.scenario.yaml: the workflow's sample event",
            "expect.outcome:",
            "    expected: completed",
            '    actual:   "exited"',
            "expect.steps.pyhall_gate.exports.denied:",
            "    expected: false",
            "    actual:   true",
            "--- run trace ---",
        ]
    )
    assert "runner.py" not in result.stdout.str()


def test_a_broken_scenario_is_a_collection_error_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".scenario.yaml", broken=f"workflow: {OPTION_A}\nhall: deny\nexpect:\n  outcomes: exited\n"
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*broken.scenario.yaml:4: expect.outcomes: unknown field; expected one of: outcome*"]
    )


def test_junit_lists_each_scenario(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", one=PASSING, two=FAILING)
    pins = f"workflow: {OPTION_A}\nhall: missing-denied\npins_fail_open: true\nnote: known\nexpect: {{}}\n"
    pytester.makefile(".scenario.yaml", three=pins)
    result = pytester.runpytest("--junitxml=report.xml")
    result.assert_outcomes(passed=2, failed=1)
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    found = {case.get("name"): case for case in cases}
    assert set(found) == {"one", "two", "three"}
    assert found["two"].find("failure") is not None
    properties = {p.get("name"): p.get("value") for p in found["three"].iter("property")}
    assert properties["pins_fail_open"] == "1"
    assert properties["workflow"] == str(OPTION_A)


def test_a_pinned_fail_open_pass_is_listed_in_the_summary(pytester: pytest.Pytester) -> None:
    pins = f"workflow: {OPTION_A}\nhall: missing-denied\npins_fail_open: true\nnote: known\nexpect: {{}}\n"
    pytester.makefile(".scenario.yaml", pinned=pins, plain=PASSING)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*hallsim: scenarios that pass by pinning a fail-open gate*",
            "pinned.scenario.yaml::pinned: 1 run(s) fail open, pinned on purpose (pins_fail_open)",
        ]
    )
    assert "plain.scenario.yaml::plain:" not in result.stdout.str()


def test_generated_events_option(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", deny=PASSING.replace("  outcome: exited\n", ""))
    result = pytester.runpytest("--hallsim-events", "5", "--hallsim-seed", "9", "--junitxml=report.xml")
    result.assert_outcomes(passed=1)
    (case,) = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    assert {p.get("name"): p.get("value") for p in case.iter("property")}["runs"] == "5"


def test_works_with_xdist(pytester: pytest.Pytester) -> None:
    for index in range(4):
        pytester.makefile(".scenario.yaml", **{f"s{index}": PASSING})
    pytester.makefile(".scenario.yaml", bad=FAILING)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*expect.outcome:*"])


def test_fixtures_for_python_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import httpx

            def test_emulator_is_reset_between_tests(hall_emulator):
                assert hall_emulator.journal() == []
                hall_emulator.set_default("deny")

            def test_default_is_allow_again(hall_emulator):
                assert hall_emulator.default.kind == "allow"

            def test_run_workflow(run_workflow, hall_emulator):
                run = run_workflow({str(OPTION_A)!r}, hall="deny")
                assert run.outcome == "exited" and not run.protected_ran
                assert len(hall_emulator.journal()) == 1

            def test_replay_blueprint(replay_blueprint):
                run = replay_blueprint({str(GATE_IGNORE)!r}, hall="http-500")
                assert run.platform == "make" and run.outcome == "success" and not run.protected_ran

            def test_replay_blueprint_refuses_pipedream(replay_blueprint):
                import pytest
                from hallsim.harness import InputError
                with pytest.raises(InputError, match="replay_blueprint takes Make blueprints"):
                    replay_blueprint({str(OPTION_A)!r})

            def test_audit_sink_records_the_audit_step(run_workflow, audit_sink):
                sink = {{"sink_url": audit_sink.base_url}}
                run = run_workflow({str(OPTION_A)!r}, hall="allow", settings=sink)
                assert run.protected_ran
                (record,) = audit_sink.records
                assert record["decision_id"] == run.to_json()["steps"][0]["exports"]["decision_id"]

            def test_audit_sink_directly(audit_sink):
                httpx.post(audit_sink.url, json={{"decision_id": "d"}})
                assert audit_sink.records == [{{"decision_id": "d"}}]
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=7)
