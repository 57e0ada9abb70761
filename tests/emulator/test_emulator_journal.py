"""The request journal: what each request was and what the emulator did, tokens masked, bounded."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from typing import Any

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator
from hallsim.emulator.journal import Journal, JournalEntry, mask_authorization


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # a short token is masked whole; a long one keeps a one-character hint
        ("Bearer t", "Bearer ***"),
        ("Bearer 1234567", "Bearer ***"),
        ("Bearer undefined", "Bearer u***"),
        ("Bearer sk_live_secret", "Bearer s***"),
        ("bearer   padded-token", "bearer p***"),
        ("Basic dXNlcjpwYXNz", "***"),
        ("Bearer", "***"),
        ("", "***"),
    ],
)
def test_masking(value: str, shown: str) -> None:
    assert mask_authorization(value) == shown


def test_an_entry_records_the_request_and_the_answer(hall: HallEmulator, http: httpx.Client) -> None:
    hall.when(data_label="RESTRICTED").named("restricted").respond("deny", reason="needs approval")
    before = hall.next_seq
    sent = {**GUIDE_REQUEST, "data_label": "RESTRICTED"}
    answer = http.post(
        "/api/route", json=sent, headers={"Authorization": "Bearer second-token", "Cookie": "a=b"}
    )
    [entry] = hall.journal_since(before)
    record = entry.to_dict()
    assert record["seq"] == before
    assert record["time"].endswith("Z")
    assert (record["method"], record["path"]) == ("POST", "/api/route")
    assert record["headers"]["authorization"] == "Bearer s***"
    assert record["headers"]["cookie"] == "***"
    assert "second-token" not in json.dumps(record)
    assert record["body"] == sent
    assert (record["rule"], record["rule_index"], record["behaviour"]) == (
        "restricted",
        0,
        "deny:needs approval",
    )
    assert record["response"] == {"status": 200, "body": answer.json()}
    assert record["decision"] == answer.json()
    assert record["fault"] is None
    assert "query" not in record  # only shown when the gate sent one


def test_each_entry_holds_the_decision_its_own_answer_carried(hall: HallEmulator, http: httpx.Client) -> None:
    # allow and deny answers for one body share one encoded template (only the id differs): each entry must
    # still show its own answer's decision, read in any order, and reading or changing one leaves the
    # others (and the answers still to come) as they were
    hall.when(tenant_id="org.deny").respond("deny", reason="no")
    before = hall.next_seq
    bodies = [GUIDE_REQUEST, {**GUIDE_REQUEST, "tenant_id": "org.deny"}] * 3
    answers = [http.post("/api/route", json=b).json() for b in bodies]
    entries = hall.journal_since(before)
    for entry, answer in reversed(list(zip(entries, answers, strict=True))):
        assert entry.decision == answer
        assert entry.to_dict()["decision"] == answer
    assert len({a["decision_id"] for a in answers}) == len(answers)
    assert entries[0].decision is not None
    entries[0].decision["denied"] = "changed by a reader"
    assert entries[0].decision["denied"] == "changed by a reader"  # made once, then kept
    assert entries[2].decision == answers[2]
    later = http.post("/api/route", json=GUIDE_REQUEST).json()
    assert later["denied"] is False
    assert hall.journal()[-1].decision == later


def test_a_query_string_is_recorded(hall: HallEmulator, http: httpx.Client) -> None:
    http.post("/api/route?trace=on&x=1", json=GUIDE_REQUEST)
    assert hall.journal()[-1].to_dict()["query"] == "trace=on&x=1"


@pytest.mark.parametrize(
    ("behaviour", "fault", "status", "body"),
    [
        ("http-500:down", None, 500, "down"),
        ("empty-body", None, 200, ""),
        ("reset", "reset", None, None),
        ("close", "close", None, None),
    ],
)
def test_faults_and_odd_answers_are_recorded(
    hall: HallEmulator, http: httpx.Client, behaviour: str, fault: str | None, status: int | None, body: Any
) -> None:
    hall.set_default(behaviour)
    with contextlib.suppress(httpx.TransportError):
        http.post("/api/route", json=GUIDE_REQUEST)
    record = hall.journal()[-1].to_dict()
    assert record["fault"] == fault
    assert record["behaviour"] == behaviour
    if status is None:
        assert record["response"] is None
    else:
        assert record["response"] == {"status": status, "body": body}


def test_rejected_requests_are_recorded_with_their_body(hall: HallEmulator) -> None:
    with httpx.Client(base_url=hall.url) as anonymous:
        anonymous.post("/api/route", content=b"not json", headers={"Authorization": "Bearer nope"})
        anonymous.get("/api/rout")
    rejected, lost = (e.to_dict() for e in hall.journal()[-2:])
    assert rejected["body"] == "not json"
    assert rejected["headers"]["authorization"] == "Bearer ***"
    assert rejected["response"]["status"] == 403
    assert (rejected["behaviour"], rejected["decision"]) == (None, None)
    assert (lost["path"], lost["response"]["status"]) == ("/api/rout", 404)


def test_admin_calls_are_not_journalled(hall: HallEmulator, http: httpx.Client) -> None:
    http.get("/__hall/health")
    http.get("/openapi.json")
    assert hall.journal() == []


def test_the_journal_is_bounded_and_numbering_goes_on() -> None:
    journal = Journal(size=3)
    for _ in range(5):
        journal.record(0.0, "POST", "/api/route", [])
    assert [e.seq for e in journal.entries()] == [3, 4, 5]
    assert [e.seq for e in journal.since(4)] == [4, 5]
    assert [e.seq for e in journal.since(1)] == [3, 4, 5]
    journal.clear()
    assert journal.entries() == []
    assert journal.next_seq == 6


def test_the_bytes_counted_are_those_of_the_entries_kept() -> None:
    # a full journal drops its oldest entry as each new one comes: what it counts must follow
    journal = Journal(size=4, max_bytes=1_000_000)
    for i in range(10):
        entry = journal.record(0.0, "POST", "/api/route", [(b"x-n", b"v" * i)])
        journal.keep_body(entry, b"b" * (10 * i))
        journal.keep_response(entry, 200, b"a" * i)
    kept = journal.entries()
    assert [e.seq for e in kept] == [7, 8, 9, 10]
    assert journal.used_bytes == sum(e.counted for e in kept)
    assert [e.counted - e.size for e in kept] == [0, 0, 0, 0]
    assert journal.used_bytes == sum(200 + len("/api/route") + 3 + 11 * i + i for i in range(6, 10))


def test_a_recorded_entry_is_what_its_constructor_makes() -> None:
    # Journal.record sets only the fields that differ from their defaults: every other field must read as
    # the constructor would have made it (a field added with a default_factory would break this)
    journal = Journal(size=10)
    headers = [(b"authorization", b"Bearer t")]
    recorded = journal.record(12.5, "POST", "/api/route", headers, b"q=1")
    made = JournalEntry(
        recorded.seq,
        12.5,
        "POST",
        "/api/route",
        headers,
        raw_query=b"q=1",
        size=recorded.size,
        counted=recorded.size,
        masker=journal.masker,
        owner=journal,
    )
    for f in dataclasses.fields(JournalEntry):
        assert getattr(recorded, f.name) == getattr(made, f.name), f.name
    assert recorded.to_dict() == made.to_dict()
    other = journal.record(13.0, "GET", "/x", [])
    recorded.keep_body(b"{}")
    recorded.fault = "reset"
    assert (other.raw_body, other.fault, other.truncated) == (None, None, None)


def test_journal_size_is_a_setting() -> None:
    with HallEmulator(journal_size=2) as small, httpx.Client(base_url=small.url) as client:
        for _ in range(4):
            client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        assert [e.seq for e in small.journal()] == [3, 4]


def test_reset_empties_the_journal(hall: HallEmulator, http: httpx.Client) -> None:
    http.post("/api/route", json=GUIDE_REQUEST)
    seq = hall.next_seq
    hall.reset()
    assert hall.journal() == []
    assert hall.next_seq == seq


CANARY = "canary-7f3a9c2e"


def test_an_accepted_token_is_masked_everywhere_in_the_journal() -> None:
    with HallEmulator(tokens=(CANARY,)) as hall, httpx.Client(base_url=hall.url) as client:
        auth = {"Authorization": f"Bearer {CANARY}", "X-Hall-Token": CANARY}
        client.post(f"/api/route?token={CANARY}&echo={CANARY}", json=GUIDE_REQUEST, headers=auth)
        client.post("/api/route", json={**GUIDE_REQUEST, "env": CANARY}, headers=auth)  # a 422 `got`
        client.post("/api/route", content=f"not json {CANARY}", headers=auth)
        client.get(f"/api/{CANARY}")
        entries = [e.to_dict() for e in hall.journal()]
        served = client.get("/__hall/journal").text
    assert [e["response"]["status"] for e in entries] == [200, 422, 400, 404]
    assert CANARY not in json.dumps(entries)
    assert CANARY not in served
    assert entries[0]["headers"]["x-hall-token"] == "c***"
    assert entries[0]["query"] == "token=c***&echo=c***"
    assert entries[1]["response"]["body"]["problems"][0]["got"] == "c***"
    assert entries[3]["path"] == "/api/c***"


def test_a_token_the_hall_refused_is_masked_too(hall: HallEmulator) -> None:
    with httpx.Client(base_url=hall.url) as client:
        client.post(
            f"/api/route?t={CANARY}", json={"note": CANARY}, headers={"Authorization": f"Bearer {CANARY}"}
        )
    assert CANARY not in json.dumps(hall.journal()[-1].to_dict())


def test_the_journal_is_bounded_in_bytes_and_marks_what_it_cut() -> None:
    journal = Journal(size=1000, max_bytes=16_000)
    first = journal.record(0.0, "POST", "/api/route", [(b"x-big", b"v" * 5000)])
    journal.keep_body(first, b"b" * 5000)
    record = first.to_dict()
    assert {"field": "body", "bytes": 5000} in record["truncated"]
    assert {"field": "header x-big", "bytes": 5000} in record["truncated"]
    assert record["body"].endswith("...[truncated]")
    assert len(record["body"]) < 1200
    for _ in range(200):
        journal.keep_body(journal.record(0.0, "POST", "/api/route", []), b"{}" * 50)
    assert journal.used_bytes <= 16_000
    assert first not in journal.entries()
    assert journal.entries()[-1].seq == 201


def test_journal_bytes_is_a_setting() -> None:
    with HallEmulator(journal_bytes=2000) as small, httpx.Client(base_url=small.url) as client:
        for _ in range(20):
            client.post("/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
        kept = small.journal()
        assert 1 <= len(kept) < 20
        assert kept[-1].seq == 20
        assert small.app.journal.used_bytes <= 2000
