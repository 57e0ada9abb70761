"""Record a real Hall: proxy `POST /api/route` to it and save each distinct request and its answer as a rule.

    hallsim serve --record-from https://hall.example.com --record-to customer.hall.yaml
    hallsim serve --script customer.hall.yaml            # replays what was recorded

While recording, every request to `/api/route` goes to the real Hall as it came (its `Authorization` too: the
gate holds the real Hall's token) and the client gets the Hall's answer as the Hall sent it (status, body,
Content-Type, Retry-After, WWW-Authenticate), or the same fault: a Hall that resets the connection resets the
client's, one that closes it without an answer closes it, one that does not answer within `timeout` seconds
holds the client until it gives up (the emulator's `timeout`). A Hall that cannot be reached at all is not a
Hall behaviour: the client gets 502 `record_upstream_unreachable` and nothing is recorded.

Each answer becomes one behaviour of the emulator's own script format (script.py, behaviours.py):
- a well-formed decision (exactly what `allow`/`deny` send, field for field) becomes `allow`/`deny` with the
  Hall's `artifact_hash`, `selected_worker_species_id` and `reason` fixed, so a replay gives the same
  decision with a fresh `decision_id` per answer, as a Hall issues one per decision;
- any other answer (another shape, extra fields, a non-JSON body, any status from 200 to 599) becomes
  `http-<status>` with the body verbatim (`json:` or `body:`) and the Content-Type it came with; its
  `decision_id`, if any, is then replayed as recorded;
- an answer that took `slow_from` seconds or more is wrapped in `slow:<seconds>` (modelled seconds: a replay
  at time scale 0.01 waits 1 % of them), faster ones answer at once (the timing is kept in a comment).

A rule matches its request's five contract fields exactly (absent: `null`); a request whose fields got
different answers over time gets them as a sequence (`after: last`), in order. Requests that a replay would
never route to the rules (not JSON, failing the contract's checks) are passed through but not recorded; when
the only thing the emulator would refuse is the `env` value or the capability id's shape and the Hall
answered, the script widens `envs` / sets `capability_ids: any` so the replay takes the request as the Hall
did. Requests nobody recorded are denied with reason `NOT_RECORDED ...` (the script's `default`).

Secrets: the script's `tokens` are the emulator's (gates send those on replay); the tokens clients presented
are never written: wherever one appears in a recorded body it is masked (hallsim.emulator.secrets). The file
is rewritten (atomically) after every answer that changes it, so stopping the recorder loses nothing."""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from hallsim.emulator._answer import answer, decision_for, drain, error_body, perform
from hallsim.emulator._errors import EmulatorError
from hallsim.emulator._version import __version__
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.contract import (
    CAPABILITY_IDS,
    DECISION_FIELDS,
    REQUEST_FIELDS,
    ROUTE_PATH,
    validate_route_request,
)
from hallsim.emulator.journal import JournalEntry
from hallsim.emulator.secrets import Masker

if TYPE_CHECKING:
    from hallsim.emulator.app import HallApp

__all__ = ["DEFAULT_SLOW_FROM", "DEFAULT_TIMEOUT", "RecordedAnswer", "Recorder", "Recording"]

#: seconds the recorder waits for the real Hall before it records `timeout` (Pipedream's default workflow
#: timeout is 30 s, pipedream.md; a gate that waits longer is rare)
DEFAULT_TIMEOUT = 30.0
#: answers at least this slow are replayed as `slow:<seconds>` (below it, network noise is not worth keeping)
DEFAULT_SLOW_FROM = 1.0
#: request headers not passed on: hop-by-hop (RFC 9110 section 7.6.1) and what httpx sets itself
_NOT_FORWARDED = frozenset(
    {
        b"host",
        b"content-length",
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-connection",
        b"accept-encoding",
    }
)
#: answer headers a gate may read, kept (the rest of a Hall's headers say nothing about the decision)
_KEPT_ANSWER_HEADERS = ("content-type", "retry-after", "www-authenticate", "location")
_GLOB_OR_REGEX = re.compile(r"[*?\[]|^re:")
_JSON_TYPE = "application/json"


