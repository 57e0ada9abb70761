"""Verdicts for a whole gate: a broken gate or a harness failure is never green, and every exit status says
which of fail-open, broken and could-not-run it was."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from hallsim.cli import cli
from hallsim.emulator import HallEmulator
from hallsim.harness.record import Execution, UnitResult
from hallsim.harness.runner import run_scenario
from hallsim.harness.scenario import load_scenario
from hallsim.harness.verdict import exit_status, judge_run, overall_line, parse_fail_on

from .conftest import GATE_IGNORE, OPTION_A, PIPEDREAM, WriteScenario
from .records import entry, hall_call, record

ROOT = Path(__file__).resolve().parents[2]
BREAK = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"
COMPONENT = PIPEDREAM / "component.yaml"
ALLOW = {"decision_id": "d1", "denied": False, "selected_worker_species_id": "s", "artifact_hash": "h"}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("verdicts", "fail_on", "status"),
    [
        (["fail-closed"], None, 0),
        (["fail-closed", "fail-open", "broken"], None, 1),
        (["broken", "fail-closed"], None, 3),
        (["error", "broken"], None, 2),
        (["broken"], "fail-open", 0),  # --fail-on fail-open: a broken gate does not fail the job
        (["fail-open", "broken"], "broken", 3),
        (["fail-open"], "none", 0),
    ],
)
def test_exit_status_is_the_worst_verdict_fail_on_names(
    verdicts: list[str], fail_on: str | None, status: int
) -> None:
    chosen = parse_fail_on(fail_on) if fail_on is not None else parse_fail_on("all")
    assert exit_status(verdicts, chosen) == status  # type: ignore[arg-type]


def test_fail_on_names_only_known_verdicts() -> None:
    with pytest.raises(ValueError, match="fail-closed: expected a comma-separated list of fail-open"):
        parse_fail_on("fail-open,fail-closed")


def test_one_answer_for_all_gates() -> None:
    verdicts = ["fail-open", "fail-open", "broken", "fail-closed", "fail-closed", "fail-closed"]
    assert overall_line(verdicts) == "2 of 6 gates fail open, 1 is broken, 3 fail closed"  # type: ignore[arg-type]
    assert overall_line(["fail-closed"]) == "1 of 1 gate fails closed"


def test_an_emulator_exception_makes_the_run_an_error_never_fail_closed() -> None:
    failed = entry(None, fault="server_stopped")
    # the emulator records the exception it raised while answering (JournalEntry.emulator_error)
    failed.emulator_error = "RuntimeError: boom"
    timeline = [hall_call("gate", received=False), Execution("step", "gate", False)]
    units = [UnitResult("step", "gate", True, status="error"), UnitResult("step", "write", False, True)]
    run = record("pipedream", timeline, [failed], units=units, outcome="errored")
    judged = judge_run(run)
    assert judged.verdict == "error"
    assert judged.gate == "error"
    assert "RuntimeError: boom" in judged.errors[0]


def test_a_good_allow_the_gate_blocks_is_broken() -> None:
    timeline = [hall_call("gate"), Execution("step", "gate", False)]
    units = [
        UnitResult("step", "gate", True, status="exited", exit_reason="no"),
        UnitResult("step", "write", False, True),
    ]
    judged = judge_run(record("pipedream", timeline, [entry(200, ALLOW)], units=units, outcome="exited"))
    assert (judged.verdict, judged.gate) == ("blocked on a good allow", "broken")
    assert judged.cause is not None
    assert judged.cause.unit == "step gate"


# --- the three useless gates of the issue, as a user runs them ---


def test_the_component_that_never_reaches_the_hall_is_broken_with_its_cause() -> None:
    code, out = invoke("matrix", str(COMPONENT), "--behaviour", "allow", "--behaviour", "deny", "--quiet")
    assert code == 3, out
    assert out.splitlines() == [
        f"{COMPONENT}: IS BROKEN (2 fail-closed): the gate never called the Hall on the allow row",
        "1 of 1 gate is broken",
    ]
    code, out = invoke("matrix", str(COMPONENT), "--behaviour", "allow", "--json")
    cause = json.loads(out)["workflows"][0]["causes"][0]
    assert cause["unit"] == "step pyhall_gate"
    assert cause["expression"] == "process.env"
    assert "props" in cause["change"]


def test_a_gate_that_blocks_every_good_allow_is_broken() -> None:
    args = ["matrix", str(BREAK), "--set", "make.filter.boolean_coercion=strict", "--behaviour", "allow"]
    code, out = invoke(*args)
    assert code == 3, out
    text = " ".join(out.split())
    assert "IS BROKEN (1 blocked on a good allow)" in text
    assert "map `{{2.data.denied}}`" in text
    # --fail-on chooses which verdicts fail the job
    code, _ = invoke(*args, "--fail-on", "fail-open")
    assert code == 0


def test_json_has_one_shape_for_one_and_many_gates() -> None:
    _, one = invoke("matrix", str(OPTION_A), "--behaviour", "allow", "--json")
    _, two = invoke("matrix", str(OPTION_A), str(GATE_IGNORE), "--behaviour", "allow", "--json")
    one_data, two_data = json.loads(one), json.loads(two)
    keys = {"summary", "exit_status", "fail_on", "verdicts", "fail_open", "workflows"}
    assert set(one_data) == set(two_data) == keys
    assert len(one_data["workflows"]) == 1
    assert len(two_data["workflows"]) == 2
    assert set(one_data["workflows"][0]) == set(two_data["workflows"][1])
    assert one_data["summary"] == "1 of 1 gate fails closed"


def test_causes_are_grouped_once_per_distinct_cause() -> None:
    rows = [a for b in ("allow", "deny", "missing-denied", "empty-body") for a in ("--behaviour", b)]
    code, out = invoke("matrix", str(GATE_IGNORE), *rows, "--json")
    assert code == 1
    (causes,) = [w["causes"] for w in json.loads(out)["workflows"]]
    assert [(c["verdict"], c["behaviours"], c["expression"]) for c in causes] == [
        ("FAIL-OPEN", ["deny", "missing-denied", "empty-body"], "{{2.denied}}")
    ]


def test_an_80_column_table_cuts_no_behaviour_name() -> None:
    from hallsim.emulator import MATRIX_BEHAVIOURS

    env = {**os.environ, "COLUMNS": "80"}
    result = CliRunner(env=env).invoke(cli, ["matrix", str(OPTION_A)], terminal_width=80)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    for spec in MATRIX_BEHAVIOURS:
        shown = spec if len(spec) <= 22 else spec.split(":")[0] + ":"
        assert any(line.lstrip().startswith(shown) for line in lines), spec
    assert result.output.count("UNCONFIRMED platform choices used") == 1
    assert "ran: the protected action ran" in result.output  # the legend


def test_replay_json_carries_the_verdict_and_opt_in_exit_status() -> None:
    code, out = invoke("replay", str(GATE_IGNORE), "--hall", "deny", "--json")
    assert code == 0
    verdict = json.loads(out)["verdict"]
    assert verdict["verdict"] == "FAIL-OPEN"
    assert verdict["fail_open"] is True
    assert verdict["unallowed"] == [
        "module 4 (bundle 1) ran after the Hall denied (200, denied=true, reason 'DENY_POLICY_GATE')"
    ]
    assert verdict["cause"]["expression"] == "{{2.denied}}"
    code, out = invoke("replay", str(GATE_IGNORE), "--hall", "deny", "--verdict")
    assert code == 1
    assert "verdict: FAIL-OPEN (the gate fails open)" in out


def test_run_on_a_folder_without_scenarios_is_a_load_error(tmp_path: Path) -> None:
    code, out = invoke("run", str(tmp_path))
    assert code == 2
    assert f"{tmp_path}: no scenario files (*.scenario.yaml) found" in out


def test_junit_classnames_do_not_split_the_scenario_file_name(pytester: pytest.Pytester) -> None:
    scenario = f"workflow: {OPTION_A}\nhall: deny\nexpect: {{outcome: exited}}\n"
    pytester.mkdir("gates")
    (pytester.path / "gates" / "option_a.deny.scenario.yaml").write_text(scenario)
    result = pytester.runpytest("--junitxml=report.xml")
    result.assert_outcomes(passed=1)
    (case,) = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    assert case.get("classname") == "gates.option_a_deny"


def test_a_failed_scenario_report_starts_with_the_failed_expectation(
    hall_emulator: HallEmulator, write_scenario: WriteScenario
) -> None:
    path = write_scenario("workflow: {option_a}\nhall: deny\nexpect: {{outcome: completed}}\n")
    result = run_scenario(load_scenario(path), emulator=hall_emulator)
    assert result.report().splitlines()[0] == 'expect.outcome: expected completed; actual "exited"'


class InjectedBug(RuntimeError):
    pass


def _break_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every emulator in this process raises while answering (after the request was read): a hallsim bug."""
    from hallsim.emulator.app import HallApp

    def boom(*args: object) -> object:
        raise InjectedBug("rule lookup exploded")

    monkeypatch.setattr(HallApp, "select", boom)


