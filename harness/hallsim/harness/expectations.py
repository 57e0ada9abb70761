"""Check a run's record against a scenario's expectations (values match in the `$`-matcher language of
`hallsim.harness.matchers`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal
from hallsim.harness.matchers import (
    MATCHERS,
    MISSING,
    ExpectationFailure,
    Mismatch,
    match,
    matcher_problem,
    render_failure,
    show,
)
from hallsim.harness.record import RunRecord

if TYPE_CHECKING:
    from hallsim.harness.scenario import Expectations

__all__ = [
    "GUIDE_AUDIT_COLUMNS",
    "MATCHERS",
    "MISSING",
    "ExpectationFailure",
    "Mismatch",
    "audit_records",
    "check_run",
    "match",
    "matcher_problem",
    "render_failure",
    "routes_taken",
    "show",
]


def check_run(expect: Expectations, record: RunRecord) -> list[Mismatch]:
    """Every expectation that the run does not meet."""
    decision = journal.issued_decision(record.hall_requests)
    found: list[Mismatch] = []
    for key in ("outcome", "status"):
        allowed = getattr(expect, key)
        if allowed is not None and record.outcome not in allowed:
            found.append(Mismatch(f"expect.{key}", " or ".join(allowed), show(record.outcome)))
    if expect.protected_ran is not None and record.protected_ran is not expect.protected_ran:
        found.append(Mismatch("expect.protected_ran", show(expect.protected_ran), show(record.protected_ran)))
    if expect.steps:
        found.extend(_check_steps(expect, record, decision))
    if expect.modules:
        found.extend(_check_modules(expect, record, decision))
    if expect.routes is not None:
        taken = routes_taken(record)
        # `routes: []` for a one-bundle run: no route took the bundle
        one_bundle = record.platform == "make" and record.bundles == 1
        wanted = [[]] if expect.routes == [] and one_bundle else expect.routes
        if taken != wanted:
            found.append(Mismatch("expect.routes", show(expect.routes), show(taken)))
    if expect.hall_calls is not None:
        found.extend(_check_hall_calls(expect, record, decision))
    if expect.audit is not None:
        found.extend(_check_audit(expect, record, journal.issued_decisions(record.hall_requests)))
    return found


def _check_steps(expect: Expectations, record: RunRecord, decision: Any) -> list[Mismatch]:
    steps = {u.name: u for u in record.units if u.kind == "step"}
    found: list[Mismatch] = []
    for name, want in (expect.steps or {}).items():
        where = f"expect.steps.{name}"
        step = steps.get(name)
        if step is None:
            found.append(Mismatch(where, f"a step named {name!r}", "steps are " + ", ".join(map(str, steps))))
            continue
        if want.status is not None and step.status != want.status:
            found.append(Mismatch(f"{where}.status", want.status, show(step.status)))
        if want.exports is not None:
            exports = step.exports if step.exports is not MISSING else {}
            found.extend(match(want.exports, exports or {}, f"{where}.exports", decision))
        for key in ("return_value", "exit_reason", "error"):
            if key in want.model_fields_set:
                found.extend(match(getattr(want, key), step.value(key), f"{where}.{key}", decision))
    return found


def _check_modules(expect: Expectations, record: RunRecord, decision: Any) -> list[Mismatch]:
    modules = {u.name: u for u in record.units if u.kind == "module"}
    found: list[Mismatch] = []
    for module_id, want in (expect.modules or {}).items():
        where = f"expect.modules.{module_id}"
        module = modules.get(module_id)
        if module is None:
            found.append(
                Mismatch(where, f"a module with id {module_id}", "module ids are " + ", ".join(modules))
            )
            continue
        if want.executed is not None and module.ran is not want.executed:
            found.append(Mismatch(f"{where}.executed", show(want.executed), show(module.ran)))
        for key in ("output", "error"):
            if key in want.model_fields_set:
                found.extend(match(getattr(want, key), module.value(key), f"{where}.{key}", decision))
    return found


def _check_hall_calls(expect: Expectations, record: RunRecord, decision: Any) -> list[Mismatch]:
    assert expect.hall_calls is not None
    calls = journal.route_requests(record.hall_requests)
    found: list[Mismatch] = []
    if expect.hall_calls.count is not None and len(calls) != expect.hall_calls.count:
        found.append(Mismatch("expect.hall_calls.count", str(expect.hall_calls.count), str(len(calls))))
    if expect.hall_calls.with_:
        for index, call in enumerate(calls):
            found.extend(
                match(expect.hall_calls.with_, call.body, f"expect.hall_calls[{index}].with", decision)
            )
    return found


def _check_audit(
    expect: Expectations, record: RunRecord, decisions: Sequence[Mapping[str, Any]]
) -> list[Mismatch]:
    audit = expect.audit
    assert audit is not None
    records = audit_records(record, modules=audit.modules, columns=audit.columns or GUIDE_AUDIT_COLUMNS)
    found: list[Mismatch] = []
    if audit.count is not None and len(records) != audit.count:
        found.append(Mismatch("expect.audit.count", str(audit.count), f"{len(records)}: {show(records)}"))
    by_id = {d.get("decision_id"): d for d in decisions}
    for index, row in enumerate(records):
        where = f"expect.audit[{index}]"
        # a run with several decisions (bundles, gates) audits each: a record is held to the decision it
        # names, or else to the last one the Hall issued
        named = row.get("decision_id")
        decision = (by_id.get(named) if isinstance(named, str) else None) or (
            decisions[-1] if decisions else None
        )
        if audit.fields:
            found.extend(match(audit.fields, row, where, decision))
        if audit.matches_decision:
            if decision is None:
                found.append(
                    Mismatch(f"{where}.decision_id", "the decision the Hall issued", "the Hall issued none")
                )
                continue
            for key in ("decision_id", "artifact_hash"):
                found.extend(match({"$hall": key}, row.get(key, MISSING), f"{where}.{key}", decision))
    if audit.matches_decision and not records:
        found.append(
            Mismatch("expect.audit", "an audit record matching the Hall's decision", "no audit record")
        )
    return found


#: seed 003 "Step 4 - Log decision_id for audit": the audit row's columns, in the guide's order. A Google
#: Sheets `addRow` mapper holds its values by column index ("0", "1", ...); they are named with these.
GUIDE_AUDIT_COLUMNS = ("decision_id", "worker_id", "capability_id", "denied", "artifact_hash", "timestamp")


def audit_records(
    record: RunRecord,
    *,
    modules: Sequence[int] | None = None,
    columns: Sequence[str] = GUIDE_AUDIT_COLUMNS,
) -> list[dict[str, Any]]:
    """The audit records a run wrote.

    Pipedream: the JSON bodies the local audit sink received (the Step 4 step posts to AUDIT_LOG_WEBHOOK_URL).
    Make: the mapped input of each execution of the audit module(s): the ones given by id, or else every
    recorded action whose row carries a `decision_id`; spreadsheet rows get their columns named."""
    if record.platform == "pipedream":
        return [dict(w.body) if isinstance(w.body, Mapping) else {"body": w.body} for w in record.audit]
    wanted = {str(m) for m in modules} if modules is not None else None
    records = []
    for write in record.audit:
        if not isinstance(write.body, Mapping):
            continue
        row = _row(write.body, columns)
        if (write.source in wanted) if wanted is not None else ("decision_id" in row):
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


def routes_taken(record: RunRecord) -> list[list[str]]:
    """Route labels each bundle took, one list per bundle."""
    return record.routes_taken()