@dataclass(frozen=True)
class RecordedAnswer:
    """One answer of the real Hall to one request, as the script will replay it."""

    behaviour: Behaviour
    #: the HTTP status, or None for a fault (reset, close, timeout)
    status: int | None
    elapsed: float
    #: the Hall's own decision id (kept in a comment: support can find the decision in the customer's logs)
    hall_decision_id: str | None = None

    def describe(self) -> str:
        outcome = f"HTTP {self.status}" if self.status is not None else self.behaviour.name
        issued = f", Hall decision_id {self.hall_decision_id}" if self.hall_decision_id else ""
        return f"{outcome} in {self.elapsed * 1000:.0f} ms{issued}"


@dataclass
class _RecordedRequest:
    number: int
    fields: dict[str, Any]
    answers: list[RecordedAnswer] = field(default_factory=list)

    def respond(self) -> list[Behaviour]:
        """The answers in order, the last run of equal answers kept once (`after: last` repeats it)."""
        behaviours = [a.behaviour for a in self.answers]
        while len(behaviours) > 1 and behaviours[-1] == behaviours[-2]:
            behaviours.pop()
        return behaviours


class Recording:
    """What was recorded so far from one Hall, and the script text it makes. Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        tokens: Iterable[str] = ("t",),
        envs: Iterable[str] = (),
        capability_ids: str = "guide",
    ) -> None:
        self.url = url
        self.tokens = tuple(tokens)
        self.envs = tuple(envs)
        self.capability_ids = capability_ids
        self.started = datetime.now(timezone.utc)
        self._requests: dict[tuple[Any, ...], _RecordedRequest] = {}
        #: the tokens clients presented (hallsim.emulator.secrets: one masking rule for every output)
        self._masker = Masker()
        #: why requests were passed through but not recorded, and how many times
        self.skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many distinct requests were recorded."""
        return len(self._requests)

    def add_secret(self, authorization: str) -> None:
        """The Authorization a client presented: its token is never written, masked wherever it appears."""
        self._masker.add_authorization(authorization)

    def add(self, body: Mapping[str, Any], recorded: RecordedAnswer) -> bool:
        """Record an answer to a valid request; returns whether the script changed."""
        fields = {name: body.get(name) for name in REQUEST_FIELDS}
        key = tuple(fields[name] for name in REQUEST_FIELDS)
        with self._lock:
            request = self._requests.get(key)
            if request is None:
                request = self._requests[key] = _RecordedRequest(len(self._requests) + 1, fields)
            before = request.respond()
            request.answers.append(recorded)
            return request.respond() != before or len(request.answers) == 1

    def skip(self, why: str) -> None:
        with self._lock:
            self.skipped[why] = self.skipped.get(why, 0) + 1

    def widen(self, *, env: str | None = None, any_capability: bool = False) -> None:
        with self._lock:
            if env is not None and env not in self.envs:
                self.envs = (*self.envs, env)
            if any_capability:
                self.capability_ids = "any"

    # the script ---------------------------------------------------------------------------------------------
    def script_text(self) -> str:
        """The recording as a script file (script.py's format), comments saying what was recorded when."""
        with self._lock:
            requests = sorted(self._requests.values(), key=lambda r: r.number)
            skipped = list(self.skipped.items())
            envs, capability_ids = self.envs, self.capability_ids
        stamp = self.started.isoformat(timespec="seconds").replace("+00:00", "Z")
        lines = [
            f"# Recorded by hallsim {__version__} from {self.url}{ROUTE_PATH}, started {stamp}.",
            "# Replay: hallsim serve --script THIS_FILE (or a scenario's `hall: {script: ...}`); gates",
            f"# send `Authorization: Bearer {self.tokens[0]}`. Each rule matches one recorded request's five",
            "# fields. allow/deny answers get a fresh decision_id per answer (one per decision, as a Hall);",
            "# answers replayed verbatim (http-<status>) keep the recorded one.",
        ]
        for why, times in skipped[:50]:  # masked: a 422's detail quotes what the request sent
            shown = self._masker.mask_text(why)
            lines.append(f"# not recorded: {shown}" + (f" (x{times})" if times > 1 else ""))
        if len(skipped) > 50:
            lines.append(f"# not recorded: {len(skipped) - 50} more kinds of request")
        settings: dict[str, Any] = {
            "tokens": list(self.tokens),
            "default": f"deny:NOT_RECORDED: the Hall at {self.url} was not recorded answering this request",
        }
        if envs:
            settings["envs"] = list(envs)
        if capability_ids != "guide":
            settings["capability_ids"] = capability_ids
        lines.append(_dump(settings).rstrip("\n"))
        lines.append("rules:" if requests else "rules: []")
        for request in requests:
            for number, recorded in enumerate(request.answers[:20], 1):
                lines.append(f"# answer {number}: {recorded.describe()}")
            if len(request.answers) > 20:
                lines.append(f"# ... {len(request.answers) - 20} more answers")
            lines.append(_dump([self._rule(request)]).rstrip("\n"))
        return "\n".join(lines) + "\n"

    def _rule(self, request: _RecordedRequest) -> dict[str, Any]:
        respond = [
            self._masked(b.to_mapping() if b.spec.startswith("{") else b.spec) for b in request.respond()
        ]
        rule: dict[str, Any] = {
            "name": f"recorded {request.number}",
            "match": {name: _exact(value) for name, value in request.fields.items()},
            "respond": respond[0] if len(respond) == 1 else respond,
        }
        if len(respond) > 1:
            rule["after"] = "last"
        return rule

    def _masked(self, value: Any) -> Any:
        return self._masker.mask(value)

    def save(self, path: Path) -> None:
        """Write the script atomically (a reader never sees half a file)."""
        text = self.script_text()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=120)


