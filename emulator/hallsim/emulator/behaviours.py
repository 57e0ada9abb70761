"""Behaviours: what the emulator does with a valid, authenticated `POST /api/route`.

One syntax everywhere (CLI `--behaviour`, script files, Python, the admin API):

- a spec string `NAME` or `NAME:ARG`; ARG is everything after the first colon (free text, colons allowed):
  `allow`, `deny`, `deny:RESTRICTED data needs approval`, `http-503`, `http-502:<html>Bad Gateway</html>`,
  `slow:12` (12 modelled seconds, then allow), `slow:12:deny:late and denied`, `denied-as-string:false`;
- or a mapping (YAML/JSON/Python dict) `{behaviour: NAME[:ARG], <param>: <value>, ...}` for every parameter,
  e.g. `{behaviour: allow, decision_id: 9b1f..., artifact_hash: 3c2a...}` to give exactly a recorded decision.
  A spec string that is a JSON object (`{"behaviour": "allow", ...}`) is read as the mapping form.

`Behaviour.spec` is the canonical form: `parse_behaviour(b.spec) == b` for every behaviour.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from hallsim.emulator._errors import ScriptError

#: decision fields a support engineer can fix so the emulator answers exactly a recorded decision
DECISION_PARAMS = ("decision_id", "artifact_hash", "selected_worker_species_id", "reason")

#: the reason `deny` gives unless told otherwise (a pyhall deny code, as a real Hall would surface it)
DEFAULT_DENY_REASON = "DENY_POLICY_GATE"


@dataclass(frozen=True)
class BehaviourInfo:
    """One entry of the catalogue: `hallsim behaviours` prints these."""

    name: str
    usage: str
    summary: str
    parameters: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "usage": self.usage,
            "summary": self.summary,
            "parameters": list(self.parameters),
        }


_INFO = (
    BehaviourInfo(
        "allow",
        "allow",
        "200 with a well-formed decision, denied=false",
        ("decision_id", "artifact_hash", "selected_worker_species_id"),
    ),
    BehaviourInfo(
        "deny",
        "deny[:REASON]",
        f"200 with a well-formed decision, denied=true and a reason (default {DEFAULT_DENY_REASON})",
        ("reason", "decision_id", "artifact_hash", "selected_worker_species_id"),
    ),
    BehaviourInfo(
        "http-<status>",
        "http-STATUS[:TEXT]",
        "answer that HTTP status (200-599) with a JSON error body, or TEXT as a non-JSON body",
        ("body", "json", "headers"),
    ),
    BehaviourInfo(
        "timeout",
        "timeout",
        "never answer: hold the request until the client gives up (then let go of it)",
        (),
    ),
    BehaviourInfo(
        "slow",
        "slow:SECONDS[:THEN]",
        "answer THEN (default allow) after SECONDS of modelled time (wall time = SECONDS x time_scale)",
        ("delay", "then"),
    ),
    BehaviourInfo(
        "malformed-json", "malformed-json", "200, Content-Type application/json, a truncated JSON body", ()
    ),
    BehaviourInfo("empty-body", "empty-body", "200, Content-Type application/json, an empty body", ()),
    BehaviourInfo(
        "missing-denied",
        "missing-denied",
        "200 with a decision that lacks the `denied` field",
        ("decision_id", "artifact_hash", "selected_worker_species_id"),
    ),
    BehaviourInfo(
        "denied-as-string",
        "denied-as-string:false|true",
        '200 with `denied` as the string "false" or "true" instead of a boolean (default "false")',
        ("value", *DECISION_PARAMS),
    ),
    BehaviourInfo("reset", "reset", "reset the TCP connection (RST) instead of answering", ()),
    BehaviourInfo("close", "close", "close the connection (FIN) without sending any HTTP answer", ()),
    BehaviourInfo(
        "policy",
        "policy",
        "decide with the pyhall-wcp reference engine and the loaded policy rules (extra `policy`)",
        (),
    ),
)

_PARAMS: dict[str, tuple[str, ...]] = {info.name.split("-<")[0]: info.parameters for info in _INFO}


def catalogue() -> list[BehaviourInfo]:
    """Every behaviour: name, usage, one-line summary and the parameters its mapping form accepts."""
    return list(_INFO)


def valid_names() -> str:
    return ", ".join(info.usage for info in _INFO)


@dataclass(frozen=True)
class Behaviour:
    """A parsed behaviour. `kind` is the name without arguments (`http` for every `http-<status>`)."""

    kind: str
    status: int | None = None
    #: http: a non-JSON body (sent as text/plain); deny: see `reason`
    body: str | None = None
    #: http: a JSON body, already serialised
    json_body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: slow: modelled seconds before answering, and what to answer then
    delay: float | None = None
    then: Behaviour | None = None
    #: denied-as-string: "true" or "false"
    value: str | None = None
    #: fixed decision fields (None: generated)
    decision_id: str | None = None
    artifact_hash: str | None = None
    selected_worker_species_id: str | None = None
    reason: str | None = None

    @property
    def name(self) -> str:
        return f"http-{self.status}" if self.kind == "http" else self.kind

    @property
    def waits(self) -> bool:
        """Whether the answer waits for modelled time (`slow`) or never comes (`timeout`): a client spends
        that time asleep, not working."""
        return self.kind in ("slow", "timeout")

    @cached_property
    def spec(self) -> str:
        """The canonical spec string: the short form when it says everything, else the JSON mapping form.
        Cached: the journal records it for every request."""
        short = self._short()
        if short is not None:
            return short
        return json.dumps(self.to_mapping(), ensure_ascii=False)

    def _short(self) -> str | None:
        fixed = any(getattr(self, name) is not None for name in ("decision_id", "artifact_hash"))
        if fixed or self.selected_worker_species_id is not None or self.headers or self.json_body is not None:
            return None
        if self.kind == "deny":
            return "deny" if self.reason == DEFAULT_DENY_REASON else f"deny:{self.reason}"
        if self.reason is not None and self.kind != "deny":
            return None
        if self.kind == "http":
            return self.name if self.body is None else f"{self.name}:{self.body}"
        if self.kind == "slow":
            assert self.then is not None
            assert self.delay is not None
            head = f"slow:{self.delay:g}"
            if self.then.kind == "allow" and self.then == ALLOW:
                return head
            then = self.then._short()
            return None if then is None else f"{head}:{then}"
        if self.kind == "denied-as-string":
            return f"denied-as-string:{self.value}"
        return self.kind

    def to_mapping(self) -> dict[str, Any]:
        """The mapping form: `{"behaviour": NAME, <param>: <value>, ...}` with every parameter that is set."""
        out: dict[str, Any] = {"behaviour": self.name}
        for name in _PARAMS.get(self.kind, ()):
            if name == "json":
                if self.json_body is not None:
                    out["json"] = json.loads(self.json_body)
            elif name == "headers":
                if self.headers:
                    out["headers"] = dict(self.headers)
            elif name == "then":
                if self.then is not None:
                    out["then"] = self.then.spec if self.then._short() is not None else self.then.to_mapping()
            else:
                value = getattr(self, name)
                if value is not None:
                    out[name] = value
        return out

    def __str__(self) -> str:
        return self.spec


ALLOW = Behaviour("allow")


def parse_behaviour(spec: str | Mapping[str, Any] | Behaviour) -> Behaviour:
    """Read a behaviour from a spec string, a mapping or a Behaviour; ScriptError says what is wrong."""
    if isinstance(spec, Behaviour):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith("{"):
            try:
                mapping = json.loads(text)
            except ValueError as err:
                raise ScriptError(
                    f"behaviour {spec!r}: looks like the JSON mapping form but is not JSON: {err}"
                ) from None
            return parse_behaviour(mapping)
        return _parse_string(text, spec)
    if isinstance(spec, Mapping):
        return _parse_mapping(spec)
    raise ScriptError(
        f"behaviour: expected a spec string such as `deny:reason` or a mapping with `behaviour`; "
        f"got {type(spec).__name__} {spec!r}"
    )


def _parse_string(text: str, original: str, *, partial: bool = False) -> Behaviour:
    name, sep, arg = text.partition(":")
    name = name.strip()
    argument: str | None = arg if sep else None
    if name.startswith("http-"):
        status = _status(name, original)
        return Behaviour("http", status=status, body=argument)
    if name == "deny":
        return Behaviour("deny", reason=argument if argument else DEFAULT_DENY_REASON)
    if name == "slow":
        if not argument:
            if partial:  # the mapping form gives the delay as a parameter
                return Behaviour("slow", then=ALLOW)
            raise ScriptError(f"behaviour {original!r}: `slow` needs a delay in seconds, e.g. slow:2.5")
        seconds, sep2, then = argument.partition(":")
        return Behaviour(
            "slow", delay=_delay(seconds, original), then=parse_behaviour(then) if sep2 else ALLOW
        )
    if name == "denied-as-string":
        return Behaviour("denied-as-string", value=_string_value(argument or "false", original))
    if name in _PARAMS and name != "http":
        if argument is not None:
            raise ScriptError(
                f"behaviour {original!r}: `{name}` takes no argument after ':'; "
                f"its parameters ({', '.join(_PARAMS[name]) or 'none'}) go in the mapping form"
            )
        return Behaviour(name)
    raise ScriptError(f"unknown behaviour {name!r} (in {original!r}); expected one of: {valid_names()}")


def _parse_mapping(spec: Mapping[str, Any]) -> Behaviour:
    head = spec.get("behaviour")
    if not isinstance(head, str) or not head.strip():
        raise ScriptError(
            "behaviour: the mapping form needs `behaviour: NAME` (a string); "
            f"got keys {sorted(map(str, spec))}"
        )
    base = _parse_string(head.strip(), head, partial=True)
    allowed = _PARAMS.get(base.kind, ())
    unknown = sorted(str(k) for k in spec if k != "behaviour" and k not in allowed)
    if unknown:
        raise ScriptError(
            f"behaviour {base.name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"expected {', '.join(allowed) if allowed else 'no parameters'}"
        )
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "behaviour":
            continue
        where = f"behaviour {base.name!r}: {key}"
        if key == "delay":
            changes["delay"] = _delay(value, where)
        elif key == "then":
            changes["then"] = parse_behaviour(value)
        elif key == "value":
            changes["value"] = _string_value(value, where)
        elif key == "json":
            try:
                changes["json_body"] = json.dumps(value)
            except (TypeError, ValueError) as err:
                raise ScriptError.at(where, f"expected a JSON value; {err}") from None
        elif key == "headers":
            changes["headers"] = _headers(value, where)
        else:
            if value is not None and not isinstance(value, str):
                raise ScriptError.at(where, f"expected a string; got {type(value).__name__} {value!r}")
            changes[key] = value
    if base.kind == "http" and "body" in changes and "json_body" in changes:
        raise ScriptError(f"behaviour {base.name!r}: give `body` (text) or `json`, not both")
    if base.kind == "slow" and base.delay is None and "delay" not in changes:
        raise ScriptError("behaviour 'slow': needs `delay` (seconds), e.g. {behaviour: slow, delay: 2.5}")
    if base.kind == "deny" and "reason" in changes and not changes["reason"]:
        changes["reason"] = DEFAULT_DENY_REASON
    return replace(base, **changes)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: set by the emulator from the body it sends; a scripted value would break the HTTP framing
_FRAMING_HEADERS = ("content-length", "transfer-encoding")


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(isinstance(v, (str, int)) for v in value.values()):
        raise ScriptError.at(where, f"expected a mapping of header name to text; got {value!r}")
    out = []
    for name, text in value.items():
        name, text = str(name), str(text)
        if not _HEADER_NAME.fullmatch(name):
            raise ScriptError.at(where, f"{name!r}: expected an HTTP header name (letters, digits, -)")
        if name.lower() in _FRAMING_HEADERS:
            raise ScriptError.at(where, f"{name}: the emulator sets it from the body; leave it out")
        if "\r" in text or "\n" in text or not text.isascii():
            raise ScriptError.at(where, f"{name}: expected one line of ASCII text; got {text!r}")
        out.append((name, text))
    return tuple(out)


def _status(name: str, original: str) -> int:
    text = name[len("http-") :]
    if not text.isdigit() or not 200 <= int(text) <= 599:
        raise ScriptError(
            f"behaviour {original!r}: expected http-<status> with a status from 200 to 599, e.g. http-503"
        )
    return int(text)


def _delay(value: Any, where: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise ScriptError(
            f"{where}: expected a delay in seconds (a number >= 0), e.g. slow:2.5; got {value!r}"
        )
    return seconds


def _string_value(value: Any, where: str) -> str:
    text = str(value).lower() if isinstance(value, (str, bool)) else None
    if text not in ("true", "false"):
        raise ScriptError(
            f"{where}: expected `true` or `false` (the string `denied` will carry); got {value!r}"
        )
    return text


#: one concrete behaviour per distinct Hall answer or failure, for the fail-closed matrix.
#: `slow:15` answers after 15 modelled seconds: past Make's 10 s module timeout (make.md, guide "Timeout:
#: 10000 ms"), under Pipedream's 30 s default workflow timeout (pipedream.md).
MATRIX_BEHAVIOURS: tuple[str, ...] = (
    "allow",
    "deny:DENY_POLICY_GATE",
    "http-400",
    "http-401",
    "http-403",
    "http-404",
    "http-429",
    "http-500",
    "http-502",
    "http-503",
    "http-504",
    "http-502:<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
    "timeout",
    "slow:15",
    "malformed-json",
    "empty-body",
    "missing-denied",
    "denied-as-string:false",
    "denied-as-string:true",
    "reset",
    "close",
)
