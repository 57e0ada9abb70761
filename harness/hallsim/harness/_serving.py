"""Serve socketserver servers on threads that are started once and reused, and stop them at once.

socketserver's `serve_forever` notices `shutdown()` only at its next poll (every 0.5 s by default), and the
stub service and the audit sink stop at the end of every run or command: these loops wait on the servers'
sockets and on a socket pair instead, and a byte on the pair ends them; a connection is accepted once its
server's socket is readable.

Starting a thread costs about a millisecond and a half of wall time on a small virtual machine (more than
a whole warm workflow run should take), so nothing here starts one per run or per connection when an idle
one can do the work: `ServingLoop` accepts for any number of servers (each run adds its own listener and
removes it when it ends) and `HandlerThreads` keeps the threads that served connections for the next ones."""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any

#: how long a handler thread with nothing to do waits for more work before it ends
IDLE_S = 30.0


class HandlerThreads:
    """Daemon threads that run connection handlers: an idle one takes the next piece of work, a new one starts
    only when none is idle (so a handler that blocks for long never delays another), and one idle for
    `idle_s` ends."""

    def __init__(self, name: str, idle_s: float = IDLE_S) -> None:
        self._name = name
        self._idle_s = idle_s
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []  # most recently idle last: it is taken first (its stack is warm)

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is not None:
            slot.give(work)
            return
        threading.Thread(target=self._serve, args=(work,), name=self._name, daemon=True).start()

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def _serve(self, work: Callable[[], None] | None) -> None:
        slot = _Slot()
        while work is not None:
            work()  # a handler catches its own errors (socketserver's handle_error); see PooledThreading
            with self._lock:
                self._idle.append(slot)
            work = slot.take(self._idle_s)
            if work is None:
                with self._lock:
                    if slot in self._idle:
                        self._idle.remove(slot)  # nobody took this slot: end the thread
                        return
                work = slot.take(None)  # a submit() took the slot just as the wait ended: its work follows


class _Slot:
    __slots__ = ("_ready", "_work")

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._work: Callable[[], None] | None = None

    def give(self, work: Callable[[], None]) -> None:
        self._work = work
        self._ready.set()

    def take(self, timeout: float | None) -> Callable[[], None] | None:
        if not self._ready.wait(timeout):
            return None
        self._ready.clear()
        work, self._work = self._work, None
        return work


class PooledThreading(socketserver.ThreadingMixIn):
    """ThreadingMixIn whose connections are handled on reused threads (`handler_threads`) instead of a new
    thread each. The handler threads are daemons: a server's close never waits for them."""

    handler_threads: HandlerThreads
    daemon_threads = True
    block_on_close = False

    def process_request(self, request: Any, client_address: Any) -> None:
        self.handler_threads.submit(lambda: self.process_request_thread(request, client_address))


class ServingLoop:
    """Accepts connections for any number of servers on one daemon thread named `name`, until `stop()`.

    `add()` and `remove()` may be called from any thread; once `remove(server)` has returned, the loop accepts
    nothing more for that server (the caller may close its socket)."""

    def __init__(self, name: str) -> None:
        self._selector = selectors.DefaultSelector()
        # epoll sees a socket registered while it waits; the other selectors look at their sockets only
        # when they begin to wait, so they are woken to take a new one
        self._wake_on_add = not isinstance(self._selector, getattr(selectors, "EpollSelector", ()))
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._selector.register(self._wake_read, selectors.EVENT_READ)
        self._lock = threading.Lock()  # held while the loop hands ready servers their connections
        self._servers: set[socketserver.BaseServer] = set()
        self._stopping = False
        self._thread: threading.Thread | None = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def add(self, server: socketserver.BaseServer) -> None:
        with self._lock:
            if self._stopping:
                raise RuntimeError("the serving loop has stopped")
            self._servers.add(server)
            listener: socket.socket = server.socket  # type: ignore[attr-defined]
            listener.setblocking(False)  # accept() after a readable select() must never wait (a client gone)
            self._selector.register(listener, selectors.EVENT_READ, server)
        if self._wake_on_add:
            self._wake()

    def remove(self, server: socketserver.BaseServer) -> None:
        with self._lock:
            if server in self._servers:
                self._servers.discard(server)
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(server.socket)  # type: ignore[attr-defined]

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")

    def _serve(self) -> None:
        while True:
            ready = self._selector.select()
            with self._lock:
                if self._stopping:
                    return
                for key, _ in ready:
                    if key.fileobj is self._wake_read:
                        with contextlib.suppress(OSError):
                            self._wake_read.recv(4096)
                        continue
                    server: socketserver.BaseServer = key.data
                    if server in self._servers:  # not removed since select() returned
                        _accept(server)

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop (safe to call twice); the servers' sockets are left to their owners."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with self._lock:
            self._stopping = True
        self._wake()
        thread.join(timeout=timeout)
        self._selector.close()
        self._wake_read.close()
        self._wake_write.close()


def _accept(server: socketserver.BaseServer) -> None:
    """Accept one connection and hand it to the server (socketserver's handle_request() without the selector
    it builds on each call: the loop has seen the socket readable already)."""
    try:
        request, client_address = server.get_request()
    except OSError:
        return  # another thread took it, or the socket was closed
    if not server.verify_request(request, client_address):
        server.shutdown_request(request)
        return
    try:
        server.process_request(request, client_address)
    except Exception:
        server.handle_error(request, client_address)
        server.shutdown_request(request)


class ServingThread:
    """Serves `server` on a daemon thread named `name` until `stop()` (which is safe to call twice)."""

    def __init__(self, server: socketserver.BaseServer, name: str) -> None:
        self._server = server
        self._loop = ServingLoop(name)
        self._loop.add(server)

    def stop(self, timeout: float = 5.0) -> None:
        self._loop.remove(self._server)
        self._loop.stop(timeout)