def _exact(value: Any) -> Any:
    """A pattern matching exactly this value (rules.py reads `*?[` as a glob, `re:` as a regex)."""
    if isinstance(value, str) and _GLOB_OR_REGEX.search(value):
        return "re:^" + re.escape(value) + "$"  # RE2 (rules.py): `$` is the end of the text
    return value


def check_record_url(url: str) -> str:
    """The real Hall's base URL (`http(s)://host[:port][/prefix]`, a trailing /api/route dropped)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EmulatorError(f"--record-from: expected the Hall's URL, http(s)://host[:port]; got {url!r}")
    if parts.username or parts.password:
        raise EmulatorError(
            "--record-from: give the URL without user:password (the gate's token is passed on)"
        )
    path = parts.path.rstrip("/")
    if path.endswith(ROUTE_PATH):
        path = path[: -len(ROUTE_PATH)]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def answer_behaviour(
    status: int, headers: Mapping[str, str], raw: bytes, request: Mapping[str, Any] | None
) -> Behaviour | None:
    """The behaviour that gives this answer again, or None (a status the emulator cannot send: below 200)."""
    if not 200 <= status <= 599:
        return None
    content_type = headers.get("content-type")
    if status == 200 and request is not None and content_type == _JSON_TYPE:
        rebuilt = _as_decision(raw, request)
        if rebuilt is not None:
            return rebuilt
    kept = {name: headers[name] for name in _KEPT_ANSWER_HEADERS if name in headers}
    mapping: dict[str, Any] = {"behaviour": f"http-{status}"}
    parsed: Any = None
    if content_type is not None and "json" in content_type:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    if parsed is not None and json.dumps(parsed).encode() == raw:
        mapping["json"] = parsed  # sent back byte for byte as json.dumps writes it
    else:
        mapping["body"] = raw.decode("utf-8", errors="replace")
    # the emulator's default Content-Type for `body` is text/plain, for `json` application/json
    if content_type is not None:
        kept["content-type"] = content_type
    elif "body" in mapping:
        kept["content-type"] = "application/octet-stream"
    if kept.get("content-type") == _JSON_TYPE and "json" in mapping:
        del kept["content-type"]
    if kept:
        mapping["headers"] = {_header_case(k): v for k, v in kept.items()}
    return parse_behaviour(mapping)


def _header_case(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _as_decision(raw: bytes, request: Mapping[str, Any]) -> Behaviour | None:
    """`allow`/`deny` with the Hall's fields fixed, when that sends exactly this body save the decision id."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("denied"), bool):
        return None
    if not isinstance(body.get("decision_id"), str) or list(body) != [
        f for f in DECISION_FIELDS if f in body
    ]:
        return None
    params = {
        name: body.get(name)
        for name in ("artifact_hash", "selected_worker_species_id", "reason")
        if body.get(name) is not None
    }
    if not all(isinstance(v, str) for v in params.values()):
        return None
    kind = "deny" if body["denied"] else "allow"
    if kind == "allow":
        params.pop("reason", None)
    try:
        behaviour = parse_behaviour({"behaviour": kind, **params})
    except EmulatorError:
        return None
    issued = decision_for(behaviour, request, denied=kind == "deny")
    issued["decision_id"] = body["decision_id"]
    # the same fields in the same order (not the same bytes: a Hall may write compact JSON)
    return behaviour if list(issued.items()) == list(body.items()) else None


