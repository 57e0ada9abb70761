"""Plain-HTTP keep-alive for the HTTP modules over the standard library's http.client: about half the CPU per
request of httpcore + h11 (a warm replay is mostly one request). `https` goes to the transport it wraps
(httpx's own, under the module clock), as does anything this one does not speak.

The wait for the answer follows the module clock (`_waits`): the client polls the socket for the first byte
of the answer in the slices the clock allows, then reads the answer with the wall cap. Errors are httpx's, as
httpx's transport raises them: ConnectError / ConnectTimeout, WriteError, ReadTimeout, ReadError (a reset),
RemoteProtocolError (closed without an answer, a malformed answer)."""

from __future__ import annotations

import http.client
import select
import socket
import threading
from typing import Any

import httpx

from hallsim.harness.make._waits import current_clock

#: idle connections kept per (host, port)
_MAX_IDLE = 32


class WireTransport(httpx.BaseTransport):
    def __init__(self, other: httpx.BaseTransport) -> None:
        self._other = other
        self._idle: dict[tuple[str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http" or not isinstance(request.stream, httpx.ByteStream):
            return self._other.handle_request(request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        key = (url.host, url.port or 80)
        body = request.read()
        conn = self._checkout(key)
        if conn is not None:
            try:
                self._send(conn, request, body)
            except OSError:  # the server closed the idle connection before it saw the request: a new one
                conn.close()
                conn = None
        if conn is None:
            conn = self._connect(key, request, timeouts)
            try:
                self._send(conn, request, body)
            except OSError as err:
                conn.close()
                raise httpx.WriteError(str(err), request=request) from None
        try:
            response = self._receive(key, conn, request, timeouts)
        except BaseException:
            conn.close()
            raise
        return response

    def _checkout(self, key: tuple[str, int]) -> http.client.HTTPConnection | None:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                conn = idle.pop()
                # an idle connection with something to read has been closed (or is confused): not reused
                if conn.sock is not None and not _readable(conn.sock, 0):
                    return conn
                conn.close()
        return None

    def _checkin(self, key: tuple[str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _MAX_IDLE:
                idle.append(conn)
                return
        conn.close()

    def _connect(
        self, key: tuple[str, int], request: httpx.Request, timeouts: dict[str, float | None]
    ) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(key[0], key[1], timeout=timeouts.get("connect"))
        try:
            conn.connect()
        except TimeoutError as err:
            conn.close()
            raise httpx.ConnectTimeout(str(err) or "timed out", request=request) from None
        except OSError as err:
            conn.close()
            raise httpx.ConnectError(str(err), request=request) from None
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(timeouts.get("write"))
        return conn

    @staticmethod
    def _send(conn: http.client.HTTPConnection, request: httpx.Request, body: bytes) -> None:
        target = request.url.raw_path.decode("ascii")
        try:
            conn.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers.raw:
                conn.putheader(name.decode("latin-1"), value)
        except (ValueError, http.client.HTTPException) as err:  # what h11 refuses to send, too
            conn.close()
            raise httpx.LocalProtocolError(str(err), request=request) from None
        conn.endheaders(body or None)

    def _receive(
        self,
        key: tuple[str, int],
        conn: http.client.HTTPConnection,
        request: httpx.Request,
        timeouts: dict[str, float | None],
    ) -> httpx.Response:
        sock = conn.sock
        assert sock is not None
        _wait_for_answer(sock, request, timeouts.get("read"))
        sock.settimeout(timeouts.get("read"))
        try:
            answer = conn.getresponse()
            content = answer.read()
        except TimeoutError as err:
            raise httpx.ReadTimeout(str(err) or "timed out", request=request) from None
        except http.client.RemoteDisconnected as err:
            raise httpx.RemoteProtocolError(str(err), request=request) from None
        except (http.client.HTTPException, ValueError) as err:
            raise httpx.RemoteProtocolError(f"{type(err).__name__}: {err}", request=request) from None
        except OSError as err:
            raise httpx.ReadError(str(err), request=request) from None
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.getheaders()]
        if answer.will_close:
            conn.close()
        else:
            self._checkin(key, conn)
        extensions: dict[str, Any] = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": answer.reason.encode("latin-1"),
        }
        # a stream, not content=: httpx would add a Content-Length the server did not send
        stream = httpx.ByteStream(content)
        return httpx.Response(answer.status, headers=headers, stream=stream, extensions=extensions)

    def close(self) -> None:
        with self._lock:
            idle = [conn for conns in self._idle.values() for conn in conns]
            self._idle.clear()
        for conn in idle:
            conn.close()
        self._other.close()


def _wait_for_answer(sock: socket.socket, request: httpx.Request, cap: float | None) -> None:
    """Wait until the answer's first byte can be read, as long as the module clock allows (or `cap`)."""
    clock = current_clock()
    if clock is None:
        if not _readable(sock, cap):
            raise httpx.ReadTimeout("timed out", request=request)
        return
    while True:
        left = clock.wait_left()
        if left <= 0:
            raise httpx.ReadTimeout("the module's timeout elapsed (modelled)", request=request)
        if _readable(sock, left):
            return


def _readable(sock: socket.socket, seconds: float | None) -> bool:
    """Whether the socket has something to read (data, end of file, an error) within `seconds`."""
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(None if seconds is None else max(0.0, seconds) * 1000))
