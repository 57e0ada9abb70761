"""Serve a socketserver server on a thread of its own, and stop it at once.

socketserver's `serve_forever` notices `shutdown()` only at its next poll (every 0.5 s by default), and the
stub service and the audit sink stop at the end of every run or command: this loop waits on the server's
socket and on a socket pair instead, and a byte on the pair ends it. The server's `timeout` must be 0, so
that `handle_request()` never waits for a connection that another thread accepted first."""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading


class ServingThread:
    """Serves `server` on a daemon thread named `name` until `stop()` (which is safe to call twice)."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self._server = server
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread: threading.Thread | None = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._server.socket, selectors.EVENT_READ)  # type: ignore[attr-defined]
            selector.register(self._wake_read, selectors.EVENT_READ)
            while True:
                ready = [key.fileobj for key, _ in selector.select()]
                if self._wake_read in ready:
                    return
                self._server.handle_request()  # readable: accept now, serve (a threading server: in a thread)

    def stop(self, timeout: float = 5.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        thread.join(timeout=timeout)
        self._wake_read.close()
        self._wake_write.close()
