"""The fail-closed rule, per execution of the protected action: its latest Hall answer must be an allow."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hallsim.emulator import HallEmulator
from hallsim.emulator.journal import JournalEntry
from hallsim.harness.record import Event, Execution, RouteDecision, RunRecord
from hallsim.harness.runner import run_scenario
from hallsim.harness.scenario import load_scenario
from hallsim.harness.verdict import allow_received, unallowed_runs

from .conftest import PIPEDREAM, WriteScenario
from .records import entry, hall_call, record

ALLOW = {"decision_id": "d1", "denied": False, "selected_worker_species_id": "s", "artifact_hash": "h"}
DENY = {**ALLOW, "denied": True, "reason": "no"}


def answer(body: Any, status: int = 200) -> JournalEntry:
    return entry(status, body)


class make_run:
    """A Make run: ("hall", bundle, phase) for a call to the Hall that got an answer, ("lost", ...) for one
    the module gave up on (timeout), ("write", ...) for module 4 (protected)."""

    def __init__(self, *events: tuple[str, int, str]) -> None:
        self.timeline: list[Event] = []
        for kind, bundle, phase in events:
            if kind in ("hall", "lost"):
                self.timeline.append(hall_call("2", received=kind == "hall", bundle=bundle))
                self.timeline.append(Execution("module", "2", False, bundle, phase))
            else:
                self.timeline.append(Execution("module", "4", True, bundle, phase))
            self.timeline.append(RouteDecision(bundle, 3, 1, "Allowed", True, "filter passed", phase))

    def __call__(self, journal: Sequence[JournalEntry]) -> RunRecord:
        return record("make", self.timeline, journal, bundles=2)


class pipedream_run:
    """A Pipedream run: (name, status, Hall calls made) per step; `write` is protected."""

    def __init__(self, *steps: tuple[str, str, int]) -> None:
        self.timeline: list[Event] = []
        for name, status, calls in steps:
            self.timeline += [hall_call(name) for _ in range(calls)]
            if status != "not_run":
                self.timeline.append(Execution("step", name, name == "write"))

    def __call__(self, journal: Sequence[JournalEntry]) -> RunRecord:
        return record("pipedream", self.timeline, journal)


def test_one_allowed_bundle_does_not_cover_a_denied_one() -> None:
    run = make_run(("hall", 1, "run"), ("write", 1, "run"), ("hall", 2, "run"), ("write", 2, "run"))
    assert unallowed_runs(run([answer(DENY), answer(ALLOW)])) == [
        "module 4 (bundle 1) ran after the Hall denied (200, denied=true, reason 'no')"
    ]
    (found,) = unallowed_runs(run([answer(ALLOW), answer(DENY)]))
    assert found.startswith("module 4 (bundle 2) ran after the Hall denied")
    assert unallowed_runs(run([answer(ALLOW), answer(ALLOW)])) == []


def test_a_retry_that_got_an_allow_is_allowed() -> None:
    # make.md "Break": the retry calls the Hall again; the write runs after the retry's allow
    run = make_run(("hall", 1, "run"), ("hall", 1, "retry 1"), ("write", 1, "retry 1"))
    assert unallowed_runs(run([answer({"error": "x"}, 500), answer(ALLOW)])) == []


def test_an_allow_sent_after_the_client_gave_up_is_not_an_allow() -> None:
    # the emulator's journal shows the allow it sent (a `slow` answer right at Make's timeout), but the module
    # had already given up: the gate never received it
    run = make_run(("lost", 1, "run"), ("write", 1, "run"))
    assert unallowed_runs(run([answer(ALLOW)])) == [
        "module 4 (bundle 1) ran after a Hall call whose answer never reached the client"
    ]
    assert not allow_received(run([answer(ALLOW)]))
    assert allow_received(make_run(("hall", 1, "run"))([answer(ALLOW)]))


def test_a_hall_call_after_the_protected_step_does_not_allow_it() -> None:
    run = pipedream_run(("write", "success", 0), ("gate", "success", 1))
    assert unallowed_runs(run([answer(ALLOW)])) == ["step write ran before any Hall call"]
    gated = pipedream_run(("gate", "success", 1), ("write", "success", 0))
    assert unallowed_runs(gated([answer(ALLOW)])) == []
    # the latest answer counts: a second gate's denial is not covered by the first gate's allow
    two_gates = pipedream_run(("gate", "success", 1), ("gate2", "success", 1), ("write", "success", 0))
    (found,) = unallowed_runs(two_gates([answer(ALLOW), answer(DENY)]))
    assert found.startswith("step write ran after the Hall denied")


def test_a_step_that_did_not_run_is_not_judged() -> None:
    run = pipedream_run(("gate", "exited", 1), ("write", "not_run", 0))
    assert unallowed_runs(run([answer(DENY)])) == []


def test_calls_that_never_reached_the_emulator_are_judged_by_every_answer() -> None:
    # two Hall calls in the run's record, one in the journal (the other was refused): no way to pair them
    run = make_run(("hall", 1, "run"), ("hall", 1, "retry 1"), ("write", 1, "retry 1"))
    assert unallowed_runs(run([answer(ALLOW)])) == []
    (found,) = unallowed_runs(run([answer(DENY)]))
    assert found.startswith("module 4 (bundle 1, retry 1) ran, and the Hall denied")
    assert unallowed_runs(run([])) == ["module 4 (bundle 1, retry 1) ran, and the Hall was not called"]


def test_a_make_scenario_with_a_denied_bundle_among_allowed_ones_fails_open(
    hall: HallEmulator, write_scenario: WriteScenario
) -> None:
    # the documented blueprint routes every 200 to "Allowed" (docs/matrix.md); the Hall allows one bundle
    path = write_scenario(
        """
        workflow: {gate_ignore}
        event:
          - {{worker_id: wrk_bad, data_label: PUBLIC}}
          - {{worker_id: wrk_good, data_label: PUBLIC}}
        hall:
          rules: [{{match: {{worker_id: wrk_bad}}, respond: deny}}]
          default: allow
        expect: {{protected_ran: true}}
        """
    )
    result = run_scenario(load_scenario(path), emulator=hall)
    assert result.runs[0].fail_open
    (mismatch,) = result.runs[0].mismatches
    assert mismatch.where == "fail-closed rule"
    assert mismatch.actual.startswith("module 4 (bundle 1) ran after the Hall denied")


def test_a_pipedream_gate_placed_after_the_write_fails_open(
    hall: HallEmulator, write_scenario: WriteScenario, tmp_path: Path
) -> None:
    workflow = tmp_path / "late_gate.yaml"
    workflow.write_text(
        "trigger: {type: http, event: {worker_id: wrk_pipedream_acme_prod, data_label: INTERNAL}}\n"
        "env: {PYHALL_HALL_URL: '{{hall.url}}', HALL_SESSION_TOKEN: '{{hall.token}}'}\n"
        "steps:\n"
        f"  - {{name: write_record, code: {PIPEDREAM / 'protected_write.mjs'}, protected: true}}\n"
        f"  - {{name: pyhall_gate, code: {PIPEDREAM / 'pyhall_gate.mjs'}}}\n",
        encoding="utf-8",
    )
    path = write_scenario("workflow: late_gate.yaml\nhall: allow\nexpect: {{outcome: completed}}\n")
    result = run_scenario(load_scenario(path), emulator=hall)
    assert result.runs[0].record is not None
    assert result.runs[0].record.outcome == "completed"
    (mismatch,) = result.runs[0].mismatches
    assert mismatch.actual.startswith("step write_record ran before any Hall call")
