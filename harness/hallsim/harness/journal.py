"""What the Hall did during one run, read from the emulator's journal entries (`JournalEntry` objects).

The matrix and the scenarios judge a run by what the gate was actually given, not by the name of the
behaviour that was scripted: a scripted sequence, a seeded chaos rule or a `slow` answer that arrived too
late all show up here as what they were."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hallsim.harness.record import is_route_entry

if TYPE_CHECKING:
    from hallsim.emulator.journal import JournalEntry


def route_requests(entries: Sequence[JournalEntry]) -> list[JournalEntry]:
    """The journal entries that are gate calls (`POST /api/route`), oldest first."""
    return [e for e in entries if is_route_entry(e)]


def response_json(entry: JournalEntry) -> Any:
    """The answer's body parsed as JSON, or None when there was no answer or it was not JSON."""
    response = entry.response
    if response is None:
        return None
    body = response.get("body")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return None
    return body


def _delivered(entry: JournalEntry) -> bool:
    """The whole answer reached the client: an HTTP response, and no fault injected instead of or after it."""
    return entry.status is not None and not entry.fault


def is_well_formed_allow(entry: JournalEntry) -> bool:
    """hall-contract.md "Response (200, JSON)": status 200, a JSON object, `denied` the boolean false,
    delivered in full. Anything else is not an allow, whatever the behaviour was called."""
    if not _delivered(entry):
        return False
    if entry.status != 200:
        return False
    body = response_json(entry)
    return isinstance(body, Mapping) and body.get("denied") is False


def well_formed_allow(entries: Sequence[JournalEntry]) -> bool:
    """Whether the gate was given a well-formed allow during this run (by any of its Hall calls)."""
    return any(is_well_formed_allow(e) for e in route_requests(entries))


def issued_decisions(entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    """Every decision the emulator delivered in this run (JSON objects with a decision_id), oldest first."""
    decisions = []
    for entry in route_requests(entries):
        body = response_json(entry) if _delivered(entry) else None
        if isinstance(body, Mapping) and "decision_id" in body:
            decisions.append(dict(body))
    return decisions


def issued_decision(entries: Sequence[JournalEntry]) -> dict[str, Any] | None:
    """The last decision the emulator delivered in this run, or None."""
    decisions = issued_decisions(entries)
    return decisions[-1] if decisions else None


def describe_entry(entry: JournalEntry) -> str:
    """One line a person understands: what the Hall did with this request."""
    fault = entry.fault
    response = entry.response
    behaviour = str(entry.behaviour or "")
    # a `slow` answer the client did not wait for, whether or not the emulator has noticed it leave yet
    if behaviour.startswith("slow:") and not isinstance(response, Mapping) and fault in (None, "client_gone"):
        seconds = behaviour.split(":")[1]
        return f"was holding its answer ({seconds} s modelled) when the client gave up"
    if fault and not isinstance(response, Mapping):
        return _FAULTS.get(str(fault).split(":")[0], f"fault: {fault}")
    if not isinstance(response, Mapping):
        # read before the emulator noticed the client leave: it was still holding the request
        return "had not answered when the client gave up"
    status = response.get("status")
    text = _describe_answer(status, response.get("body"), response_json(entry))
    if fault:
        text += f", then {_FAULTS.get(str(fault).split(':')[0], str(fault))}"
    return text


def describe(entries: Sequence[JournalEntry]) -> str:
    """What the Hall did in a run, one clause per gate call."""
    calls = route_requests(entries)
    if not calls:
        return "was not called"
    texts = [describe_entry(e) for e in calls]
    if len(texts) == 1:
        return texts[0]
    # consecutive identical answers (a Break retrying, say) read as one clause with a count
    runs: list[tuple[str, int]] = []
    for text in texts:
        if runs and runs[-1][0] == text:
            runs[-1] = (text, runs[-1][1] + 1)
        else:
            runs.append((text, 1))
    if len(runs) == 1:
        return f"{len(texts)} calls, each {runs[0][0]}"
    clauses = [text if count == 1 else f"{count}x {text}" for text, count in runs]
    return f"{len(texts)} calls: " + "; ".join(clauses)


_FAULTS = {
    "timeout": "never answered (held the request until the client gave up)",
    "reset": "reset the connection (TCP RST), no HTTP answer",
    "close": "closed the connection without an answer",
    "client_gone": "was holding its answer when the client gave up",
    "server_stopped": "the emulator stopped before answering",
}


def _describe_answer(status: Any, raw: Any, body: Any) -> str:
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", errors="replace")
    if status != 200:
        detail = ""
        if isinstance(body, Mapping):
            detail = " with a JSON body"
        elif raw:
            detail = " with a non-JSON body"
        return f"answered HTTP {status}{detail}"
    if raw in (None, "", b""):
        return "answered 200 with an empty body"
    if body is None and isinstance(raw, str):
        return "answered 200 with a body that is not JSON"
    if not isinstance(body, Mapping):
        return f"answered 200 with JSON that is not an object ({type(body).__name__})"
    if "denied" not in body:
        return "answered 200 without a `denied` field"
    denied = body["denied"]
    if denied is False:
        return "allowed (200, denied=false)"
    if denied is True:
        reason = body.get("reason")
        return "denied (200, denied=true" + (f", reason {reason!r})" if reason else ")")
    return f"answered 200 with denied={json.dumps(denied)} ({type(denied).__name__}, not a boolean)"
