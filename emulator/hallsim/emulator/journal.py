"""The request journal: every request the emulator saw (admin calls aside), what it did, bounded in size.

Entries keep references to what the request path already has (raw headers, the parsed body) and do the masking
and formatting only when read, so journalling costs the hot path almost nothing. The journal is a
`collections.deque(maxlen=...)`: memory stays flat under load, the oldest entries go first.

Token masking: an `Authorization` value `Bearer <token>` is shown as `Bearer <first char>***` when the token
has at least 8 characters (a hint that tells a real token from, say, `Bearer undefined`, never the token), and
as `Bearer ***` when it is shorter, so a short test token such as `t` is not shown whole; any other
Authorization value becomes `***`. The headers `Cookie`, `Proxy-Authorization` and `X-Api-Key` are masked as
`***` too.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hallsim.emulator._settings import check_journal_size

_SECRET_HEADERS = frozenset({b"authorization", b"proxy-authorization", b"cookie", b"x-api-key"})


#: tokens shorter than this are masked whole: their first character would give away too much of them
_HINT_MIN_LENGTH = 8


def mask_token(token: str) -> str:
    """A secret as journals and traces show it: `***`, after its first character when it is long enough."""
    token = token.strip()
    return (token[0] if len(token) >= _HINT_MIN_LENGTH else "") + "***"


def mask_authorization(value: str) -> str:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "***"
    return f"{scheme} {mask_token(token)}"


def _text_or_json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8", errors="replace")
    if not text:
        return ""
    try:
        return json.loads(text)
    except ValueError:
        return text


_UNSET: Any = object()


@dataclass
class JournalEntry:
    """One request and what the emulator did with it. Filled in as the request goes; read with to_dict()."""

    seq: int
    time: float
    method: str
    path: str
    raw_headers: list[tuple[bytes, bytes]]
    raw_body: bytes | None = None
    #: the parsed body when it was JSON (kept to avoid parsing twice)
    parsed_body: Any = _UNSET
    rule: str | int | None = None
    rule_index: int | None = None
    behaviour: str | None = None
    status: int | None = None
    response_body: bytes | None = None
    fault: str | None = None
    decision: dict[str, Any] | None = None
    raw_query: bytes = b""

    @property
    def headers(self) -> dict[str, str]:
        """Request headers (names lower-case) with tokens masked; repeated headers joined with ', '."""
        out: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if raw_name.lower() in _SECRET_HEADERS:
                value = mask_authorization(value) if name == "authorization" else "***"
            out[name] = f"{out[name]}, {value}" if name in out else value
        return out

    @property
    def body(self) -> Any:
        """The request body: parsed JSON when it was JSON, else the raw text ("" when empty)."""
        if self.parsed_body is not _UNSET:
            return self.parsed_body
        return _text_or_json(self.raw_body) if self.raw_body is not None else ""

    @property
    def response(self) -> dict[str, Any] | None:
        """What was answered: status and body (parsed JSON if it was JSON, else text); None if nothing was."""
        if self.status is None:
            return None
        return {"status": self.status, "body": _text_or_json(self.response_body or b"")}

    def to_dict(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat(timespec="milliseconds")
        out = {
            "seq": self.seq,
            "time": stamp.replace("+00:00", "Z"),
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "body": self.body,
            "rule": self.rule,
            "rule_index": self.rule_index,
            "behaviour": self.behaviour,
            "response": self.response,
            "fault": self.fault,
            "decision": self.decision,
        }
        if self.raw_query:
            out["query"] = self.raw_query.decode("latin-1")
        return out


class Journal:
    """A bounded, thread-safe record of requests, numbered from 1 in arrival order."""

    def __init__(self, size: int = 1000) -> None:
        self._entries: deque[JournalEntry] = deque(maxlen=check_journal_size(size))
        self._next = 1
        self._lock = threading.Lock()
        #: called with next_seq after the journal is emptied (the live page starts again)
        self.on_clear: Callable[[int], None] | None = None

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

    @property
    def next_seq(self) -> int:
        """The seq the next request will get: read it before a run; `since(seq)` gives the run's entries."""
        return self._next

    def record(
        self,
        time: float,
        method: str,
        path: str,
        raw_headers: list[tuple[bytes, bytes]],
        raw_query: bytes = b"",
    ) -> JournalEntry:
        with self._lock:
            entry = JournalEntry(self._next, time, method, path, raw_headers, raw_query=raw_query)
            self._next += 1
            self._entries.append(entry)
        return entry

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def since(self, seq: int) -> list[JournalEntry]:
        """Entries with seq >= `seq`, oldest first (those that fell out of the bounded journal are gone)."""
        with self._lock:
            return [e for e in self._entries if e.seq >= seq]

    def clear(self) -> None:
        """Forget every entry; numbering goes on, so a `since(seq)` taken earlier stays meaningful."""
        with self._lock:
            self._entries.clear()
        if self.on_clear is not None:
            self.on_clear(self._next)
