"""Script files: a YAML file that says which tokens the Hall accepts, its rules and its default behaviour.

    tokens: [t, ci-token]            # accepted bearer tokens (default: the emulator's own, "t")
    default: allow                   # behaviour for requests no rule matches (default: allow)
    envs: [dev, prod]                # accepted `env` values (default: the guides' dev, prod)
    capability_ids: guide            # guide: only cap.<area>.<verb>.v<N> (default); any: any non-empty id
    time_scale: 1.0                  # modelled seconds x time_scale = wall seconds (for `slow`)
    max_body: 65536                  # bytes; a larger request body is answered 413
    rules:                           # ordered; see hallsim/emulator/rules.py for every key
      - name: restricted
        match: {data_label: RESTRICTED}
        respond: deny:RESTRICTED data needs human approval
    policy:                          # policy mode (extra `policy`): decisions by pyhall-wcp
      rules: policy-rules.json       # pyhall rules file, relative to this script

Every mistake is a ScriptError: `<file>:<line>: <path inside the file>: <what was expected>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hallsim.emulator._errors import ScriptError
from hallsim.emulator._settings import (
    check_capability_ids,
    check_envs,
    check_max_body,
    check_time_scale,
    check_tokens,
)
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.files import YamlDocument
from hallsim.emulator.rules import Rule, parse_rule

if TYPE_CHECKING:
    from hallsim.emulator.policy import Policy

SCRIPT_KEYS = (
    "tokens",
    "default",
    "envs",
    "capability_ids",
    "time_scale",
    "max_body",
    "rules",
    "policy",
)
T = TypeVar("T")
_PATH_PART = re.compile(r"([A-Za-z_][\w-]*)|\[(\d+)\]")


@dataclass(frozen=True)
class Script:
    """A loaded script; fields it does not set are None (the emulator keeps what it has)."""

    path: Path
    tokens: tuple[str, ...] | None = None
    default: Behaviour | None = None
    envs: tuple[str, ...] | None = None
    capability_ids: str | None = None
    time_scale: float | None = None
    max_body: int | None = None
    rules: tuple[Rule, ...] = ()
    policy: Policy | None = None


class _Located(YamlDocument):
    """A script file that can tell the line of a value from its dotted path (`rules[2].respond`)."""

    def where(self, loc: str | Sequence[str | int]) -> str:
        if isinstance(loc, str):
            loc = [key or int(index) for key, index in _PATH_PART.findall(loc)]
        return super().where(loc)

    def fail(self, dotted: str, message: str) -> ScriptError:
        return ScriptError(f"{self.where(dotted)}: {message}", field=dotted)

    def located(self, err: ScriptError, fallback: str) -> ScriptError:
        """`err` with the file and line of the field it names (`err.field`, else `fallback`) in front."""
        return self.fail(err.field or fallback, str(err))


def load_script(path: str | Path) -> Script:
    """Read and check a script file; ScriptError names the file, the line, the path inside it and what was
    expected."""
    path = Path(path)
    doc = _Located.read(path, error=ScriptError, what="script file")
    data = doc.data
    if not isinstance(data, Mapping):
        raise ScriptError(
            f"{path}: expected a mapping with any of {', '.join(SCRIPT_KEYS)}; got {_kind(data)}"
        )
    unknown = [str(k) for k in data if k not in SCRIPT_KEYS]
    if unknown:
        where = doc.where_key(unknown[0])
        raise ScriptError(f"{where}: {unknown[0]}: unknown key; expected one of {', '.join(SCRIPT_KEYS)}")
    return Script(
        path=path,
        tokens=_setting(doc, data, "tokens", check_tokens),
        default=_default(doc, data),
        envs=_setting(doc, data, "envs", check_envs),
        capability_ids=_setting(doc, data, "capability_ids", check_capability_ids),
        time_scale=_setting(doc, data, "time_scale", check_time_scale),
        max_body=_setting(doc, data, "max_body", check_max_body),
        rules=_rules(doc, data),
        policy=_policy(doc, data),
    )


def _kind(value: Any) -> str:
    return "an empty file" if value is None else f"{type(value).__name__} {value!r}"[:80]


def _setting(doc: _Located, data: Mapping[str, Any], key: str, check: Callable[[Any], T]) -> T | None:
    """A top-level setting, checked as HallApp checks it (emulator/_settings.py); None when absent."""
    value = data.get(key)
    if value is None:
        return None
    try:
        return check(value)
    except ScriptError as err:
        raise doc.fail(key, str(err)) from None


def _default(doc: _Located, data: Mapping[str, Any]) -> Behaviour | None:
    if data.get("default") is None:
        return None
    try:
        return parse_behaviour(data["default"])
    except ScriptError as err:
        raise doc.fail("default", f"default: {err}") from None


def _rules(doc: _Located, data: Mapping[str, Any]) -> tuple[Rule, ...]:
    raw = data.get("rules")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise doc.fail("rules", f"rules: expected a list of rules; got {_kind(raw)}")
    rules = []
    for i, item in enumerate(raw):
        try:
            rules.append(parse_rule(item, f"rules[{i}]"))
        except ScriptError as err:
            raise doc.located(err, f"rules[{i}]") from None
    return tuple(rules)


def _policy(doc: _Located, data: Mapping[str, Any]) -> Policy | None:
    raw = data.get("policy")
    if raw is None:
        return None
    from hallsim.emulator.policy import policy_from_mapping

    try:
        return policy_from_mapping(raw, base=doc.path.parent, where="policy")
    except ScriptError as err:
        raise doc.located(err, "policy") from None
