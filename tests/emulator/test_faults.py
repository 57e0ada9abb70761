"""Every behaviour as a real HTTP client sees it, over a real socket to a real uvicorn."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator, JournalEntry

_BODY = json.dumps(GUIDE_REQUEST).encode()


def wait_for(condition: Callable[[], Any], what: str, limit: float = 5.0) -> Any:
    """Poll until `condition()` is truthy (bounded): server-side bookkeeping lags the client by a moment."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


def last_entry(hall: HallEmulator) -> JournalEntry:
    return hall.journal()[-1]


def raw_request(hall: HallEmulator, token: str = "t") -> socket.socket:
    """Send the guide's request on a plain socket and return the socket, to see exactly what comes back."""
    sock = socket.create_connection(("127.0.0.1", hall.port), timeout=5)
    head = (
        f"POST /api/route HTTP/1.1\r\nHost: hall\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(_BODY)}\r\n\r\n"
    )
    sock.sendall(head.encode() + _BODY)
    return sock


def test_allow(hall: HallEmulator, http: httpx.Client) -> None:
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert answer.status_code == 200
    assert answer.json()["denied"] is False


def test_deny_with_a_reason(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("deny", reason="RESTRICTED data needs approval")
    decision = http.post("/api/route", json=GUIDE_REQUEST).json()
    assert (decision["denied"], decision["reason"]) == (True, "RESTRICTED data needs approval")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503, 504, 302])
def test_http_status_with_a_json_body(hall: HallEmulator, http: httpx.Client, status: int) -> None:
    hall.set_default(f"http-{status}")
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"] == f"HTTP {status} (scripted)"


def test_http_status_with_a_non_json_body(hall: HallEmulator, http: httpx.Client) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    hall.set_default(f"http-502:{page}")
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert (answer.status_code, answer.text) == (502, page)
    assert answer.headers["content-type"].startswith("text/plain")
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_http_status_with_headers_and_a_json_body(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default(
        {"behaviour": "http-429", "json": {"error": "rate_limited"}, "headers": {"Retry-After": "7"}}
    )
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert (answer.status_code, answer.headers["retry-after"], answer.json()) == (
        429,
        "7",
        {"error": "rate_limited"},
    )


def test_a_scripted_content_type_replaces_the_default(hall: HallEmulator, http: httpx.Client) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    hall.set_default({"behaviour": "http-502", "body": page, "headers": {"Content-Type": "text/html"}})
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert (answer.status_code, answer.text) == (502, page)
    assert answer.headers.get_list("content-type") == ["text/html"]


def test_malformed_json(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("malformed-json")
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.text.startswith('{"decision_id"')
    with pytest.raises(json.JSONDecodeError):
        answer.json()


def test_empty_body(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("empty-body")
    answer = http.post("/api/route", json=GUIDE_REQUEST)
    assert (answer.status_code, answer.content, answer.headers["content-length"]) == (200, b"", "0")


def test_missing_denied(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("missing-denied")
    decision = http.post("/api/route", json=GUIDE_REQUEST).json()
    assert "denied" not in decision
    assert {"decision_id", "artifact_hash", "selected_worker_species_id"} <= set(decision)


@pytest.mark.parametrize("value", ["false", "true"])
def test_denied_as_string(hall: HallEmulator, http: httpx.Client, value: str) -> None:
    hall.set_default(f"denied-as-string:{value}")
    decision = http.post("/api/route", json=GUIDE_REQUEST).json()
    assert decision["denied"] == value  # a string, which JavaScript finds truthy either way


def test_reset_is_a_tcp_reset(hall: HallEmulator) -> None:
    hall.set_default("reset")
    with raw_request(hall) as sock, pytest.raises(ConnectionResetError):
        sock.recv(1024)
    assert last_entry(hall).fault == "reset"


def test_reset_as_httpx_sees_it(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("reset")
    with pytest.raises(httpx.ReadError, match="reset"):
        http.post("/api/route", json=GUIDE_REQUEST)


def test_close_sends_no_answer(hall: HallEmulator) -> None:
    hall.set_default("close")
    with raw_request(hall) as sock:
        assert sock.recv(1024) == b""  # end of stream, not a byte of HTTP
    assert last_entry(hall).to_dict()["response"] is None


def test_close_as_httpx_sees_it(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("close")
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.post("/api/route", json=GUIDE_REQUEST)


def test_timeout_holds_until_the_client_gives_up_then_lets_go(hall: HallEmulator, http: httpx.Client) -> None:
    hall.set_default("timeout")
    with pytest.raises(httpx.ReadTimeout):
        http.post("/api/route", json=GUIDE_REQUEST, timeout=0.3)
    entry = last_entry(hall).to_dict()
    assert (entry["fault"], entry["response"]) == ("timeout", None)
    wait_for(lambda: hall.app.held_requests == 0, "the held request to be let go after the client left")


@pytest.mark.parametrize(("behaviour", "fault"), [("timeout", "timeout"), ("slow:1000", "server_stopped")])
def test_a_held_request_is_let_go_when_the_emulator_stops(
    behaviour: str, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    with HallEmulator(default=behaviour) as own:
        sock = raw_request(own)
        wait_for(lambda: own.app.held_requests == 1, "the request to be held")
    # stop() returned: the held request was let go and its connection closed, with no answer (not uvicorn's
    # own 500 for an app that returned without answering, nor an error in its log)
    with sock:
        assert sock.recv(1024) == b""
    assert (last_entry(own).fault, last_entry(own).response) == (fault, None)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []


def test_slow_answers_after_the_scaled_delay(hall: HallEmulator, http: httpx.Client) -> None:
    hall.time_scale = 0.01
    hall.set_default("slow:5:deny:late")  # 5 modelled seconds = 0.05 s of wall time
    decision = http.post("/api/route", json=GUIDE_REQUEST).json()
    assert (decision["denied"], decision["reason"]) == (True, "late")
    assert last_entry(hall).behaviour == "slow:5:deny:late"


def test_slow_past_the_clients_timeout_is_a_timeout_for_the_client(
    hall: HallEmulator, http: httpx.Client
) -> None:
    hall.time_scale = 0.01
    hall.set_default("slow:1000")  # 10 s of wall time, far past the client's 0.2 s
    with pytest.raises(httpx.ReadTimeout):
        http.post("/api/route", json=GUIDE_REQUEST, timeout=0.2)
    entry = wait_for(
        lambda: last_entry(hall).fault and last_entry(hall), "the journal to record the client leaving"
    )
    assert (entry.fault, entry.response) == ("client_gone", None)
    assert hall.app.held_requests == 0


def test_auth_and_validation_answer_before_any_fault(hall: HallEmulator) -> None:
    hall.set_default("reset")
    with httpx.Client(base_url=hall.url) as anonymous:
        assert anonymous.post("/api/route", json=GUIDE_REQUEST).status_code == 401
    with httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"}) as client:
        assert client.post("/api/route", json={"env": "prod"}).status_code == 422


def test_an_oversized_chunked_body_is_413(hall: HallEmulator, http: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    answer = http.post("/api/route", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
