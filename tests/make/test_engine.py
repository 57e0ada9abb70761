"""Running bundles through a blueprint: shared/reference/make.md "Router" (fan-out to every passing route in
order, fallback last and only when no route took the bundle, no route = silent stop) and "Error handlers"
(each directive, run status, error routes with modules before the directive, no handler). Modules other
than HTTP and the tools are recorded actions whose output or failure the run sets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hallsim.harness import InputError
from hallsim.harness.make import MakeRun

from .conftest import action, condition, directive, events, executed, flt, router, webhook

Replay = Callable[..., MakeRun]


def _label_router(*fallback_flags: bool) -> list[dict[str, Any]]:
    """A router on {{1.label}} with routes PUBLIC (3), RESTRICTED (4), no filter (5), and fallback routes."""
    routes: list[list[dict[str, Any]]] = [
        [action(3, filter=flt("Public", [condition("{{1.label}}", "text:equal", "PUBLIC")]))],
        [action(4, filter=flt("Restricted", [condition("{{1.label}}", "text:equal", "RESTRICTED")]))],
    ]
    for index, fallback in enumerate(fallback_flags):
        routes.append(
            [action(6 + index, filter={"name": "Otherwise", "conditions": [], "fallback": fallback})]
        )
    return [webhook(), router(2, *routes)]


def test_bundle_goes_to_every_passing_route_in_order(replay: Replay) -> None:
    flow = [
        webhook(),
        router(
            2,
            [action(3, filter=flt("Any label", [condition("{{1.label}}", "exist")])), action(4)],
            [action(5, filter=flt("Nope", [condition("{{1.label}}", "text:equal", "x")]))],
            [action(6), action(7)],  # no filter: always runs
        ),
    ]
    run = replay(flow, event={"label": "PUBLIC"})
    assert executed(run) == [1, 3, 4, 6, 7]  # each route to its end before the next starts
    [entry] = run.routes_taken()
    assert [t["route"] for t in entry["taken"]] == [1, 3]
    why = {d["route"]: d["why"] for d in entry["decisions"]}
    assert why[2] == "filter `Nope` did not pass"
    assert why[3] == "no filter: the route always runs"
    assert run.status == "success"


def test_fallback_runs_only_when_no_other_route_took_the_bundle(replay: Replay) -> None:
    taken = replay(_label_router(True), event={"label": "PUBLIC"})
    assert executed(taken) == [1, 3]
    decision = taken.routes_taken()[0]["decisions"][-1]
    assert decision["fallback"]
    assert not decision["taken"]
    assert "skipped because another route took the bundle" in decision["why"]
    otherwise = replay(_label_router(True), event={"label": "INTERNAL"})
    assert executed(otherwise) == [1, 6]
    assert otherwise.routes_taken()[0]["taken"] == [
        {"router": 2, "route": 3, "label": "Otherwise", "phase": "run"}
    ]


def test_fallback_runs_last_even_when_listed_first(replay: Replay) -> None:
    flow = [
        webhook(),
        router(
            2,
            [action(6, filter={"name": "Otherwise", "conditions": [], "fallback": True})],
            [action(3, filter=flt("Public", [condition("{{1.label}}", "text:equal", "PUBLIC")]))],
        ),
    ]
    run = replay(flow, event={"label": "SECRET"})
    assert [d["route"] for d in run.routes_taken()[0]["decisions"]] == [2, 1]
    assert executed(run) == [1, 6]


def test_fallback_marker_setting_none_treats_it_as_an_ordinary_route(replay: Replay) -> None:
    run = replay(
        _label_router(True), event={"label": "PUBLIC"}, settings={"make.router.fallback_marker": "none"}
    )
    assert executed(run) == [1, 3, 6]  # the empty filter passes, like any route
    assert run.settings["make.router.fallback_marker"] == "none"


def test_bundle_no_route_takes_stops_silently(replay: Replay) -> None:
    run = replay(_label_router(), event={"label": "INTERNAL"})
    assert executed(run) == [1]
    assert run.status == "success"
    [stop] = events(run, "no-route")
    assert "stops here silently" in stop.data["why"]


def test_several_bundles_each_go_through_the_whole_flow(replay: Replay) -> None:
    run = replay(_label_router(), event=[{"label": "PUBLIC"}, {"label": "RESTRICTED"}, {"label": "X"}])
    assert executed(run) == [1, 3, 1, 4, 1]
    assert [[t["route"] for t in e["taken"]] for e in run.routes_taken()] == [[1], [2], []]
    assert run.operations == 1 + 2  # the trigger costs one operation per run; routers cost none


def test_filter_on_a_module_stops_the_bundle_there(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, filter=flt("Hot", [condition("{{1.score}}", "number:greater", "50")])),
        action(3),
    ]
    assert executed(replay(flow, event={"score": 10})) == [1]
    assert executed(replay(flow, event={"score": "51"})) == [1, 2, 3]


# ----- error handlers
# -------------------------------------------------------------------------------------------


def _failing(handler: list[dict[str, Any]] | None, *, after: int = 3) -> list[dict[str, Any]]:
    module = action(2, "airtable:ActionCreateRecord", {"fields": {"who": "{{1.who}}"}})
    if handler is not None:
        module["onerror"] = handler
    return [webhook(), module, action(after, "google-sheets:addRow", {"values": {"0": "{{2.id}}"}})]


FAIL = {"make.module.2.error": "RuntimeError: upstream said no"}
TWO = [{"who": "a"}, {"who": "b"}]


def test_ignore_drops_the_bundle_and_the_run_succeeds(replay: Replay) -> None:
    run = replay(_failing([directive(9, "Ignore")]), event=TWO, settings=FAIL)
    assert executed(run) == [1, 2, 1, 2]  # module 3 never runs; the second bundle still does
    assert run.status == "success"
    assert run.to_json()["modules"][1]["error"] == {"type": "RuntimeError", "message": "upstream said no"}


def test_resume_substitutes_the_output_and_continues(replay: Replay) -> None:
    run = replay(
        _failing([directive(9, "Resume", {"id": "substitute-{{1.who}}"})]), event={"who": "a"}, settings=FAIL
    )
    assert executed(run) == [1, 2, 3]
    [sheet] = [e for e in run.events if e.kind == "module" and e.module == 3]
    assert sheet.data["mapper"] == {"values": {"0": "substitute-a"}}
    assert run.status == "success"


def test_commit_stops_the_run_with_success(replay: Replay) -> None:
    run = replay(_failing([directive(9, "Commit")]), event=TWO, settings=FAIL)
    assert executed(run) == [1, 2]  # the second bundle is not processed
    assert run.status == "success"
    assert "Commit" in run.to_json()["stopped"]["reason"]


@pytest.mark.parametrize(("auto_commit", "rolled_back", "committed"), [(False, [5], []), (True, [], [5])])
def test_rollback_stops_the_run_with_error_and_reverts_transactional_modules(
    replay: Replay, auto_commit: bool, rolled_back: list[int], committed: list[int]
) -> None:
    # help.make.com "Rollback error handler": with auto-commit off, the failing bundle's changes in ACID
    # modules are reverted; with it on (the default), only those of the module that output the error
    flow = _failing([directive(9, "Rollback")])
    flow.insert(1, action(5, "datastore:AddRecord", {"key": "{{1.who}}"}))
    run = replay(flow, event=TWO, settings=FAIL, auto_commit=auto_commit)
    assert executed(run) == [1, 5, 2]
    assert run.status == "error"
    [stop] = events(run, "stop")
    assert stop.data["rolled_back"] == rolled_back
    assert stop.data.get("committed", []) == committed


def test_rollback_keeps_the_changes_of_earlier_bundles(replay: Replay) -> None:
    # bundle a writes to the data store (module 5); bundle b fails in module 2, whose Rollback reverts
    # only what bundle b changed (auto-commit off)
    flow = [
        webhook(),
        router(
            3,
            [action(5, "datastore:AddRecord", filter=flt("a", [condition("{{1.who}}", "text:equal", "a")]))],
            [
                action(
                    2,
                    "airtable:ActionCreateRecord",
                    filter=flt("b", [condition("{{1.who}}", "text:equal", "b")]),
                    onerror=[directive(9, "Rollback")],
                )
            ],
        ),
    ]
    run = replay(flow, event=TWO, settings=FAIL, auto_commit=False)
    assert executed(run) == [1, 5, 1, 2]
    [stop] = events(run, "stop")
    assert (stop.data["rolled_back"], stop.data["committed"]) == ([], [5])


def test_break_stores_an_incomplete_execution_and_retries_on_a_virtual_clock(replay: Replay) -> None:
    flow = _failing([directive(9, "Break", {"retry": True, "count": "2", "interval": "15"})])
    run = replay(flow, event=TWO, settings={**FAIL, "make.module.2.fail_times": 3}, dlq=True)
    # bundles a and b fail (calls 1, 2); after the run: a's retry 1 fails (3), retry 2 succeeds (4) and the
    # rest
    # of its flow runs (module 3); b's retry 1 succeeds (5)
    assert executed(run) == [1, 2, 1, 2, 2, 2, 3, 2, 3]
    incompletes = run.incomplete_executions
    assert [i["bundle"] for i in incompletes] == [1, 2]
    assert [a["result"] for a in incompletes[0]["attempts"]] == ["failed", "completed"]
    assert [a["at_minutes"] for a in incompletes[0]["attempts"]] == [15, 30]
    assert incompletes[1]["attempts"][0]["result"] == "completed"
    assert run.status == "warning"  # the run itself ended with the bundles stored
    assert run.to_json()["time"]["modelled_s"] >= 45 * 60  # retries wait on the virtual clock


def test_break_without_retry_leaves_the_bundle_for_manual_resolution(replay: Replay) -> None:
    run = replay(
        _failing([directive(9, "Break", {"retry": False})]), event={"who": "a"}, settings=FAIL, dlq=True
    )
    assert executed(run) == [1, 2]
    assert run.incomplete_executions[0]["attempts"] == []
    assert run.status == "warning"


def test_break_mapped_count_that_is_not_a_number_falls_back_to_makes_default(replay: Replay) -> None:
    flow = _failing([directive(9, "Break", {"retry": True, "count": "{{1.who}}", "interval": "1"})])
    run = replay(flow, event={"who": "many"}, settings=FAIL, dlq=True)
    assert run.incomplete_executions[0]["count"] == 3
    assert any("Break `count` resolved to 'many', not a number" in note for note in run.to_json()["notes"])


def test_break_retry_success_status_is_a_setting(replay: Replay) -> None:
    flow = _failing([directive(9, "Break", {"retry": True, "count": 1, "interval": 1})])
    settings = {**FAIL, "make.module.2.fail_times": 1, "make.break.after_retry_success": "success"}
    run = replay(flow, event={"who": "a"}, settings=settings, dlq=True)
    assert run.incomplete_executions[0]["resolved"] is True
    assert run.status == "success"


def test_break_without_incomplete_executions_enabled_is_noted(replay: Replay) -> None:
    run = replay(_failing([directive(9, "Break", {"retry": False})]), event={"who": "a"}, settings=FAIL)
    assert any(
        "Break needs 'Allow storing of incomplete executions'" in note for note in run.to_json()["notes"]
    )


def test_error_route_runs_its_modules_before_the_directive(replay: Replay) -> None:
    # mirrors the public pattern error-handler-fallback: log the error, then Ignore
    handler = [
        action(7, "http-log:Log", {"message": "{{2.error.message}}", "who": "{{1.who}}"}),
        directive(9, "Ignore"),
    ]
    run = replay(_failing(handler), event={"who": "a"}, settings=FAIL)
    assert executed(run) == [1, 2, 7]
    [log] = [e for e in run.events if e.module == 7 and e.kind == "module"]
    assert log.data["mapper"] == {"message": "upstream said no", "who": "a"}
    assert run.operations == 3  # trigger, module 2, module 7; the directive costs nothing


def test_router_inside_an_error_route_sends_the_bundle_down_its_routes(replay: Replay) -> None:
    handler = [
        router(
            5,
            [
                action(
                    6,
                    filter=flt("Timeouts", [condition("{{2.error.type}}", "text:equal", "ConnectionError")]),
                )
            ],
            [action(7, mapper={"text": "{{2.error.message}}"})],
        )
    ]
    run = replay(_failing(handler), event={"who": "a"}, settings=FAIL)
    assert executed(run) == [1, 2, 7]
    assert run.routes_taken()[0]["taken"] == [{"router": 5, "route": 2, "label": None, "phase": "run"}]
    assert run.status == "success"  # no directive: acts as Ignore


def test_error_inside_a_route_of_an_error_route_fails_the_run(replay: Replay) -> None:
    run = replay(
        _failing([router(5, [action(6)], [action(7)])]),
        event=TWO,
        settings={**FAIL, "make.module.6.error": "DataError"},
        dlq=True,  # not stored: an error inside an error route fails the run
    )
    assert executed(run) == [1, 2, 6]
    assert run.status == "error"
    assert (
        "module 6 failed with DataError inside the error route of module 2"
        in run.to_json()["stopped"]["reason"]
    )


def test_filter_that_stops_the_error_route_before_its_directive_acts_as_ignore(replay: Replay) -> None:
    handler = [
        action(7, filter=flt("never", [condition("{{1.who}}", "text:equal", "z")])),
        directive(9, "Rollback"),
    ]
    run = replay(_failing(handler), event=TWO, settings=FAIL)
    assert executed(run) == [1, 2, 1, 2]
    assert run.status == "success"
    assert "did not reach builtin:Rollback" in events(run, "directive")[0].data["why"]


def test_error_route_without_a_directive_acts_as_ignore(replay: Replay) -> None:
    run = replay(_failing([action(7)]), event=TWO, settings=FAIL)
    assert executed(run) == [1, 2, 7, 1, 2, 7]
    assert run.status == "success"
    assert events(run, "directive")[0].data["acts_as"] == "builtin:Ignore"


def test_error_inside_an_error_route_fails_the_run(replay: Replay) -> None:
    run = replay(
        _failing([action(7), directive(9, "Ignore")]),
        event=TWO,
        settings={**FAIL, "make.module.7.error": "ConnectionError"},
    )
    assert executed(run) == [1, 2, 7]
    assert run.status == "error"
    assert "inside the error route of module 2" in run.to_json()["stopped"]["reason"]


def test_no_handler_stops_the_run_and_rolls_back(replay: Replay) -> None:
    run = replay(_failing(None), event=TWO, settings=FAIL)
    assert executed(run) == [1, 2]
    assert run.status == "error"


def test_no_handler_with_incomplete_executions_stores_the_bundle(replay: Replay) -> None:
    # Make help "Directives for error handling": Rollback is the default only when storing incompletes is off
    run = replay(
        _failing(None), event=TWO, settings={**FAIL, "make.module.2.error": "ConnectionError"}, dlq=True
    )
    assert run.status == "warning"
    first = run.incomplete_executions[0]
    assert first["directive"] == "(no handler)"
    # help.make.com "Exponential backoff": ConnectionError reruns after 1, 10, 10, 30, ... minutes
    assert [a["at_minutes"] for a in first["attempts"]][:3] == [1, 11, 21]


def test_no_handler_error_on_the_first_module_is_not_stored(replay: Replay) -> None:
    # help.make.com "Errors that don't create incomplete executions": not on the scenario's first module
    flow = [action(1, "airtable:ActionCreateRecord"), action(2)]
    run = replay(flow, settings={"make.module.1.error": "ConnectionError"}, dlq=True)
    assert executed(run) == [1]
    assert run.incomplete_executions == []
    assert run.status == "error"
    assert "first module is not stored" in run.to_json()["stopped"]["reason"]


def test_fatal_error_is_not_handled_by_the_error_route(replay: Replay) -> None:
    run = replay(
        _failing([action(7), directive(9, "Ignore")]),
        event=TWO,
        settings={"make.module.2.error": "AccountValidationError: token rejected"},
    )
    assert executed(run) == [1, 2]  # the error route (module 7) does not run; the run stops
    assert run.status == "error"
    [fatal] = events(run, "error")
    assert "not handle" in fatal.data["why"]


# ----- recorded actions, tools, protected
# --------------------------------------------------------------------------


def test_recorded_action_output_is_set_by_the_run(replay: Replay) -> None:
    flow = [webhook(), action(2, "airtable:ActionCreateRecord"), action(3, mapper={"text": "row {{2.id}}"})]
    run = replay(flow, settings={"make.module.2.output": '{"id": "rec42"}'})
    [slack] = [e for e in run.events if e.module == 3]
    assert slack.data["mapper"] == {"text": "row rec42"}
    assert run.warnings == []


def test_recorded_action_output_defaults_to_an_empty_bundle_with_a_warning(replay: Replay) -> None:
    flow = [webhook(), action(2, "airtable:ActionCreateRecord"), action(3, mapper={"text": "row {{2.id}}"})]
    run = replay(flow)
    [warning] = run.warnings
    assert warning["message"].endswith("module 2 outputs no fields")


def test_set_variable_tools(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "util:SetVariable2", {"name": "who", "scope": "roundtrip", "value": "{{upper(1.who)}}"}),
        action(3, "util:GetVariable2", {"name": "who"}),
        action(4, "util:ComposeTransformer", {"value": "{{2.who}}/{{3.who}}"}),
        action(5, "json:ParseJSON", {"json": '{"a": [1, 2]}'}),
        action(6, mapper={"text": "{{4.value}} {{5.a[2]}}"}),
    ]
    run = replay(flow, event={"who": "ann"})
    [slack] = [e for e in run.events if e.module == 6]
    assert slack.data["mapper"] == {"text": "ANN/ANN 2"}


def test_protected_override_by_setting(replay: Replay) -> None:
    flow = [webhook(), action(2), action(3)]
    run = replay(flow, settings={"protected": "3"})
    assert run.protected_ran is True
    assert run.to_json()["protected"] == [3]
    assert [m["protected"] for m in run.to_json()["modules"]] == [False, False, True]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"bogus": 1}, "unknown setting `bogus`"),
        ({"make.filter.boolean_coercion": "loose"}, "expected one of make-type-coercion, strict"),
        ({"time_scale": "fast"}, "`time_scale` = 'fast': expected a number"),
        ({"make.module.2.error": "Oops"}, "expected `ErrorType` or `ErrorType: message`"),
        ({"make.module.2.output": "[1]"}, "expected a JSON object"),
        ({"make.module.9.output": "{}"}, "make.module.9: no module 9"),
        ({"protected": "x"}, "expected module ids separated by commas"),
    ],
)
def test_bad_settings_are_named(replay: Replay, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=r"run settings|make\.module") as caught:
        replay([webhook(), action(2)], settings=settings)
    assert message in str(caught.value)


def test_overrides_do_not_apply_to_modules_the_replay_runs_itself(replay: Replay) -> None:
    flow = [webhook(), action(2, "util:ComposeTransformer", {"value": "x"})]
    with pytest.raises(InputError, match="module 2 is util:ComposeTransformer, which the replay runs itself"):
        replay(flow, settings={"make.module.2.error": "RuntimeError"})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "an empty list"),
        (["x"], r"the event\[0\]: expected a bundle \(JSON object\)"),
        (3, "the event: expected a bundle"),
    ],
)
def test_bad_events_are_named(replay: Replay, event: Any, message: str) -> None:
    with pytest.raises(InputError, match=message):
        replay([webhook(), action(2)], event=event)


def test_default_event_is_one_bundle_with_the_guides_fields(replay: Replay) -> None:
    run = replay([webhook(), action(2, mapper={"w": "{{1.worker_id}}", "l": "{{1.data_label}}"})])
    assert run.bundles == [{"worker_id": "wrk_make_acme_prod", "data_label": "INTERNAL"}]
