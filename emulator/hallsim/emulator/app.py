"""The emulator as an ASGI app: `POST /api/route` on a lean hot path, the admin API and OpenAPI on Starlette.

Order of checks on `/api/route` (a real client sees the first one that fails):
  1. method: anything but POST -> 405
  2. auth: no `Authorization` header, or not `Bearer <token>` -> 401; a token not accepted -> 403
  3. size: a body over `max_body` bytes -> 413
  4. JSON: a body that is not JSON -> 400
  5. fields: wrong or missing fields -> 422 listing every problem
  6. the behaviour the rules choose (or the default) -> the answer or fault
Auth comes before the body is read, as in any server that authenticates in front of its handlers, so an
unauthenticated client learns nothing about the contract. Rules and behaviours apply to authenticated, valid
requests only; script `http-401`, `http-422` etc. to see how a gate handles those answers to good requests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hallsim.emulator import _transport
from hallsim.emulator._answer import answer, drain, error_body, perform
from hallsim.emulator._errors import ScriptError
from hallsim.emulator._settings import (
    check_capability_ids,
    check_envs,
    check_max_body,
    check_time_scale,
    check_tokens,
)
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.contract import (
    CAPABILITY_IDS,
    GUIDE_CAPABILITY_IDS,
    GUIDE_ENVS,
    ROUTE_PATH,
    validate_route_request,
)
from hallsim.emulator.journal import Journal, JournalEntry
from hallsim.emulator.live import JournalFeed
from hallsim.emulator.rules import Rule, RuleBook, Selection, parse_rule

if TYPE_CHECKING:
    from hallsim.emulator.policy import Policy
    from hallsim.emulator.recorder import Recorder
    from hallsim.emulator.script import Script

ADMIN_PREFIX = "/__hall/"
DEFAULT_MAX_BODY = 64 * 1024


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
        envs: Iterable[str] = GUIDE_ENVS,
        capability_ids: str = "guide",
        max_body: int = DEFAULT_MAX_BODY,
        policy: Policy | None = None,
    ) -> None:
        self.journal = Journal(journal_size)
        self.max_body = check_max_body(max_body)
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

    def set_tokens(self, tokens: Iterable[str]) -> None:
        self.tokens = check_tokens(tokens)

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
        tokens, envs, capability ids, time scale, policy; the journal is emptied (its numbering goes on)."""
        tokens, envs, capability_ids, scale, max_body, rules, default, policy = self._initial
        with self._lock:
            self.tokens, self.envs, self.time_scale, self.max_body = tokens, envs, scale, max_body
            self._capability_ids = capability_ids
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
        with self._lock:
            return self.book.select(body, headers, self.default)

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
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        path = scope["path"]
        if path == ROUTE_PATH:
            await self._route(scope, receive, send)
        elif path.startswith(ADMIN_PREFIX) or path == "/openapi.json":
            if self._admin is None:
                from hallsim.emulator.admin import admin_app

                self._admin = admin_app(self)
            await self._admin(scope, receive, send)
        else:
            entry = self.journal.record(
                time.time(), scope["method"], path, scope["headers"], scope.get("query_string", b"")
            )
            await drain(receive)
            await answer(
                send,
                entry,
                404,
                error_body("not_found", f"no such endpoint {path}; gates call POST {ROUTE_PATH}"),
            )
            self.feed.publish(entry)

    async def _route(self, scope: Any, receive: Any, send: Any) -> None:
        entry = self.journal.record(
            time.time(), scope["method"], ROUTE_PATH, scope["headers"], scope.get("query_string", b"")
        )
        self.feed.publish(entry)
        if self.recorder is not None:
            await self.recorder.handle(self, entry, scope, receive, send)
        else:
            await self._handle(entry, scope, receive, send)
        self.feed.publish(entry)
        if self.on_request is not None:
            self.on_request(entry)

    async def _handle(self, entry: JournalEntry, scope: Any, receive: Any, send: Any) -> None:
        headers = scope["headers"]
        if scope["method"] != "POST":
            await drain(receive)
            body = error_body("method_not_allowed", f"{ROUTE_PATH} takes POST; got {scope['method']}")
            await answer(send, entry, 405, body, extra=[(b"allow", b"POST")])
            return
        authorization = length = None
        for name, value in headers:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                length = value
        problem = self._auth_problem(authorization)
        if problem is not None:
            status, payload = problem
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            entry.raw_body = await self._read_body(receive, length)  # journalled, so a developer sees it
            await answer(send, entry, status, payload, extra=extra, close=entry.raw_body is None)
            return
        raw = await self._read_body(receive, length)
        if raw is None:
            limit = f"a body of at most {self.max_body} bytes"
            await answer(send, entry, 413, error_body("payload_too_large", f"expected {limit}"), close=True)
            return
        entry.raw_body = raw
        try:
            body = json.loads(raw)
        except ValueError as err:
            await answer(send, entry, 400, error_body("invalid_json", f"the body is not JSON: {err}"))
            return
        entry.parsed_body = body
        problems = validate_route_request(body, self.envs, self._capability_ids)
        if problems:
            detail = "; ".join(str(p) for p in problems)
            payload = error_body("invalid_request", detail, problems=[p.to_dict() for p in problems])
            await answer(send, entry, 422, payload)
            return
        book_headers = _header_map(headers) if self.book.needs_headers else {}
        selection = self.select(body, book_headers)
        entry.rule, entry.rule_index = selection.label, selection.index
        entry.behaviour = selection.behaviour.spec
        await perform(self, selection.behaviour, body, entry, scope, receive, send)

    def _auth_problem(self, authorization: bytes | None) -> tuple[int, bytes] | None:
        # hall-contract.md "Request": `Authorization: Bearer <HALL_SESSION_TOKEN>`
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
        return None

    async def _read_body(self, receive: Any, length: bytes | None) -> bytes | None:
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return None
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)


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
