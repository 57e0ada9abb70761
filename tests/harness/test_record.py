"""The run record is the judges' only input: a run's `to_json()` is an output, and renaming its keys changes
no verdict, no expectation check and no matrix row."""

from __future__ import annotations

from typing import Any

import pytest

from hallsim.emulator import HallEmulator
from hallsim.harness.make import MakeRun
from hallsim.harness.matrix import EmulatorPool, run_matrix
from hallsim.harness.pipedream import PipedreamRun
from hallsim.harness.record import Execution, HallCall, RouteDecision
from hallsim.harness.runner import run_scenario
from hallsim.harness.scenario import load_scenario
from hallsim.harness.verdict import unallowed_runs

from .conftest import GATE_IGNORE, OPTION_A, ROOT

BEHAVIOURS = ("allow", "deny", "missing-denied", "denied-as-string:false", "http-500")
#: scenarios that expect steps, exports, modules, routes, Hall calls and audit rows, fail-open ones included
SCENARIOS = tuple(
    ROOT / "scenarios" / name
    for name in (
        "pipedream/inline_option_a.missing-denied.scenario.yaml",
        "pipedream/inline_option_a.allow.scenario.yaml",
        "make/gate_ignore.deny.scenario.yaml",
        "make/gate_break.allow.scenario.yaml",
    )
)


def _renamed(value: Any) -> Any:
    if isinstance(value, dict):
        return {f"renamed_{key}": _renamed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_renamed(item) for item in value]
    return value


def _rename_json_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run's to_json() with every key renamed, as a changed output format would have it."""
    for cls in (PipedreamRun, MakeRun):
        original = cls.to_json
        monkeypatch.setattr(cls, "to_json", lambda self, original=original: _renamed(original(self)))


def _verdicts(pool: EmulatorPool) -> list[tuple[str, str, str, tuple[str, ...]]]:
    rows = []
    for path in (OPTION_A, GATE_IGNORE):
        report = run_matrix(path, behaviours=BEHAVIOURS, pool=pool)
        rows += [(str(path), r.behaviour, r.verdict, r.unallowed) for r in report.rows]
    return rows


def test_renaming_every_json_key_changes_no_matrix_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    with EmulatorPool(2) as pool:
        before = _verdicts(pool)
        _rename_json_keys(monkeypatch)
        after = _verdicts(pool)
    assert after == before
    # the rows judged include fail-open ones on both platforms, so the check has something to lose
    assert {(path, verdict) for path, _, verdict, _ in before if verdict == "FAIL-OPEN"} == {
        (str(OPTION_A), "FAIL-OPEN"),
        (str(GATE_IGNORE), "FAIL-OPEN"),
    }


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_renaming_every_json_key_changes_no_scenario_result(
    path: Any, hall_emulator: HallEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    _rename_json_keys(monkeypatch)
    result = run_scenario(load_scenario(path), emulator=hall_emulator)
    assert result.passed, result.report()


def test_the_records_timeline_pairs_each_hall_call_with_its_journal_entry(
    hall_emulator: HallEmulator,
) -> None:
    from hallsim.harness.workflow import HallEndpoint, load_workflow

    hall_emulator.set_default("deny")
    endpoint = HallEndpoint(hall_emulator.url, next(iter(hall_emulator.tokens)), hall_emulator)
    pipedream = load_workflow(OPTION_A).run(endpoint, settings={"time_scale": 0.01}).record
    (call,) = pipedream.hall_calls
    assert call.received
    assert call.entry is not None
    assert call.entry.status == 200
    assert next(e.unit for e in pipedream.timeline if isinstance(e, Execution)) == "pyhall_gate"
    assert not pipedream.protected_ran
    assert unallowed_runs(pipedream) == []

    make = load_workflow(GATE_IGNORE).run(endpoint, settings={"time_scale": 0.01}).record
    kinds = [type(e) for e in make.timeline]
    assert kinds.index(HallCall) < kinds.index(RouteDecision)
    assert make.routes_taken() == [["Allowed"]]  # the guide's {{2.denied}} resolves to nothing
    assert make.protected_ran
    (line,) = unallowed_runs(make)
    assert line.startswith("module 4 (bundle 1) ran after the Hall denied")
