"""Rules: an ordered list; the first rule that matches a request (and fires) chooses the behaviour.

A rule in mapping form (script files, `set_rules`, the admin API):

    name: restricted needs approval        # optional; the journal names the rule by it (else by its index)
    match:                                 # optional; every condition must hold
      data_label: RESTRICTED               # exact
      capability_id: "cap.data.*"          # glob (has * ? or [)
      worker_id: "re:^wrk_make_"           # regex (searched; RE2 syntax, linear time: _regex.py)
      tenant_id: [org.acme, org.beta]      # any of
      env: null                            # null: the field is absent (or null)
      headers: {x-trace: "make-*"}         # request headers, names case-insensitive
    respond: deny:needs approval           # a behaviour, or a list of behaviours (a sequence)
    after: last                            # when a sequence runs out: last (repeat the last, default),
                                           # cycle (start again), fall-through (the rule stops matching)
    times: 3                               # answer at most 3 times, then fall through to the next rule
    probability: 0.25                      # fire for 25 % of matching requests, else fall through
    seed: 7                                # seeds that draw, so chaos runs are reproducible (only with
                                           # probability: a seed alone is refused, not silently ignored)

Lookup stays cheap as rules grow: a rule with an exact condition on a request field is filed under that value,
so a request only looks at the rules filed under its own values plus the rules without any exact condition
(globs, regexes, header-only, catch-all), in rule order.
"""

from __future__ import annotations

import fnmatch
import heapq
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hallsim.emulator._errors import ScriptError
from hallsim.emulator._regex import compile_rule_regex
from hallsim.emulator.behaviours import Behaviour, parse_behaviour
from hallsim.emulator.contract import REQUEST_FIELDS

RULE_KEYS = ("name", "match", "respond", "after", "times", "probability", "seed")
AFTER_CHOICES = ("last", "cycle", "fall-through")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Pattern:
    """One value condition: exact, glob, regex, or `absent` (None)."""

    text: str | None
    kind: str  # exact | glob | regex | absent
    #: glob: its translation by fnmatch; regex: the text after `re:`, compiled by _regex.compile_rule_regex
    regex: Any = None

    @classmethod
    def parse(cls, value: Any, where: str) -> Pattern:
        if value is None:
            return cls(None, "absent")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ScriptError.at(where, f"expected text (exact, glob, or `re:` regex) or null; got {value!r}")
        text = str(value)
        if text.startswith("re:"):
            return cls(text, "regex", compile_rule_regex(text[3:], where))
        if _GLOB_CHARS.intersection(text):
            # compiled once here, not looked up in fnmatch's cache for every request
            return cls(text, "glob", re.compile(fnmatch.translate(text)))
        return cls(text, "exact")

    def matches(self, value: Any) -> bool:
        if self.kind == "absent":
            return value is None
        if value is None:
            return False
        text: str = value if isinstance(value, str) else str(value)
        if self.kind == "exact":
            return text == self.text
        assert self.regex is not None
        if self.kind == "glob":  # fnmatch.translate anchors the whole text, as fnmatchcase does
            return self.regex.match(text) is not None
        return self.regex.search(text) is not None

    def to_json(self) -> str | None:
        return self.text


