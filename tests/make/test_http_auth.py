"""The HTTP app's authenticated modules and the headers Make sends (apps.make.com "HTTP", "HTTP (legacy)",
"API key authentication type"; shared/reference/make.md corrections): a keychain is supplied by file or
--var, an API key defaults to the Hall's bearer token, secrets are masked; no `Accept` header and Make's
User-Agent; 400/404 under "Evaluate all states as errors" are BundleValidationError (help.make.com "Types of
errors"); Parse response parses XML; "Get a file" outputs the file."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from hallsim.harness._errors import InputError
from hallsim.harness.make import MakeRun
from hallsim.harness.stubs import parse_stubs
from hallsim.harness.workflow import HallEndpoint

from .conftest import NOWHERE, action, condition, flt, http_v3, router, webhook

Replay = Callable[..., MakeRun]


def api_key_gate(parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The guide's gate built with "Make an API key Auth request" (no Authorization header mapped)."""
    http = http_v3(headers=[])
    http["module"] = "http:ActionSendDataAPIKeyAuth"
    http["parameters"] = {"auth": 14964, "handleErrors": True, **(parameters or {})}
    allowed = action(
        4,
        "google-sheets:addRow",
        filter=flt("Allowed", [condition("{{2.data.denied}}", "boolean:equal", False)]),
    )
    denied = action(
        5,
        "slack:CreateMessage",
        filter=flt("Denied", [condition("{{2.data.denied}}", "boolean:equal", True)]),
    )
    return [webhook(), http, router(3, [allowed], [denied])]


def _taken(run: MakeRun) -> list[int]:
    return [t["route"] for t in run.routes_taken()[0]["taken"]]


@pytest.mark.parametrize(("behaviour", "route"), [("allow", 1), ("deny", 2)])
def test_api_key_auth_gate_calls_the_hall_and_routes_on_its_answer(
    replay: Replay, hall: HallEndpoint, behaviour: str, route: int
) -> None:
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    run = replay(api_key_gate(), hall=hall)
    [request] = run.hall_requests
    # the Hall's own token, defaulted (the journal masks it); the Hall accepted it: it answered the decision
    assert request.headers["authorization"].startswith("Bearer ")
    assert request.status == 200
    assert _taken(run) == [route]
    [event] = [e for e in run.events if e.module == 2]
    keychain = event.data["request"]["keychain"]
    assert keychain["source"] == "defaulted from the Hall endpoint"
    assert keychain["key"] != f"Bearer {hall.token}"  # masked in the trace
    assert "keychain 14964: apiKey, header Authorization (defaulted from the Hall endpoint)" in run.render()


def test_api_key_from_a_keychain_file_in_the_query_string(
    replay: Replay, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/api/route", query_string={"api_key": "sekret-123456"}).respond_with_json(
        {"denied": False}
    )
    keys = tmp_path / "keys.json"
    keys.write_text(
        json.dumps(
            {"14964": {"type": "apiKey", "key": "sekret-123456", "placement": "query", "name": "api_key"}}
        )
    )
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), None)
    run = replay(api_key_gate(), hall=endpoint, settings={"make.keychains": str(keys)})
    assert _taken(run) == [1]
    [event] = [e for e in run.events if e.module == 2]
    assert event.data["request"]["query"]["api_key"] != "sekret-123456"
    assert "sekret-123456" not in json.dumps(run.to_json())


def test_basic_auth_from_vars(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/route").respond_with_json({"denied": True})
    flow = api_key_gate()
    flow[1]["module"] = "http:ActionSendDataBasicAuth"
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), None)
    variables = {"keychain.14964.username": "gate", "keychain.14964.password": "pw-987654"}
    run = replay(flow, hall=endpoint, variables=variables)
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"gate:pw-987654").decode()
    assert _taken(run) == [2]
    assert "pw-987654" not in json.dumps(run.to_json())


def test_basic_auth_without_a_keychain_is_a_named_error(replay: Replay) -> None:
    flow = api_key_gate()
    flow[1]["module"] = "http:ActionSendDataBasicAuth"
    with pytest.raises(
        InputError,
        match=r"module 2 \(http:ActionSendDataBasicAuth\): its basicAuth keychain 14964 is not supplied",
    ):
        replay(flow)


@pytest.mark.parametrize("kind", ["apiKey", "basicAuth"])
def test_v4_make_request_authentication_types(replay: Replay, httpserver: HTTPServer, kind: str) -> None:
    httpserver.expect_request("/api/route").respond_with_json({"denied": False})
    http = {
        "id": 2,
        "module": "http:MakeRequest",
        "version": 4,
        "parameters": {"authenticationType": kind, f"{kind}Keychain": 77},
        "mapper": {"url": "{{variable.PYHALL_HALL_URL}}/api/route", "method": "post", "parseResponse": True},
    }
    variables = {"keychain.77.key": "Token abc-123456", "keychain.77.name": "X-Api-Key"}
    if kind == "basicAuth":
        variables = {"keychain.77.username": "u", "keychain.77.password": "p"}
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), None)
    run = replay(
        [webhook(), http, action(3, mapper={"d": "{{2.data.denied}}"})], hall=endpoint, variables=variables
    )
    [(request, _)] = httpserver.log
    if kind == "apiKey":
        assert request.headers["X-Api-Key"] == "Token abc-123456"
    else:
        assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert run.to_json()["modules"][2]["executed"] is True


