"""The emulator as an ASGI app: `POST /api/route` on a lean hot path, the admin API and OpenAPI on Starlette.

Order of checks on `/api/route` (a real client sees the first one that fails):
  0. headers: more than `max_header_bytes` of header names and values -> 431 (every route)
  1. method: anything but POST -> 405
  2. auth: no `Authorization` header, or not `Bearer <token>` -> 401; a token not accepted -> 403
  3. size: a body over `max_body` bytes -> 413 (by Content-Length, else as the body arrives)
  4. JSON: a body that is not strict JSON (UTF-8, no NaN/Infinity, no lone surrogate, nesting at most 64
     deep; _json.py) -> 400
  5. fields: wrong or missing fields -> 422 listing every problem
  6. the behaviour the rules choose (or the default) -> the answer or fault
An exception the emulator itself raises while answering (a bug in hallsim, never the gate's doing) is
recorded on the journal entry (`emulator_error`) and in `HallApp.errors`, answered 500 `emulator_error` when
nothing was sent yet, and re-raised in the test by `HallEmulator.check_handler_errors()` (as
pytest-httpserver's `check_handler_errors` does with handler errors).
Auth comes before the body is read, as in any server that authenticates in front of its handlers, so an
unauthenticated client learns nothing about the contract. Rules and behaviours apply to authenticated, valid
requests only; script `http-401`, `http-422` etc. to see how a gate handles those answers to good requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hallsim.emulator import _answer, _transport
from hallsim.emulator._answer import answer, drain, error_body, perform
from hallsim.emulator._errors import ScriptError
from hallsim.emulator._json import JSONProblem, parse_json
from hallsim.emulator._settings import (
    check_capability_ids,
    check_envs,
    check_max_body,
    check_max_header_bytes,
    check_time_scale,
    check_tokens,
)
from hallsim.emulator.admin_guard import MAX_ADMIN_BODY, AdminGuard
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.contract import (
    CAPABILITY_IDS,
    GUIDE_CAPABILITY_IDS,
    GUIDE_ENVS,
    ROUTE_PATH,
    validate_route_request,
)
from hallsim.emulator.journal import DEFAULT_JOURNAL_BYTES, Journal, JournalEntry
from hallsim.emulator.live import JournalFeed
from hallsim.emulator.rules import Rule, RuleBook, Selection, parse_rule
from hallsim.emulator.secrets import Masker

if TYPE_CHECKING:
    from hallsim.emulator._answer import CachedDecision
    from hallsim.emulator.policy import Policy
    from hallsim.emulator.recorder import Recorder
    from hallsim.emulator.script import Script

ADMIN_PREFIX = "/__hall/"
_now = time.time
#: the behaviours answered with a decision (_answer.cached_answer when its id is generated)
_DECIDING = frozenset(("allow", "deny"))
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
DEFAULT_MAX_BODY = 64 * 1024
#: header names and values together; 16 KiB is what common servers allow (nginx: 4 buffers of 8 KiB at most)
DEFAULT_MAX_HEADER_BYTES = 16 * 1024


class HallApp:
    """The emulator's state (tokens, rules, default, journal, time scale) and its ASGI entry point."""

    def __init__(
        self,
        *,
        tokens: Iterable[str] = ("t",),
        default: Any = "allow",
        rules: Iterable[Mapping[str, Any] | Rule] = (),
        time_scale: float = 1.0,
        journal_size: int = 1000,
        journal_bytes: int = DEFAULT_JOURNAL_BYTES,
        envs: Iterable[str] = GUIDE_ENVS,
        capability_ids: str = "guide",
        max_body: int = DEFAULT_MAX_BODY,
        policy: Policy | None = None,
        max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
        admin_token: str | None = None,
    ) -> None:
        #: every token this app has accepted, masked in the journal and in everything built from it
        self.masker = Masker()
        self.journal = Journal(journal_size, journal_bytes, self.masker)
        self.max_body = check_max_body(max_body)
        self.max_header_bytes = check_max_header_bytes(max_header_bytes)
        #: exceptions the emulator raised while answering (bugs in hallsim), oldest first
        self.errors: list[Exception] = []
        self.admin = AdminGuard(admin_token)
        #: parsed and validated bodies by their bytes (cleared when the settings validation reads change)
        self._parsed: dict[bytes, ParsedRequest] = {}
        self.masker.add(admin_token)
        self._lock = threading.Lock()
        self._held: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()
        self.policy = policy
        self.tokens = check_tokens(tokens)
        self.envs = check_envs(envs)
        self._capability_ids = GUIDE_CAPABILITY_IDS
        self.capability_ids = capability_ids
        self.time_scale = check_time_scale(time_scale)
        self.book = RuleBook(tuple(parse_rule(r, f"rules[{i}]") for i, r in enumerate(rules)))
        self.default = self._checked(parse_behaviour(default), "default")
        self._default_selection = Selection(self.default)
        self._initial = self._configuration()
        self._admin: Callable[..., Any] | None = None
        #: called with each /api/route journal entry once it is answered (`hallsim serve --log`)
        self.on_request: Callable[[JournalEntry], None] | None = None
        #: the live page's subscribers (live.py): entries pushed when they arrive and when they are answered
        self.feed = JournalFeed()
        self.journal.on_clear = self.feed.cleared
        #: set when recording a real Hall (recorder.py): it answers /api/route instead of the rules
        self.recorder: Recorder | None = None

    # configuration ------------------------------------------------------------------------------------
    def _checked(self, behaviour: Behaviour, where: str) -> Behaviour:
        inner = behaviour
        while inner.then is not None:
            inner = inner.then
        if inner.kind == "policy" and self.policy is None:
            raise ScriptError(
                f"{where}: behaviour `policy` needs policy rules first (`hallsim serve --policy FILE`, "
                "a script's `policy:` section, or HallEmulator(policy=...))"
            )
        return behaviour

    def set_default(self, behaviour: Any) -> Behaviour:
        self.default = self._checked(parse_behaviour(behaviour), "default")
        return self.default

    def _rule(self, spec: Mapping[str, Any] | Rule, where: str) -> Rule:
        rule = parse_rule(spec, where)
        for j, b in enumerate(rule.respond):
            self._checked(b, f"{where}.respond[{j}]")
        return rule

    def set_rules(self, rules: Iterable[Mapping[str, Any] | Rule]) -> tuple[Rule, ...]:
        parsed = tuple(self._rule(r, f"rules[{i}]") for i, r in enumerate(rules))
        book = RuleBook(parsed)
        with self._lock:
            self.book = book
        return parsed

    def add_rules(self, rules: Iterable[Mapping[str, Any] | Rule]) -> list[int]:
        """Append rules, all or none (one that cannot be used adds nothing); returns their indexes."""
        return [index for index, _ in self._append(rules)]

    def add_rule(self, rule: Mapping[str, Any] | Rule) -> Rule:
        return self._append([rule])[0][1]

    def _append(self, rules: Iterable[Mapping[str, Any] | Rule]) -> list[tuple[int, Rule]]:
        with self._lock:
            first = len(self.book.rules)
        parsed = [self._rule(r, f"rules[{first + i}]") for i, r in enumerate(rules)]
        with self._lock:
            return [(self.book.add(rule), rule) for rule in parsed]

    @property
    def capability_ids(self) -> str:
        """Which capability ids requests may carry: `guide` or `any` (contract.CAPABILITY_IDS)."""
        return self._capability_ids.name

    @capability_ids.setter
    def capability_ids(self, value: str) -> None:
        # the check is chosen here, once, so the request path does no lookup
        self._capability_ids = CAPABILITY_IDS[check_capability_ids(value)]
        self._parsed = {}

    @property
    def envs(self) -> tuple[str, ...]:
        return self._envs

    @envs.setter
    def envs(self, envs: tuple[str, ...]) -> None:
        self._envs = envs
        self._parsed = {}  # validation depends on the accepted envs

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens

    @tokens.setter
    def tokens(self, tokens: tuple[str, ...]) -> None:
        self._tokens = tokens
        #: Authorization values already found to carry an accepted token
        self._accepted: set[bytes] = set()
        self.masker.update(tokens)

    def set_tokens(self, tokens: Iterable[str]) -> None:
        self.tokens = check_tokens(tokens)

    def set_admin_token(self, token: str | None) -> None:
        self.admin.set_token(token)
        self.masker.add(token)

    def bind(self, host: str, port: int) -> None:
        """Take the address the app is served on: the admin API then checks `Host` against it, and beyond
        loopback requires a token (generated if none was set: `admin.token`)."""
        self.admin.bind(host, port)
        self.masker.add(self.admin.token)

    def set_envs(self, envs: Iterable[str]) -> None:
        self.envs = check_envs(envs)

    def set_time_scale(self, scale: Any) -> None:
        self.time_scale = check_time_scale(scale)

    def apply_script(self, script: Script) -> None:
        """Take a loaded script's settings: rules and default are replaced (default `allow` when it names
        none); anything else it does not set stays as it is."""
        if script.policy is not None:
            self.policy = script.policy
        if script.tokens is not None:
            self.set_tokens(script.tokens)
        if script.envs is not None:
            self.envs = script.envs
        if script.capability_ids is not None:
            self.capability_ids = script.capability_ids
        if script.time_scale is not None:
            self.set_time_scale(script.time_scale)
        if script.max_body is not None:
            self.max_body = script.max_body
        try:
            self.set_default(script.default if script.default is not None else "allow")
            self.set_rules(script.rules)
        except ScriptError as err:
            raise ScriptError(f"{script.path}: {err}") from None

    def reset(self) -> None:
        """Back to the configuration the app was made with: rules (use counts and seeds restarted), default,
        tokens, envs, capability ids, time scale, policy; the journal and the recorded emulator errors are
        emptied (the journal's numbering goes on)."""
        tokens, envs, capability_ids, scale, max_body, rules, default, policy = self._initial
        self.errors.clear()
        with self._lock:
            self.tokens, self.envs, self.time_scale, self.max_body = tokens, envs, scale, max_body
            self._capability_ids = capability_ids
            self._parsed = {}
            self.default, self.policy = default, policy
            self.book = RuleBook(rules)
        self.journal.clear()

    def remember_as_initial(self) -> None:
        """Make the current configuration the one `reset()` returns to."""
        self._initial = self._configuration()

    def _configuration(self) -> tuple[Any, ...]:
        return (
            self.tokens,
            self.envs,
            self._capability_ids,
            self.time_scale,
            self.max_body,
            self.book.rules,
            self.default,
            self.policy,
        )

    def select(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> Selection:
        book = self.book
        if not book.rules:  # nothing to count or draw: no lock, and the same Selection every time
            selection = self._default_selection
            if selection.behaviour is not self.default:
                selection = self._default_selection = Selection(self.default)
            return selection
        with self._lock:
            return book.select(body, headers, self.default)

    # held requests (timeout, slow) ----------------------------------------------------------------------
    @property
    def held_requests(self) -> int:
        """How many requests a `timeout` or `slow` is holding right now."""
        return len(self._held)

    def release_held(self) -> None:
        """Let go of every request a `timeout` or `slow` is holding (the server is stopping). Thread-safe."""
        for loop, future in list(self._held):
            if not loop.is_closed():
                loop.call_soon_threadsafe(_finish, future)

    async def hold(self, receive: _transport.Receive, seconds: float | None) -> str:
        """Wait `seconds` (None: forever): "elapsed", "disconnected" or "released" (server stopping)."""
        loop = asyncio.get_running_loop()
        released: asyncio.Future[None] = loop.create_future()
        key = (loop, released)
        self._held.add(key)
        gone = asyncio.ensure_future(_transport.wait_disconnect(receive))
        try:
            done, _ = await asyncio.wait(
                {gone, released}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._held.discard(key)
            gone.cancel()
            released.cancel()
        if gone in done:
            return "disconnected"
        return "released" if released in done else "elapsed"

    # ASGI ---------------------------------------------------------------------------------------------
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != ROUTE_PATH:
            await self._elsewhere(scope, receive, send)
            return
        # POST /api/route, the hot path: raw ASGI, no routing layer in front, and in one coroutine (awaiting
        # another costs about as much as five attribute lookups and a call); the order of checks is the
        # module docstring's
        headers = scope["headers"]
        authorization = length = None
        size = 0
        for name, value in headers:
            size += len(name) + len(value)
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
        if size > self.max_header_bytes:
            await self._too_large_headers(receive, send)
            return
        journal = self.journal
        method = scope["method"]
        entry = journal.record(_now(), method, ROUTE_PATH, headers, scope.get("query_string", b""), size)
        feed = self.feed
        feed.publish(entry)
        try:
            if self.recorder is not None:
                await self.recorder.handle(self, entry, scope, receive, send)
            elif method != "POST":
                await drain(receive)
                body = error_body("method_not_allowed", f"{ROUTE_PATH} takes POST; got {method}")
                await answer(send, entry, 405, body, extra=[(b"allow", b"POST")])
            elif (authorization is None or authorization not in self._accepted) and (
                problem := self._auth_problem(authorization)
            ) is not None:
                await self._refuse(entry, receive, send, problem, length)
            else:
                limit = self.max_body
                if length is not None and length.isdigit() and len(length) <= 18 and int(length) <= limit:
                    # what gates send: a Content-Length within the limit, the body in one message
                    # (_read_limited's first step, inline)
                    message = await receive()
                    raw = message.get("body", b"")
                    if message.get("more_body") or len(raw) > limit:
                        raw = await _read_rest(receive, raw, message, limit)
                else:
                    raw = await _read_limited(receive, length, limit)
                if raw is None:
                    detail = f"expected a body of at most {limit} bytes"
                    await answer(send, entry, 413, error_body("payload_too_large", detail), close=True)
                else:
                    entry.keep_body(raw)
                    parsed = self._parsed.get(raw) or self._parse(raw)
                    if parsed.refusal is not None:  # 400 not JSON, 422 not the contract
                        await answer(send, entry, parsed.status, parsed.refusal)
                    else:
                        body = parsed.body
                        book_headers = _header_map(headers) if self.book.needs_headers else _NO_HEADERS
                        selection = self.select(body, book_headers)
                        if selection.rule is not None:
                            entry.rule, entry.rule_index = selection.label, selection.index
                        behaviour = selection.behaviour
                        entry.behaviour = behaviour.spec
                        if behaviour.kind in _DECIDING and behaviour.decision_id is None:
                            # allow/deny with a generated id: the answer encoded once per body, id spliced in
                            cached = _answer.cached_decision(behaviour, body, parsed)
                            start, answered = _answer.cached_answer(entry, cached)
                            await send(start)
                            await send(answered)
                        else:
                            await perform(self, behaviour, body, entry, scope, receive, send, parsed)
        except Exception as err:  # a bug in hallsim: recorded, answered, re-raised in the test
            # answer() records the status before it sends: a status means the client may have part of it
            await self._emulator_failed(err, entry, send, entry.status is not None)
        journal.settle(entry)
        feed.publish(entry)
        if self.on_request is not None:
            self.on_request(entry)

    async def _elsewhere(self, scope: Any, receive: Any, send: Any) -> None:
        """Everything but `/api/route`: lifespan, the admin API and OpenAPI, and 404 for any other path."""
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        path = scope["path"]
        sent = _Sent(send)
        entry: JournalEntry | None = None
        try:
            if sum(len(n) + len(v) for n, v in scope["headers"]) > self.max_header_bytes:
                await self._too_large_headers(receive, sent)
            elif path.startswith(ADMIN_PREFIX) or path == "/openapi.json":
                await self._admin_call(scope, receive, sent)
            else:
                entry = self.journal.record(
                    time.time(), scope["method"], path, scope["headers"], scope.get("query_string", b"")
                )
                await drain(receive)
                detail = f"no such endpoint {path}; gates call POST {ROUTE_PATH}"
                await answer(sent, entry, 404, error_body("not_found", detail))
                self.journal.settle(entry)
                self.feed.publish(entry)
        except Exception as err:  # a bug in hallsim: recorded, answered, re-raised in the test
            await self._emulator_failed(err, entry, sent, sent.started)

    async def _refuse(
        self, entry: JournalEntry, receive: Any, send: Any, problem: tuple[int, bytes], length: bytes | None
    ) -> None:
        """401/403: the body is still read and journalled, so a developer sees what was sent."""
        status, payload = problem
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        raw = await _read_limited(receive, length, self.max_body)
        entry.keep_body(raw)
        await answer(send, entry, status, payload, extra=extra, close=raw is None)

    async def _emulator_failed(
        self, err: Exception, entry: JournalEntry | None, send: Any, started: bool
    ) -> None:
        self.errors.append(err)
        described = f"{type(err).__name__}: {err}"
        if entry is not None:
            entry.emulator_error = described
        if started:
            return  # part of an answer went out already: the client sees a broken answer, the test the error
        detail = (
            f"the hallsim emulator failed while answering ({self.masker.mask_text(described)}); this is a "
            "bug in hallsim, not an answer of the Hall: the gate's verdict for this request cannot be trusted"
        )
        payload = error_body("emulator_error", detail)
        # the failure may have left the connection unable to take an answer (a start already sent by a
        # lower layer, a connection dropped): the error is recorded either way, and re-raised in the test
        with contextlib.suppress(Exception):
            if entry is not None:
                await answer(send, entry, 500, payload, close=True)
            else:
                await _send_plain(send, 500, payload)

    async def _admin_call(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] != "/openapi.json":
            refusal = self.admin.check(scope["method"], scope["headers"], scope["path"])
            if refusal is not None:
                await drain(receive)
                payload = error_body(refusal.error, refusal.detail)
                await _send_plain(send, refusal.status, payload, list(refusal.headers))
                return
        length = next((v for n, v in scope["headers"] if n == b"content-length"), None)
        raw = await _read_limited(receive, length, MAX_ADMIN_BODY)
        if raw is None:
            detail = f"expected an admin body of at most {MAX_ADMIN_BODY} bytes"
            await _send_plain(send, 413, error_body("payload_too_large", detail))
            return
        if self._admin is None:
            from hallsim.emulator.admin import admin_app

            self._admin = admin_app(self)
        await self._admin(scope, _replay(raw, receive), send)

    async def _too_large_headers(self, receive: Any, send: Any) -> None:
        # RFC 6585 section 5: 431 Request Header Fields Too Large; not journalled (it would keep the headers)
        limit = f"at most {self.max_header_bytes} bytes of header names and values"
        await drain(receive)
        await _send_plain(send, 431, error_body("headers_too_large", f"expected {limit}"))

    def _parse(self, raw: bytes) -> ParsedRequest:
        """Parse and validate a body, remembering a JSON body's outcome for the next request with the same
        bytes (gates send the same few bodies again and again): the same bytes always give the same answer.
        A body that is not JSON gives a 400 refusal (not remembered)."""
        try:
            body = parse_json(raw)
        except JSONProblem as err:
            return ParsedRequest(None, error_body("invalid_json", f"the body is not JSON: {err}"), 400)
        problems = validate_route_request(body, self.envs, self._capability_ids)
        refusal = None
        if problems:
            detail = "; ".join(str(p) for p in problems)
            refusal = error_body("invalid_request", detail, problems=[p.to_dict() for p in problems])
        parsed = ParsedRequest(body, refusal)
        cache = self._parsed
        if len(cache) >= _PARSED_CACHE:
            cache.clear()
        cache[raw] = parsed
        return parsed

    def _auth_problem(self, authorization: bytes | None) -> tuple[int, bytes] | None:
        # hall-contract.md "Request": `Authorization: Bearer <HALL_SESSION_TOKEN>`
        if authorization is not None and authorization in self._accepted:
            return None
        if authorization is None:
            return 401, error_body(
                "missing_token", "no Authorization header; expected `Authorization: Bearer <token>`"
            )
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return 401, error_body("malformed_authorization", "expected `Authorization: Bearer <token>`")
        if token not in self.tokens:
            return 403, error_body("unknown_token", "the bearer token is not one this Hall accepts")
        if len(self._accepted) < 64:  # the same header comes on every request of a gate
            self._accepted.add(authorization)
        return None


async def _read_limited(receive: Any, length: bytes | None, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` (by Content-Length, or as it arrives)."""
    if length is not None and length.isdigit() and (len(length) > 18 or int(length) > limit):
        return None
    message = await receive()
    body: bytes = message.get("body", b"")
    if len(body) > limit or message.get("more_body"):
        return await _read_rest(receive, body, message, limit)
    return body


async def _read_rest(receive: Any, body: bytes, message: Any, limit: int) -> bytes | None:
    """The rest of a body whose first message was `message` (`body` its bytes): None beyond `limit`."""
    if len(body) > limit:  # the whole body may come in one message, with no Content-Length
        return None
    if not message.get("more_body"):
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body"):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _replay(raw: bytes, receive: Any) -> Any:
    """A `receive` that gives the body already read, then passes on to the real one (disconnects)."""
    given = False

    async def replayed() -> Any:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replayed


#: how many distinct bodies the parse cache keeps (it starts again when full)
_PARSED_CACHE = 1024


class ParsedRequest:
    """A parsed, validated body: the JSON value and the 422 answer when it breaks the contract; the artifact
    hash and the encoded answers of allow/deny behaviours are filled in on first use (_answer.perform)."""

    __slots__ = ("answers", "body", "hash", "refusal", "status")

    def __init__(self, body: Any, refusal: bytes | None, status: int = 422) -> None:
        self.body = body
        self.refusal = refusal
        #: the refusal's status: 422 (valid JSON that breaks the contract) or 400 (not JSON)
        self.status = status
        self.hash: str | None = None
        self.answers: dict[str, CachedDecision] = {}


class _Sent:
    """`send`, remembering whether an answer was started (so a failure after that sends no second one)."""

    __slots__ = ("_send", "started")

    def __init__(self, send: Any) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _send_plain(
    send: Any, status: int, payload: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
        *(extra or ()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
