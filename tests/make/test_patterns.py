"""Blueprints shaped like the public examples in integromat/make-blueprints `patterns/*/blueprint.json` load
and run.

The files in tests/make/data/ are hallsim's own (the house rule: no public code verbatim); each reproduces the
structure of one public pattern -- module types, routers, filters, error routes, if-else/merge,
iterator/aggregator, metadata shapes -- and names the pattern it mirrors in `metadata.hallsim.mirrors`.
pytest-httpserver plays the APIs their HTTP modules call."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from hallsim.harness.make import MakeRun, load_blueprint
from hallsim.harness.workflow import HallEndpoint

from .conftest import DATA, executed


def _run(name: str, server: HTTPServer, event: Any = None, **settings: Any) -> MakeRun:
    blueprint = load_blueprint(DATA / f"{name}.blueprint.json")
    return blueprint.run(
        HallEndpoint(server.url_for("/").rstrip("/"), None),
        event=event,
        variables={"organization.API_BASE": server.url_for("").rstrip("/")},
        settings={"time_scale": 0.01, **settings},
    )


def _bodies(server: HTTPServer, path: str) -> list[Any]:
    return [json.loads(request.data) for request, _ in server.log if request.path == path]


def test_every_data_blueprint_names_the_pattern_it_mirrors() -> None:
    files = sorted(DATA.glob("*.blueprint.json"))
    assert len(files) == 10
    for path in files:
        mirrors = json.loads(path.read_text(encoding="utf-8"))["metadata"]["hallsim"]["mirrors"]
        assert mirrors.startswith("integromat/make-blueprints patterns/")
        assert load_blueprint(path).name


def test_router_with_filtered_http_route_and_ignore_handler(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/urgent", method="POST").respond_with_json({"queued": True})
    run = _run(
        "ticket_triage_router",
        httpserver,
        [{"ticket": "T-1", "severity": 9}, {"ticket": "T-2", "severity": 2}],
    )
    assert [[t["route"] for t in e["taken"]] for e in run.routes_taken()] == [[1, 2], [2]]
    [body] = _bodies(httpserver, "/urgent")
    assert body["ticket"] == "T-1"
    assert body["severity"] == 9
    assert (
        len(body["seen"]) == 10
    )  # formatDate(now; \"YYYY-MM-DD\") written with escaped quotes, as exports do
    assert run.to_json()["modules"][3]["output"] == {"lastTicket": "T-2"}


def test_router_route_error_is_ignored(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/urgent").respond_with_data("down", status=502)
    run = _run("ticket_triage_router", httpserver, {"ticket": "T-1", "severity": 8})
    assert run.to_json()["modules"][2]["error"]["type"] == "RuntimeError"
    assert run.status == "success"
    assert executed(run) == [1, 3, 4]  # route 2 still runs after route 1's error was ignored


def test_error_route_logs_the_failure_then_ignores_it(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/payments").respond_with_data("card declined", status=402)
    httpserver.expect_request("/log").respond_with_data("ok")
    run = _run("payment_error_logging", httpserver, {"payment": "p-7", "cents": 1250})
    [log] = _bodies(httpserver, "/log")
    assert log == {"failed": "p-7", "why": "[402] card declined"}
    assert run.status == "success"
    assert run.to_json()["modules"][2]["output"]["data"] == "ok"  # Parse response off: raw text


def test_minimal_forward(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/signups").respond_with_json({"id": 1})
    run = _run("signup_forward", httpserver, {"user": "ann", "plan": "pro"})
    assert _bodies(httpserver, "/signups") == [{"user": "ann", "plan": "pro"}]
    assert run.operations == 2


def test_filter_gate_lets_only_big_orders_through(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/big-orders").respond_with_json({})
    _run("big_order_gate", httpserver, [{"order": "a", "total": 50}, {"order": "b", "total": 5000}])
    assert [b["order"] for b in _bodies(httpserver, "/big-orders")] == ["b"]


@pytest.mark.parametrize(
    ("shipping", "note"),
    [("EXPRESS", "Parcel P1 leaves tonight"), ("ground", "Parcel P1 leaves this week")],
)
def test_if_else_with_merge(httpserver: HTTPServer, shipping: str, note: str) -> None:
    httpserver.expect_request("/notes").respond_with_json({})
    run = _run("shipping_if_else_merge", httpserver, {"parcel": "P1", "shipping": shipping})
    assert _bodies(httpserver, "/notes") == [{"parcel": "P1", "note": note}]
    assert run.operations == 3  # trigger, one compose, the HTTP call; if-else and merge cost nothing


@pytest.mark.parametrize(("exists", "added"), [(False, True), (True, False)])
def test_data_store_dedupe(httpserver: HTTPServer, exists: bool, added: bool) -> None:
    httpserver.expect_request("/contacts").respond_with_json({})
    run = _run(
        "contact_dedupe",
        httpserver,
        {"contact": "c@example.com"},
        **{
            "make.datastores": json.dumps(
                {"default": {"c@example.com": {"contact": "old"}} if exists else {}}
            )
        },
    )
    assert (3 in executed(run)) is added
    assert len(_bodies(httpserver, "/contacts")) == (1 if added else 0)
    assert "c@example.com" in run.datastores["default"]  # seeded, or added by the run


@pytest.mark.parametrize(("state", "alerted"), [("healthy", False), ("degraded", True)])
def test_poll_without_a_trigger(httpserver: HTTPServer, state: str, alerted: bool) -> None:
    httpserver.expect_request("/health", method="GET").respond_with_json({"state": state})
    httpserver.expect_request("/alerts").respond_with_json({})
    run = _run("health_poll", httpserver, event=[{"ignored": True}, {"ignored": True}])
    assert executed(run)[0] == 1  # the HTTP module runs once: there is no trigger to feed bundles
    assert len(run.bundles) == 2
    assert "is not a trigger: the flow ran once and the event's 2 bundle(s) were not used" in run.render()
    assert _bodies(httpserver, "/alerts") == ([{"alert": f"health is {state}"}] if alerted else [])


def test_iterator_and_aggregator(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/baskets").respond_with_json({})
    lines = [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}, {"sku": "C", "qty": 5}]
    run = _run("basket_iterator_aggregator", httpserver, {"lines": lines})
    assert _bodies(httpserver, "/baskets") == [{"basket": "2x A; 1x B; 5x C", "lines": 3}]
    assert executed(run) == [1, 2, 3, 3, 3, 4, 5]
    assert run.operations == 1 + 1 + 3 + 1 + 1


def test_paced_loop_sleeps_on_the_virtual_clock(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/items/7", method="PUT").respond_with_json({})
    httpserver.expect_request("/items/8", method="PUT").respond_with_json({})
    run = _run(
        "paced_item_updates", httpserver, {"items": [{"id": 7, "state": "on"}, {"id": 8, "state": "off"}]}
    )
    assert _bodies(httpserver, "/items/8") == [{"state": "off"}]
    assert run.to_json()["time"]["run_modelled_s"] >= 4  # two 2 s sleeps, modelled


def test_webhook_response_is_a_recorded_action(httpserver: HTTPServer) -> None:
    run = _run("echo_responder", httpserver, {"message": "hi"})
    respond = run.to_json()["modules"][1]
    assert respond["executed"] is True
    [event] = [e for e in run.events if e.module == 2]
    assert event.data["mapper"]["body"] == '{"ok": true, "echo": "hi"}'
    assert event.data["kind"] == "recorded"
