"""What the emulator sends for each behaviour: decisions, error bodies, odd answers and transport faults.

Every answer is recorded on the request's journal entry as it goes out (status and body), and every fault
(`reset`, `close`, `timeout`, a client that left during `slow`) as the entry's `fault`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from hallsim.emulator import _transport
from hallsim.emulator._ids import new_decision_id
from hallsim.emulator.behaviours import ALLOW, DEFAULT_DENY_REASON, Behaviour
from hallsim.emulator.contract import artifact_hash, decision
from hallsim.emulator.journal import JournalEntry

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp, ParsedRequest

_JSON = b"application/json"


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def decision_for(behaviour: Behaviour, body: Mapping[str, Any], *, denied: bool) -> dict[str, Any]:
    return decision(
        body,
        denied=denied,
        reason=(behaviour.reason or DEFAULT_DENY_REASON) if denied else None,
        decision_id=behaviour.decision_id,
        hash_=behaviour.artifact_hash,
        species=behaviour.selected_worker_species_id,
    )


def error_body(code: str, detail: str, **more: Any) -> bytes:
    return json.dumps({"error": code, "detail": detail, **more}).encode()


async def answer(
    send: Any,
    entry: JournalEntry,
    status: int,
    payload: bytes,
    *,
    content_type: bytes = _JSON,
    extra: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    if extra:
        headers.extend(extra)
    if close:
        headers.append((b"connection", b"close"))
    entry.keep_response(status, payload)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def drain(receive: Any) -> None:
    message = await receive()
    while message.get("more_body"):
        message = await receive()


async def drop_connection(scope: Any, receive: Any, how: str) -> None:
    """End the connection with no HTTP answer (`how`: "reset" or "close"), then wait until uvicorn has seen
    it go: an app that returns without answering on a connection uvicorn still thinks open gets uvicorn's
    own 500 (and an error in its log)."""
    transport = _transport.transport_of(scope)
    if transport is None:  # not served by HallProtocol: that server decides what the client sees
        return
    (_transport.reset_connection if how == "reset" else _transport.close_connection)(transport)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_transport.wait_disconnect(receive), 5.0)


_ID_PREFIX = b'{"decision_id": "'
#: stands for the decision id in a cached answer: same length as any UUID, replaced on every answer
_PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
_CONTENT_TYPE = (b"content-type", _JSON)


class CachedDecision:
    """The answer of an allow/deny with a generated decision id for one body, encoded once: the bytes after
    the id (before it come always `{"decision_id": "`), the decision with a placeholder id, and the header
    naming the body's length (every UUID has 36 characters, so it is the same for every answer). Only the
    id changes."""

    __slots__ = ("after", "length", "template")

    def __init__(self, template: dict[str, Any]) -> None:
        encoded = json.dumps(template).encode()
        assert encoded.startswith(_ID_PREFIX + _PLACEHOLDER_ID.encode())
        self.template = template
        self.after = encoded[len(_ID_PREFIX) + len(_PLACEHOLDER_ID) :]
        self.length = (b"content-length", str(len(encoded)).encode())


def cached_decision(behaviour: Behaviour, body: Mapping[str, Any], parsed: ParsedRequest) -> CachedDecision:
    """The cached answer of an allow/deny with a generated decision id, per body and behaviour."""
    key = behaviour.spec  # a cached string: cheaper to hash than the frozen dataclass
    cached = parsed.answers.get(key)
    if cached is None:
        if behaviour.artifact_hash is None and parsed.hash is None:
            parsed.hash = artifact_hash(body)
        denied = behaviour.kind == "deny"
        cached = CachedDecision(
            decision(
                body,
                denied=denied,
                reason=(behaviour.reason or DEFAULT_DENY_REASON) if denied else None,
                decision_id=_PLACEHOLDER_ID,
                hash_=behaviour.artifact_hash or parsed.hash,
                species=behaviour.selected_worker_species_id,
            )
        )
        if len(parsed.answers) < 64:
            parsed.answers[key] = cached
    return cached


def cached_answer(entry: JournalEntry, cached: CachedDecision) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ASGI messages of a cached allow/deny with a fresh decision id, recorded on the entry first
    (as answer() does)."""
    issued_id = new_decision_id()
    payload = _ID_PREFIX + issued_id.encode() + cached.after
    entry.issued = (cached.template, issued_id)  # the journal's decision, made when first read
    entry.keep_response(200, payload)
    return (
        {"type": "http.response.start", "status": 200, "headers": [_CONTENT_TYPE, cached.length]},
        {"type": "http.response.body", "body": payload},
    )


