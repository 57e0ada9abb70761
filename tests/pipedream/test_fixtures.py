"""The guide's documented steps (fixtures/pipedream/) against the emulator's behaviours, over real sockets
with a real Node. These tests pin what the documented code does, fail-open cases included (and say so)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from hallsim.harness import HallEndpoint
from hallsim.harness.pipedream import load_workflow

from .conftest import FIXTURES, TIME_SCALE

pytestmark = pytest.mark.e2e

# the guide, in the shared folder that sits beside the checkout
SEED = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "000_97389270795d6cd2.txt"
OPTION_A = FIXTURES / "inline_option_a.yaml"
FILTER = FIXTURES / "inline_filter.yaml"
COMPONENT = FIXTURES / "component.yaml"
LATER = ("branch_on_denied", "write_record", "audit_log")


@pytest.mark.parametrize(
    "name", ["pyhall_gate.mjs", "branch_on_denied.mjs", "audit_log.mjs", "pyhall_gate_component.mjs"]
)
def test_fixture_code_is_the_guides_code_with_only_line_breaks_restored(name: str) -> None:
    if not SEED.is_file():
        pytest.skip("the seed guide is not available here")
    # each fixture line, stripped of its indentation, stands in the guide as is; between lines the guide
    # has whitespace or nothing (the line breaks it lost): no character inside a line may differ
    lines = [line.strip() for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines()]
    pattern = r"\s*".join(re.escape(line) for line in lines if line)
    assert re.search(pattern, SEED.read_text(encoding="utf-8"))


def test_allow_runs_every_step_and_the_audit_sink_gets_the_decision(run_workflow, hall) -> None:
    run = run_workflow(OPTION_A, "allow")
    assert run.outcome == "completed"
    assert run.protected_ran
    assert [s.status for s in run.steps] == ["success"] * 4
    decision = run.hall_requests[0].decision
    gate = run.step("pyhall_gate").exports
    assert gate["denied"] is False
    assert gate["decision_id"] == decision["decision_id"]
    assert gate["artifact_hash"] == decision["artifact_hash"]
    # the audit step (Step 4) posted its record to the local sink
    [record] = run.sink_requests
    assert record["path"] == "/audit"
    assert record["json"]["decision_id"] == decision["decision_id"]
    assert record["json"]["artifact_hash"] == decision["artifact_hash"]
    assert run.step("audit_log").exports == {"audit_logged": True}


def test_a_caller_can_bring_its_own_audit_sink(run_workflow, httpserver) -> None:
    httpserver.expect_request("/mine/audit", method="POST").respond_with_json({"ok": True})
    run = run_workflow(OPTION_A, "allow", sink_url=httpserver.url_for("/mine"))
    assert run.outcome == "completed"
    assert run.sink_requests == []
    [(request, _)] = httpserver.log
    assert request.json["decision_id"] == run.hall_requests[0].decision["decision_id"]


def test_the_gate_sends_the_guides_request_with_the_token(run_workflow) -> None:
    run = run_workflow(OPTION_A, "allow", event={"worker_id": "wrk_x", "data_label": "RESTRICTED"})
    [request] = run.hall_requests
    assert request.method == "POST"
    assert request.path == "/api/route"
    assert request.headers["authorization"] == "Bearer ***"
    assert request.body == {
        "capability_id": "cap.data.write.v1",
        "worker_id": "wrk_x",
        "env": "prod",
        "data_label": "RESTRICTED",
        "tenant_id": "org.acme",
    }


def test_deny_exits_at_the_gate_and_nothing_after_runs(run_workflow) -> None:
    run = run_workflow(OPTION_A, "deny:DENY_POLICY_GATE")
    gate = run.step("pyhall_gate")
    decision = run.hall_requests[0].decision
    assert run.outcome == "exited"
    assert gate.status == "exited"
    assert gate.exit_reason == "Governance denial: DENY_POLICY_GATE"
    assert gate.exports["denied"] is True
    assert gate.exports["decision_id"] == decision["decision_id"]
    assert gate.exports["artifact_hash"] == decision["artifact_hash"]
    assert [run.step(n).status for n in LATER] == ["not_run"] * 3
    assert not run.protected_ran
    assert run.sink_requests == []


@pytest.mark.parametrize("status", [400, 401, 403, 429, 500, 502, 503])
def test_http_errors_take_the_guides_fail_closed_branch(run_workflow, status: int) -> None:
    run = run_workflow(OPTION_A, f"http-{status}")
    gate = run.step("pyhall_gate")
    assert run.outcome == "exited"
    assert gate.exports == {
        "denied": True,
        "decision_id": None,
        "reason": f"hall_server_error: HTTP {status}",
        "artifact_hash": None,
    }
    assert gate.exit_reason == "Hall Server returned an error — failing closed"
    assert not run.protected_ran


def test_a_wrong_token_is_a_403_and_fails_closed(run_workflow) -> None:
    run = run_workflow(OPTION_A, "allow", token="not-the-token")
    assert run.step("pyhall_gate").exports["reason"] == "hall_server_error: HTTP 403"
    assert not run.protected_ran


def test_without_a_token_the_gate_throws_before_calling_the_hall(run_workflow) -> None:
    run = run_workflow(OPTION_A, "allow", token=None)
    gate = run.step("pyhall_gate")
    assert run.outcome == "errored"
    assert gate.error["name"] == "Error"
    assert gate.error["message"] == "HALL_SESSION_TOKEN is not set"
    assert "pyhall_gate.mjs:9" in gate.error["stack"]
    assert run.hall_requests == []


def test_a_hall_that_never_answers_times_the_execution_out(run_workflow) -> None:
    # pipedream.md "Errors and time": the 30 s timeout raises a Timeout error on the running step
    run = run_workflow(OPTION_A, "timeout")
    gate = run.step("pyhall_gate")
    assert run.outcome == "timed_out"
    assert gate.status == "timeout"
    assert gate.error["name"] == "TimeoutError"
    assert "30" in gate.error["message"]
    assert gate.modelled_ms == pytest.approx(30_000, rel=0.2)
    assert len(run.hall_requests) == 1
    assert not run.protected_ran


@pytest.mark.parametrize(("seconds", "outcome"), [(5, "completed"), (45, "timed_out")])
def test_a_slow_hall_is_measured_in_modelled_seconds(run_workflow, seconds: int, outcome: str) -> None:
    run = run_workflow(OPTION_A, f"slow:{seconds}")
    assert run.outcome == outcome
    assert run.settings["time_scale"] == TIME_SCALE


@pytest.mark.parametrize("behaviour", ["malformed-json", "empty-body"])
def test_a_200_that_is_not_json_makes_the_gate_throw(run_workflow, behaviour: str) -> None:
    run = run_workflow(OPTION_A, behaviour)
    gate = run.step("pyhall_gate")
    assert run.outcome == "errored"
    assert gate.error["name"] == "SyntaxError"
    assert not run.protected_ran


@pytest.mark.parametrize("behaviour", ["reset", "close"])
def test_a_dropped_connection_makes_the_fetch_throw(run_workflow, behaviour: str) -> None:
    run = run_workflow(OPTION_A, behaviour)
    gate = run.step("pyhall_gate")
    assert run.outcome == "errored"
    assert gate.error["message"] == "fetch failed"
    assert "cause" in gate.error
    assert not run.protected_ran


def test_an_unreachable_hall_makes_the_fetch_throw(hall) -> None:
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = load_workflow(OPTION_A).run(
        HallEndpoint(f"http://127.0.0.1:{port}", "t"), settings={"time_scale": 0.01}
    )
    gate = run.step("pyhall_gate")
    assert run.outcome == "errored"
    assert gate.error["cause"]["code"] == "ECONNREFUSED"


def test_missing_denied_fails_open_under_option_a(run_workflow) -> None:
    """Today's verdict, pinned: a 200 without `denied` exports nothing for it (absent), Option A reads
    undefined as allowed, and the protected write runs."""
    run = run_workflow(OPTION_A, "missing-denied")
    assert "denied" not in run.step("pyhall_gate").exports
    assert run.outcome == "completed"
    assert run.protected_ran


def test_denied_as_the_string_false_is_truthy_so_the_gate_exits(run_workflow) -> None:
    run = run_workflow(OPTION_A, "denied-as-string:false")
    gate = run.step("pyhall_gate")
    assert gate.exports["denied"] == "false"
    assert gate.status == "exited"
    assert not run.protected_ran


# --- Option B: the Filter step (pipedream.md "Filter steps") ----------------------------------------------


@pytest.mark.parametrize("kind", ["rule_builder", "registry"])
def test_the_filter_continues_on_allow_with_either_kind(run_workflow, kind: str) -> None:
    run = run_workflow(FILTER, "allow", filter_kind=kind)
    assert run.outcome == "completed"
    assert run.protected_ran
    assert run.settings["filter_kind"] == kind


@pytest.mark.parametrize(
    ("kind", "outcome", "protected_ran"),
    [
        # rule builder `bool=`: undefined is not the boolean false, the filter ends the workflow
        ("rule_builder", "exited", False),
        # registry "[Boolean] Evaluates to False": !undefined is true, the workflow goes on (fails open)
        ("registry", "completed", True),
    ],
)
def test_the_filter_kinds_disagree_when_denied_is_missing(
    run_workflow, kind: str, outcome: str, protected_ran: bool
) -> None:
    run = run_workflow(FILTER, "missing-denied", filter_kind=kind)
    assert run.outcome == outcome
    assert run.protected_ran is protected_ran
    filter_step = run.step("continue_if_allowed")
    if kind == "rule_builder":
        assert filter_step.exit_reason == "Ending workflow"
    else:
        assert filter_step.status == "success"


# --- the reusable component (pipedream.md "Environment variables") -----------------------------------------


def test_the_component_sees_no_environment_by_default_and_calls_the_guides_default_url(run_workflow) -> None:
    """localhost:8765 is not the run's Hall: the stub service takes the call and, by its default, refuses it
    (on Pipedream nothing of yours listens on the platform's localhost)."""
    run = run_workflow(COMPONENT, "allow")
    gate = run.step("pyhall_gate")
    assert run.settings["action_env"] == "none"
    assert run.outcome == "errored"
    assert gate.error["message"] == "fetch failed"
    assert gate.http[0]["url"] == "http://localhost:8765/api/route"
    assert run.hall_requests == []
    [call] = run.stub_calls
    assert (call.unit, call.method, call.url) == ("pyhall_gate", "POST", "http://localhost:8765/api/route")
    assert call.refused
    assert "loopback" in str(call.detail)


def test_the_component_with_the_workflow_environment_gates_on_the_hall(run_workflow) -> None:
    run = run_workflow(COMPONENT, "deny", action_env="workflow")
    gate = run.step("pyhall_gate")
    assert run.outcome == "exited"
    assert gate.exports["denied"] is True
    # props from the workflow, defaults from the component (env: prod, tenant_id: org.acme)
    assert run.hall_requests[0].body == {
        "capability_id": "cap.data.write.v1",
        "worker_id": "wrk_pipedream_acme_prod",
        "env": "prod",
        "data_label": "INTERNAL",
        "tenant_id": "org.acme",
    }


def test_the_component_fails_open_on_a_json_http_error(run_workflow) -> None:
    """Today's verdict, pinned: the component does not check response.ok; a JSON error body has no
    `denied`, so Option A lets the protected write run."""
    run = run_workflow(COMPONENT, "http-500", action_env="workflow")
    assert "denied" not in run.step("pyhall_gate").exports
    assert run.outcome == "completed"
    assert run.protected_ran
    assert "RAN without a well-formed allow from the Hall: FAIL-OPEN" in run.render()
