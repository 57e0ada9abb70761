"""The live journal page's server side (live.py): the page, its event stream, and the feed that must never
slow the request path."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import queue
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator
from hallsim.emulator.journal import Journal
from hallsim.emulator.live import MAX_PER_PUSH, JournalFeed, event_stream

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": "Bearer t"}


class Stream:
    """`GET /__hall/events` read in a thread; events (kind, data) arrive on a queue."""

    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self._thread.start()

    def _read(self, url: str) -> None:
        kind = "message"
        try:
            with httpx.stream("GET", f"{url}/__hall/events", timeout=30) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.put((kind, json.loads(line[6:])))
        except httpx.HTTPError as err:
            self.events.put(("error", str(err)))
        finally:
            self.ended.set()

    def next(self, kind: str) -> Any:
        while True:
            got, data = self.events.get(timeout=15)
            if got == kind:
                return data
            assert got != "error", data


@pytest.fixture
def hall() -> Iterator[HallEmulator]:
    with HallEmulator() as emulator:
        yield emulator


def test_the_page_is_one_file_whose_only_script_is_allowed_by_its_hash(hall: HallEmulator) -> None:
    page = httpx.get(f"{hall.url}/__hall/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    scripts = re.findall(r"<script>(.*?)</script>", page.text, flags=re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    # nothing fetched from anywhere else: no src/href to another origin
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)


def test_behind_an_admin_token_the_page_opens_but_its_events_need_the_token() -> None:
    token = "admin-token-0123456789"
    with HallEmulator(admin_token=token) as hall:
        assert httpx.get(f"{hall.url}/__hall/").status_code == 200  # a browser's navigation sends no token
        assert httpx.get(f"{hall.url}/__hall/events").status_code == 401
        assert httpx.get(f"{hall.url}/__hall/rules").status_code == 401
        # the Host check still applies to the page (DNS rebinding)
        assert httpx.get(f"{hall.url}/__hall/", headers={"Host": "evil.invalid"}).status_code == 421
        with httpx.stream(
            "GET", f"{hall.url}/__hall/events", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ) as stream:
            assert stream.status_code == 200
            assert next(stream.iter_lines()) == "retry: 1000"


def test_a_request_is_pushed_when_it_is_answered(hall: HallEmulator) -> None:
    httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers=AUTH)
    stream = Stream(hall.url)
    snapshot = stream.next("snapshot")
    assert [e["seq"] for e in snapshot["entries"]] == [1]
    hall.when(data_label="RESTRICTED").respond("deny", reason="needs approval")
    httpx.post(f"{hall.url}/api/route", json={**GUIDE_REQUEST, "data_label": "RESTRICTED"}, headers=AUTH)
    answered = stream.next("entry")
    while answered["response"] is None:  # the push on arrival, when the stream read it before the answer
        answered = stream.next("entry")
    assert answered["seq"] == 2
    assert answered["response"]["status"] == 200
    assert answered["decision"]["reason"] == "needs approval"
    assert answered["rule"] == 0
    assert answered["headers"]["authorization"] == "Bearer ***"  # masked as the journal masks it


def test_a_held_request_is_pushed_while_it_waits(hall: HallEmulator) -> None:
    stream = Stream(hall.url)
    stream.next("snapshot")
    hall.when(worker_id="wrk_hold").respond("slow:600")
    outcome: list[str] = []

    def send() -> None:
        try:
            body = {**GUIDE_REQUEST, "worker_id": "wrk_hold"}
            httpx.post(f"{hall.url}/api/route", json=body, headers=AUTH, timeout=60)
            outcome.append("answered")
        except httpx.HTTPError as err:
            outcome.append(type(err).__name__)

    held = threading.Thread(target=send, daemon=True)
    held.start()
    waiting = stream.next("entry")
    assert waiting["seq"] == 1
    assert waiting["response"] is None
    assert waiting["fault"] is None
    # the push came on arrival; once the behaviour holds the request, let go of it as a stopping server does
    for _ in range(3000):
        if hall.app.held_requests:
            break
        threading.Event().wait(0.005)
    assert hall.app.held_requests == 1
    hall.app.release_held()  # the connection is closed without an answer
    ended = stream.next("entry")
    assert ended["seq"] == 1
    assert ended["fault"] == "server_stopped"
    held.join(30)
    assert outcome == ["RemoteProtocolError"]  # closed without an answer


def test_emptying_the_journal_tells_the_page(hall: HallEmulator) -> None:
    stream = Stream(hall.url)
    stream.next("snapshot")
    httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers=AUTH)
    hall.clear_journal()  # from another thread than the server's
    assert stream.next("cleared") == {"next_seq": 2}
    httpx.post(f"{hall.url}/__hall/reset", json={})
    assert stream.next("cleared") == {"next_seq": 2}


def test_an_open_page_does_not_hold_up_stopping_the_emulator() -> None:
    hall = HallEmulator().start()
    stream = Stream(hall.url)
    stream.next("snapshot")
    hall.stop()
    assert stream.ended.wait(15)
    assert not hall.running


def test_publishing_costs_the_same_however_many_requests_come_and_stores_nothing() -> None:
    async def scenario() -> tuple[bool, int]:
        feed = JournalFeed()
        journal = Journal()
        page = feed.subscribe()  # never reads
        for _ in range(10_000):
            feed.publish(journal.record(0.0, "POST", "/api/route", []))
        return page.wake.is_set(), len(vars(page))

    woken, fields = asyncio.run(scenario())
    assert woken
    assert fields == 6  # a flag, no queue: the journal (bounded) is the only buffer


def test_a_burst_is_pushed_as_its_newest_entries_and_a_count_of_the_rest(hall: HallEmulator) -> None:
    async def scenario() -> list[bytes]:
        stream = event_stream(hall.app)
        chunks = [await anext(stream), await anext(stream)]  # retry, snapshot
        for _ in range(MAX_PER_PUSH + 30):
            entry = hall.app.journal.record(0.0, "POST", "/api/route", [])
            entry.status = 200
            hall.app.feed.publish(entry)
        chunks.append(await anext(stream))
        await stream.aclose()
        return chunks

    chunks = asyncio.run(scenario())
    events = [block for block in chunks[-1].decode().split("\n\n") if block]
    assert events[0].startswith("event: skipped")
    assert json.loads(events[0].split("data: ", 1)[1]) == {"count": 30, "upto": 30}
    seqs = [json.loads(e.split("data: ", 1)[1])["seq"] for e in events[1:]]
    assert seqs == list(range(31, MAX_PER_PUSH + 31))
    assert hall.app.feed.subscribers == 0


def test_a_page_that_stopped_reading_holds_up_nothing() -> None:
    hall = HallEmulator().start()
    try:
        stalled = socket.create_connection(("127.0.0.1", hall.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        stalled.sendall(b"GET /__hall/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # and never reads again
        body = {**GUIDE_REQUEST, "worker_id": "w" * 30_000}
        with httpx.Client(base_url=hall.url, headers=AUTH) as client:
            answers = {client.post("/api/route", json=body).status_code for _ in range(300)}
        assert answers == {200}
        assert hall.app.feed.subscribers == 1
    finally:
        hall.stop()  # ends the stalled stream too (its connection is aborted)
    assert not hall.running
    assert hall.app.feed.subscribers == 0
    stalled.close()
