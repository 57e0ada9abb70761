"""Reading what the Hall did from journal entries: the fail-closed rule's notion of a well-formed allow."""

from __future__ import annotations

import dataclasses

import pytest

from hallsim.emulator.journal import JournalEntry
from hallsim.harness import journal

from .records import entry

ALLOW = {"decision_id": "d1", "denied": False, "selected_worker_species_id": "s", "artifact_hash": "h"}
DENY = {
    "decision_id": "d2",
    "denied": True,
    "selected_worker_species_id": None,
    "artifact_hash": "h",
    "reason": "no",
}


@pytest.mark.parametrize(
    ("entries", "allowed", "described"),
    [
        ([entry(200, ALLOW)], True, "allowed (200, denied=false)"),
        ([entry(200, DENY)], False, "denied (200, denied=true, reason 'no')"),
        ([entry(500, {"error": "x"})], False, "answered HTTP 500 with a JSON body"),
        ([entry(502, raw="<html>bad gateway</html>")], False, "answered HTTP 502 with a non-JSON body"),
        # hall-contract.md "Response (200, JSON)": denied is a boolean; the string "false" is not an allow
        ([entry(200, {**ALLOW, "denied": "false"})], False, 'denied="false" (str, not a boolean)'),
        ([entry(200, {k: v for k, v in ALLOW.items() if k != "denied"})], False, "without a `denied` field"),
        ([entry(200, raw="{not json")], False, "a body that is not JSON"),
        ([entry(200, raw="")], False, "an empty body"),
        ([entry(None, fault="timeout")], False, "never answered"),
        ([entry(None, fault="reset")], False, "TCP RST"),
        ([entry(None, fault="close")], False, "closed the connection"),
        # an allow that was cut off is not delivered
        ([entry(200, ALLOW, fault="client_gone")], False, "the client gave up"),
        ([], False, "was not called"),
        # any good allow among several calls counts
        ([entry(500, {}), entry(200, ALLOW)], True, "2 calls: answered HTTP 500 with a JSON body; allowed"),
        # retries that got the same answer read as one clause, not a wall of repeats
        ([entry(500, {})] * 4, False, "4 calls, each answered HTTP 500 with a JSON body"),
        (
            [entry(500, {}), entry(500, {}), entry(200, DENY)],
            False,
            "3 calls: 2x answered HTTP 500 with a JSON body; denied",
        ),
    ],
)
def test_well_formed_allow_is_judged_from_what_was_delivered(
    entries: list[JournalEntry], allowed: bool, described: str
) -> None:
    assert journal.well_formed_allow(entries) is allowed
    assert described in journal.describe(entries)


def test_issued_decision_is_the_last_delivered_one_and_ignores_other_paths() -> None:
    other = dataclasses.replace(entry(200, {"decision_id": "admin"}), path="/__hall/journal")
    entries = [entry(200, ALLOW), entry(200, DENY), other]
    assert journal.issued_decision(entries) == DENY
    assert journal.issued_decision([entry(500, {})]) is None
