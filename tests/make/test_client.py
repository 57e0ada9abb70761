"""The HTTP modules' send loop (make/_client.py) keeps httpx.Client's rules for what a module sends: redirects
that turn a request into GET drop its body, a redirect to another origin drops Authorization, credentials in
the URL are Basic auth; and cookies live for one request only (apps.make.com "HTTP": modules do not share
cookies unless "Share cookies with other HTTP modules" is on), so nothing one replay was sent reaches the
next."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from hallsim.harness.make import MakeRun
from hallsim.harness.workflow import HallEndpoint

from .conftest import action, http_v3, http_v4, webhook

Replay = Callable[..., MakeRun]


def _flow(module: dict[str, Any]) -> list[dict[str, Any]]:
    return [webhook(), module, action(3, mapper={"seen": "{{2.data}}"})]


def _output(run: MakeRun) -> Any:
    """Module 2's output as the run recorded it (unmasked: the echo shows what was sent)."""
    return run.engine.executions[2][-1].get("output")


def _echo(request: Request) -> Response:
    seen = {
        "method": request.method,
        "body": request.get_data(as_text=True),
        "authorization": request.headers.get("Authorization"),
        "cookie": request.headers.get("Cookie"),
    }
    return Response(json.dumps(seen), content_type="application/json")


def test_a_cookie_an_answer_sets_does_not_reach_the_next_run(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/login").respond_with_json({"ok": True}, headers={"Set-Cookie": "sid=secret1"})
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    replay(_flow(http_v3(url=httpserver.url_for("/login"), method="get")), hall=hall)
    second = replay(_flow(http_v3(url=httpserver.url_for("/echo"), method="get")), hall=hall)
    assert _output(second)["data"]["cookie"] is None


def test_a_cookie_set_by_a_redirect_goes_with_the_redirect(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/start").respond_with_data(
        "", status=302, headers={"Location": "/echo", "Set-Cookie": "step=1"}
    )
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    run = replay(_flow(http_v3(url=httpserver.url_for("/start"), method="get")), hall=hall)
    assert _output(run)["data"]["cookie"] == "step=1"


def test_a_303_turns_the_post_into_a_get_without_its_body(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/submit", method="POST").respond_with_data(
        "", status=303, headers={"Location": "/echo"}
    )
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    run = replay(_flow(http_v4(url=httpserver.url_for("/submit"))), hall=hall)
    seen = _output(run)["data"]
    assert seen["method"] == "GET"
    assert seen["body"] == ""


def test_a_307_keeps_the_method_and_the_body(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/submit", method="POST").respond_with_data(
        "", status=307, headers={"Location": "/echo"}
    )
    httpserver.expect_request("/echo", method="POST").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    run = replay(_flow(http_v4(url=httpserver.url_for("/submit"))), hall=hall)
    seen = _output(run)["data"]
    assert seen["method"] == "POST"
    assert '"env": "prod"' in seen["body"]
    assert seen["authorization"] == "Bearer"  # same origin: the module's header stays (no token given)


def test_a_redirect_to_another_origin_drops_authorization(replay: Replay, httpserver: HTTPServer) -> None:
    # localhost and 127.0.0.1 are two origins on the same server
    elsewhere = httpserver.url_for("/echo").replace("localhost", "127.0.0.1")
    if elsewhere == httpserver.url_for("/echo"):
        elsewhere = httpserver.url_for("/echo").replace("127.0.0.1", "localhost")
    httpserver.expect_request("/go").respond_with_data("", status=302, headers={"Location": elsewhere})
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    module = http_v3(
        url=httpserver.url_for("/go"), method="get", headers=[{"name": "Authorization", "value": "Bearer k"}]
    )
    run = replay(_flow(module), hall=hall, settings={"make.http.v3_redirect_methods": "all"})
    seen = _output(run)["data"]
    assert seen["method"] == "GET"  # the echo answered: the other name is the Hall's address and port
    assert seen["authorization"] is None


def test_credentials_in_the_url_are_basic_auth(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    url = httpserver.url_for("/echo").replace("://", "://ann:pw@")
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    run = replay(_flow(http_v3(url=url, method="get", headers=[])), hall=hall)
    expected = "Basic " + base64.b64encode(b"ann:pw").decode()
    assert _output(run)["data"]["authorization"] == expected


def test_modules_that_share_cookies_send_the_ones_another_received(
    replay: Replay, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/login").respond_with_json({"ok": True}, headers={"Set-Cookie": "sid=s1"})
    httpserver.expect_request("/echo").respond_with_handler(_echo)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), None)
    login = http_v3(url=httpserver.url_for("/login"), method="get", shareCookies=True)
    shared = http_v3(3, url=httpserver.url_for("/echo"), method="get", shareCookies=True)
    private = http_v3(4, url=httpserver.url_for("/echo"), method="get", shareCookies=False)
    run = replay([webhook(), login, shared, private], hall=hall)
    assert run.engine.executions[3][-1]["output"]["data"]["cookie"] == "sid=s1"
    assert run.engine.executions[4][-1]["output"]["data"]["cookie"] is None
    # and the next run starts with no shared cookie
    again = replay([webhook(), shared], hall=hall)
    assert again.engine.executions[3][-1]["output"]["data"]["cookie"] is None


def test_the_tls_transport_is_made_when_a_request_first_needs_it() -> None:
    import httpx

    from hallsim.harness.make._client import _OnFirstUse

    made: list[httpx.MockTransport] = []

    def make() -> httpx.MockTransport:
        made.append(httpx.MockTransport(lambda request: httpx.Response(204)))
        return made[-1]

    transport = _OnFirstUse(make)
    assert made == []  # a replay of plain-HTTP calls never pays for it
    for _ in range(2):
        assert transport.handle_request(httpx.Request("GET", "https://hall.invalid/")).status_code == 204
    assert len(made) == 1
    transport.close()
    transport.handle_request(httpx.Request("GET", "https://hall.invalid/"))
    assert len(made) == 2  # closed, then made again for the next request
