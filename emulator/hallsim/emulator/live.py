"""The live journal page at `/__hall/`: requests pushed to the browser as they arrive (server-sent events).

    GET /__hall/         the page (live.html next to this file: one static file, inline JS and CSS, no build
                         step, nothing fetched from elsewhere; its Content-Security-Policy allows only its own
                         script and calls to this emulator)
    GET /__hall/events   text/event-stream: `snapshot` (the journal as it is), then `entry` for every request
                         when it arrives and again when it is answered (the page keeps the last version per
                         seq), `cleared` when the journal is emptied, `dropped` when this page fell too far
                         behind (it reconnects and gets a fresh snapshot); a comment line every 15 s keeps
                         the connection alive

The events go through the admin API like every `/__hall/` call, so its guard applies; the page sends the
admin token it was opened with (`/__hall/#token=...`, kept in the tab's sessionStorage and removed from the
address bar) as `Authorization: Bearer`, reads the stream with `fetch` (EventSource cannot send headers) and
changes rules with `Content-Type: application/json` calls. What it shows is `JournalEntry.to_dict()`, masked
as the journal masks it.

The request path pays nothing for this when no page is open (one truth test), and one `put_nowait` per open
page when one is: a page whose queue is full (it reads too slowly) is dropped, never waited for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp
    from hallsim.emulator.journal import JournalEntry

#: events a page may have waiting before it is dropped (a journal's worth of answers at full speed is fine)
QUEUE_SIZE = 1024
#: seconds between keep-alive comments on an idle stream
HEARTBEAT = 15.0
_PAGE = Path(__file__).with_name("live.html")
_CLOSE = "close"
#: events taken from the queue for one write
_BATCH = 256


@dataclass(eq=False)
class Subscription:
    """One open page: its queue on the server's event loop, and whether it fell behind."""

    loop: asyncio.AbstractEventLoop
    thread: int
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    dropped: bool = False
    #: the page's connection (served by the emulator's own protocol, _transport.py): closed when it is dropped
    transport: asyncio.BaseTransport | None = None

    def offer(self, item: tuple[str, Any]) -> None:
        if threading.get_ident() == self.thread:
            self._put(item)
        elif not self.loop.is_closed():  # from another thread (HallEmulator's setters): hand it to the loop
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: tuple[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # the stream notices at its next read and ends with `dropped`; when it is stuck writing to a page
            # that stopped reading, dropping the connection frees it (and the server's shutdown with it);
            # abort, not close: close() would wait for the unsent events to drain first
            self.dropped = True
            abort = getattr(self.transport, "abort", None)  # uvloop's transports are no asyncio.Transport
            if abort is not None:
                abort()


class JournalFeed:
    """Open pages and what is pushed to them. `publish` never blocks and never raises."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self.dropped = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, entry: JournalEntry) -> None:
        if self._subscriptions:
            for subscription in tuple(self._subscriptions):
                subscription.offer(("entry", entry))

    def cleared(self, next_seq: int) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.offer(("cleared", next_seq))

    def close(self) -> None:
        """End every stream (the server is stopping: an open page must not hold up its shutdown)."""
        for subscription in tuple(self._subscriptions):
            subscription.offer((_CLOSE, None))

    def subscribe(self, transport: asyncio.BaseTransport | None = None) -> Subscription:
        subscription = Subscription(asyncio.get_running_loop(), threading.get_ident(), transport=transport)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if subscription.dropped:
            self.dropped += 1


def _event(kind: str, data: Any) -> bytes:
    # one `data:` line: json.dumps escapes newlines, so an entry never splits the event
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


async def event_stream(hall: HallApp, transport: asyncio.BaseTransport | None = None) -> AsyncIterator[bytes]:
    """The events for one page (subscribed before the snapshot is taken, so nothing falls between them)."""
    feed = hall.feed
    subscription = feed.subscribe(transport)
    try:
        yield b"retry: 1000\n\n"
        snapshot = [entry.to_dict() for entry in hall.journal.entries()]
        yield _event("snapshot", {"entries": snapshot, "next_seq": hall.journal.next_seq})
        while True:
            if subscription.dropped:
                yield _event("dropped", {"queue_size": QUEUE_SIZE})
                return
            try:
                first = await asyncio.wait_for(subscription.queue.get(), HEARTBEAT)
            except asyncio.TimeoutError:
                yield b": keep-alive\n\n"
                continue
            batch = [first]
            while len(batch) < _BATCH and not subscription.queue.empty():
                batch.append(subscription.queue.get_nowait())
            chunk, closed = _render(batch)
            if chunk:
                yield chunk
            if closed:
                return
    finally:
        feed.unsubscribe(subscription)


def _render(batch: list[tuple[str, Any]]) -> tuple[bytes, bool]:
    """One write for what is waiting; an entry pushed twice (arrived, then answered) is serialised once, at
    its last position. Returns the bytes and whether the stream must end."""
    last = {id(item): i for i, (kind, item) in enumerate(batch) if kind == "entry"}
    out: list[bytes] = []
    for i, (kind, item) in enumerate(batch):
        if kind == _CLOSE:
            return b"".join(out), True
        if kind == "entry":
            if last[id(item)] == i:
                out.append(_event("entry", item.to_dict()))
        else:
            out.append(_event(kind, {"next_seq": item}))
    return b"".join(out), False


@lru_cache(maxsize=1)
def page() -> tuple[bytes, str]:
    """The page's bytes and its Content-Security-Policy (its inline script allowed by its hash, no other)."""
    text = _PAGE.read_text(encoding="utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", text, flags=re.S)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'" for s in scripts
    )
    policy = (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return text.encode(), policy


def routes(hall: HallApp) -> list[Any]:
    """The page's routes, for the admin app."""
    from starlette.requests import Request
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    from hallsim.emulator._transport import transport_of

    async def live_page(request: Request) -> Response:
        body, policy = page()
        return Response(
            body,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": policy,
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def events(request: Request) -> Response:
        return StreamingResponse(
            event_stream(hall, transport_of(request.scope)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return [Route("/__hall/", live_page), Route("/__hall/events", events)]
