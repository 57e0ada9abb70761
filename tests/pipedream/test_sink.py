"""The local audit sink: what it records per run, and that a connection left open holds up no other."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from hallsim.harness.pipedream._sink import LocalSink


@pytest.fixture
def sink() -> Iterator[LocalSink]:
    started = LocalSink().start()
    yield started
    started.stop()


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_run_s_requests_are_recorded_under_its_prefix(sink: LocalSink) -> None:
    run_id, url = sink.open_run()
    other_id, other_url = sink.open_run()
    with httpx.Client() as client:  # one keep-alive connection for both requests
        first = client.post(f"{url}/audit?x=1", json={"decision_id": "d1"}, headers={"X-Trace": "t"})
        second = client.put(f"{url}/again", content=b"plain")
        client.post(f"{other_url}/audit", json={"other": True})
    assert (first.status_code, first.json()) == (200, {"ok": True})
    assert second.status_code == 200
    records = sink.close_run(run_id)
    assert [(r["method"], r["path"], r["query"]) for r in records] == [
        ("POST", "/audit", "x=1"),
        ("PUT", "/again", ""),
    ]
    assert records[0]["json"] == {"decision_id": "d1"}
    assert records[0]["headers"]["x-trace"] == "t"
    assert (records[1]["body"], records[1]["json"]) == ("plain", None)
    assert [r["json"] for r in sink.close_run(other_id)] == [{"other": True}]


def test_requests_to_a_closed_run_or_no_run_are_answered_not_recorded(sink: LocalSink) -> None:
    run_id, url = sink.open_run()
    sink.close_run(run_id)
    assert httpx.post(f"{url}/audit", json={}).status_code == 200
    assert httpx.get(f"{sink.url}/elsewhere").status_code == 200
    assert sink.close_run(run_id) == []


def test_an_idle_connection_does_not_hold_up_another(sink: LocalSink) -> None:
    run_id, url = sink.open_run()
    with socket.create_connection(("127.0.0.1", sink.port), timeout=5) as idle:
        idle.sendall(b"POST /r1/audit HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")  # and no more
        assert httpx.post(f"{url}/audit", json={"n": 2}, timeout=5).json() == {"ok": True}
    assert [r["json"] for r in sink.close_run(run_id)] == [{"n": 2}]


def test_pipelined_requests_are_each_answered(sink: LocalSink) -> None:
    run_id, _ = sink.open_run()
    one = f"POST /r{run_id}/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{{}}".encode()
    answer = _raw(sink.port, one + one.replace(b"/a ", b"/b "))
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert [r["path"] for r in sink.close_run(run_id)] == ["/a", "/b"]


def test_a_request_whose_client_leaves_mid_body_is_not_recorded(sink: LocalSink) -> None:
    run_id, _ = sink.open_run()
    head = f"POST /r{run_id}/audit HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf".encode()
    assert _raw(sink.port, head) == b""  # the body never came whole: no answer
    run_id2, url = sink.open_run()
    httpx.post(f"{url}/audit", json={"n": 1}, timeout=5)  # the sink has handled what came before
    assert sink.close_run(run_id) == []
    assert [r["json"] for r in sink.close_run(run_id2)] == [{"n": 1}]