class Recorder:
    """The recording proxy: set as `HallApp.recorder`, it answers `/api/route` from the real Hall."""

    def __init__(
        self,
        url: str,
        path: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        slow_from: float = DEFAULT_SLOW_FROM,
        tokens: Iterable[str] = ("t",),
        envs: Iterable[str] = (),
        capability_ids: str = "guide",
    ) -> None:
        self.url = check_record_url(url)
        self.path = Path(path)
        self.timeout = timeout
        self.slow_from = slow_from
        self.recording = Recording(self.url, tokens=tokens, envs=envs, capability_ids=capability_ids)
        #: what went wrong writing the script (the disk filled up, ...), so the server never hides it
        self.errors: list[str] = []
        self._client: Any = None
        self.recording_path_check()

    @classmethod
    def for_app(cls, app: HallApp, url: str, path: str | Path, **settings: Any) -> Recorder:
        """A recorder whose script carries the app's tokens, envs and capability-id setting; installed."""
        recorder = cls(
            url, path, tokens=app.tokens, envs=app.envs, capability_ids=app.capability_ids, **settings
        )
        app.recorder = recorder
        return recorder

    def recording_path_check(self) -> None:
        if self.path.is_dir():
            raise EmulatorError(f"--record-to: {self.path} is a folder; expected a script file to write")
        # written at once, so a path that cannot be written fails before the first request, not during it
        try:
            self.recording.save(self.path)
        except OSError as err:
            raise EmulatorError(f"--record-to: {self.path}: cannot write the script: {err}") from None

    async def handle(self, app: HallApp, entry: JournalEntry, scope: Any, receive: Any, send: Any) -> None:
        """Pass one `/api/route` request to the real Hall, answer the client as it did, record the answer."""
        raw = await _read_body(receive, app.max_body)
        if raw is None:
            await answer(
                send, entry, 413, error_body("payload_too_large", f"expected at most {app.max_body} bytes")
            )
            return
        entry.keep_body(raw)
        headers = [(n, v) for n, v in scope["headers"] if n not in _NOT_FORWARDED]
        for name, value in headers:
            if name == b"authorization":
                self.recording.add_secret(value.decode("latin-1"))
                app.masker.add_authorization(value.decode("latin-1"))  # the journal masks it too
        entry.rule = f"recording from {self.url}"
        started = time.perf_counter()
        try:
            upstream = await self._forward(scope["method"], headers, raw)
        except _Unreachable as err:
            entry.behaviour = "record-upstream-unreachable"
            detail = f"the recording proxy cannot reach the Hall at {self.url}: {err}"
            await answer(send, entry, 502, error_body("record_upstream_unreachable", detail))
            return
        elapsed = time.perf_counter() - started
        request = self._replayable(app, scope["method"], raw)
        if isinstance(upstream, Behaviour):  # a fault: the client gets the same
            entry.behaviour = upstream.spec
            self._record(request, RecordedAnswer(upstream, None, elapsed))
            await perform(app, upstream, request or {}, entry, scope, receive, send)
            return
        status, answer_headers, body = upstream
        behaviour = answer_behaviour(status, answer_headers, body, request)
        # header values as they came (httpx decodes them as latin-1)
        extra = [(n.encode(), v.encode("latin-1")) for n, v in answer_headers.items() if n != "content-type"]
        content_type = answer_headers.get("content-type", "application/octet-stream").encode("latin-1")
        await answer(send, entry, status, body, content_type=content_type, extra=extra)
        if behaviour is None:
            self.recording.skip(f"HTTP {status} (the emulator answers 200-599 only)")
            self._save()
            return
        entry.behaviour = behaviour.spec
        decision = _decision(body)
        if decision is not None and "denied" in decision:
            entry.decision = decision  # the journal shows it as it shows the emulator's own
        decision_id = decision.get("decision_id") if decision is not None else None
        self._record(request, RecordedAnswer(behaviour, status, elapsed, decision_id))

    async def aclose(self) -> None:
        """Close the connection to the Hall (the server is stopping)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _record(self, request: Mapping[str, Any] | None, recorded: RecordedAnswer) -> None:
        if request is None:  # noted in the script's comments by _replayable
            self._save()
            return
        behaviour = recorded.behaviour
        if recorded.elapsed >= self.slow_from and behaviour.kind != "timeout":
            delay = round(recorded.elapsed, 1)
            behaviour = parse_behaviour({"behaviour": "slow", "delay": delay, "then": _then(behaviour)})
            recorded = replace(recorded, behaviour=behaviour)
        if self.recording.add(request, recorded):
            self._save()

    def _save(self) -> None:
        try:
            self.recording.save(self.path)
        except OSError as err:
            self.errors.append(f"{self.path}: cannot write the script: {err}")

    def _replayable(self, app: HallApp, method: str, raw: bytes) -> dict[str, Any] | None:
        """The request body when a replay would route it to the rules (else None, and why is noted)."""
        if method != "POST":
            self.recording.skip(f"{method} {ROUTE_PATH} (the emulator answers anything but POST with 405)")
            return None
        try:
            body = json.loads(raw)
        except ValueError:
            self.recording.skip("a body that is not JSON (the emulator answers it 400 itself)")
            return None
        problems = validate_route_request(body, app.envs, CAPABILITY_IDS[app.capability_ids])
        if not problems:
            return dict(body)
        fields = {p.field for p in problems}
        if fields <= {"env", "capability_id"} and isinstance(body, dict):
            env = body.get("env") if "env" in fields else None
            wider = (*app.envs, env) if isinstance(env, str) else app.envs
            if not validate_route_request(body, wider, CAPABILITY_IDS["any"]):
                self.recording.widen(
                    env=env if isinstance(env, str) else None, any_capability="capability_id" in fields
                )
                return dict(body)
        shown = "; ".join(str(p) for p in problems)
        self.recording.skip(f"a request the emulator answers 422 itself ({shown[:200]})")
        return None

    async def _forward(
        self, method: str, headers: list[tuple[bytes, bytes]], raw: bytes
    ) -> tuple[int, dict[str, str], bytes] | Behaviour:
        import httpx

        if self._client is None:
            # one client on the server's loop, kept alive (closed by aclose() when the server stops);
            # trust_env=False: no proxy from the environment stands between the recorder and the Hall
            timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0))
            self._client = httpx.AsyncClient(timeout=timeout, trust_env=False)
        try:
            response = await self._client.request(method, self.url + ROUTE_PATH, content=raw, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as err:
            raise _Unreachable(str(err) or type(err).__name__) from None
        except httpx.TimeoutException:
            return parse_behaviour("timeout")
        except httpx.RemoteProtocolError:
            return parse_behaviour("close")  # "Server disconnected without sending a response"
        except httpx.TransportError:
            return parse_behaviour("reset")  # ReadError: connection reset by peer
        kept = {name: response.headers[name] for name in _KEPT_ANSWER_HEADERS if name in response.headers}
        return response.status_code, kept, response.content


class _Unreachable(Exception):
    pass


def _then(behaviour: Behaviour) -> Any:
    return behaviour.to_mapping() if behaviour.spec.startswith("{") else behaviour.spec


def _decision(raw: bytes) -> dict[str, Any] | None:
    """The answer's body when it is a JSON object with a decision_id."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) and isinstance(body.get("decision_id"), str) else None


async def _read_body(receive: Any, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            if message.get("more_body"):
                await drain(receive)
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)
