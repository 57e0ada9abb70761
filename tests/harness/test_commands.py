"""`hallsim run`, `hallsim matrix` and `hallsim repro` as a user runs them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from hallsim.cli import cli

from .conftest import GATE_IGNORE, OPTION_A, ROOT

PASSING = f"workflow: {OPTION_A}\nhall: deny\nexpect: {{outcome: exited, protected_ran: false}}\n"
FAILING = f"workflow: {OPTION_A}\nhall: deny\nexpect: {{outcome: completed}}\n"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


# --- hallsim run ---


def test_run_passes_fails_and_reports(tmp_path: Path) -> None:
    (tmp_path / "good.scenario.yaml").write_text(PASSING)
    code, out = invoke("run", str(tmp_path))
    assert code == 0, out
    assert "1 of 1 scenarios passed" in out

    (tmp_path / "bad.scenario.yaml").write_text(FAILING)
    code, out = invoke("run", str(tmp_path))
    assert code == 1
    assert "1 of 2 scenarios passed" in out
    assert "FAILED" in out
    assert "expect.outcome:\n    expected: completed" in out


def test_run_reports_a_broken_file_and_still_runs_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.scenario.yaml").write_text(PASSING)
    (tmp_path / "broken.scenario.yaml").write_text(f"workflow: {OPTION_A}\nhall: nosuch\nexpect: {{}}\n")
    code, out = invoke("run", str(tmp_path))
    assert code == 2
    assert "could not load" in out
    assert "hall.behaviour: unknown behaviour 'nosuch'" in out
    assert "1 of 2 scenarios passed" in out
    assert "Traceback" not in out


def test_run_json_and_generated_events(tmp_path: Path) -> None:
    (tmp_path / "good.scenario.yaml").write_text(PASSING)
    code, out = invoke("run", str(tmp_path), "--json", "--events", "4", "--seed", "1")
    assert code == 0, out
    (row,) = json.loads(out)
    assert row["status"] == "passed"
    assert row["settings"]["filter_kind"] == "rule_builder"  # the UNCONFIRMED choices the runs used
    assert [run["event"].split(" (")[0] for run in row["runs"]] == [
        "event 1",
        "event 2",
        "event 3",
        "event 4",
    ]


def test_run_without_scenarios_says_so(tmp_path: Path) -> None:
    code, out = invoke("run", str(tmp_path))
    assert code != 0
    assert "no scenario files" in out


#: a few repository scenarios (the main test run collects all of them): a Make repro pinning a fail-open gate,
#: a Pipedream pin, a hardened gate; what only this test checks is that both runners agree on them
AGREEING = [
    ROOT / "scenarios" / "repro",
    ROOT / "scenarios" / "pipedream" / "inline_option_a.missing-denied.scenario.yaml",
    ROOT / "scenarios" / "hardened" / "gate_ignore.deny.scenario.yaml",
]


def test_pytest_and_hallsim_run_agree_on_the_repository_scenarios(pytester: pytest.Pytester) -> None:
    code, out = invoke("run", *map(str, AGREEING), "--json")
    assert code == 0, out
    by_run = {row["name"]: row["status"] for row in json.loads(out)}
    assert len(by_run) == 3
    result = pytester.runpytest(*map(str, AGREEING), "-p", "no:cacheprovider", "--junitxml=report.xml")
    result.assert_outcomes(passed=len(by_run))
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    assert {case.get("name") for case in cases} == set(by_run)
    assert set(by_run.values()) == {"passed"}


def test_pytest_and_hallsim_run_agree_on_failures_too(pytester: pytest.Pytester) -> None:
    stale_pin = f"workflow: {OPTION_A}\nhall: deny\npins_fail_open: true\nnote: fixed since\nexpect: {{}}\n"
    fail_open = f"workflow: {OPTION_A}\nhall: missing-denied\nexpect: {{}}\n"
    pytester.makefile(".scenario.yaml", good=PASSING, bad=FAILING, stale=stale_pin, open=fail_open)
    code, out = invoke("run", str(pytester.path), "--json")
    assert code == 1
    by_run = {row["name"]: row["status"] for row in json.loads(out)}
    assert by_run == {"good": "passed", "bad": "failed", "stale": "failed", "open": "failed"}
    result = pytester.runpytest("-p", "no:cacheprovider", "--junitxml=report.xml")
    result.assert_outcomes(passed=1, failed=3)
    cases = ET.parse(pytester.path / "report.xml").getroot().iter("testcase")
    by_pytest = {c.get("name"): "failed" if c.find("failure") is not None else "passed" for c in cases}
    assert by_pytest == by_run


# --- hallsim matrix ---


def test_matrix_json_exits_1_when_a_row_fails_open() -> None:
    code, out = invoke(
        "matrix", str(OPTION_A), "--behaviour", "allow", "--behaviour", "missing-denied", "--json"
    )
    assert code == 1
    (data,) = json.loads(out)["workflows"]
    # --behaviour runs only the rows named: no unreachable row unless asked for
    assert [(r["behaviour"], r["verdict"]) for r in data["rows"]] == [
        ("allow", "ran on allow"),
        ("missing-denied", "FAIL-OPEN"),
    ]
    for row in data["rows"]:
        assert {"behaviour", "outcome", "protected_ran", "expected_protected", "fail_open"} <= set(row)


def test_matrix_table_exits_0_when_every_row_fails_closed() -> None:
    code, out = invoke(
        "matrix",
        str(GATE_IGNORE),
        "--behaviour",
        "http-500",
        "--behaviour",
        "timeout",
        "--behaviour",
        "unreachable",
    )
    assert code == 0, out
    assert "fails closed (3 fail-closed)" in out
    assert (
        "RuntimeError: " not in out
    )  # the table says what the Hall did, the trace (error lines) is for replay
    assert "answered HTTP 500" in out
    assert (
        "UNCONFIRMED platform choices used (change with --set NAME=VALUE): make.filter.boolean_coercion="
        in out
    )


def test_matrix_markdown_with_a_setting() -> None:
    args = [
        "matrix",
        str(GATE_IGNORE),
        "--behaviour",
        "allow",
        "--set",
        "make.filter.boolean_coercion=strict",
    ]
    code, out = invoke(*args, "--markdown")
    assert code == 3  # a gate that blocks every good allow is broken
    assert out.startswith("**1 of 1 gate is broken**")
    assert (
        "| `allow` | allowed (200, denied=false) | success | no | yes | **blocked on a good allow** |" in out
    )
    assert "make.filter.boolean_coercion=strict" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--protected", "nope"], "--protected nope: not in this workflow"),
        (["--event", "missing.json"], "missing.json: no such file (--event)"),
        (["--behaviour", "nosuch"], "unknown behaviour 'nosuch'"),
    ],
)
def test_matrix_mistakes_are_errors_not_tracebacks(args: list[str], message: str) -> None:
    code, out = invoke("matrix", str(OPTION_A), *args)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


# --- hallsim repro ---

RECORD = {
    "decision_id": "7d1f8a52-3c4b-4e0e-9a51-0c2b7f9d1e11",
    "worker_id": "wrk_pipedream_acme_prod",
    "capability_id": "cap.data.write.v1",
    "data_label": "RESTRICTED",
    "denied": True,
    "reason": "DENY_REQUIRES_HUMAN_APPROVAL",
    "artifact_hash": "feedface",
}


def test_repro_round_trip(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(RECORD))
    saved = tmp_path / "repro" / "case.scenario.yaml"
    code, out = invoke("repro", "--decision", str(record), "--workflow", str(OPTION_A), "--save", str(saved))
    assert code == 0, out
    assert "the Hall gave exactly the recorded decision" in out
    assert 'decision_id = "7d1f8a52-3c4b-4e0e-9a51-0c2b7f9d1e11"' in out  # the trace shows the gate's export
    assert 'reason = "DENY_REQUIRES_HUMAN_APPROVAL"' in out
    assert saved.is_file()
    code, out = invoke("run", str(saved))
    assert code == 0, out
    assert "1 of 1 scenarios passed" in out


def test_repro_of_a_fail_open_exits_1_and_pins_it(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps({**RECORD, "worker_id": "wrk_make_acme_prod"}))
    saved = tmp_path / "case.scenario.yaml"
    code, out = invoke(
        "repro", "--decision", str(record), "--workflow", str(GATE_IGNORE), "--save", str(saved)
    )
    assert code == 1
    assert "FAIL-OPEN" in out
    assert "pins_fail_open: true" in saved.read_text()
    code, out = invoke("run", str(saved))
    assert code == 0, out


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ('{"decision_id": 3}', "decision_id: expected a valid string; got 3"),
        ('{"decision_id": "d", "denied": false}', "none of worker_id, capability_id, data_label"),
        ("[1, 2]", "expected one decision record"),
        ("{", "not valid JSON"),
    ],
)
def test_repro_refuses_a_bad_record(tmp_path: Path, record: str, message: str) -> None:
    path = tmp_path / "record.json"
    path.write_text(record)
    code, out = invoke("repro", "--decision", str(path), "--workflow", str(OPTION_A))
    assert code == 2
    assert message in out


def test_repro_save_name_is_checked_before_running(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    record.write_text(json.dumps(RECORD))
    code, out = invoke("repro", "--decision", str(record), "--workflow", str(OPTION_A), "--save", "x.yaml")
    assert code == 2
    assert "name it *.scenario.yaml" in out


def test_files_that_are_not_text_are_errors_not_tracebacks(tmp_path: Path) -> None:
    binary = tmp_path / "record.json"
    binary.write_bytes(b"\xff\xfe{}")
    code, out = invoke("repro", "--decision", str(binary), "--workflow", str(OPTION_A))
    assert code == 2
    assert f"{binary}: cannot read the decision record (--decision)" in out
    code, out = invoke("matrix", str(OPTION_A), "--event", str(binary))
    assert code == 2
    assert f"{binary}: --event: cannot read it as a JSON text file" in out
