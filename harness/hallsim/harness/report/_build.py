"""Reports built from what the commands ran: matrix reports, scenario results, one replay."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal
from hallsim.harness.report._mask import Masker
from hallsim.harness.report._model import (
    CauseGroup,
    HallExchange,
    Report,
    ReportRow,
    ReportTable,
    Tone,
    worst,
)
from hallsim.harness.report._shape import PathTaken, Shape, path_of, shape_of

if TYPE_CHECKING:
    from hallsim.harness.matrix import MatrixReport, MatrixRow
    from hallsim.harness.runner import EventRun, ScenarioResult
    from hallsim.harness.workflow import Workflow, WorkflowRun

#: matrix verdict -> colour
_MATRIX_TONES: dict[str, Tone] = {
    "FAIL-OPEN": "bad",
    "blocked on a good allow": "broken",
    "broken": "broken",
    "error": "error",
    "fail-closed": "good",
    "ran on allow": "good",
}

#: what a verdict means, for the group of rows that share it when the run recorded no more precise cause
_MEANING = {
    "FAIL-OPEN": "the protected action ran without a well-formed allow from the Hall",
    "blocked on a good allow": "the protected action did not run although the Hall allowed it: the gate "
    "blocks good traffic",
    "error": "the run could not be carried out",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _version() -> str:
    from hallsim.emulator._version import __version__

    return __version__


def _shape(path: Path) -> Shape | None:
    from hallsim.harness._errors import HarnessError
    from hallsim.harness.workflow import load_workflow

    try:
        return shape_of(load_workflow(path))
    except HarnessError:
        return None


def matrix_report(
    reports: Sequence[MatrixReport], *, command: str = "hallsim matrix", secrets: Iterable[str | None] = ()
) -> Report:
    """A report of one or more matrices: one table per workflow, one row per Hall behaviour."""
    masker = Masker(secrets)
    tables = tuple(_matrix_table(report, masker) for report in reports)
    return _report("Fail-closed matrix", command, tables)


def _matrix_table(report: MatrixReport, masker: Masker) -> ReportTable:
    rows = tuple(_matrix_row(row, masker, report.unconfirmed) for row in report.rows)
    tone = worst([r.tone for r in rows])
    # a gate that never reached the Hall in any row has not been tested by the matrix: never green
    # (the same test as MatrixReport.summary's "the Hall was never called")
    if tone == "good" and not any(r.hall_calls or r.error for r in report.rows):
        tone = "broken"
    return ReportTable(
        title=str(report.workflow),
        platform=report.platform,
        verdict=report.summary(),
        tone=tone,
        rows=rows,
        protected=tuple(report.protected),
        groups=_groups(rows),
        shape=_shape(report.workflow),
        chosen=masker.value(dict(report.chosen)),
        settings=masker.value(dict(report.settings)),
        unconfirmed={name: report.settings.get(name) for name in report.unconfirmed},
    )


def _matrix_row(row: MatrixRow, masker: Masker, unconfirmed: Sequence[str]) -> ReportRow:
    run = row.run
    data: Mapping[str, Any] | None = run.to_json() if run is not None else None
    why = list(row.unallowed) if row.verdict == "FAIL-OPEN" or row.expected_protected else []
    if row.error:
        why.append(row.error)
    parts = _run_parts(run, data, masker, unconfirmed)
    return ReportRow(
        name=row.behaviour,
        verdict=row.verdict,
        tone=_MATRIX_TONES.get(row.verdict, "error"),
        outcome=row.outcome,
        hall_did=masker.text(row.hall_did),
        why=tuple(masker.text(w) for w in why),
        cause=_text_or_none(getattr(row, "cause", None), masker),
        fix=_text_or_none(getattr(row, "fix", None), masker),
        protected_ran=row.protected_ran,
        allowed=row.expected_protected,
        wall_ms=row.wall_ms,
        **parts,
    )


def _text_or_none(value: Any, masker: Masker) -> str | None:
    return masker.text(str(value)) if value else None


def _run_parts(
    run: WorkflowRun | None, data: Mapping[str, Any] | None, masker: Masker, unconfirmed: Sequence[str] = ()
) -> dict[str, Any]:
    """The trace of one run, as the report's row shows it when expanded."""
    if data is None:
        return {}
    settings = data.get("settings") or {}
    names = tuple(unconfirmed) or tuple(data.get("unconfirmed_settings") or ())
    return {
        "hall": tuple(_exchange(entry, masker) for entry in data.get("hall_requests") or ()),
        "routes": tuple(masker.text(line) for line in _routes(data)),
        "stubbed": tuple(masker.text(line) for line in _stubbed(data)),
        "timing": _timing(data),
        "trace": masker.text(run.render()) if run is not None else "",
        "path": path_of(data),
        "unconfirmed": {name: masker.value(settings.get(name)) for name in names},
    }


