"""The seed guide's Make gate (shared/seeds/003_14536da861c9afe7.txt), replayed as documented against the
emulator.

The guide maps `{{2.denied}}`, but the HTTP module puts the parsed body under `data` (make.md "HTTP Make a
request"), so the filters see an empty value. What that does depends on the UNCONFIRMED filter coercion
(make.md "Filters"): with Make's documented type coercion an empty value is false, so "Allowed" ({{2.denied}}
Equal to false) passes for every 200 answer -- a denial included. These tests pin what the documented
blueprints do; they are not a statement that the gate is right."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hallsim.harness.make import MakeRun, load_blueprint
from hallsim.harness.workflow import HallEndpoint

from .conftest import FIXTURES

Run = Callable[..., MakeRun]


@pytest.fixture
def gate(hall: HallEndpoint) -> Run:
    def run(name: str, behaviour: str, path: Path | None = None, **kwargs: object) -> MakeRun:
        hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
        blueprint = load_blueprint(path or FIXTURES / f"gate_{name}.blueprint.json")
        return blueprint.run(hall, settings={"time_scale": 0.01, **kwargs.pop("settings", {})}, **kwargs)  # type: ignore[arg-type]

    return run


def _routes(run: MakeRun) -> list[int]:
    return [t["route"] for entry in run.routes_taken() for t in entry["taken"]]


@pytest.mark.parametrize(
    ("name", "behaviour", "status", "protected_ran", "routes", "hall_calls"),
    [
        ("break", "allow", "success", True, [1], 1),
        ("break", "deny", "success", True, [1], 1),  # fail-open: "Allowed" passes on an empty {{2.denied}}
        ("break", "http-500", "warning", False, [], 4),  # stored, retried 3 times every 15 min, still failing
        ("break", "timeout", "warning", False, [], 4),
        ("ignore", "allow", "success", True, [1], 1),
        ("ignore", "deny", "success", True, [1], 1),  # fail-open
        ("ignore", "http-500", "success", False, [], 1),
        ("ignore", "timeout", "success", False, [], 1),
        ("rollback", "allow", "success", True, [1], 1),
        ("rollback", "deny", "success", True, [1], 1),  # fail-open
        ("rollback", "http-500", "error", False, [], 1),
        ("rollback", "timeout", "error", False, [], 1),
        ("ignore", "missing-denied", "success", True, [1], 1),
        ("ignore", "empty-body", "success", True, [1], 1),
        (
            "ignore",
            "http-401",
            "error",
            False,
            [],
            1,
        ),  # AccountValidationError: fatal, Ignore does not handle it
        ("ignore", "reset", "success", False, [], 1),
        ("break", "malformed-json", "warning", False, [], 4),
    ],
)
def test_documented_gate(
    gate: Run, name: str, behaviour: str, status: str, protected_ran: bool, routes: list[int], hall_calls: int
) -> None:
    run = gate(name, behaviour)
    assert run.status == status
    assert run.outcome == status
    assert run.protected_ran is protected_ran
    assert _routes(run) == routes
    assert len(run.hall_requests) == hall_calls


def test_trace_under_deny_shows_which_route_and_why(gate: Run) -> None:
    run = gate("break", "deny")
    text = run.render()
    assert 'route 1 "Allowed": TAKEN -- filter `Allowed` passed' in text
    assert (
        '✓ {{2.denied}} → (empty)   boolean:equal "false":  (empty) coerced to false; false = false' in text
    )
    assert 'route 2 "Denied": not taken -- filter `Denied` did not pass' in text
    assert '{{2.denied}} → (empty)   boolean:equal "true":  (empty) coerced to false; false ≠ true' in text
    assert (
        "module 4 (filter `Allowed`): mapping `{{2.denied}}` resolves to nothing; module 2 "
        "outputs statusCode, "
        "headers, cookieHeaders, data, fileSize" in text
    )
    assert "FAIL-OPEN: the protected action ran without a well-formed allow from the Hall" in text
    assert "Hall: denied (200, denied=true" in text
    assert "make.filter.boolean_coercion=make-type-coercion" in text
    assert "[4] ★ Data store - Add/replace a record" in text
    data = run.to_json()
    [decisions] = [entry["decisions"] for entry in data["routes"]]
    allowed = decisions[0]["filter"]["conditions"][0][0]
    assert allowed["a"] == "{{2.denied}}"
    assert allowed["a_resolved"] is None
    assert allowed["o"] == "boolean:equal"


def test_strict_coercion_makes_the_documented_gate_take_no_route(gate: Run) -> None:
    for behaviour in ("allow", "deny"):
        run = gate("ignore", behaviour, settings={"make.filter.boolean_coercion": "strict"})
        assert _routes(run) == []
        assert run.protected_ran is False
        assert run.status == "success"  # a bundle no route takes stops silently: no audit row, no alert


def _variant(tmp_path: Path, name: str, **replace: str) -> Path:
    text = (FIXTURES / f"gate_{name}.blueprint.json").read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / f"{name}-variant.json"
    path.write_text(text, encoding="utf-8")
    json.loads(text)
    return path


def test_text_equal_reading_of_the_guide_takes_no_route(gate: Run, tmp_path: Path) -> None:
    # "Equal to" read as the Text operator: an empty value equals neither "false" nor "true"
    path = _variant(tmp_path, "ignore", **{"boolean:equal": "text:equal"})
    for behaviour in ("allow", "deny"):
        run = gate("ignore", behaviour, path=path)
        assert _routes(run) == []
        assert run.protected_ran is False


def test_the_same_gate_mapping_data_denied_fails_closed_on_deny(gate: Run, tmp_path: Path) -> None:
    # not the documented blueprint: shows the replay decides correctly once the mapping points at data
    path = _variant(tmp_path, "ignore", **{"{{2.": "{{2.data."})
    allowed = gate("ignore", "allow", path=path)
    assert (_routes(allowed), allowed.protected_ran) == ([1], True)
    denied = gate("ignore", "deny", path=path)
    assert (_routes(denied), denied.protected_ran) == ([2], False)
    [alert] = [e for e in denied.events if e.kind == "module" and e.module == 6]
    assert alert.data["mapper"]["text"].startswith("PyHall denied a write: decision ")
    assert denied.warnings == []


def test_break_retry_after_a_transient_error_runs_the_rest_of_the_flow(gate: Run, hall: HallEndpoint) -> None:
    hall.emulator.when().respond("http-500", "deny")  # type: ignore[union-attr]
    run = gate("break", "allow")
    [incomplete] = run.incomplete_executions
    assert [a["result"] for a in incomplete["attempts"]] == ["completed"]
    # 15 min after the failure (which happened after the first call's modelled seconds, load-dependent)
    assert incomplete["attempts"][0]["at_minutes"] == pytest.approx(15, abs=0.5)
    # the retry got a denial, and the documented filters still sent it down "Allowed"
    assert run.protected_ran is True
    assert run.status == "warning"
    assert len(run.hall_requests) == 2
    assert run.routes_taken()[0]["taken"][0]["phase"] == "retry 1 of incomplete execution 1"
    assert 'route 1 "Allowed" (in retry 1 of incomplete execution 1)' in run.render()


def test_trace_names_the_bundle_that_ran_the_write_after_a_denial(gate: Run, hall: HallEndpoint) -> None:
    # the fail-closed rule is kept per execution: an allow for bundle 1 does not vouch for bundle 2's write
    hall.emulator.when(data_label="RESTRICTED").respond("deny")  # type: ignore[union-attr]
    bundles = [
        {"worker_id": "wrk_make_acme_prod", "data_label": "INTERNAL"},
        {"worker_id": "wrk_make_acme_prod", "data_label": "RESTRICTED"},
    ]
    text = gate("ignore", "allow", event=bundles).render()
    assert "FAIL-OPEN: the protected action ran without a well-formed allow from the Hall" in text
    assert "module 4 (bundle 2) ran after the Hall denied" in text
    assert "module 4 (bundle 1)" not in text.split("FAIL-OPEN")[1]


def test_timeout_of_10_s_is_modelled_not_waited(gate: Run) -> None:
    run = gate("rollback", "timeout", settings={"time_scale": 0.01})
    data = run.to_json()
    assert data["time"]["run_modelled_s"] >= 10
    [http] = [e for e in run.events if e.kind == "module" and e.module == 2]
    assert http.data["request"]["timeout_s"] == 10
    assert data["stopped"]["reason"] == "Rollback on module 2's error route stopped the run"


def test_json_has_the_fields_issue_5_asks_for(gate: Run) -> None:
    data = gate("ignore", "deny").to_json()
    for key in (
        "platform",
        "status",
        "protected_ran",
        "modules",
        "routes",
        "warnings",
        "hall_requests",
        "settings",
    ):
        assert key in data
    assert data["platform"] == "make"
    http = data["modules"][1]
    assert (http["id"], http["module"], http["executed"]) == (2, "http:ActionSendData", True)
    assert http["output"]["statusCode"] == 200
    # the router ran; route 1's modules ran; route 2 (6, 7) and the error handler (8) did not
    assert [m["executed"] for m in data["modules"]] == [True, True, True, True, True, False, False, False]
    assert data["settings"]["make.filter.boolean_coercion"] == "make-type-coercion"
    assert data["variables"]["PYHALL_HALL_URL"]["source"] == "defaulted from the Hall endpoint"
    assert data["hall_requests"][0]["response"]["status"] == 200
    json.dumps(data)  # all of it is JSON
