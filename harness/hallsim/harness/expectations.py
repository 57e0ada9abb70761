"""Check a run against a scenario's expectations and render what differed, expected against actual.

Values in expectations match like this:
- a plain value matches an equal JSON value (`true` does not match `1`, nor `"true"`);
- a mapping matches when every key it lists matches (keys it does not list are ignored);
- a list matches element by element and must be as long;
- a one-key mapping whose key starts with `$` is a matcher: `$present: true`, `$absent: true`,
  `$type: string|number|boolean|null|object|array`, `$regex: PATTERN`, `$one_of: [A, B]`, `$not: VALUE`,
  and `$hall: FIELD`, which equals the FIELD of the decision the emulator issued in this run."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal

if TYPE_CHECKING:
    from hallsim.harness.scenario import Expectations

_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, Mapping),
    "array": lambda v: isinstance(v, list),
}
MATCHERS = ("$present", "$absent", "$type", "$regex", "$one_of", "$not", "$hall")


class _Missing:
    def __repr__(self) -> str:
        return "(absent)"


#: stands for a key that is not there at all (as opposed to a key holding null)
MISSING: Any = _Missing()


@dataclass(frozen=True)
class Mismatch:
    """One expectation that did not hold."""

    where: str
    expected: str
    actual: str

    def render(self) -> str:
        return f"{self.where}:\n    expected: {self.expected}\n    actual:   {self.actual}"


class ExpectationFailure(AssertionError):
    """A scenario whose run did not do what it expects; the message is the expected-vs-actual report."""

    def __init__(self, report: str, mismatches: Sequence[Mismatch] = ()) -> None:
        super().__init__(report)
        self.report = report
        self.mismatches = tuple(mismatches)


def show(value: Any) -> str:
    """A value as the user wrote it in YAML/JSON terms."""
    if value is MISSING:
        return "(absent)"
    if isinstance(value, Mapping) and len(value) == 1 and str(next(iter(value))).startswith("$"):
        ((op, arg),) = value.items()
        return f"{op} {show(arg)}"
    text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= 200 else text[:197] + "..."


def matcher_problem(value: Any) -> str | None:
    """Why `value` is a malformed matcher, or None (also for plain values)."""
    if not isinstance(value, Mapping) or not any(str(k).startswith("$") for k in value):
        return None
    if len(value) != 1:
        return f"a matcher mapping holds exactly one `$` key; got {', '.join(map(str, value))}"
    ((op, arg),) = value.items()
    if op not in MATCHERS:
        return f"unknown matcher {op!r}; expected one of {', '.join(MATCHERS)}"
    if op in ("$present", "$absent") and arg is not True:
        return f"{op} takes `true`"
    if op == "$type" and arg not in _JSON_TYPES:
        return f"$type: expected one of {', '.join(_JSON_TYPES)}; got {show(arg)}"
    if op == "$regex":
        if not isinstance(arg, str):
            return "$regex takes a pattern string"
        try:
            re.compile(arg)
        except re.error as err:
            return f"$regex: not a valid regular expression: {err}"
    if op == "$one_of" and not isinstance(arg, list):
        return "$one_of takes a list of values"
    if op == "$hall" and arg not in journal.DECISION_FIELDS:
        return f"$hall: expected one of {', '.join(journal.DECISION_FIELDS)}; got {show(arg)}"
    if op == "$not":
        return matcher_problem(arg)
    return None


def match(expected: Any, actual: Any, where: str, decision: Mapping[str, Any] | None) -> list[Mismatch]:
    """Mismatches between an expected value (with matchers) and an actual one; empty when it matches."""
    if isinstance(expected, Mapping) and len(expected) == 1 and str(next(iter(expected))).startswith("$"):
        ((op, arg),) = expected.items()
        ok, shown = _apply(op, arg, actual, where, decision)
        return [] if ok else [Mismatch(where, shown, show(actual))]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [Mismatch(where, "an object with " + ", ".join(map(str, expected)), show(actual))]
        found: list[Mismatch] = []
        for key, value in expected.items():
            found.extend(match(value, actual.get(key, MISSING), f"{where}.{key}", decision))
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [Mismatch(where, show(expected), show(actual))]
        found = []
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            found.extend(match(want, got, f"{where}[{index}]", decision))
        return found
    return [] if _equal(expected, actual) else [Mismatch(where, show(expected), show(actual))]


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual) and actual is not MISSING


def _apply(
    op: str, arg: Any, actual: Any, where: str, decision: Mapping[str, Any] | None
) -> tuple[bool, str]:
    if op == "$present":
        return actual is not MISSING, "present (any value)"
    if op == "$absent":
        return actual is MISSING, "absent"
    if op == "$type":
        return actual is not MISSING and _JSON_TYPES[arg](actual), f"a {arg}"
    if op == "$regex":
        return isinstance(actual, str) and re.search(arg, actual) is not None, f"text matching /{arg}/"
    if op == "$one_of":
        return any(_equal(option, actual) for option in arg), "one of " + ", ".join(show(o) for o in arg)
    if op == "$not":
        return bool(match(arg, actual, where, decision)), f"not {show(arg)}"
    # $hall: what the emulator issued
    if decision is None:
        return False, f"the Hall's {arg} (but the Hall issued no decision in this run)"
    value = decision.get(arg, MISSING)
    return _equal(value, actual), f"{show(value)} (the {arg} the Hall issued)"


# --- checking a run ---------------------------------------------------------------------------------------


def check_run(
    expect: Expectations, run: Mapping[str, Any], hall_requests: Sequence[Mapping[str, Any]]
) -> list[Mismatch]:
    """Every expectation that the run (its `to_json()`) does not meet."""
    decision = journal.issued_decision(hall_requests)
    found: list[Mismatch] = []
    outcome = run.get("outcome", run.get("status"))
    for key in ("outcome", "status"):
        allowed = getattr(expect, key)
        if allowed is not None and outcome not in allowed:
            found.append(Mismatch(f"expect.{key}", " or ".join(allowed), show(outcome)))
    if expect.protected_ran is not None and run.get("protected_ran") is not expect.protected_ran:
        found.append(
            Mismatch("expect.protected_ran", show(expect.protected_ran), show(run.get("protected_ran")))
        )
    if expect.steps:
        found.extend(_check_steps(expect, run, decision))
    if expect.modules:
        found.extend(_check_modules(expect, run, decision))
    if expect.routes is not None:
        taken = routes_taken(run)
        if taken != expect.routes:
            found.append(Mismatch("expect.routes", show(expect.routes), show(taken)))
    if expect.hall_calls is not None:
        found.extend(_check_hall_calls(expect, hall_requests, decision))
    if expect.audit is not None:
        found.extend(_check_audit(expect, run, journal.issued_decisions(hall_requests)))
    return found


def _check_steps(expect: Expectations, run: Mapping[str, Any], decision: Any) -> list[Mismatch]:
    steps = {s.get("name"): s for s in run.get("steps") or []}
    found: list[Mismatch] = []
    for name, want in (expect.steps or {}).items():
        where = f"expect.steps.{name}"
        step = steps.get(name)
        if step is None:
            found.append(Mismatch(where, f"a step named {name!r}", "steps are " + ", ".join(map(str, steps))))
            continue
        if want.status is not None and step.get("status") != want.status:
            found.append(Mismatch(f"{where}.status", want.status, show(step.get("status"))))
        if want.exports is not None:
            found.extend(match(want.exports, step.get("exports") or {}, f"{where}.exports", decision))
        for key in ("return_value", "exit_reason", "error"):
            if key in want.model_fields_set:
                found.extend(match(getattr(want, key), step.get(key, MISSING), f"{where}.{key}", decision))
    return found


def _check_modules(expect: Expectations, run: Mapping[str, Any], decision: Any) -> list[Mismatch]:
    modules = {str(m.get("id")): m for m in run.get("modules") or []}
    found: list[Mismatch] = []
    for module_id, want in (expect.modules or {}).items():
        where = f"expect.modules.{module_id}"
        module = modules.get(module_id)
        if module is None:
            found.append(
                Mismatch(where, f"a module with id {module_id}", "module ids are " + ", ".join(modules))
            )
            continue
        if want.executed is not None and bool(module.get("executed")) is not want.executed:
            found.append(Mismatch(f"{where}.executed", show(want.executed), show(module.get("executed"))))
        for key in ("output", "error"):
            if key in want.model_fields_set:
                found.extend(match(getattr(want, key), module.get(key, MISSING), f"{where}.{key}", decision))
    return found


def _check_hall_calls(
    expect: Expectations, hall_requests: Sequence[Mapping[str, Any]], decision: Any
) -> list[Mismatch]:
    assert expect.hall_calls is not None
    calls = journal.route_requests(hall_requests)
    found: list[Mismatch] = []
    if expect.hall_calls.count is not None and len(calls) != expect.hall_calls.count:
        found.append(Mismatch("expect.hall_calls.count", str(expect.hall_calls.count), str(len(calls))))
    if expect.hall_calls.with_:
        for index, call in enumerate(calls):
            found.extend(
                match(expect.hall_calls.with_, call.get("body"), f"expect.hall_calls[{index}].with", decision)
            )
    return found


def _check_audit(
    expect: Expectations, run: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]]
) -> list[Mismatch]:
    audit = expect.audit
    assert audit is not None
    records = audit_records(run, modules=audit.modules, columns=audit.columns or GUIDE_AUDIT_COLUMNS)
    found: list[Mismatch] = []
    if audit.count is not None and len(records) != audit.count:
        found.append(Mismatch("expect.audit.count", str(audit.count), f"{len(records)}: {show(records)}"))
    by_id = {d.get("decision_id"): d for d in decisions}
    for index, record in enumerate(records):
        where = f"expect.audit[{index}]"
        # a run with several decisions (bundles, gates) audits each: a record is held to the decision it
        # names, or else to the last one the Hall issued
        named = record.get("decision_id")
        decision = (by_id.get(named) if isinstance(named, str) else None) or (
            decisions[-1] if decisions else None
        )
        if audit.fields:
            found.extend(match(audit.fields, record, where, decision))
        if audit.matches_decision:
            if decision is None:
                found.append(
                    Mismatch(f"{where}.decision_id", "the decision the Hall issued", "the Hall issued none")
                )
                continue
            for key in ("decision_id", "artifact_hash"):
                found.extend(match({"$hall": key}, record.get(key, MISSING), f"{where}.{key}", decision))
    if audit.matches_decision and not records:
        found.append(
            Mismatch("expect.audit", "an audit record matching the Hall's decision", "no audit record")
        )
    return found


#: seed 003 "Step 4 - Log decision_id for audit": the audit row's columns, in the guide's order. A Google
#: Sheets `addRow` mapper holds its values by column index ("0", "1", ...); they are named with these.
GUIDE_AUDIT_COLUMNS = ("decision_id", "worker_id", "capability_id", "denied", "artifact_hash", "timestamp")


def audit_records(
    run: Mapping[str, Any],
    *,
    modules: Sequence[int] | None = None,
    columns: Sequence[str] = GUIDE_AUDIT_COLUMNS,
) -> list[dict[str, Any]]:
    """The audit records a run wrote.

    Pipedream: the JSON bodies the local audit sink received (the Step 4 step posts to AUDIT_LOG_WEBHOOK_URL).
    Make: the mapped input of each execution of the audit module(s): the ones given by id, or else every
    recorded action whose row carries a `decision_id`; spreadsheet rows get their columns named."""
    if run.get("platform") == "pipedream":
        records = []
        for request in run.get("sink_requests") or []:
            body = request.get("json", request.get("body")) if isinstance(request, Mapping) else None
            if isinstance(body, str):
                with contextlib.suppress(ValueError):
                    body = json.loads(body)
            records.append(dict(body) if isinstance(body, Mapping) else {"body": body})
        return records
    wanted = {str(m) for m in modules} if modules is not None else None
    records = []
    for event in run.get("trace") or []:
        if event.get("kind") != "recorded" or not isinstance(event.get("mapper"), Mapping):
            continue
        row = _row(event["mapper"], columns)
        if (str(event.get("module")) in wanted) if wanted is not None else ("decision_id" in row):
            records.append(row)
    return records


def _row(mapper: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """The record a module's mapper writes: its nested row (`values`, `fields`, `record`, `data`) when it has
    one, with column-indexed values ("0", "1", ...) named by `columns`; else the mapper itself."""
    for key in ("values", "fields", "record", "row", "data"):
        inner = mapper.get(key)
        if isinstance(inner, Mapping):
            row: dict[str, Any] = {}
            for name, value in inner.items():
                text = str(name)
                if text.isdigit() and int(text) < len(columns):
                    text = columns[int(text)]
                row[text] = value
            return row
    return dict(mapper)


def routes_taken(run: Mapping[str, Any]) -> list[list[str]]:
    """Route labels each bundle took, one list per bundle."""
    taken: list[list[str]] = []
    for bundle in run.get("routes") or []:
        labels = bundle.get("taken", bundle.get("routes", [])) if isinstance(bundle, Mapping) else bundle
        taken.append(
            [str(r.get("label", r.get("name"))) if isinstance(r, Mapping) else str(r) for r in labels]
        )
    return taken


def render_failure(mismatches: Sequence[Mismatch], *, title: str, trace: str = "") -> str:
    lines = [title, ""]
    lines.extend(m.render() for m in mismatches)
    if trace:
        lines.extend(["", "--- run trace ---", trace.rstrip()])
    return "\n".join(lines)