def _exchange(entry: Mapping[str, Any], masker: Masker) -> HallExchange:
    response = entry.get("response")
    body: Any = None
    if isinstance(response, Mapping):
        body = journal.response_json(entry)
        if body is None:
            body = response.get("body")
    rule = entry.get("rule")
    return HallExchange(
        seq=int(entry.get("seq") or 0),
        time=str(entry.get("time") or ""),
        method=str(entry.get("method") or ""),
        path=str(entry.get("path") or ""),
        headers=masker.json(entry.get("headers")),
        body=masker.json(entry.get("body")),
        behaviour=str(entry.get("behaviour") or ""),
        rule="" if rule is None else str(rule),
        answer=masker.text(journal.describe_entry(entry)),
        answer_body=masker.json(body),
    )


def _routes(data: Mapping[str, Any]) -> list[str]:
    lines = []
    if data.get("platform") == "make":
        for bundle in data.get("routes") or ():
            for decision in bundle.get("decisions") or ():
                taken = "TAKEN" if decision.get("taken") else "not taken"
                lines.append(
                    f"bundle {bundle.get('bundle')}: router [{decision.get('router')}] route "
                    f'{decision.get("route")} "{decision.get("label") or ""}": {taken} — '
                    f"{decision.get('why')}"
                )
        for warning in data.get("warnings") or ():
            lines.append(f"module {warning.get('module')} ({warning.get('in')}): {warning.get('message')}")
        return lines
    for step in data.get("steps") or ():
        for flow in step.get("flow") or ():
            lines.append(f"step {step.get('name')}: $.flow.{flow.get('action')}({flow.get('reason') or ''})")
        if step.get("status") == "not_run":
            lines.append(f"step {step.get('name')}: not run")
    return lines


def _stubbed(data: Mapping[str, Any]) -> list[str]:
    """Calls a stand-in answered: Make's recorded actions, the audit sink, other hosts' stubs."""
    lines = []
    if data.get("platform") == "make":
        for event in data.get("trace") or ():
            if event.get("kind") == "recorded":
                mapper = json.dumps(event.get("mapper"), ensure_ascii=False, default=str)
                lines.append(f"[{event.get('module')}] {event.get('label')} (recorded, not sent): {mapper}")
    for request in data.get("sink_requests") or ():
        body = json.dumps(request.get("body", request.get("json")), ensure_ascii=False, default=str)
        lines.append(f"audit sink {request.get('method', 'POST')} {request.get('path', '')}: {body}")
    for stub in data.get("stubs") or data.get("stubbed") or ():
        lines.append(json.dumps(stub, ensure_ascii=False, default=str))
    return lines


def _timing(data: Mapping[str, Any]) -> str:
    time = data.get("time")
    if isinstance(time, Mapping):
        return (
            f"{time.get('modelled_s')} s modelled, {time.get('wall_s')} s wall "
            f"(time scale {time.get('time_scale')})"
        )
    if "wall_ms" in data:
        return (
            f"{data.get('modelled_ms')} ms modelled, {data.get('wall_ms')} ms wall "
            f"(time scale {data.get('time_scale')})"
        )
    return ""