def test_no_accept_header_and_makes_user_agent(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/route").respond_with_json({"denied": False})
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), "t")
    replay([webhook(), http_v3(), action(3)], hall=endpoint)
    replay([webhook(), http_v3(), action(3)], hall=endpoint, settings={"make.http.user_agent": ""})
    [(first, _), (second, _)] = httpserver.log
    assert "Accept" not in first.headers
    assert first.headers["User-Agent"] == "Make/production"
    assert "User-Agent" not in second.headers


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, "BundleValidationError"),
        (404, "BundleValidationError"),
        (422, "RuntimeError"),
        (502, "RuntimeError"),
    ],
)
def test_status_error_types(replay: Replay, httpserver: HTTPServer, status: int, error_type: str) -> None:
    httpserver.expect_request("/api/route").respond_with_data("no", status=status)
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), "t")
    run = replay([webhook(), http_v3(), action(3)], hall=endpoint)
    assert run.to_json()["modules"][1]["error"]["type"] == error_type
    other = replay(
        [webhook(), http_v3(), action(3)],
        hall=endpoint,
        settings={"make.http.other_status_error": "DataError"},
    )
    assert other.to_json()["modules"][1]["error"]["type"] == (
        "DataError" if status in (422, 502) else error_type
    )


def test_parse_response_parses_xml(replay: Replay, httpserver: HTTPServer) -> None:
    xml = (
        '<decision id="d-1"><denied>true</denied><reason>DENY_POLICY_GATE</reason>'
        "<tag>a</tag><tag>b</tag></decision>"
    )
    httpserver.expect_request("/api/route").respond_with_data(xml, content_type="application/xml")
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), "t")
    run = replay(
        [
            webhook(),
            http_v3(),
            action(3, mapper={"d": "{{2.data.decision.denied}}", "t": "{{2.data.decision.tag[2]}}"}),
        ],
        hall=endpoint,
    )
    data = run.to_json()["modules"][1]["output"]["data"]
    assert data["decision"]["_attributes"] == {"id": "d-1"}
    [slack] = [e for e in run.events if e.module == 3]
    assert slack.data["mapper"] == {"d": "true", "t": "b"}


def test_bad_xml_is_a_data_error(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/route").respond_with_data("<a><b></a>", content_type="text/xml")
    endpoint = HallEndpoint(httpserver.url_for("").rstrip("/"), "t")
    run = replay([webhook(), http_v3(), action(3)], hall=endpoint)
    assert run.to_json()["modules"][1]["error"]["type"] == "DataError"


def test_get_a_file(replay: Replay) -> None:
    # the file's host is not the Hall: the run's stub service answers it (hallsim.harness.egress)
    stubs = parse_stubs(
        [
            {
                "match": {"method": "GET", "path": "/files/rows"},
                "respond": {
                    "behaviour": "http-200",
                    "body": "col\n1\n",
                    "headers": {"Content-Disposition": 'attachment; filename="rows.csv"'},
                },
            }
        ]
    )
    target = {"url": "https://files.example.invalid/files/rows", "method": "get"}
    get_file = action(2, "http:ActionGetFile", target)
    get_file["parameters"] = {"handleErrors": True}
    run = replay(
        [webhook(), get_file, action(3, mapper={"n": "{{2.fileName}}", "s": "{{2.fileSize}}"})],
        hall=NOWHERE,
        stubs=stubs,
    )
    assert run.to_json()["modules"][1]["output"] == {
        "fileName": "rows.csv",
        "data": "col\n1\n",
        "fileSize": 6,
    }
    [slack] = [e for e in run.events if e.module == 3]
    assert slack.data["mapper"] == {"n": "rows.csv", "s": 6}


def test_resolve_a_target_url_follows_redirects(replay: Replay) -> None:
    stubs = parse_stubs(
        [
            {
                "match": {"path": "/short"},
                "respond": {"behaviour": "http-302", "body": "", "headers": {"Location": "/long/terms"}},
            },
            {"match": {"path": "/long/terms"}, "respond": {"behaviour": "http-200", "body": "terms"}},
        ]
    )
    resolve = action(2, "http:ActionResolveTargetURL", {"url": "https://short.example.invalid/short"})
    resolve["parameters"] = {"handleErrors": True}
    run = replay([webhook(), resolve, action(3, mapper={"u": "{{2.url}}"})], hall=NOWHERE, stubs=stubs)
    [slack] = [e for e in run.events if e.module == 3]
    assert slack.data["mapper"] == {"u": "https://short.example.invalid/long/terms"}


def test_client_certificate_request_goes_without_the_certificate(replay: Replay, hall: HallEndpoint) -> None:
    http = http_v3()
    http["module"] = "http:ActionSendDataClientCertAuth"
    http["parameters"]["key"] = 90
    run = replay([webhook(), http, action(3, mapper={"d": "{{2.data.denied}}"})], hall=hall)
    [event] = [e for e in run.events if e.module == 2]
    assert event.data["request"]["client_certificate"].startswith("not presented")
    assert run.to_json()["modules"][2]["executed"] is True