async def send_cached(send: Any, entry: JournalEntry, cached: CachedDecision) -> None:
    start, body = cached_answer(entry, cached)
    await send(start)
    await send(body)


async def perform(
    app: HallApp,
    behaviour: Behaviour,
    body: Mapping[str, Any],
    entry: JournalEntry,
    scope: Any,
    receive: Any,
    send: Any,
    parsed: ParsedRequest | None = None,
) -> None:
    kind = behaviour.kind
    if kind in ("allow", "deny"):
        if parsed is not None and behaviour.decision_id is None:
            await send_cached(send, entry, cached_decision(behaviour, body, parsed))
            return
        issued = decision_for(behaviour, body, denied=kind == "deny")
        entry.decision = issued
        await answer(send, entry, 200, json.dumps(issued).encode())
    elif kind == "http":
        status = behaviour.status or 500
        if behaviour.body is not None:
            payload, content_type = behaviour.body.encode(), b"text/plain; charset=utf-8"
        elif behaviour.json_body is not None:
            payload, content_type = behaviour.json_body.encode(), _JSON
        else:
            payload = error_body(reason_phrase(status).lower().replace(" ", "_"), f"HTTP {status} (scripted)")
            content_type = _JSON
        extra = []
        for name, value in behaviour.headers:
            if name.lower() == "content-type":  # a scripted Content-Type replaces the default, not doubles it
                content_type = value.encode()
            else:
                extra.append((name.lower().encode(), value.encode()))
        await answer(send, entry, status, payload, content_type=content_type, extra=extra)
    elif kind == "slow":
        outcome = await app.hold(receive, (behaviour.delay or 0.0) * app.time_scale)
        if outcome == "elapsed":
            await perform(app, behaviour.then or ALLOW, body, entry, scope, receive, send, parsed)
        else:
            entry.fault = "client_gone" if outcome == "disconnected" else "server_stopped"
            if outcome == "released":
                await drop_connection(scope, receive, "close")
    elif kind == "timeout":
        entry.fault = "timeout"
        if await app.hold(receive, None) == "released":
            await drop_connection(scope, receive, "close")
    elif kind in ("reset", "close"):
        entry.fault = kind
        await drop_connection(scope, receive, kind)
    elif kind == "malformed-json":
        text = json.dumps(decision_for(behaviour, body, denied=False))
        await answer(send, entry, 200, text[: len(text) // 2].encode())
    elif kind == "empty-body":
        await answer(send, entry, 200, b"")
    elif kind == "missing-denied":
        issued = decision_for(behaviour, body, denied=False)
        del issued["denied"]
        entry.decision = issued
        await answer(send, entry, 200, json.dumps(issued).encode())
    elif kind == "denied-as-string":
        denied = behaviour.value == "true"
        issued = decision_for(behaviour, body, denied=denied)
        issued["denied"] = behaviour.value
        entry.decision = issued
        await answer(send, entry, 200, json.dumps(issued).encode())
    elif kind == "policy":
        if app.policy is None:
            await answer(
                send, entry, 500, error_body("policy_not_loaded", "behaviour `policy` without policy rules")
            )
            return
        issued = app.policy.decide(body)
        entry.decision = issued
        await answer(send, entry, 200, json.dumps(issued).encode())
    else:  # pragma: no cover - parse_behaviour only makes the kinds above
        raise AssertionError(kind)
