"""The HTTP app's "Make a request" over real sockets, against the Hall emulator under each behaviour
(shared/reference/make.md "HTTP Make a request"): output bundle, Parse response, error evaluation (v3
`handleErrors`, v4 `stopOnHttpError`), status -> error type, timeout in seconds (scaled), redirects; the
UNCONFIRMED error types of timeouts, refused and reset connections are settings the run reports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from hallsim.harness.make import MakeRun
from hallsim.harness.workflow import HallEndpoint

from .conftest import NOWHERE, action, http_v3, http_v4, webhook

Replay = Callable[..., MakeRun]


def _http_event(run: MakeRun) -> Any:
    [event] = [e for e in run.events if e.kind == "module" and e.module == 2]
    return event


def _gate(module: dict[str, Any], *, handler: str | None = "Ignore") -> list[dict[str, Any]]:
    if handler is not None:
        module["onerror"] = [{"id": 9, "module": f"builtin:{handler}", "version": 1}]
    return [webhook(), module, action(3, mapper={"denied": "{{2.data.denied}}"})]


def test_allow_gives_the_documented_v3_output_bundle(replay: Replay, hall: HallEndpoint) -> None:
    run = replay(_gate(http_v3()), hall=hall)
    output = run.to_json()["modules"][1]["output"]
    assert sorted(output) == ["cookieHeaders", "data", "fileSize", "headers", "statusCode"]
    assert output["statusCode"] == 200
    assert {"name": "content-type", "value": "application/json"} in output["headers"]
    assert output["data"]["denied"] is False  # parsed JSON sits under data: {{2.data.denied}}
    assert output["fileSize"] > 0
    [request] = run.hall_requests
    assert request.body["worker_id"] == "wrk_make_acme_prod"
    assert request.status == 200


def test_v4_output_has_headers_as_a_collection(replay: Replay, hall: HallEndpoint) -> None:
    run = replay(_gate(http_v4()), hall=hall)
    output = run.to_json()["modules"][1]["output"]
    assert sorted(output) == ["data", "headers", "statusCode"]
    assert output["headers"]["content-type"] == "application/json"
    assert output["data"]["denied"] is False


def test_deny_is_an_ordinary_200(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("deny")  # type: ignore[union-attr]
    run = replay(_gate(http_v3()), hall=hall)
    data = run.to_json()["modules"][1]["output"]["data"]
    assert data["denied"] is True
    assert data["reason"]
    [slack] = [e for e in run.events if e.module == 3]
    assert slack.data["mapper"] == {"denied": True}


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [
        ("http-500", "RuntimeError"),
        ("http-404", "BundleValidationError"),  # help.make.com "Types of errors"
        ("http-400", "BundleValidationError"),
        ("http-503", "ConnectionError"),
        ("http-504", "ConnectionError"),
        ("http-429", "RateLimitError"),
        ("http-401", "AccountValidationError"),
        ("http-403", "AccountValidationError"),
    ],
)
def test_status_errors_when_error_evaluation_is_on(
    replay: Replay, hall: HallEndpoint, behaviour: str, error_type: str
) -> None:
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    for module in (http_v3(), http_v4(stopOnHttpError=True)):
        run = replay(_gate(module), hall=hall)
        error = run.to_json()["modules"][1]["error"]
        assert error["type"] == error_type
        assert error["statusCode"] == int(behaviour[5:])
        if error_type == "AccountValidationError":
            assert run.status == "error"  # fatal: the Ignore handler does not handle it
            assert "no error handler handles" in run.to_json()["stopped"]["reason"]
        else:
            assert run.status == "success"  # the Ignore handler dropped the bundle


def test_4xx_5xx_are_ordinary_outputs_when_error_evaluation_is_off(
    replay: Replay, hall: HallEndpoint
) -> None:
    hall.emulator.set_default("http-500")  # type: ignore[union-attr]
    for module in (http_v3(handle_errors=False), http_v4(stopOnHttpError=False)):
        run = replay(_gate(module, handler=None), hall=hall)
        assert run.to_json()["modules"][1]["output"]["statusCode"] == 500
        assert run.status == "success"
        assert [e.module for e in run.events if e.kind == "module"] == [1, 2, 3]


def test_v4_stop_on_http_error_default_is_a_setting(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("http-500")  # type: ignore[union-attr]
    stops = replay(_gate(http_v4()), hall=hall)
    assert stops.to_json()["modules"][1]["error"]["type"] == "RuntimeError"
    passes = replay(_gate(http_v4()), hall=hall, settings={"make.http.v4_stop_on_http_error": "false"})
    assert passes.to_json()["modules"][1]["output"]["statusCode"] == 500


@pytest.mark.parametrize(
    ("behaviour", "setting", "default_type"),
    [
        ("timeout", "make.http.timeout_error", "ConnectionError"),
        ("slow:30", "make.http.timeout_error", "ConnectionError"),  # answers after the 10 s timeout
        ("reset", "make.http.reset_error", "ConnectionError"),
        ("close", "make.http.reset_error", "ConnectionError"),
    ],
)
def test_network_failures_raise_the_type_their_setting_names(
    replay: Replay, hall: HallEndpoint, behaviour: str, setting: str, default_type: str
) -> None:
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    run = replay(_gate(http_v3()), hall=hall)
    assert run.to_json()["modules"][1]["error"]["type"] == default_type
    assert run.settings[setting] == default_type
    changed = replay(_gate(http_v3()), hall=hall, settings={setting: "ModuleTimeoutError"})
    assert changed.to_json()["modules"][1]["error"]["type"] == "ModuleTimeoutError"


def test_timeout_takes_the_modelled_seconds_of_the_module(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("timeout")  # type: ignore[union-attr]
    run = replay(_gate(http_v3(timeout="10")), hall=hall, settings={"time_scale": 0.01})
    event = _http_event(run)
    assert event.data["request"]["timeout_s"] == 10
    assert event.data["modelled_s"] == 10
    assert "ETIMEDOUT" in event.data["error"]["message"]
    assert hall.emulator.time_scale == 0.01  # type: ignore[union-attr]


def test_slow_answer_inside_the_timeout_arrives(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("slow:2.5")  # type: ignore[union-attr]
    run = replay(_gate(http_v3(timeout="10")), hall=hall, settings={"time_scale": 0.01})
    event = _http_event(run)
    assert event.data["output"]["statusCode"] == 200
    assert event.data["modelled_s"] >= 2.5


def test_empty_timeout_uses_the_default_setting(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("timeout")  # type: ignore[union-attr]
    run = replay(
        _gate(http_v3(timeout="")), hall=hall, settings={"make.http.default_timeout": 40, "time_scale": 0.001}
    )
    assert _http_event(run).data["request"]["timeout_s"] == 40


@pytest.mark.parametrize("timeout", ["0", "301", "ten"])
def test_timeout_outside_1_to_300_seconds_is_a_bundle_validation_error(
    replay: Replay, hall: HallEndpoint, timeout: str
) -> None:
    run = replay(_gate(http_v3(timeout=timeout)), hall=hall)
    assert run.to_json()["modules"][1]["error"]["type"] == "BundleValidationError"
    assert run.hall_requests == []


def test_connection_refused(replay: Replay) -> None:
    run = replay(_gate(http_v3()), hall=NOWHERE)
    error = run.to_json()["modules"][1]["error"]
    assert error["type"] == "ConnectionError"
    assert "ECONNREFUSED" in error["message"]
    assert run.settings["make.http.refused_error"] == "ConnectionError"


def test_malformed_json_with_parse_response_is_a_data_error(replay: Replay, hall: HallEndpoint) -> None:
    hall.emulator.set_default("malformed-json")  # type: ignore[union-attr]
    run = replay(_gate(http_v3()), hall=hall)
    assert run.to_json()["modules"][1]["error"]["type"] == "DataError"
    raw = replay(_gate(http_v3(parseResponse=False)), hall=hall)
    assert isinstance(raw.to_json()["modules"][1]["output"]["data"], str)


@pytest.mark.parametrize(
    ("behaviour", "data"),
    [
        ("empty-body", ""),
        ("missing-denied", "no denied"),
        ("denied-as-string:false", "false"),
        ("denied-as-string:true", "true"),
    ],
)
def test_odd_200_answers_are_outputs(replay: Replay, hall: HallEndpoint, behaviour: str, data: str) -> None:
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    run = replay(_gate(http_v3()), hall=hall)
    output = run.to_json()["modules"][1]["output"]
    assert output["statusCode"] == 200
    if data == "":
        assert output["data"] == ""
    elif data == "no denied":
        assert "denied" not in output["data"]
        assert any("`{{2.data.denied}}` resolves to nothing" in w["message"] for w in run.warnings)
    else:
        assert output["data"]["denied"] == data  # text, not a boolean


def test_wrong_token_is_account_validation_error(replay: Replay, hall: HallEndpoint) -> None:
    run = replay(_gate(http_v3()), hall=hall, variables={"HALL_SESSION_TOKEN": "wrong"})
    assert run.to_json()["modules"][1]["error"]["type"] == "AccountValidationError"
    assert run.variables["HALL_SESSION_TOKEN"] == {
        "value": "***",
        "source": "supplied",
        "scopes": ["organization", "team", "input", "scenario", "variable"],
    }


def test_run_reports_only_its_own_hall_requests(replay: Replay, hall: HallEndpoint) -> None:
    replay(_gate(http_v3()), hall=hall)
    second = replay(_gate(http_v3()), hall=hall, event=[{"worker_id": "a"}, {"worker_id": "b"}])
    assert [r.body["worker_id"] for r in second.hall_requests] == ["a", "b"]


def test_missing_url_variable_is_a_bundle_validation_error(replay: Replay) -> None:
    module = http_v3(url="{{var.organization.NOT_SET}}/api/route")
    run = replay(_gate(module), hall=HallEndpoint("http://127.0.0.1:9", None))
    assert run.to_json()["modules"][1]["error"]["type"] == "BundleValidationError"
    assert any("no organization variable `NOT_SET`" in w["message"] for w in run.warnings)


# --- redirects, query strings, form bodies: pytest-httpserver plays the server
# ---------------------------------


@pytest.fixture
def redirecting(httpserver: HTTPServer) -> HallEndpoint:
    httpserver.expect_request("/api/route").respond_with_data("", status=307, headers={"Location": "/moved"})
    httpserver.expect_request("/moved").respond_with_json({"denied": False, "moved": True})
    return HallEndpoint(httpserver.url_for("/").rstrip("/"), "t")


@pytest.mark.parametrize(
    ("module", "settings", "followed"),
    [
        (http_v3(method="get"), {}, True),
        (http_v3(), {}, False),  # POST: followRedirect follows only GET unless followAllRedirects
        (http_v3(followAllRedirects=True), {}, True),
        (http_v3(), {"make.http.v3_redirect_methods": "all"}, True),
        (http_v3(method="get", followRedirect=False), {}, False),
        (http_v4(), {}, True),
        (http_v4(allowRedirects=False), {}, False),
    ],
)
def test_redirects(
    replay: Replay,
    redirecting: HallEndpoint,
    module: dict[str, Any],
    settings: dict[str, Any],
    followed: bool,
) -> None:
    run = replay(_gate(module), hall=redirecting, settings=settings)
    output = run.to_json()["modules"][1]["output"]
    if followed:
        assert output["data"] == {"denied": False, "moved": True}
    else:
        assert output["statusCode"] == 307  # a 3xx is not an error, even with error evaluation on
        assert any("`{{2.data.denied}}` resolves to nothing" in w["message"] for w in run.warnings)


def test_query_string_and_form_body(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request(
        "/form",
        method="POST",
        query_string="a=1",
        data="x=2&y=w",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ).respond_with_json({"ok": True})
    module = http_v3(
        url=httpserver.url_for("/form"),
        qs=[{"name": "a", "value": "1"}],
        bodyType="x_www_form_urlencoded",
        fields=[{"name": "x", "value": "2"}, {"name": "y", "value": "{{1.worker_id}}"}],
    )
    run = replay(_gate(module), event={"worker_id": "w"}, hall=HallEndpoint(httpserver.url_for("/"), None))
    assert run.to_json()["modules"][1]["output"]["data"] == {"ok": True}


def test_v4_data_structure_body_is_sent_as_json(replay: Replay, httpserver: HTTPServer) -> None:
    # real v4 exports also use inputMethod dataStructure, the fields in dataStructureBodyContent
    httpserver.expect_request(
        "/ds", method="POST", json={"worker_id": "w", "env": "prod", "n": 2}
    ).respond_with_json({"ok": True})
    module = http_v4(
        url=httpserver.url_for("/ds"),
        inputMethod="dataStructure",
        bodyDataStructure=12345,
        dataStructureBodyContent={"worker_id": "{{1.worker_id}}", "env": "prod", "n": 2},
    )
    del module["mapper"]["jsonStringBodyContent"]
    run = replay(_gate(module), event={"worker_id": "w"}, hall=HallEndpoint(httpserver.url_for("/"), None))
    assert run.to_json()["modules"][1]["output"]["data"] == {"ok": True}
