"""The request journal: every request the emulator saw (admin calls aside), what it did, bounded in size.

An entry keeps the raw parts the request path already has (header pairs, body bytes, answer bytes) and does
the parsing, masking and formatting only when read, so journalling costs the hot path almost nothing.

Bounds: at most `size` entries and about `max_bytes` bytes of request and answer data (headers, path, query,
bodies; `--journal-bytes`); the oldest entries go first. A single value larger than `max_value` bytes is kept
cut short and marked: the entry's `truncated` lists `{"field", "bytes"}` (its size as received).

Masking (hallsim.emulator.secrets, the one rule of every output): the `Authorization` value as
`Bearer <first char>***` (8+ characters) or `Bearer ***`, `Cookie`/`X-Api-Key` as `***`, any header whose name
says token/key/secret/password (`X-Hall-Token`) masked; the accepted tokens, and the token the request itself
presented, masked wherever they appear in the path, query, body, answer (e.g. a 422's `got`) and error text.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from hallsim.emulator._json import JSONProblem, parse_json
from hallsim.emulator._settings import check_journal_bytes, check_journal_size
from hallsim.emulator.secrets import Masker, mask_authorization, mask_header, mask_token

__all__ = ["DEFAULT_JOURNAL_BYTES", "Journal", "JournalEntry", "mask_authorization", "mask_token"]

#: the journal's default byte budget: 16 MiB of request and answer data
DEFAULT_JOURNAL_BYTES = 16 * 1024 * 1024
#: what an entry costs beyond its data (the record itself, its header list): counted so tiny requests count
_ENTRY_OVERHEAD = 200
_MARK = "...[truncated]"
_NO_MASKER = Masker()
_new_entry = object.__new__


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def _text_or_json(raw: bytes | None) -> Any:
    if raw is None:
        return None
    if not raw:
        return ""
    try:
        # what parse_json refuses (NaN, lone surrogates, deep nesting...) is shown as text, so what the
        # journal answers is always valid JSON
        return parse_json(raw)
    except JSONProblem:
        return _decode(raw)


@dataclass(eq=False)
class JournalEntry:
    """One request and what the emulator did with it. Filled in as the request goes; read with to_dict().

    Not slotted: each field's default is a class attribute, so Journal.record sets only the fields a new
    entry does not share with the defaults (half the work of `__init__`, which assigns all 21)."""

    seq: int
    time: float
    method: str
    path: str
    raw_headers: list[tuple[bytes, bytes]]
    raw_body: bytes | None = None
    rule: str | int | None = None
    rule_index: int | None = None
    behaviour: str | None = None
    status: int | None = None
    response_body: bytes | None = None
    fault: str | None = None
    #: the decision answered: a dict, or (the decision without its id, the id) until first read (`decision`)
    issued: dict[str, Any] | tuple[dict[str, Any], str] | None = None
    raw_query: bytes = b""
    #: the exception the emulator itself raised while answering (type and message): a bug in hallsim
    emulator_error: str | None = None
    #: values kept cut short: field name -> its size in bytes as received (None: nothing was cut)
    truncated: dict[str, int] | None = None
    #: the bytes this entry counts against the journal's budget, and how many of them it counts already
    size: int = 0
    counted: int = 0
    masker: Masker = field(default=_NO_MASKER, repr=False)
    #: whether the journal still holds the entry (its size counts against the budget only then)
    kept: bool = field(default=True, repr=False)
    owner: Journal | None = field(default=None, repr=False)

    @property
    def decision(self) -> dict[str, Any] | None:
        """The decision answered (allow, deny and the decision-shaped faults), None when there was none."""
        issued = self.issued
        if type(issued) is tuple:
            # kept as the answer's shared template and its id (the hot path copies nothing); made once
            template, decision_id = issued
            made = template.copy()
            made["decision_id"] = decision_id
            self.issued = issued = made
        return issued  # type: ignore[return-value]

    @decision.setter
    def decision(self, value: dict[str, Any] | None) -> None:
        self.issued = value

    def keep_body(self, raw: bytes | None) -> None:
        """Store the request body (cut short and marked when larger than the journal keeps whole); it counts
        against the journal's budget once the request is settled (Journal.settle)."""
        self.raw_body = None if raw is None else self._within("body", raw)

    def keep_response(self, status: int, payload: bytes) -> None:
        """Store what was answered (cut short and marked when larger than the journal keeps whole)."""
        self.status = status
        self.response_body = self._within("response", payload)

    def _within(self, what: str, data: bytes) -> bytes:
        """`data` as kept: cut to the journal's largest value (and marked so), its size counted."""
        owner = self.owner
        if owner is not None and len(data) > owner._max_value:
            self._cut(what, len(data))
            data = data[: owner._max_value]
        self.size += len(data)
        return data

    def _cut(self, name: str, size: int) -> None:
        if self.truncated is None:
            self.truncated = {}
        self.truncated[name] = size

    def _presented(self) -> tuple[str, ...]:
        """The token this request presented (masked everywhere in the entry, accepted or not)."""
        for name, value in self.raw_headers:
            if name.lower() in (b"authorization", b"proxy-authorization"):
                _, _, token = value.decode("latin-1").strip().partition(" ")
                token = token.strip() or value.decode("latin-1").strip()
                return (token,) if token else ()
        return ()

    def _masked(self, value: Any, name: str | None = None) -> Any:
        return self.masker.mask(value, name, also=self._presented())

    @property
    def headers(self) -> dict[str, str]:
        """Request headers (names lower-case) with secrets masked; repeated headers joined with ', '."""
        out: dict[str, str] = {}
        also = self._presented()
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            shown = mask_header(name, value, self.masker)
            if also and shown == value:
                shown = self.masker.mask_text(value, also=also)
            out[name] = f"{out[name]}, {shown}" if name in out else shown
        return out

    @property
    def body(self) -> Any:
        """The request body, masked: parsed JSON when it was JSON, else the text ("" when empty)."""
        if self.raw_body is None:
            return ""
        raw = self.raw_body
        if self.truncated and "body" in self.truncated:
            return self._masked(_decode(raw) + _MARK)
        return self._masked(_text_or_json(raw))

    @property
    def response(self) -> dict[str, Any] | None:
        """What was answered: status and body (parsed JSON if it was JSON, else text); None if nothing was."""
        if self.status is None:
            return None
        raw = self.response_body or b""
        cut = self.truncated and "response" in self.truncated
        body = _decode(raw) + _MARK if cut else _text_or_json(raw)
        return {"status": self.status, "body": self._masked(body)}

    def to_dict(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.time, tz=timezone.utc).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "seq": self.seq,
            "time": stamp.replace("+00:00", "Z"),
            "method": self.method,
            "path": self._masked(self.path),
            "headers": self.headers,
            "body": self.body,
            "rule": self._masked(self.rule),
            "rule_index": self.rule_index,
            "behaviour": self._masked(self.behaviour),
            "response": self.response,
            "fault": self.fault,
            "decision": self._masked(self.decision),
            "emulator_error": self._masked(self.emulator_error),
        }
        if self.raw_query:
            out["query"] = self._masked(self.raw_query.decode("latin-1"))
        if self.truncated:
            out["truncated"] = [{"field": k, "bytes": v} for k, v in self.truncated.items()]
        return out


