"""The stub service: real sockets on loopback that answer, by the run's stub rules, every call the egress
guard keeps from leaving (Pipedream steps, published actions, Make HTTP modules), and record each call.

One listening port per run (`StubRun`), so concurrent runs never see each other's calls or rule counts. A
connection is HTTP/1.1 (h11), in plain text or TLS: the first byte tells (0x16 opens a TLS handshake), the
certificate is the same for every server name, and the egress guard accepts it in place of the name (_tls.py,
netguard.cjs). Which URL was called:
the `x-hallsim-target` header (the Make replay's transport sets it; it is not recorded as a header), an
absolute-form request target, else `Host` (RFC 9110 7.2), else the TLS server name."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import h11

from hallsim.emulator.behaviours import Behaviour
from hallsim.emulator.journal import mask_authorization
from hallsim.emulator.rules import RuleBook
from hallsim.harness._once import Once
from hallsim.harness._serving import HandlerThreads, PooledThreading, ServingLoop
from hallsim.harness.stubs._rules import Stubs
from hallsim.harness.stubs._tls import stub_authority

#: the header by which the Make replay's transport names the URL a module called (never recorded)
TARGET_HEADER = "x-hallsim-target"
_SECRET = frozenset({"proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-auth-token"})
_BODY_LIMIT = 65536
_REFUSED = Behaviour("reset")


@dataclass(frozen=True)
class StubCall:
    """One call the stub service answered (or refused): what was sent, what it got."""

    n: int
    method: str
    url: str
    headers: dict[str, str]
    body: str
    #: the rule that answered (its name, else its index), None for the default answer
    rule: str | int | None
    behaviour: str
    status: int | None = None
    response_body: str | None = None
    #: reset | close | timeout | refused | client_gone | tls | protocol (no HTTP answer was sent)
    fault: str | None = None
    detail: str | None = None
    #: the client's port: the Node guard records it, so each call is tied to its step
    peer_port: int = 0
    tls: bool = False
    time: float = field(default_factory=time.time)
    #: the step (Pipedream) or module (Make) that made the call, when the harness could tell
    unit: str | None = None

    @property
    def refused(self) -> bool:
        return self.fault == "refused"

    def describe(self) -> str:
        """One line for a trace: who called what, which rule answered and how."""
        who = f"[{self.unit}] " if self.unit else ""
        if not self.method:
            return f"{who}{self.fault}: {self.detail}"
        rule = "default" if self.rule is None else f"rule {self.rule}"
        if self.fault == "refused":
            answer = f"REFUSED (connection reset: {self.detail})"
        elif self.fault is not None:
            answer = f"{self.fault} ({rule}: {self.behaviour})"
        else:
            body = (self.response_body or "").replace("\n", " ")
            answer = f"-> {self.status} {body[:120]} ({rule})"
        sent = f" {self.body[:120]}" if self.body else ""
        return f"{who}{self.method} {self.url}{sent} {answer}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "n": self.n,
            "unit": self.unit,
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "rule": self.rule,
            "behaviour": self.behaviour,
            "status": self.status,
            "response_body": self.response_body,
            "fault": self.fault,
        }
        if self.detail:
            out["detail"] = self.detail
        return out


def mask_headers(headers: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key == TARGET_HEADER:
            continue
        shown = mask_authorization(value) if key == "authorization" else "***" if key in _SECRET else value
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _answer_body(behaviour: Behaviour) -> tuple[bytes, str]:
    status = behaviour.status or 200
    if behaviour.body is not None:
        return behaviour.body.encode(), "text/plain; charset=utf-8"
    if behaviour.json_body is not None:
        return behaviour.json_body.encode(), "application/json"
    if status < 400:
        return b"{}", "application/json"
    code = _phrase(status).decode().lower().replace(" ", "_") or "error"
    return json.dumps(
        {"error": code, "detail": f"HTTP {status} (stubbed by hallsim)"}
    ).encode(), "application/json"


class _Refused(Exception):
    pass


class _Handler(socketserver.BaseRequestHandler):
    server: _Server  # pyright: ignore[reportIncompatibleVariableOverride]  (always a _Server)

    def handle(self) -> None:
        run = self.server.run
        conn: socket.socket = self.request
        try:
            if run._track(conn, True):  # else the run closed before this connection was handled: not served
                self._serve(run, conn)
        except OSError:
            pass  # the client went away, or the run closed the connection
        finally:
            run._track(conn, False)
            with contextlib.suppress(OSError):
                conn.close()

    def _serve(self, run: StubRun, conn: socket.socket) -> None:
        peer_port = int(self.client_address[1])
        first = conn.recv(1, socket.MSG_PEEK)
        if not first:
            return
        server_name: str | None = None
        if first == b"\x16":  # a TLS ClientHello (RFC 8446 5.1: handshake content type 22)
            conn.settimeout(10)
            try:
                conn = stub_authority().server_context.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError) as err:
                run._record_fault("tls", f"TLS handshake failed: {err}", peer_port)
                return
            conn.settimeout(None)
            try:
                if run._track(conn, True):
                    self._exchange(run, conn, peer_port, stub_authority().name_of(conn))
            finally:
                run._track(conn, False)
                with contextlib.suppress(OSError):
                    conn.close()
            return
        self._exchange(run, conn, peer_port, server_name)

    def _exchange(self, run: StubRun, conn: socket.socket, peer_port: int, server_name: str | None) -> None:
        tls = isinstance(conn, ssl.SSLSocket)
        machine = h11.Connection(h11.SERVER, max_incomplete_event_size=_BODY_LIMIT)
        while True:
            try:
                got = _read_request(machine, conn)
            except h11.RemoteProtocolError as err:
                run._record_fault("protocol", f"not an HTTP/1.1 request: {err}", peer_port, tls=tls)
                return
            if got is None or run._closed.is_set():
                return  # a request read after its run closed (bytes Linux still hands over) is not served
            request, body = got
            if request.method == b"PRI" and request.target == b"*":  # RFC 9113 3.4: the HTTP/2 preface
                run._record_fault("protocol", "HTTP/2 (the stub service speaks HTTP/1.1)", peer_port, tls=tls)
                return
            keep = run._answer(machine, conn, request, body, peer_port, tls, server_name)
            if not keep or machine.our_state is h11.MUST_CLOSE:
                return
            try:
                machine.start_next_cycle()
            except h11.LocalProtocolError:
                return


def _read_request(machine: h11.Connection, conn: socket.socket) -> tuple[h11.Request, bytes] | None:
    request: h11.Request | None = None
    chunks: list[bytes] = []
    while True:
        event = machine.next_event()
        if event is h11.NEED_DATA:
            if request is not None and machine.client_is_waiting_for_100_continue:
                conn.sendall(machine.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
            machine.receive_data(conn.recv(65536))
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            return request, b"".join(chunks)
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


#: connections to every run's stub service are handled on these threads, reused from run to run
_HANDLERS = HandlerThreads("hallsim-stub-call")


class _Server(PooledThreading, socketserver.TCPServer):
    handler_threads = _HANDLERS
    allow_reuse_address = True
    run: StubRun

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a handler never raises into the harness: what went wrong is on the call it was answering
        pass


#: the one thread that accepts for every run's listener (a thread per run cost more than a warm run)
_serving_loop = Once(lambda: ServingLoop("hallsim-stubs"))


class StubRun:
    """The stub service of one run, listening on a port of its own on 127.0.0.1 until closed (so a call is
    always the run's whose port it reached, and nothing reaches a closed run). A context manager."""

    def __init__(self, stubs: Stubs | None = None, *, time_scale: float = 1.0) -> None:
        self.stubs = stubs or Stubs()
        self.time_scale = time_scale
        self._book = RuleBook(self.stubs.rules)
        self._calls: list[StubCall] = []
        self._holds: list[tuple[float, Behaviour]] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._closed = threading.Event()
        # ready before the first TLS handshake, not during it: a step's scaled timeout would count the wait
        stub_authority().ready()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.run = self
        self._loop = _serving_loop()
        self._loop.add(self._server)

    @property
    def address(self) -> str:
        return "127.0.0.1"

    @property
    def fingerprint256(self) -> str:
        """The certificate this service presents to every TLS client (_tls.py), which netguard.cjs accepts
        in place of the name the client asked for."""
        return stub_authority().fingerprint256

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self) -> tuple[StubCall, ...]:
        with self._lock:
            return tuple(self._calls)

    def holds(self) -> tuple[tuple[float, Behaviour], ...]:
        """Every scripted wait (`slow`, `timeout`) as it began: (time.time(), behaviour), oldest first."""
        with self._lock:
            return tuple(self._holds)

    def close(self) -> tuple[StubCall, ...]:
        """Stop listening, end open connections (held ones let go); returns every call, oldest first."""
        if not self._closed.is_set():
            with self._lock:
                self._closed.set()  # under the lock: a connection tracked from here on is shut at once
            self._loop.remove(self._server)  # from here on nothing more is accepted for this run
            self._server.server_close()
            with self._lock:
                open_now = list(self._open)
            for conn in open_now:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        return self.calls()

    def __enter__(self) -> StubRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- used by the handler threads
    def _track(self, conn: socket.socket, add: bool) -> bool:
        """Count a connection as open (add) or not any more; False when the run has closed meanwhile: the
        connection is shut, and its handler serves nothing on it (Linux still hands a reader the bytes that
        arrive after a shutdown, so shutting it is not enough)."""
        with self._lock:
            if not add:
                self._open.discard(conn)
                return True
            if not self._closed.is_set():
                self._open.add(conn)
                return True
        # accepted just before the run closed: the run is over, so nothing of this connection is served
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RDWR)
        return False

    def _add(self, **fields: Any) -> StubCall:
        with self._lock:
            call = StubCall(n=next(self._numbers), **fields)
            self._calls.append(call)
            return call

    def _record_fault(self, fault: str, detail: str, peer_port: int, *, tls: bool = False) -> None:
        self._add(
            method="",
            url="",
            headers={},
            body="",
            rule=None,
            behaviour="",
            fault=fault,
            detail=detail,
            peer_port=peer_port,
            tls=tls,
        )

    def _answer(
        self,
        machine: h11.Connection,
        conn: socket.socket,
        request: h11.Request,
        raw: bytes,
        peer_port: int,
        tls: bool,
        server_name: str | None,
    ) -> bool:
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
        method = request.method.decode("ascii", "replace").upper()
        url = _url(request.target.decode("latin-1"), headers, tls, server_name)
        parts = urlsplit(url)
        fields = {"method": method, "url": url, "host": parts.hostname or "", "path": parts.path or "/"}
        lowered = {name.lower(): value for name, value in headers}
        fallback = self.stubs.unmatched(fields["host"])
        with self._lock:
            selection = self._book.select(fields, lowered, fallback or _REFUSED)
        behaviour = selection.behaviour
        refused = selection.rule is None and fallback is None
        record: dict[str, Any] = {
            "method": method,
            "url": url,
            "headers": mask_headers(headers),
            "body": raw[:_BODY_LIMIT].decode("utf-8", "replace"),
            "rule": selection.label,
            "behaviour": "refuse" if refused else behaviour.spec,
            "peer_port": peer_port,
            "tls": tls,
        }
        if refused:
            why = (
                "no stub rule matched and the stub default is refuse"
                if self.stubs.refuse_unmatched
                else "no stub rule matched a loopback target (on the platform nothing of yours listens there)"
            )
            self._add(**record, fault="refused", detail=why)  # recorded before the client can see the reset
            _reset(conn)
            return False
        if behaviour.kind in ("slow", "timeout"):
            # when a scripted wait began: the Make modules' clock counts it as modelled time (make/_waits.py)
            with self._lock:
                self._holds.append((time.time(), behaviour))
        return self._perform(machine, conn, behaviour, method, record)

    def _perform(
        self,
        machine: h11.Connection,
        conn: socket.socket,
        behaviour: Behaviour,
        method: str,
        record: dict[str, Any],
    ) -> bool:
        kind = behaviour.kind
        if kind == "slow":
            if self._closed.wait((behaviour.delay or 0.0) * self.time_scale):
                self._add(**record, fault="client_gone", detail="the run ended during the delay")
                return False
            assert behaviour.then is not None
            return self._perform(machine, conn, behaviour.then, method, record)
        if kind == "timeout":
            self._add(**record, fault="timeout")
            _hold(conn, self._closed)
            return False
        if kind in ("reset", "close"):
            self._add(**record, fault=kind)
            if kind == "reset":
                _reset(conn)
            else:
                conn.close()
            return False
        if kind == "empty-body":
            payload, content_type, status = b"", "application/json", 200
            extra: list[tuple[str, str]] = []
        else:
            status = behaviour.status or 200
            payload, content_type = _answer_body(behaviour)
            extra = []
            for name, value in behaviour.headers:
                if name.lower() == "content-type":
                    content_type = value
                else:
                    extra.append((name, value))
        head = [("content-type", content_type), ("content-length", str(len(payload))), *extra]
        self._add(**record, status=status, response_body=payload[:2000].decode("utf-8", "replace"))
        out = machine.send(h11.Response(status_code=status, headers=head, reason=_phrase(status))) or b""
        if method != "HEAD" and payload:
            out += machine.send(h11.Data(data=payload)) or b""
        out += machine.send(h11.EndOfMessage()) or b""
        conn.sendall(out)
        return True


def _url(target: str, headers: list[tuple[str, str]], tls: bool, server_name: str | None) -> str:
    for name, value in headers:
        if name.lower() == TARGET_HEADER:
            return value
    if target.lower().startswith(("http://", "https://")):
        return target
    scheme = "https" if tls else "http"
    host = (
        next((value for name, value in headers if name.lower() == "host"), None) or server_name or "unknown"
    )
    return f"{scheme}://{host}{target if target.startswith('/') else '/' + target}"


def _reset(conn: socket.socket) -> None:
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN (socket(7))
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.close()


def _hold(conn: socket.socket, closed: threading.Event) -> None:
    """Never answer: keep the connection until the client leaves or the run ends."""
    conn.settimeout(0.05)
    while not closed.is_set():
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return
