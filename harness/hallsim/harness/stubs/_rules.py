"""Stub rules: what the local stub service answers to a call that is not for the run's Hall or sink.

The emulator's rule language (hallsim.emulator.rules), matched on the call instead of the Hall request:

    stubs:
      default: auto                          # unmatched calls: auto (200 with JSON body {}, but loopback
                                             # targets refused), refuse (all refused), or a behaviour
      rules:
        - name: crm create                   # optional; the trace names the rule by it (else its index)
          match:
            method: POST                     # exact, glob, `re:` regex, or a list of them (upper case)
            url: "https://crm.example.invalid/contacts*"   # the whole URL, query included
            host: "*.example.invalid"        # or the host alone, the path alone, request headers
            path: /contacts
            headers: {x-trace: "make-*"}
          respond: {behaviour: http-201, json: {id: 7}}     # or a list (a sequence); after, times, ...
          times: 1

Answers are the emulator's behaviours that mean something for any HTTP service: `http-STATUS[:TEXT]` (with
`json`, `body`, `headers`), `slow:SECONDS[:THEN]`, `timeout`, `reset`, `close`, `empty-body`. The one-line
form (`--stub`) is `[METHOD] URL_PATTERN BEHAVIOUR`, e.g. `POST https://crm.example.invalid/* http-201` or
`* re:^https://api\\. {"behaviour": "http-200", "json": {"ok": true}}`."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hallsim.emulator import ScriptError
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.rules import Condition, Pattern, Rule, parse_rule

#: what a call no rule matches gets under the `auto` default, unless it is for a loopback address
DEFAULT_ANSWER = Behaviour("http", status=200, json_body="{}")
#: the stub default that makes unmatched calls fail: the connection is reset and the call recorded as refused
REFUSE = "refuse"
#: the default default: 200 `{}` for other hosts; a loopback target (localhost, *.localhost, 127.0.0.0/8,
#: ::1) that is not the run's Hall or sink is refused, because on the platform a step's or module's loopback
#: is the platform's own machine, where nothing of the user's listens
AUTO = "auto"
STUB_KINDS = ("http", "slow", "timeout", "reset", "close", "empty-body")
MATCH_KEYS = ("method", "url", "host", "path", "headers")
_METHOD = re.compile(r"^(\*|[A-Za-z]+)$")


class StubError(ScriptError):
    """A stub rule or default that cannot be used; names where it came from and what was expected."""


@dataclass(frozen=True)
class Stubs:
    """The stub answers of a run: rules in order, then the default (a behaviour, or refuse)."""

    rules: tuple[Rule, ...] = ()
    #: None: the `auto` default
    default: Behaviour | None = None
    refuse_unmatched: bool = False

    @property
    def default_spec(self) -> str:
        if self.refuse_unmatched:
            return REFUSE
        return AUTO if self.default is None else self.default.spec

    def unmatched(self, host: str) -> Behaviour | None:
        """What a call no rule matches gets; None: it is refused."""
        if self.refuse_unmatched:
            return None
        if self.default is None:
            return None if is_loopback_host(host) else DEFAULT_ANSWER
        return self.default

    def merged(self, other: Stubs | None) -> Stubs:
        """`other`'s rules first (they win), then these; `other`'s default when it set one."""
        if other is None:
            return self
        default_set = other.refuse_unmatched or other.default is not None
        return Stubs(
            rules=(*other.rules, *self.rules),
            default=other.default if default_set else self.default,
            refuse_unmatched=other.refuse_unmatched if default_set else self.refuse_unmatched,
        )

    def to_json(self) -> dict[str, Any]:
        return {"default": self.default_spec, "rules": [rule.to_mapping() for rule in self.rules]}


def _check_behaviour(behaviour: Behaviour, where: str) -> Behaviour:
    inner = behaviour
    while inner.kind == "slow" and inner.then is not None:
        inner = inner.then
    if behaviour.kind not in STUB_KINDS or inner.kind not in STUB_KINDS:
        bad = behaviour if behaviour.kind not in STUB_KINDS else inner
        raise StubError(
            f"{where}: behaviour {bad.name!r} is a Hall decision, not an answer a stub service gives; "
            f"expected one of http-STATUS[:TEXT], slow:SECONDS[:THEN], timeout, reset, close, empty-body"
        )
    if behaviour.kind == "slow" and inner is behaviour:
        raise StubError(f"{where}: slow needs what to answer after the delay, e.g. slow:2:http-200")
    return behaviour


def parse_stub_behaviour(spec: Any, where: str) -> Behaviour:
    try:
        behaviour = parse_behaviour(spec)
    except ScriptError as err:
        raise StubError(f"{where}: {err}") from None
    return _check_behaviour(behaviour, where)


def _slow_then_http(spec: Any) -> Any:
    # `slow:2` alone means "then allow" for the Hall; for a stub it means "then the default answer"
    if isinstance(spec, str) and re.fullmatch(r"\s*slow:[^:]+\s*", spec):
        return {"behaviour": spec.strip(), "then": DEFAULT_ANSWER.to_mapping()}
    return spec


def parse_stub_rule(spec: Mapping[str, Any] | Rule, where: str = "stub") -> Rule:
    """A stub rule from its mapping form; StubError names `where`, the key and what was expected."""
    if isinstance(spec, Rule):
        return spec
    if not isinstance(spec, Mapping):
        raise StubError(f"{where}: expected a mapping with `match` and `respond`; got {spec!r}")
    match = spec.get("match")
    rest = {key: value for key, value in spec.items() if key != "match"}
    if "respond" in rest:
        raw = rest["respond"]
        rest["respond"] = (
            [_slow_then_http(item) for item in raw] if isinstance(raw, list) else _slow_then_http(raw)
        )
    try:
        rule = parse_rule(rest, where)
    except ScriptError as err:
        raise StubError(str(err)) from None
    for i, behaviour in enumerate(rule.respond):
        _check_behaviour(behaviour, f"{where}.respond" + (f"[{i}]" if len(rule.respond) > 1 else ""))
    return dataclasses.replace(rule, conditions=_conditions(match, f"{where}.match"))


def _conditions(match: Any, where: str) -> tuple[Condition, ...]:
    if match is None:
        return ()
    if not isinstance(match, Mapping):
        raise StubError(f"{where}: expected a mapping of {', '.join(MATCH_KEYS)} to patterns; got {match!r}")
    out: list[Condition] = []
    for key, value in match.items():
        if key not in MATCH_KEYS:
            raise StubError(f"{where}: unknown field {key!r}; expected {', '.join(MATCH_KEYS)}")
        if key == "headers":
            if not isinstance(value, Mapping):
                raise StubError(
                    f"{where}.headers: expected a mapping of header name to pattern; got {value!r}"
                )
            for header, pattern in value.items():
                out.append(
                    Condition(str(header).lower(), _patterns(pattern, f"{where}.headers.{header}"), True)
                )
            continue
        if key == "method":
            value = [str(v).upper() for v in value] if isinstance(value, list) else str(value).upper()
        out.append(Condition(str(key), _patterns(value, f"{where}.{key}")))
    return tuple(out)


def _patterns(value: Any, where: str) -> tuple[Pattern, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise StubError(f"{where}: expected a pattern or a non-empty list of patterns")
    try:
        return tuple(Pattern.parse(v, where) for v in values)
    except ScriptError as err:
        raise StubError(str(err)) from None


def parse_stub_line(text: str, where: str = "--stub") -> Rule:
    """The one-line form: `[METHOD] URL_PATTERN BEHAVIOUR` (METHOD `*` or left out: any method)."""
    parts = text.strip().split(None, 2)
    expected = (
        "expected `[METHOD] URL_PATTERN BEHAVIOUR`, e.g. `POST https://crm.example.invalid/* http-201` "
        'or `https://api.example.invalid/* {"behaviour": "http-200", "json": {"ok": true}}`'
    )
    if len(parts) < 2:
        raise StubError(f"{where}: {text!r}: {expected}")
    if len(parts) == 3 and _METHOD.match(parts[0]) and not parts[0].lower().startswith(("http", "re")):
        method, url, behaviour = parts
    else:
        method, (url, behaviour) = "*", text.strip().split(None, 1)
    match: dict[str, Any] = {"url": url}
    if method != "*":
        match["method"] = method
    return parse_stub_rule({"match": match, "respond": _json_or_text(behaviour)}, f"{where} {text!r}")


def _json_or_text(text: str) -> Any:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except ValueError:
            return stripped
    return stripped


def is_loopback_host(host: str) -> bool:
    name = host.lower().strip("[]").rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def parse_stub_default(value: Any, where: str = "--stub-default") -> Stubs:
    """A Stubs with only a default: `auto`, `refuse`, or a behaviour."""
    if isinstance(value, str) and value.strip().lower() == REFUSE:
        return Stubs(refuse_unmatched=True)
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return Stubs()
    behaviour = parse_stub_behaviour(
        _slow_then_http(_json_or_text(value) if isinstance(value, str) else value), where
    )
    return Stubs(default=behaviour)


def parse_stubs(value: Any, where: str = "stubs") -> Stubs:
    """`stubs:` in a scenario or workflow file, or from Python: a list of rules, or a mapping with `default`
    and `rules`."""
    if value is None:
        return Stubs()
    if isinstance(value, Stubs):
        return value
    if isinstance(value, list):
        return Stubs(rules=tuple(parse_stub_rule(item, f"{where}[{i}]") for i, item in enumerate(value)))
    if not isinstance(value, Mapping):
        raise StubError(
            f"{where}: expected a list of stub rules or a mapping with `default` and `rules`; got {value!r}"
        )
    unknown = sorted(str(key) for key in value if key not in ("default", "rules"))
    if unknown:
        raise StubError(f"{where}: unknown key(s) {', '.join(unknown)}; expected default, rules")
    rules_raw = value.get("rules") or []
    if not isinstance(rules_raw, list):
        raise StubError(f"{where}.rules: expected a list of stub rules; got {rules_raw!r}")
    base = (
        parse_stub_default(value["default"], f"{where}.default")
        if value.get("default") is not None
        else Stubs()
    )
    rules = tuple(parse_stub_rule(item, f"{where}.rules[{i}]") for i, item in enumerate(rules_raw))
    return dataclasses.replace(base, rules=rules)


def stubs_from(
    *,
    lines: Iterable[str] = (),
    default: str | None = None,
    base: Stubs | None = None,
) -> Stubs:
    """The CLI's `--stub` lines and `--stub-default` over a file's `stubs:` (the command line wins)."""
    given = Stubs(rules=tuple(parse_stub_line(line) for line in lines))
    if default is not None:
        chosen = parse_stub_default(default)
        given = dataclasses.replace(given, default=chosen.default, refuse_unmatched=chosen.refuse_unmatched)
    return (base or Stubs()).merged(given)
