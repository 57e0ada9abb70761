"""Reproduce a customer's decision record against their workflow, and keep it as a regression scenario.

A decision record is what the customer's audit log holds for one Hall decision: decision_id, worker_id,
capability_id, data_label, denied, reason, artifact_hash (more fields are kept but not used). The emulator is
scripted to give exactly that decision to the request that carries the record's worker_id, capability_id and
data_label; any other request is denied with a reason that says it did not match, so a repro never lets a
protected action run on an answer the customer never got."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from hallsim.harness import journal
from hallsim.harness._errors import InputError
from hallsim.harness.expectations import audit_records
from hallsim.harness.problems import validation_problems
from hallsim.harness.record import DEFAULT_TIME_SCALE, RunRecord
from hallsim.harness.verdict import unallowed_runs
from hallsim.harness.workflow import HallEndpoint, Workflow, load_workflow

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.emulator.journal import JournalEntry

#: the request fields a record is matched on
MATCH_FIELDS = ("worker_id", "capability_id", "data_label")
#: the name of the emulator rule that gives the recorded decision; journal entries name the rule they matched
RULE_NAME = "repro-decision"
#: what a request that does not match the record gets
UNMATCHED_REASON = "hallsim repro: this request does not match the decision record"
#: modelled time is scaled like in scenarios
TIME_SCALE = DEFAULT_TIME_SCALE


class DecisionRecord(BaseModel):
    """One decision from an audit log."""

    model_config = ConfigDict(extra="allow", frozen=True)

    decision_id: str
    denied: bool
    worker_id: str | None = None
    capability_id: str | None = None
    data_label: str | None = None
    tenant_id: str | None = None
    env: str | None = None
    reason: str | None = None
    artifact_hash: str | None = None
    selected_worker_species_id: str | None = None

    @field_validator("denied", mode="before")
    @classmethod
    def _text_boolean(cls, value: Any) -> Any:
        # spreadsheets (the guides' audit targets) store booleans as text: "TRUE", "false"
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value

    @property
    def match(self) -> dict[str, str]:
        return {name: value for name in MATCH_FIELDS if (value := getattr(self, name)) is not None}


def read_record(path: Path | str) -> DecisionRecord:
    """Read a decision record (a JSON object, or a list holding one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file (--decision)") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    except (UnicodeDecodeError, OSError) as err:
        raise InputError(f"{path}: cannot read the decision record (--decision): {err}") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected one decision record, a JSON object with decision_id and denied")
    try:
        record = DecisionRecord.model_validate(data)
    except ValidationError as err:
        # a JSON file has no line numbers to give: the file and the field
        raise InputError(
            problems=validation_problems(err, where=lambda loc: f"{path} (--decision)")
        ) from None
    if not record.match:
        raise InputError(f"{path}: the record has none of {', '.join(MATCH_FIELDS)} to match the request on")
    return record


def decision_rule(record: DecisionRecord) -> dict[str, Any]:
    """The emulator rule (script-file form) that answers the record's request with exactly its decision."""
    fields: dict[str, Any] = {"decision_id": record.decision_id}
    if record.artifact_hash is not None:
        fields["artifact_hash"] = record.artifact_hash
    if record.denied:
        fields["reason"] = record.reason or "denied"
    elif record.selected_worker_species_id is not None:
        fields["selected_worker_species_id"] = record.selected_worker_species_id
    return {
        "name": RULE_NAME,
        "match": record.match,
        "respond": {"behaviour": "deny" if record.denied else "allow", **fields},
    }


def unmatched_default() -> dict[str, Any]:
    return {"behaviour": "deny", "reason": UNMATCHED_REASON}


def default_event(record: DecisionRecord) -> dict[str, Any]:
    """A trigger event the gates turn into the record's request (they read worker_id, data_label)."""
    event: dict[str, Any] = {}
    for name in ("worker_id", "data_label", "tenant_id"):
        value = getattr(record, name)
        if value is not None:
            event[name] = value
    return event


@dataclass(frozen=True)
class Repro:
    record: DecisionRecord
    record_path: Path
    workflow: Path
    platform: str
    event: Any
    #: the first run's typed record (what the verdict and the saved scenario are read from)
    run: RunRecord
    #: the same run as JSON (`hallsim repro --json`)
    run_json: dict[str, Any]
    trace: str
    #: request fields that differ from the record: name -> (record, request)
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: whether the record's artifact_hash is the hash of the request the workflow sent (None: not checkable)
    hash_matches: bool | None = None
    #: export values that differed between two runs (left out of a saved scenario)
    unstable: tuple[str, ...] = ()

    @property
    def hall_requests(self) -> tuple[JournalEntry, ...]:
        return self.run.hall_requests

    @property
    def matched(self) -> bool:
        return any(e.rule == RULE_NAME for e in self.hall_requests)

    @property
    def fail_open(self) -> bool:
        return bool(unallowed_runs(self.run))

    def render(self) -> str:
        r = self.record
        lines = [
            f"decision record {self.record_path}: {r.decision_id}  denied={json.dumps(r.denied)}"
            + (f"  reason={r.reason!r}" if r.reason else ""),
            "  matched on " + ", ".join(f"{k}={v!r}" for k, v in r.match.items()),
        ]
        if not self.hall_requests:
            lines.append("  the workflow never called the Hall")
        elif self.matched:
            lines.append(
                "  the workflow's request matched the record: the Hall gave exactly the recorded decision"
            )
        else:
            lines.append(
                "  the workflow's request did NOT match the record; it was denied with: " + UNMATCHED_REASON
            )
        for name, (want, got) in self.differences.items():
            lines.append(f"    {name}: record {json.dumps(want)}, request {json.dumps(got)}")
        if self.hash_matches is True:
            lines.append("  artifact_hash: the record's hash is the hash of the request the workflow sent")
        elif self.hash_matches is False:
            lines.append(
                "  artifact_hash: the record's hash differs from the hash of the request the workflow sent "
                "(the customer's request was not byte-for-byte this one: check the event)"
            )
        verdict = (
            "FAIL-OPEN: the protected action ran without a well-formed allow"
            if self.fail_open
            else (
                "the protected action ran" if self.run.protected_ran else "the protected action did not run"
            )
        )
        lines += [f"  verdict: {verdict}", "", self.trace.rstrip()]
        return "\n".join(lines)

    def scenario(self, save_to: Path) -> dict[str, Any]:
        """The scenario (as YAML data) that pins what this run did, with paths relative to `save_to`."""
        base = save_to.resolve().parent
        expect: dict[str, Any] = {"outcome": self.run.outcome, "protected_ran": self.run.protected_ran}
        if self.platform == "pipedream":
            steps: dict[str, Any] = {}
            for step in self.run.units:
                name = step.name
                steps[name] = {"status": step.status}
                exports = {
                    k: v for k, v in _exports(step.exports).items() if f"{name}.{k}" not in self.unstable
                }
                if exports:
                    steps[name]["exports"] = exports
            expect["steps"] = steps
        else:
            expect["modules"] = {m.name: {"executed": m.ran} for m in self.run.units}
            expect["routes"] = self.run.routes_taken()
        calls = journal.route_requests(self.hall_requests)
        expect["hall_calls"] = {"count": len(calls)}
        hall_calls: dict[str, Any] = expect["hall_calls"]
        if calls and self.matched:
            hall_calls["with"] = dict(self.record.match)
        expect["audit"] = _audit_expectation(
            audit_records(self.run), journal.issued_decision(self.hall_requests)
        )
        data: dict[str, Any] = {
            "name": f"repro {self.record.decision_id}",
            "description": f"Reproduces decision record {self.record_path.name} with {self.workflow.name}.",
            "note": (
                f"Saved by `hallsim repro` on {date.today().isoformat()}: pins what the workflow did with "
                f"decision {self.record.decision_id} (denied={json.dumps(self.record.denied)})."
            ),
            "workflow": _path_from(base, self.workflow),
            "event": self.event,
            "hall": {"rules": [decision_rule(self.record)], "default": unmatched_default()},
            "time_scale": TIME_SCALE,
            "expect": expect,
        }
        if self.fail_open:
            data["pins_fail_open"] = True
            data["note"] += (
                " The protected action ran without a well-formed allow (fail-open); pinned as found."
            )
        # through the scenario model: what repro saves is a scenario `hallsim run` accepts, field by field
        from hallsim.harness.scenario import ScenarioFile

        model = ScenarioFile.model_validate(data)
        return model.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def save(self, path: Path) -> None:
        text = yaml.safe_dump(self.scenario(path), sort_keys=False, allow_unicode=True, width=110)
        path.write_text("# hallsim scenario (see docs/scenarios.md)\n" + text, encoding="utf-8")


def reproduce(
    record_path: Path | str,
    workflow_path: Path | str,
    *,
    event: Any = None,
    emulator: HallEmulator | None = None,
    time_scale: float = TIME_SCALE,
) -> Repro:
    """Run the workflow against an emulator scripted to give exactly the recorded decision."""
    record_path, workflow_path = Path(record_path), Path(workflow_path)
    record = read_record(record_path)
    workflow = load_workflow(workflow_path)
    event = default_event(record) if event is None else event
    if emulator is None:
        from hallsim.emulator import HallEmulator

        with HallEmulator() as own:
            return _reproduce(record, record_path, workflow, event, own, time_scale)
    return _reproduce(record, record_path, workflow, event, emulator, time_scale)


def _reproduce(
    record: DecisionRecord,
    record_path: Path,
    workflow: Workflow,
    event: Any,
    emulator: HallEmulator,
    time_scale: float,
) -> Repro:
    runs = []
    for _ in range(2):  # twice: values that differ between runs (times, ids) are not pinned
        emulator.reset()
        emulator.set_default(unmatched_default())
        emulator.set_rules([decision_rule(record)])
        hall = HallEndpoint(emulator.url, next(iter(emulator.tokens)), emulator)
        runs.append(workflow.run(hall, event=event, settings={"time_scale": time_scale}))
    first, second = runs[0].record, runs[1].record
    requests = list(first.hall_requests)
    return Repro(
        record=record,
        record_path=record_path,
        workflow=workflow.path,
        platform=workflow.platform,
        event=event,
        run=first,
        run_json=runs[0].to_json(),
        trace=runs[0].render(),
        differences=_differences(record, requests),
        hash_matches=_hash_matches(record, requests, emulator),
        unstable=_unstable_exports(first, second),
    )


def _differences(record: DecisionRecord, requests: list[JournalEntry]) -> dict[str, tuple[Any, Any]]:
    calls = journal.route_requests(requests)
    if not calls:
        return {}
    body = calls[0].body
    if not isinstance(body, Mapping):
        return {"body": (record.match, body)}
    return {name: (want, body.get(name)) for name, want in record.match.items() if body.get(name) != want}


def _hash_matches(record: DecisionRecord, requests: list[JournalEntry], emulator: Any) -> bool | None:
    calls = journal.route_requests(requests)
    body = calls[0].body if calls else None
    if record.artifact_hash is None or not isinstance(body, Mapping):
        return None
    from hallsim.emulator import artifact_hash

    return bool(artifact_hash(dict(body)) == record.artifact_hash)


def _exports(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _unstable_exports(first: RunRecord, second: RunRecord) -> tuple[str, ...]:
    other = {u.name: _exports(u.exports) for u in second.units}
    unstable = []
    for step in first.units:
        for key, value in _exports(step.exports).items():
            if other.get(step.name, {}).get(key) != value:
                unstable.append(f"{step.name}.{key}")
    return tuple(unstable)


def _path_from(base: Path, target: Path) -> str:
    """`target` relative to `base` when they share a folder below the root (a repository), else absolute."""
    target = target.resolve()
    if os.path.commonpath([base, target]) == base.anchor:
        return str(target)
    return os.path.relpath(target, base)


def _audit_expectation(records: list[dict[str, Any]], issued: Mapping[str, Any] | None) -> dict[str, Any]:
    """Pin the audit records as found: how many, and whether they carry the decision the Hall issued (or, when
    they do not, what they carry instead)."""
    expect: dict[str, Any] = {"count": len(records)}
    keys = ("decision_id", "artifact_hash")
    if not records:
        return expect
    if issued is not None and all(r.get(k) == issued.get(k) for r in records for k in keys):
        expect["matches_decision"] = True
    elif all(r.get(k) == records[0].get(k) for r in records for k in keys):
        expect["fields"] = {k: records[0].get(k) for k in keys}
    return expect