def _groups(rows: Sequence[ReportRow]) -> tuple[CauseGroup, ...]:
    """Failing rows grouped by verdict and cause, worst first."""
    grouped: dict[tuple[str, str, str | None], list[ReportRow]] = {}
    for row in rows:
        if row.tone == "good":
            continue
        cause = row.cause or _MEANING.get(row.verdict, row.verdict)
        grouped.setdefault((row.verdict, cause, row.fix), []).append(row)
    groups = [
        CauseGroup(verdict, members[0].tone, cause, fix, tuple(r.name for r in members))
        for (verdict, cause, fix), members in grouped.items()
    ]
    order = ("bad", "broken", "error", "good")
    return tuple(sorted(groups, key=lambda g: order.index(g.tone)))


def scenario_report(
    results: Sequence[ScenarioResult],
    broken: Sequence[tuple[Path, str]] = (),
    *,
    command: str = "hallsim run",
    secrets: Iterable[str | None] = (),
) -> Report:
    """A report of scenario runs: one table per workflow, one row per scenario."""
    masker = Masker(secrets)
    by_workflow: dict[str, list[ReportRow]] = {}
    platforms: dict[str, str] = {}
    unconfirmed: dict[str, dict[str, Any]] = {}
    for result in results:
        key = str(result.scenario.workflow)
        platforms[key] = result.scenario.platform
        row = _scenario_row(result, masker)
        by_workflow.setdefault(key, []).append(row)
        unconfirmed.setdefault(key, {}).update(row.unconfirmed)
    tables = [
        ReportTable(
            title=_relative(Path(key)),
            platform=platforms[key],
            verdict=_scenario_verdict(rows),
            tone=worst([r.tone for r in rows]),
            rows=tuple(rows),
            groups=_groups(rows),
            shape=_shape(Path(key)),
            unconfirmed=unconfirmed.get(key, {}),
        )
        for key, rows in by_workflow.items()
    ]
    if broken:
        rows = [
            ReportRow(str(path), "error", "error", "-", "-", why=(masker.text(message),))
            for path, message in broken
        ]
        tables.append(
            ReportTable(
                "scenario files that could not be loaded", "-", _scenario_verdict(rows), "error", tuple(rows)
            )
        )
    return _report("Scenarios", command, tuple(tables))


def _scenario_verdict(rows: Sequence[ReportRow]) -> str:
    passed = sum(1 for r in rows if r.verdict == "passed")
    return f"{passed} of {len(rows)} scenarios passed"


def _scenario_row(result: ScenarioResult, masker: Masker) -> ReportRow:
    status = result.status
    tone: Tone = {"passed": "good", "failed": "bad", "error": "error"}.get(status, "error")  # type: ignore[assignment]
    why = [f"{m.where}: expected {m.expected}; actual {m.actual}" for m in result.problems]
    if result.error:
        why.append(result.error)
    for run in result.runs:
        why += [f"{run.label}: {m.where}: expected {m.expected}; actual {m.actual}" for m in run.mismatches]
        if run.error:
            why.append(f"{run.label}: {run.error}")
    first = result.runs[0] if result.runs else None
    label = status + (
        f" (pins {result.fail_open_runs} fail-open)" if result.passed and result.fail_open_runs else ""
    )
    hall_did = journal.describe(first.hall_requests) if first else "-"
    return ReportRow(
        name=f"{_relative(result.scenario.path)}  ({result.scenario.name})",
        verdict=label if status != "passed" else "passed",
        tone=tone,
        outcome=str(first.run.get("outcome")) if first and first.run else "-",
        hall_did=masker.text(hall_did),
        why=tuple(masker.text(w) for w in why),
        protected_ran=bool(first.run.get("protected_ran")) if first and first.run else None,
        wall_ms=round(result.duration_s * 1000, 1),
        **_event_parts(result.runs, masker),
    )


