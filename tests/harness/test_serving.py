"""The reused serving threads (hallsim.harness._serving) and the stub service that shares them across runs:
each run keeps its own port, so a call is recorded in the run whose port it reached and nothing reaches a run
once it has closed."""

from __future__ import annotations

import http.client
import json
import socket
import socketserver
import threading
from typing import Any

import pytest

from hallsim.harness._serving import HandlerThreads, ServingLoop
from hallsim.harness.stubs import StubRun, Stubs, parse_stub_line


def _get(port: int, path: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": "api.example.invalid"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


def _answering(name: str) -> StubRun:
    answer = json.dumps({"behaviour": "http-200", "json": {"run": name}})
    rule = parse_stub_line(f"GET http://api.example.invalid/* {answer}")
    return StubRun(Stubs(rules=(rule,)))


def test_a_handler_thread_is_reused_for_the_next_piece_of_work() -> None:
    threads = HandlerThreads("test-handler")
    seen: list[int] = []
    for _ in range(3):
        done = threading.Event()

        def work(done: threading.Event = done) -> None:
            seen.append(threading.get_ident())
            done.set()

        threads.submit(work)
        assert done.wait(5)
        for _ in range(500):  # the thread marks itself idle just after the work returns
            if threads.idle:
                break
            threading.Event().wait(0.002)
    assert len(set(seen)) == 1, seen


def test_a_blocked_handler_never_delays_another() -> None:
    threads = HandlerThreads("test-handler")
    release = threading.Event()
    second = threading.Event()
    threads.submit(lambda: release.wait(10))
    threads.submit(second.set)
    try:
        assert second.wait(5), "the second piece of work waited for the first, which blocks"
    finally:
        release.set()


def test_an_idle_handler_thread_ends() -> None:
    threads = HandlerThreads("test-handler-idle", idle_s=0.01)
    ended = threading.Event()
    ident: list[threading.Thread] = []
    threads.submit(lambda: ident.append(threading.current_thread()))
    for _ in range(500):
        if ident and not ident[0].is_alive():
            ended.set()
            break
        threading.Event().wait(0.01)
    assert ended.is_set()
    assert threads.idle == 0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.sendall(b"hello")


class _Server(socketserver.TCPServer):
    timeout = 0.0


def test_a_removed_server_accepts_nothing_more() -> None:
    loop = ServingLoop("test-loop")
    server = _Server(("127.0.0.1", 0), _Echo)
    try:
        loop.add(server)
        with socket.create_connection(server.server_address[:2], timeout=5) as conn:  # type: ignore[misc]
            assert conn.recv(5) == b"hello"
        loop.remove(server)
        # the listener still exists (its owner closes it), but the loop no longer accepts for it
        with socket.create_connection(server.server_address[:2], timeout=5) as conn:  # type: ignore[misc]
            conn.settimeout(0.3)
            with pytest.raises(TimeoutError):
                conn.recv(5)
    finally:
        server.server_close()
        loop.stop()


def test_two_runs_at_once_each_record_only_their_own_calls() -> None:
    first, second = _answering("first"), _answering("second")
    try:
        assert first.port != second.port
        assert _get(first.port, "/one") == (200, {"run": "first"})
        assert _get(second.port, "/two") == (200, {"run": "second"})
        assert _get(first.port, "/three")[0] == 200
    finally:
        first_calls, second_calls = first.close(), second.close()
    assert [c.url for c in first_calls] == [
        "http://api.example.invalid/one",
        "http://api.example.invalid/three",
    ]
    assert [c.url for c in second_calls] == ["http://api.example.invalid/two"]


def test_nothing_reaches_a_run_once_it_has_closed() -> None:
    earlier = _answering("earlier")
    port = earlier.port
    # a connection the earlier run accepted and that is still open when the run ends
    held = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        assert _get(port, "/during")[0] == 200
        earlier.close()
        later = _answering("later")
        try:
            # the held connection was shut when its run closed: a request on it gets no answer
            held.sendall(b"GET /after HTTP/1.1\r\nHost: api.example.invalid\r\n\r\n")
            held.settimeout(5)
            try:
                answer = held.recv(100)
            except ConnectionResetError:
                answer = b""
            assert answer == b""
            # and the earlier run's port no longer listens
            if later.port != port:
                with pytest.raises(ConnectionRefusedError):
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
            assert _get(later.port, "/later")[0] == 200
        finally:
            later_calls = later.close()
    finally:
        held.close()
    assert [c.url for c in earlier.calls()] == ["http://api.example.invalid/during"]
    assert [c.url for c in later_calls] == ["http://api.example.invalid/later"]
