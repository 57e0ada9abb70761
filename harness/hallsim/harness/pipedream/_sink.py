"""A local sink for the steps' downstream webhooks (the audit step's AUDIT_LOG_WEBHOOK_URL).

A small stdlib HTTP server rather than pytest-httpserver's: werkzeug prints an access log line per request to
stderr unless the process configures logging, and the library must not print.

One sink serves the whole process; each run gets its own path prefix (`{{sink.url}}` is `http://127.0.0.1:PORT/r17`),
so concurrent runs never see each other's records. It answers 200 `{"ok": true}` to anything and records
method, path (without the prefix), query, headers and body."""

from __future__ import annotations

import atexit
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from hallsim.harness._once import Once
from hallsim.harness._serving import HandlerThreads, PooledThreading, ServingThread

_RUN_PATH = re.compile(r"^/r(\d+)(/.*)?$")
_ANSWER = b'{"ok": true}'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real webhook endpoint would
    # the head and the body go out as two writes: with Nagle's algorithm on, the second could wait for the
    # client's delayed acknowledgement
    disable_nagle_algorithm = True
    server: _SinkServer  # pyright: ignore[reportIncompatibleVariableOverride]  (always a _SinkServer)

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if len(raw) < length:  # the client left before its body was whole: no request arrived
            self.close_connection = True
            return
        self.server.sink.record(self.command, self.path, dict(self.headers.items()), raw)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(_ANSWER)))
        self.end_headers()
        self.wfile.write(_ANSWER)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

    def log_message(self, format: str, *args: Any) -> None:  # the library never prints
        pass


class _SinkServer(PooledThreading, HTTPServer):
    #: a run's webhook calls are served on threads reused from run to run (one started per call cost more
    #: than the rest of a warm run)
    handler_threads = HandlerThreads("hallsim-sink-call")
    sink: LocalSink

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a step's worker drops its pooled connections after each run (a reset mid keep-alive): not news
        pass


class LocalSink:
    def __init__(self) -> None:
        self._server = _SinkServer(("127.0.0.1", 0), _Handler)
        self._server.sink = self
        self._serving: ServingThread | None = None
        self._records: dict[int, list[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self) -> LocalSink:
        self._serving = ServingThread(self._server, "hallsim-sink")
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open_run(self) -> tuple[int, str]:
        """A fresh prefix for one run: (its id, the URL that `{{sink.url}}` becomes)."""
        run_id = next(self._ids)
        with self._lock:
            self._records[run_id] = []
        return run_id, f"{self.url}/r{run_id}"

    def close_run(self, run_id: int) -> list[dict[str, Any]]:
        """What the run's prefix received, oldest first; later requests to it are no longer recorded."""
        with self._lock:
            return self._records.pop(run_id, [])

    def record(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> None:
        path, _, query = target.partition("?")
        match = _RUN_PATH.match(path)
        if not match:
            return
        body = raw.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        entry = {
            "method": method,
            "path": match[2] or "/",
            "query": query,
            "headers": {name.lower(): value for name, value in headers.items()},
            "body": body,
            "json": parsed,
            "time": time.time(),
        }
        with self._lock:
            records = self._records.get(int(match[1]))
            if records is not None:
                records.append(entry)


def _start_shared() -> LocalSink:
    sink = LocalSink().start()
    atexit.register(sink.stop)
    return sink


#: the process's sink, started on first use and stopped at exit: `shared_sink()`
shared_sink = Once(_start_shared)