class Journal:
    """A bounded, thread-safe record of requests, numbered from 1 in arrival order."""

    def __init__(
        self,
        size: int = 1000,
        max_bytes: int = DEFAULT_JOURNAL_BYTES,
        masker: Masker | None = None,
    ) -> None:
        self._size = check_journal_size(size)
        self._max_bytes = check_journal_bytes(max_bytes)
        self._max_value = max(self._max_bytes // 16, 256)
        self._entries: deque[JournalEntry] = deque()
        self._bytes = 0
        self._next = 1
        self._lock = threading.Lock()
        self._acquire, self._release = self._lock.acquire, self._lock.release
        #: the secrets masked in every entry when read (the app adds its accepted tokens)
        self.masker = masker if masker is not None else Masker()
        #: called with next_seq after the journal is emptied (the live page starts again)
        self.on_clear: Callable[[int], None] | None = None

    @property
    def size(self) -> int:
        return self._size

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def max_value(self) -> int:
        """The largest single value (a body, a header) kept whole: a sixteenth of the byte budget."""
        return self._max_value

    @property
    def used_bytes(self) -> int:
        """The bytes the kept entries count against `max_bytes`."""
        return self._bytes

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
        header_bytes: int | None = None,
    ) -> JournalEntry:
        """A new entry for a request that just arrived (`header_bytes`: its header names and values, when the
        caller counted them already)."""
        limit = self._max_value
        if header_bytes is None:
            header_bytes = sum(len(name) + len(value) for name, value in raw_headers)
        size = _ENTRY_OVERHEAD + len(path) + len(raw_query) + header_bytes
        truncated: dict[str, int] | None = None
        if size > limit:  # a huge header or path: keep each value cut short, so memory stays bounded
            truncated = {}
            raw_headers, path, raw_query, size = _cut_request(raw_headers, path, raw_query, limit, truncated)
        # as JournalEntry(0, time, method, path, raw_headers, raw_query=..., truncated=..., size=size,
        # counted=size, masker=..., owner=self); the other fields keep their defaults (class attributes)
        entry = _new_entry(JournalEntry)
        entry.time = time
        entry.method = method
        entry.path = path
        entry.raw_headers = raw_headers
        entry.raw_query = raw_query
        if truncated is not None:
            entry.truncated = truncated
        entry.size = entry.counted = size
        entry.masker = self.masker
        entry.owner = self
        # acquire/release, not `with`: half the cost on the request path (no __exit__(None, None, None))
        self._acquire()
        try:
            entry.seq = self._next
            self._next += 1
            entries = self._entries
            if len(entries) >= self._size:  # full: the oldest goes (the common case under load)
                gone = entries.popleft()
                gone.kept = False
                self._bytes -= gone.counted
            entries.append(entry)
            self._bytes += size
            if self._bytes > self._max_bytes:
                self._evict()
        finally:
            self._release()
        return entry

    def settle(self, entry: JournalEntry) -> None:
        """Count what the entry gained since it was recorded (its body, its answer) against the budget."""
        extra = entry.size - entry.counted
        if extra:
            self._acquire()
            try:
                entry.counted = entry.size
                if entry.kept:
                    self._bytes += extra
                    if self._bytes > self._max_bytes:
                        self._evict()
            finally:
                self._release()

    def keep_body(self, entry: JournalEntry, raw: bytes | None) -> None:
        """Store the request body on `entry` and count it (cut short and marked beyond `max_value`)."""
        entry.keep_body(raw)
        self.settle(entry)

    def keep_response(self, entry: JournalEntry, status: int, payload: bytes) -> None:
        entry.keep_response(status, payload)
        self.settle(entry)

    def _evict(self) -> None:
        entries = self._entries
        while entries and (len(entries) > self._size or (self._bytes > self._max_bytes and len(entries) > 1)):
            gone = entries.popleft()
            gone.kept = False
            self._bytes -= gone.counted

    def entries(self) -> list[JournalEntry]:
        with self._lock:
            return list(self._entries)

    def since(self, seq: int, limit: int | None = None) -> list[JournalEntry]:
        """Entries with seq >= `seq`, oldest first, at most `limit` of them (those that fell out of the
        bounded journal are gone)."""
        with self._lock:
            entries = self._entries
            if not entries or seq > entries[-1].seq:
                return []
            # seqs are consecutive while kept, so the first wanted entry's position is known without a scan
            start = max(0, seq - entries[0].seq)
            stop = len(entries) if limit is None else min(len(entries), start + limit)
            return [entries[i] for i in range(start, stop)]

    def clear(self) -> None:
        """Forget every entry; numbering goes on, so a `since(seq)` taken earlier stays meaningful."""
        with self._lock:
            for entry in self._entries:
                entry.kept = False
            self._entries.clear()
            self._bytes = 0
        if self.on_clear is not None:
            self.on_clear(self._next)


def _cut_request(
    raw_headers: list[tuple[bytes, bytes]],
    path: str,
    raw_query: bytes,
    limit: int,
    truncated: dict[str, int],
) -> tuple[list[tuple[bytes, bytes]], str, bytes, int]:
    each = max(limit // 8, 64)
    headers: list[tuple[bytes, bytes]] = []
    for name, value in raw_headers:
        if len(name) + len(value) > each:
            truncated[f"header {_decode(name[:64])}"] = len(value)
            name, value = name[:64], value[:each] + _MARK.encode()
        headers.append((name, value))
    if len(path) > each:
        truncated["path"] = len(path)
        path = path[:each] + _MARK
    if len(raw_query) > each:
        truncated["query"] = len(raw_query)
        raw_query = raw_query[:each] + _MARK.encode()
    size = _ENTRY_OVERHEAD + len(path) + len(raw_query) + sum(len(n) + len(v) for n, v in headers)
    return headers, path, raw_query, size
