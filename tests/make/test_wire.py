"""Plain HTTP for the HTTP modules over http.client (make/_wire.py): keep-alive connections a server closed
are not reused, chunked answers are read whole and keep the server's own headers, a header http.client
refuses to send is the module's BundleValidationError (not a crash)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hallsim.harness.make import MakeRun
from hallsim.harness.workflow import HallEndpoint

from .conftest import action, http_v3, webhook

Replay = Callable[..., MakeRun]


class _RawServer:
    """A loopback HTTP/1.1 server that answers each request with `answer` and, after `keep` requests on a
    connection, ends its side of it (FIN, without saying so: no `Connection: close`) while still reading
    for a moment, so that a request sent on it goes out without an error and gets no answer."""

    def __init__(self, answer: bytes, keep: int) -> None:
        self.answer = answer
        self.keep = keep
        self.connections = 0
        self.requests = 0
        #: data that arrived on a connection after the server had ended its side
        self.ignored = 0
        #: released each time the server has ended its side of a connection
        self.ended = threading.Semaphore(0)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                for _ in range(self.keep):
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        break
                    head, _, rest = data.partition(b"\r\n\r\n")
                    length = next(
                        (
                            int(line.split(b":")[1])
                            for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:")
                        ),
                        0,
                    )
                    while len(rest) < length:
                        rest += conn.recv(65536)
                    self.requests += 1
                    conn.sendall(self.answer)
                conn.shutdown(socket.SHUT_WR)
                self.ended.release()
                conn.settimeout(0.5)
                try:
                    while conn.recv(65536):
                        self.ignored += 1
                except OSError:
                    pass

    def close(self) -> None:
        self._sock.close()


def _server(answer: bytes, keep: int) -> Iterator[_RawServer]:
    server = _RawServer(answer, keep)
    yield server
    server.close()


JSON_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"denied": false}'
)
CHUNKED_ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'9\r\n{"denied"\r\n8\r\n: false}\r\n0\r\n\r\n'
)


@pytest.fixture
def closing() -> Iterator[_RawServer]:
    yield from _server(JSON_ANSWER, keep=1)


@pytest.fixture
def chunked() -> Iterator[_RawServer]:
    yield from _server(CHUNKED_ANSWER, keep=10)


def _gate(module: dict[str, Any]) -> list[dict[str, Any]]:
    return [webhook(), module, action(3, mapper={"denied": "{{2.data.denied}}"})]


def _output(run: MakeRun) -> Any:
    return run.engine.executions[2][-1].get("output")


def test_a_connection_the_server_closed_is_not_reused(replay: Replay, closing: _RawServer) -> None:
    hall = HallEndpoint(closing.url, "t")
    outputs = []
    for _ in range(3):
        outputs.append(_output(replay(_gate(http_v3()), hall=hall)))
        # the next replay starts once the server has closed: else, on a loaded machine, the client could read
        # the answer and send its next request before the server's FIN (a race no client can win; the test
        # failed once so in a full run)
        assert closing.ended.acquire(timeout=10)
    assert [output["data"] for output in outputs] == [{"denied": False}] * 3
    assert closing.requests == 3  # each request sent once: none lost on a dead connection, none repeated
    assert closing.connections == 3
    assert closing.ignored == 0


def test_a_chunked_answer_is_read_whole_with_the_server_s_headers(
    replay: Replay, chunked: _RawServer
) -> None:
    run = replay(_gate(http_v3()), hall=HallEndpoint(chunked.url, "t"))
    output = _output(run)
    assert output["data"] == {"denied": False}
    names = [header["name"].lower() for header in output["headers"]]
    assert "transfer-encoding" in names
    assert "content-length" not in names  # the server sent none


def test_a_header_http_refuses_is_a_bundle_validation_error(replay: Replay, chunked: _RawServer) -> None:
    module = http_v3(headers=[{"name": "X-Note", "value": "one\r\nInjected: two"}])
    run = replay(_gate(module), hall=HallEndpoint(chunked.url, "t"))
    error = run.engine.executions[2][-1]["error"]
    assert error["type"] == "BundleValidationError"
    assert chunked.requests == 0