def test_an_exception_in_the_emulator_makes_the_rows_errors_and_the_gate_could_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hallsim.harness.matrix import run_matrix

    _break_the_emulator(monkeypatch)
    report = run_matrix(GATE_IGNORE, behaviours=["allow", "deny"])
    assert [r.verdict for r in report.rows] == ["error", "error"]
    assert "InjectedBug: rule lookup exploded" in (report.rows[0].error or "")
    assert report.verdict == "error"
    code, out = invoke("matrix", str(OPTION_A), "--behaviour", "allow", "--quiet")
    assert code == 2
    assert "COULD NOT RUN" in out


def test_an_exception_in_the_emulator_fails_a_test_that_used_hall_emulator(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        f"""
        from hallsim.emulator.app import HallApp

        def test_gate(hall_emulator, run_workflow, monkeypatch):
            def boom(*args):
                raise RuntimeError("rule lookup exploded")

            monkeypatch.setattr(HallApp, "select", boom)
            run = run_workflow({str(OPTION_A)!r}, hall="deny")
            assert not run.protected_ran  # looks fail-closed: the emulator's bug must still fail the test
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: rule lookup exploded*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", str(OPTION_A), "--hall", "alow"], "--hall alow: unknown behaviour"),
        (["matrix", str(OPTION_A), "--behaviour", "alow"], "--behaviour alow: unknown behaviour"),
        (["matrix", str(OPTION_A), "--protected", "write_recrd"], "did you mean `write_record`?"),
        (["replay", str(OPTION_A), "--hall", "allow", "--set", "action_evn=x"], "did you mean `action_env`?"),
    ],
)
def test_unknown_names_say_which_option_and_what_was_meant(args: list[str], message: str) -> None:
    code, out = invoke(*args)
    assert code == 2
    assert message in out
    if "alow" in args:
        assert "did you mean `allow`?" in out