def _event_parts(runs: Sequence[EventRun], masker: Masker) -> dict[str, Any]:
    """Every event run's trace in one row (a scenario usually has one event)."""
    hall: list[HallExchange] = []
    routes: list[str] = []
    stubbed: list[str] = []
    traces: list[str] = []
    timing: list[str] = []
    unconfirmed: dict[str, Any] = {}
    path = PathTaken()
    for run in runs:
        data = run.run or {}
        prefix = f"{run.label}: " if len(runs) > 1 else ""
        hall += [_exchange(e, masker) for e in run.hall_requests]
        routes += [prefix + masker.text(line) for line in _routes(data)]
        stubbed += [prefix + masker.text(line) for line in _stubbed(data)]
        traces.append((f"── {run.label}\n" if len(runs) > 1 else "") + masker.text(run.trace))
        if _timing(data):
            timing.append(prefix + _timing(data))
        settings = data.get("settings") or {}
        unconfirmed.update({n: masker.value(settings.get(n)) for n in data.get("unconfirmed_settings") or ()})
        if path == PathTaken():
            path = path_of(data)
    return {
        "hall": tuple(hall),
        "routes": tuple(routes),
        "stubbed": tuple(stubbed),
        "trace": "\n\n".join(traces),
        "timing": "; ".join(timing),
        "path": path,
        "unconfirmed": unconfirmed,
    }


def replay_report(
    workflow: Workflow,
    run: WorkflowRun,
    *,
    hall: str,
    command: str = "hallsim replay",
    secrets: Iterable[str | None] = (),
) -> Report:
    """A report of one replay: one table with one row, its verdict by the fail-closed rule."""
    from hallsim.harness.matrix import judge
    from hallsim.harness.verdict import allow_received, unallowed_runs

    masker = Masker(secrets)
    data = run.to_json()
    requests = list(run.hall_requests)
    unallowed = unallowed_runs(data, requests)
    allowed = allow_received(data, requests)
    verdict = judge(run.protected_ran, allowed, ran_unallowed=bool(unallowed))
    row = ReportRow(
        name=hall,
        verdict=verdict,
        tone=_MATRIX_TONES.get(verdict, "error"),
        outcome=str(run.outcome),
        hall_did=masker.text(journal.describe(requests)),
        why=tuple(masker.text(u) for u in unallowed),
        protected_ran=run.protected_ran,
        allowed=allowed,
        **_run_parts(run, data, masker),
    )
    table = ReportTable(
        title=_relative(workflow.path),
        platform=workflow.platform,
        verdict=f"{_relative(workflow.path)} under {hall}: {verdict}",
        tone=row.tone,
        rows=(row,),
        protected=tuple(workflow.protected),
        groups=_groups((row,)),
        shape=shape_of(workflow),
        settings=masker.value(dict(run.settings)),
        unconfirmed=row.unconfirmed,
    )
    return _report("Replay", command, (table,))


def _report(title: str, command: str, tables: tuple[ReportTable, ...]) -> Report:
    tone = worst([t.tone for t in tables])
    if title == "Scenarios":
        rows = [r for t in tables for r in t.rows]
        verdict = _scenario_verdict(rows)
    else:
        counts = {
            kind: sum(1 for t in tables if t.tone == kind) for kind in ("bad", "broken", "error", "good")
        }
        words = {
            "bad": "fail open",
            "broken": "block a good allow",
            "error": "could not be run in full",
            "good": "fail closed",
        }
        gates = len(tables)
        parts = [f"{n} {words[k]}" for k, n in counts.items() if n]
        verdict = f"{gates} gate{'s' if gates != 1 else ''}: " + ", ".join(parts)
    return Report(
        title=title,
        command=command,
        verdict=verdict,
        tone=tone,
        tables=tables,
        generated=_now(),
        version=_version(),
        lines=tuple(t.verdict for t in tables),
    )


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
