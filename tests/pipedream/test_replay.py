"""`hallsim replay` (cli/hallsim/cli/commands/replay.py) with the documented Pipedream workflows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hallsim.cli import cli

from .conftest import FIXTURES

pytestmark = pytest.mark.e2e

OPTION_A = str(FIXTURES / "inline_option_a.yaml")


def replay(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["replay", *args])
    return result.exit_code, result.output


def replay_json(*args: str) -> dict:
    code, output = replay(*args, "--json")
    assert code == 0, output
    return json.loads(output)


def test_deny_shows_the_gates_exports_the_exit_and_the_protected_step_not_run() -> None:
    run = replay_json(OPTION_A, "--hall", "deny")
    gate = run["steps"][0]
    decision = run["hall_requests"][0]["decision"]
    assert run["platform"] == "pipedream"
    assert run["outcome"] == "exited"
    assert gate["name"] == "pyhall_gate"
    assert gate["status"] == "exited"
    assert gate["exports"]["denied"] is True
    assert gate["exports"]["decision_id"] == decision["decision_id"]
    assert gate["exports"]["artifact_hash"] == decision["artifact_hash"]
    assert gate["exit_reason"].startswith("Governance denial")
    statuses = {step["name"]: step["status"] for step in run["steps"]}
    assert statuses["write_record"] == "not_run"
    assert run["protected_ran"] is False
    for step in run["steps"]:
        assert set(step) >= {"name", "status", "exports", "return_value", "error", "exit_reason"}


def test_allow_runs_the_protected_step() -> None:
    run = replay_json(OPTION_A, "--hall", "allow")
    assert run["outcome"] == "completed"
    assert run["protected_ran"] is True
    assert (
        run["sink_requests"][0]["json"]["decision_id"] == run["hall_requests"][0]["decision"]["decision_id"]
    )


def test_http_500_shows_the_guides_fail_closed_exports() -> None:
    gate = replay_json(OPTION_A, "--hall", "http-500")["steps"][0]
    assert gate["exports"] == {
        "denied": True,
        "decision_id": None,
        "reason": "hall_server_error: HTTP 500",
        "artifact_hash": None,
    }


def test_the_readable_trace() -> None:
    code, output = replay(OPTION_A, "--hall", "deny")
    assert code == 0
    assert "EXITED" in output
    assert "protected step write_record did NOT run" in output
    assert "FAIL-OPEN" not in output
    assert "denied = true" in output
    assert "Governance denial: DENY_POLICY_GATE" in output
    assert "action_env=" in output  # every run shows its settings


def test_a_script_event_variables_and_settings(tmp_path: Path) -> None:
    script = tmp_path / "hall.yaml"
    script.write_text(
        "default: allow\nrules:\n"
        "  - match: {data_label: RESTRICTED}\n    respond: {behaviour: deny, reason: blocked}\n",
        encoding="utf-8",
    )
    event = tmp_path / "event.json"
    event.write_text('{"worker_id": "wrk_1", "data_label": "RESTRICTED"}', encoding="utf-8")
    run = replay_json(OPTION_A, "--script", str(script), "--event", str(event), "--set", "timeout_s=10")
    assert run["outcome"] == "exited"
    assert run["steps"][0]["exit_reason"] == "Governance denial: blocked"
    assert run["settings"]["timeout_s"] == 10
    forged = replay_json(OPTION_A, "--hall", "allow", "--var", "HALL_SESSION_TOKEN=forged")
    assert forged["steps"][0]["exports"]["reason"] == "hall_server_error: HTTP 403"


def test_a_single_mjs_file_runs_as_a_one_step_workflow() -> None:
    run = replay_json(str(FIXTURES / "pyhall_gate.mjs"), "--hall", "deny")
    assert [step["name"] for step in run["steps"]] == ["pyhall_gate"]
    assert run["outcome"] == "exited"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hall", "deny", "--script", "x.yaml"], "exactly one of --hall"),
        ([], "exactly one of --hall"),
        (["--hall", "maybe"], "maybe"),
        (["--hall", "allow", "--set", "colour=red"], "unknown setting"),
        (["--hall", "allow", "--set", "time_scale"], "NAME=VALUE"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    code, output = replay(OPTION_A, *args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output


def test_a_broken_workflow_file_exits_2_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps:\n  - name: a\n", encoding="utf-8")
    code, output = replay(str(broken), "--hall", "allow")
    assert code == 2
    assert "broken.yaml:2: steps[0]" in output