@dataclass(frozen=True)
class Condition:
    """A field (or header) and the patterns it may match (any of them)."""

    name: str
    patterns: tuple[Pattern, ...]
    header: bool = False

    @property
    def exact_values(self) -> tuple[str, ...] | None:
        """The values to file this condition under, when all its patterns are exact; else None."""
        if self.header or not all(p.kind == "exact" for p in self.patterns):
            return None
        return tuple(p.text for p in self.patterns)  # type: ignore[misc]

    def matches(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
        value = headers.get(self.name) if self.header else body.get(self.name)
        return any(p.matches(value) for p in self.patterns)

    def to_json(self) -> Any:
        texts = [p.to_json() for p in self.patterns]
        return texts[0] if len(texts) == 1 else texts


@dataclass(frozen=True)
class Rule:
    """A validated rule (its definition; use counts live in the RuleBook)."""

    respond: tuple[Behaviour, ...]
    conditions: tuple[Condition, ...] = ()
    name: str | None = None
    after: str = "last"
    times: int | None = None
    probability: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        # a Rule built in Python is checked when built, so the mistake shows at the line that made it
        if self.seed is not None and self.probability is None:
            where = "Rule" + (f"(name={self.name!r})" if self.name is not None else "")
            raise _lone_seed(f"{where}.seed", self.seed)

    def matches(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
        return all(c.matches(body, headers) for c in self.conditions)

    def to_mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        fields_ = {c.name: c.to_json() for c in self.conditions if not c.header}
        headers = {c.name: c.to_json() for c in self.conditions if c.header}
        if headers:
            fields_["headers"] = headers
        if fields_:
            out["match"] = fields_
        specs = [b.spec for b in self.respond]
        out["respond"] = specs[0] if len(specs) == 1 else specs
        if len(specs) > 1:
            out["after"] = self.after
        for key in ("times", "probability", "seed"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def parse_rule(spec: Mapping[str, Any] | Rule, where: str = "rule") -> Rule:
    """Read a rule from its mapping form; ScriptError names `where`, the key and what was expected."""
    if isinstance(spec, Rule):
        return spec
    if not isinstance(spec, Mapping):
        raise ScriptError.at(
            f"{where}", f"expected a mapping with `respond` (and optionally {', '.join(RULE_KEYS)})"
        )
    unknown = sorted(str(k) for k in spec if k not in RULE_KEYS)
    if unknown:
        raise ScriptError.at(where, f"unknown key(s) {', '.join(unknown)}; expected {', '.join(RULE_KEYS)}")
    if "respond" not in spec:
        raise ScriptError.at(
            f"{where}.respond", "missing; expected a behaviour (e.g. `deny:reason`) or a list of them"
        )
    raw = spec["respond"]
    items = list(raw) if isinstance(raw, list) else [raw]
    if not items:
        raise ScriptError.at(f"{where}.respond", "expected at least one behaviour; got an empty list")
    respond = []
    for i, item in enumerate(items):
        try:
            respond.append(parse_behaviour(item))
        except ScriptError as err:
            at = f"{where}.respond" + (f"[{i}]" if isinstance(raw, list) else "")
            raise ScriptError.at(f"{at}", f"{err}") from None
    name = spec.get("name")
    if name is not None and not isinstance(name, str):
        raise ScriptError.at(f"{where}.name", f"expected text; got {name!r}")
    after = spec.get("after", "last")
    if after not in AFTER_CHOICES:
        raise ScriptError.at(f"{where}.after", f"expected one of {', '.join(AFTER_CHOICES)}; got {after!r}")
    times = spec.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise ScriptError.at(f"{where}.times", f"expected a whole number >= 1; got {times!r}")
    probability = spec.get("probability")
    if probability is not None:
        if (
            isinstance(probability, bool)
            or not isinstance(probability, (int, float))
            or not 0 <= probability <= 1
        ):
            raise ScriptError.at(
                f"{where}.probability", f"expected a number from 0 to 1; got {probability!r}"
            )
        probability = float(probability)
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ScriptError.at(f"{where}.seed", f"expected a whole number; got {seed!r}")
    if seed is not None and probability is None:
        raise _lone_seed(f"{where}.seed", seed)
    return Rule(
        respond=tuple(respond),
        conditions=_conditions(spec.get("match"), f"{where}.match"),
        name=name,
        after=after,
        times=times,
        probability=probability,
        seed=seed,
    )


def _lone_seed(where: str, seed: int) -> ScriptError:
    # without probability there is no draw to seed: refused, so nobody believes a chaos run is seeded
    return ScriptError.at(
        where,
        "seed only applies with probability (it seeds the draw that decides whether the rule "
        f"fires); give probability too (e.g. probability: 0.25 with seed: {seed}) or drop seed; "
        f"got seed {seed!r} without probability",
    )


def _conditions(match: Any, where: str) -> tuple[Condition, ...]:
    if match is None:
        return ()
    if not isinstance(match, Mapping):
        raise ScriptError.at(where, f"expected a mapping of request field to pattern; got {match!r}")
    known = (*REQUEST_FIELDS, "headers")
    out: list[Condition] = []
    for key, value in match.items():
        if key not in known:
            raise ScriptError.at(where, f"unknown field {key!r}; expected {', '.join(known)}")
        if key == "headers":
            if not isinstance(value, Mapping):
                raise ScriptError.at(
                    f"{where}.headers", f"expected a mapping of header name to pattern; got {value!r}"
                )
            for header, pattern in value.items():
                out.append(
                    Condition(str(header).lower(), _patterns(pattern, f"{where}.headers.{header}"), True)
                )
        else:
            out.append(Condition(key, _patterns(value, f"{where}.{key}")))
    return tuple(out)


def _patterns(value: Any, where: str) -> tuple[Pattern, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ScriptError.at(where, "expected a pattern or a non-empty list of patterns")
    return tuple(
        Pattern.parse(v, f"{where}[{i}]" if isinstance(value, list) else where) for i, v in enumerate(values)
    )


@dataclass
class _RuleState:
    uses: int = 0
    rng: random.Random | None = None


@dataclass(frozen=True)
class Selection:
    """What the rules chose for a request: the behaviour, and which rule (None: the default)."""

    behaviour: Behaviour
    index: int | None = None
    rule: Rule | None = None

    @property
    def label(self) -> str | int | None:
        """How the journal names the rule: its name, else its index."""
        if self.rule is None:
            return None
        return self.rule.name if self.rule.name is not None else self.index


@dataclass
class RuleBook:
    """Rules in order, with an index on exact field values and each rule's use count and random draws."""

    rules: tuple[Rule, ...] = ()
    _states: list[_RuleState] = field(default_factory=list, repr=False)
    _index: dict[str, dict[str, list[int]]] = field(default_factory=dict, repr=False)
    _scan: list[int] = field(default_factory=list, repr=False)
    #: whether any rule looks at request headers (else the request path skips building a header map)
    needs_headers: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._states = [self._fresh(rule) for rule in self.rules]
        for position, rule in enumerate(self.rules):
            self._file(position, rule)

    @staticmethod
    def _fresh(rule: Rule) -> _RuleState:
        return _RuleState(rng=random.Random(rule.seed) if rule.probability is not None else None)

    def _file(self, position: int, rule: Rule) -> None:
        if any(c.header for c in rule.conditions):
            self.needs_headers = True
        for condition in rule.conditions:
            values = condition.exact_values
            if values is not None:
                by_value = self._index.setdefault(condition.name, {})
                for value in dict.fromkeys(values):
                    by_value.setdefault(value, []).append(position)
                return
        self._scan.append(position)

    def add(self, rule: Rule) -> int:
        """Append a rule (keeping the others' use counts); returns its index."""
        position = len(self.rules)
        self.rules = (*self.rules, rule)
        self._states.append(self._fresh(rule))
        self._file(position, rule)
        return position

    def reset(self) -> None:
        """Forget use counts and restart every seeded draw."""
        self._states = [self._fresh(rule) for rule in self.rules]

    def select(self, body: Mapping[str, Any], headers: Mapping[str, str], default: Behaviour) -> Selection:
        """The behaviour for this request: the first matching rule that fires, else `default`."""
        for position in self._candidates(body):
            rule = self.rules[position]
            if not rule.matches(body, headers):
                continue
            behaviour = self._fire(position, rule)
            if behaviour is not None:
                return Selection(behaviour, position, rule)
        return Selection(default)

    def _candidates(self, body: Mapping[str, Any]) -> Iterable[int]:
        lists: list[Sequence[int]] = [self._scan] if self._scan else []
        for name, by_value in self._index.items():
            value = body.get(name)
            if isinstance(value, str):
                found = by_value.get(value)
                if found:
                    lists.append(found)
        if len(lists) == 1:
            return lists[0]
        return heapq.merge(*lists)

    def _fire(self, position: int, rule: Rule) -> Behaviour | None:
        state = self._states[position]
        if rule.times is not None and state.uses >= rule.times:
            return None
        count = len(rule.respond)
        if rule.after == "fall-through" and state.uses >= count:
            return None
        if state.rng is not None and state.rng.random() >= rule.probability:  # type: ignore[operator]
            return None
        uses = state.uses
        state.uses = uses + 1
        if uses < count:
            return rule.respond[uses]
        return rule.respond[uses % count] if rule.after == "cycle" else rule.respond[-1]

    def uses(self) -> list[int]:
        return [state.uses for state in self._states]
