"""Hostile requests get a 4xx, never a 500, on every route; the journal stays readable and valid JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator
from hallsim.emulator.app import HallApp

DEEP = 100_000

#: bodies no strict JSON parser takes, each with what makes it hostile
HOSTILE_BODIES = {
    "NaN": b'{"capability_id": "cap.data.write.v1", "worker_id": "w", "env": "dev", "x": NaN}',
    "Infinity": b'{"capability_id": "cap.data.write.v1", "worker_id": "w", "env": "dev", "x": -Infinity}',
    "overflow to infinity": b'{"capability_id": "cap.data.write.v1", "worker_id": "w", "x": 1e999}',
    "lone surrogate": b'{"capability_id": "cap.data.write.v1", "worker_id": "\\ud800", "env": "dev"}',
    "lone surrogate key": b'{"\\udfff": 1}',
    "nested 1,000 deep": b'{"x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "nested 100,000 deep": b"[" * DEEP + b"]" * DEEP,
    "unclosed deep nesting": b'{"a":' * DEEP,
    "5,000-digit number": b'{"x": ' + b"9" * 5000 + b"}",
    "invalid UTF-8": b'{"capability_id": "cap.data.write.v1", "worker_id": "\xff\xfe", "env": "dev"}',
    "overlong UTF-8": b'{"worker_id": "\xc0\xaf"}',
    "byte order mark": b'\xef\xbb\xbf{"capability_id": "cap.data.write.v1", "worker_id": "w", "env": "dev"}',
    "NUL bytes": b"\x00" * 100,
}

ROUTES = [
    ("POST", "/api/route"),
    ("POST", "/api/route (no token)"),
    ("PUT", "/__hall/rules"),
    ("POST", "/__hall/rules"),
    ("PUT", "/__hall/default"),
    ("PUT", "/__hall/time-scale"),
    ("POST", "/__hall/reset"),
    ("POST", "/nowhere"),
    ("GET", "/__hall/journal"),
]


@pytest.fixture(scope="module")
def hall() -> Iterator[HallEmulator]:
    with HallEmulator() as running:
        yield running


@pytest.fixture(scope="module")
def client(hall: HallEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hall.url, timeout=10) as shared:
        yield shared


@pytest.fixture(autouse=True)
def _fresh(hall: HallEmulator) -> None:
    hall.reset()


def strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in an answer: not JSON")

    return json.loads(text, parse_constant=refuse)


def assert_journal_readable(hall: HallEmulator, client: httpx.Client) -> None:
    answer = client.get("/__hall/journal")
    assert answer.status_code == 200
    strict_json(answer.text)
    for entry in hall.journal():
        strict_json(json.dumps(entry.to_dict(), allow_nan=False))
    hall.check_handler_errors()


@pytest.mark.parametrize("name", list(HOSTILE_BODIES))
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_hostile_bodies_get_a_4xx_on_every_route(
    hall: HallEmulator, client: httpx.Client, name: str, method: str, path: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if path.endswith("(no token)"):
        path = path.split()[0]
    else:
        headers["Authorization"] = "Bearer t"
    answer = httpx.request(
        method, f"{hall.url}{path}", content=HOSTILE_BODIES[name], headers=headers, timeout=10
    )
    if (method, path) in (("GET", "/__hall/journal"), ("POST", "/__hall/reset")):
        assert answer.status_code == 200  # these read no body
    else:
        assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    strict_json(answer.text)
    assert_journal_readable(hall, client)


def test_a_hostile_body_is_journalled_as_text(hall: HallEmulator) -> None:
    seq = hall.next_seq
    body = HOSTILE_BODIES["NaN"]
    answer = httpx.post(f"{hall.url}/api/route", content=body, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 400
    assert "NaN is not a JSON value" in answer.json()["detail"]
    [entry] = hall.journal_since(seq)
    assert entry.to_dict()["body"] == body.decode()


def test_a_422_answer_is_valid_json_for_any_got_value(hall: HallEmulator, client: httpx.Client) -> None:
    odd = {**GUIDE_REQUEST, "env": 10**300, "data_label": 1.5e308, "tenant_id": ["x"] * 3}
    answer = httpx.post(f"{hall.url}/api/route", json=odd, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 422
    strict_json(answer.text)
    assert_journal_readable(hall, client)


@pytest.mark.parametrize("query", ["since=" + "9" * 5000, "since=1e3", "since=%00", "limit=" + "9" * 40])
def test_hostile_journal_queries_are_400(hall: HallEmulator, query: str) -> None:
    assert httpx.get(f"{hall.url}/__hall/journal?{query}").status_code == 400


def test_a_hostile_path_and_query_are_journalled_and_stay_readable(
    hall: HallEmulator, client: httpx.Client
) -> None:
    assert client.get("/%ff%fe/%00?q=%ff" + "a" * 5000).status_code == 404
    auth = {"Authorization": "Bearer t"}
    assert client.post("/api/route?" + "x" * 6000, json=GUIDE_REQUEST, headers=auth).status_code == 200
    assert_journal_readable(hall, client)


async def _one_message_call(app: HallApp, body: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/route",
        "headers": [(b"authorization", b"Bearer t")],  # no Content-Length: the size shows only in the body
        "query_string": b"",
    }
    await app(scope, receive, send)
    return sent


def test_a_large_body_in_one_message_without_content_length_is_413() -> None:
    import anyio

    app = HallApp()
    sent = anyio.run(_one_message_call, app, b" " * (100 * 1024))
    assert sent[0]["status"] == 413
