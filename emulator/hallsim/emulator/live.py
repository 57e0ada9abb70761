"""The live journal page at `/__hall/`: requests pushed to the browser as they arrive (server-sent events).

    GET /__hall/         the page (live.html next to this file: one static file, inline JS and CSS, no build
                         step, nothing fetched from elsewhere; its Content-Security-Policy allows only its own
                         script and calls to this emulator)
    GET /__hall/events   text/event-stream: `snapshot` (the newest journal entries), then `entry` for each
                         new request and again when a request that was waiting is answered (the page keeps
                         the last version per seq), `skipped` when more arrived between two pushes than one
                         push carries, `cleared` when the journal is emptied; a comment line every 15 s keeps
                         the connection alive

The events go through the admin API like every `/__hall/` call, so its guard applies; the page sends the
admin token it was opened with (`/__hall/#token=...`, kept in the tab's sessionStorage and removed from the
address bar) as `Authorization: Bearer`, reads the stream with `fetch` (EventSource cannot send headers) and
changes rules with `Content-Type: application/json` calls. What it shows is `JournalEntry.to_dict()`, masked
as the journal masks it.

Cost to the request path: the journal is the only buffer. A request only wakes the open pages (an
`asyncio.Event` set, once, however many requests come); each page's stream then reads what is new from the
journal at its own pace: at most one push every `PACE` seconds of at most `MAX_PER_PUSH` entries, so
serialising entries (masking them, JSON) costs a bounded amount per page whatever the load, and a page that
reads slowly, or not at all, makes nothing wait and nothing pile up. Stopping the server ends every stream,
a stalled one included (its connection is aborted).
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

#: seconds between two pushes to one page (a request shows on the page within about this long)
PACE = 0.1
#: entries one push carries at most (the newest); older ones are counted in a `skipped` event
MAX_PER_PUSH = 200
#: entries serialised between two chances for requests to run
_SLICE = 10
#: entries the first event carries at most (the page shows 500 rows)
MAX_SNAPSHOT = 500
#: seconds between keep-alive comments on an idle stream
HEARTBEAT = 15.0
_PAGE = Path(__file__).with_name("live.html")


@dataclass(eq=False)
class Subscription:
    """One open page: what wakes its stream, and what happened that the journal does not say."""

    loop: asyncio.AbstractEventLoop
    thread: int
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: the page's connection (served by the emulator's own protocol, _transport.py), aborted at shutdown
    transport: asyncio.BaseTransport | None = None
    #: next_seq when the journal was last emptied, until the stream has said so
    cleared: int | None = None
    closed: bool = False

    def poke(self) -> None:
        if threading.get_ident() == self.thread:
            if not self.wake.is_set():
                self.wake.set()
        elif not self.loop.is_closed():  # from another thread (HallEmulator's methods): through the loop
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self.loop.call_soon_threadsafe(self.wake.set)


class JournalFeed:
    """The open pages. `publish` never blocks, never raises and costs the same under any load."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, entry: JournalEntry) -> None:
        """A request arrived or was answered: wake the pages (they read the journal themselves)."""
        if self._subscriptions:
            for subscription in tuple(self._subscriptions):
                subscription.poke()

    def cleared(self, next_seq: int) -> None:
        for subscription in tuple(self._subscriptions):
            subscription.cleared = next_seq
            subscription.poke()

    def close(self) -> None:
        """End every stream (the server is stopping: an open page must not hold up its shutdown)."""
        for subscription in tuple(self._subscriptions):
            subscription.closed = True
            subscription.poke()
            abort = getattr(subscription.transport, "abort", None)  # uvloop's are no asyncio.Transport
            if abort is not None and not subscription.loop.is_closed():
                # a stream stuck writing to a page that stopped reading only ends with its connection
                with contextlib.suppress(RuntimeError):
                    subscription.loop.call_soon_threadsafe(abort)

    def subscribe(self, transport: asyncio.BaseTransport | None = None) -> Subscription:
        subscription = Subscription(asyncio.get_running_loop(), threading.get_ident(), transport=transport)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)


def _event(kind: str, data: Any) -> bytes:
    # one `data:` line: json.dumps escapes newlines, so an entry never splits the event
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n".encode()


def _waiting(entry: JournalEntry) -> bool:
    return entry.status is None and entry.fault is None


async def event_stream(hall: HallApp, transport: asyncio.BaseTransport | None = None) -> AsyncIterator[bytes]:
    """The events for one page (subscribed before the snapshot is taken, so nothing falls between them)."""
    feed = hall.feed
    subscription = feed.subscribe(transport)
    try:
        yield b"retry: 1000\n\n"
        entries = hall.journal.entries()[-MAX_SNAPSHOT:]
        sent = hall.journal.next_seq - 1
        #: entries sent while they were still waiting for their answer: sent again once answered
        waiting = {e.seq: e for e in entries if _waiting(e)}
        snapshot = []
        for count, entry in enumerate(entries, 1):
            snapshot.append(entry.to_dict())
            if count % _SLICE == 0:
                await asyncio.sleep(0)
        yield _event("snapshot", {"entries": snapshot, "next_seq": sent + 1})
        while True:
            try:
                await asyncio.wait_for(subscription.wake.wait(), HEARTBEAT)
            except asyncio.TimeoutError:
                yield b": keep-alive\n\n"
                continue
            subscription.wake.clear()
            if subscription.closed:
                return
            out: list[bytes] = []
            if subscription.cleared is not None:
                out.append(_event("cleared", {"next_seq": subscription.cleared}))
                subscription.cleared = None
                waiting.clear()
            new = hall.journal.since(sent + 1)
            if new:
                sent = new[-1].seq
            if len(new) > MAX_PER_PUSH:
                out.append(
                    _event("skipped", {"count": len(new) - MAX_PER_PUSH, "upto": new[-MAX_PER_PUSH - 1].seq})
                )
                new = new[-MAX_PER_PUSH:]
            for seq, entry in list(waiting.items()):
                if not _waiting(entry):
                    out.append(_event("entry", entry.to_dict()))
                    del waiting[seq]
            for count, entry in enumerate(new, 1):
                out.append(_event("entry", entry.to_dict()))
                if _waiting(entry) and len(waiting) < MAX_SNAPSHOT:
                    waiting[entry.seq] = entry
                if count % _SLICE == 0:
                    await asyncio.sleep(0)  # let requests in between: a push never holds the loop for long
            if out:
                yield b"".join(out)
            await asyncio.sleep(PACE)  # the page's pace, whatever the load
    finally:
        feed.unsubscribe(subscription)


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
