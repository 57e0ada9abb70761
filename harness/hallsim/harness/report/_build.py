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
    from hallsim.emulator.journal import JournalEntry
    from hallsim.harness.matrix import MatrixReport, MatrixResult, MatrixRow
    from hallsim.harness.record import RunRecord
    from hallsim.harness.runner import EventRun, ScenarioResult
    from hallsim.harness.stubs import StubCall
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

#: gate verdict (verdict.GateVerdict) -> colour
_GATE_TONES: dict[str, Tone] = {
    "fail-open": "bad",
    "broken": "broken",
    "error": "error",
    "fail-closed": "good",
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
    result: MatrixResult | Sequence[MatrixReport],
    *,
    command: str = "hallsim matrix",
    secrets: Iterable[str | None] = (),
) -> Report:
    """A report of one or more matrices: the answer for all gates, then one table per workflow, one row per
    Hall behaviour."""
    from hallsim.harness.verdict import overall_line

    reports = tuple(result) if isinstance(result, Sequence) else result.reports
    masker = Masker(secrets)
    tables = tuple(_matrix_table(report, masker) for report in reports)
    return _report("Fail-closed matrix", command, tables, overall_line([r.verdict for r in reports]))


def _matrix_table(report: MatrixReport, masker: Masker) -> ReportTable:
    rows = tuple(_matrix_row(row, masker, report.unconfirmed) for row in report.rows)
    groups = [
        CauseGroup(
            # a cause on a row that kept the rule is why the gate is broken (it never reached the Hall)
            "broken" if _MATRIX_TONES.get(group.verdict) == "good" else group.verdict,
            "broken"
            if _MATRIX_TONES.get(group.verdict) == "good"
            else _MATRIX_TONES.get(group.verdict, "broken"),
            masker.text(f"{group.cause.unit}: {group.cause.what}"),
            masker.text(group.cause.change),
            group.behaviours,
        )
        for group in report.cause_groups()
    ]
    # failing rows the run gave no cause for (errors among them) still get a group, by their verdict
    explained = {name for group in groups for name in group.rows}
    groups += _groups([r for r in rows if r.name not in explained and r.cause is None])
    broken = report.broken
    if report.verdict == "broken" and broken is not None and not groups:
        groups.append(CauseGroup("broken", "broken", masker.text(broken), None, ()))
    return ReportTable(
        title=str(report.workflow),
        platform=report.platform,
        verdict=masker.text(report.summary()),
        tone=_GATE_TONES[report.verdict],
        rows=rows,
        protected=tuple(report.protected),
        groups=tuple(sorted(groups, key=lambda g: ("bad", "broken", "error", "good").index(g.tone))),
        shape=_shape(report.workflow),
        chosen=masker.value(dict(report.chosen)),
        settings=masker.value(dict(report.settings)),
        unconfirmed={name: report.settings.get(name) for name in report.unconfirmed},
    )


def _matrix_row(row: MatrixRow, masker: Masker, unconfirmed: Sequence[str]) -> ReportRow:
    from hallsim.harness.matrix_report import behaviour_label

    why = list(row.unallowed) if row.verdict == "FAIL-OPEN" or row.expected_protected else []
    if row.error:
        why.append(row.error)
    tone = _MATRIX_TONES.get(row.verdict, "error")
    if tone == "good" and row.cause is not None:
        tone = "broken"  # kept the rule, but for a reason that breaks the gate (it never reached the Hall)
    return ReportRow(
        name=behaviour_label(row.behaviour),
        spec=masker.text(row.behaviour),
        verdict=row.verdict,
        tone=tone,
        outcome=row.outcome,
        hall_did=masker.text(row.hall_did),
        why=tuple(masker.text(w) for w in why),
        cause=masker.text(f"{row.cause.unit}: {row.cause.what}") if row.cause else None,
        fix=masker.text(row.cause.change) if row.cause else None,
        protected_ran=row.protected_ran,
        allowed=row.expected_protected,
        wall_ms=row.wall_ms,
        **_run_parts(row.run, masker, unconfirmed),
    )


def _run_parts(run: WorkflowRun | None, masker: Masker, unconfirmed: Sequence[str] = ()) -> dict[str, Any]:
    """The trace of one run, as the report's row shows it when expanded."""
    if run is None:
        return {}
    record = run.record
    # display only, never judged: Make's mapping warnings and the timing are in the run's JSON output alone
    shown = run.to_json()
    names = tuple(unconfirmed) or tuple(run.unconfirmed_settings)
    return {
        "hall": tuple(_exchange(entry, masker) for entry in run.hall_requests),
        "routes": tuple(masker.text(line) for line in (*_routes(record), *_warnings(shown))),
        "stubbed": tuple(
            masker.text(line)
            for line in (*_stub_calls(getattr(run, "stub_calls", ())), *_stubbed(record, shown))
        ),
        "timing": _timing(shown),
        "trace": masker.text(run.render()),
        "path": path_of(record),
        "unconfirmed": {name: masker.value(run.settings.get(name)) for name in names},
    }


def _exchange(entry: JournalEntry, masker: Masker) -> HallExchange:
    response = entry.response
    stamp = datetime.fromtimestamp(entry.time, tz=timezone.utc).isoformat(timespec="milliseconds")
    return HallExchange(
        seq=entry.seq,
        time=stamp.replace("+00:00", "Z"),
        method=entry.method,
        path=entry.path,
        headers=masker.json(entry.headers),
        body=masker.json(entry.body),
        behaviour=entry.behaviour or "",
        rule="" if entry.rule is None else str(entry.rule),
        answer=masker.text(journal.describe_entry(entry)),
        answer_body=masker.json(response.get("body")) if response else "",
    )


def _routes(record: RunRecord) -> list[str]:
    """The routers' decisions (Make) or how each step ended the flow (Pipedream), one line each."""
    if record.platform == "make":
        return [
            f'bundle {d.bundle}: router [{d.router}] route {d.route} "{d.label}": '
            f"{'TAKEN' if d.taken else 'not taken'} — {d.why}"
            for d in record.route_decisions()
        ]
    lines = []
    for unit in record.units:
        if unit.status == "exited":
            lines.append(
                f"step {unit.name}: $.flow.exit({unit.exit_reason!r}) — the steps after it do not run"
            )
        elif not unit.ran:
            lines.append(f"step {unit.name}: not run")
        elif unit.status in ("error", "timeout"):
            lines.append(f"step {unit.name}: {unit.status}: {unit.error}")
    return lines


def _warnings(shown: Mapping[str, Any]) -> list[str]:
    return [
        f"module {w.get('module')} ({w.get('in')}): {w.get('message')}"
        for w in shown.get("warnings") or ()
        if isinstance(w, Mapping)
    ]


def _stubbed(record: RunRecord, shown: Mapping[str, Any] | None = None) -> list[str]:
    """Calls a stand-in answered: Make's recorded actions (never sent), the audit sink (Pipedream)."""
    lines = []
    for write in record.audit:
        body = json.dumps(write.body, ensure_ascii=False, default=str)
        if write.source == "sink":
            lines.append(f"audit sink (local stand-in for the downstream webhook) received: {body}")
        elif shown is None:
            lines.append(f"[{write.source}] recorded action, not sent: {body}")
    # display only: every recorded Make action with its mapped input, the protected write included (the
    # record's audit holds only the audit rows)
    for event in (shown or {}).get("trace") or ():
        if isinstance(event, Mapping) and event.get("kind") == "recorded":
            mapper = json.dumps(event.get("mapper"), ensure_ascii=False, default=str)
            lines.append(f"[{event.get('module')}] {event.get('label')}: recorded, not sent: {mapper}")
    return lines


def _stub_calls(calls: Iterable[StubCall]) -> list[str]:
    """Calls to anything but the Hall, answered (or refused) by the stub service instead of the real host."""
    lines = []
    for call in calls:
        answer = f"{call.status}" if call.status is not None else (call.fault or "no answer")
        rule = f" rule {call.rule}" if call.rule is not None else " (default answer)"
        unit = f"{call.unit}: " if call.unit else ""
        body = f" body {call.body}" if call.body else ""
        lines.append(f"{unit}{call.method} {call.url}{body} -> stub {call.behaviour}{rule}: {answer}")
    return lines


def _timing(shown: Mapping[str, Any]) -> str:
    time = shown.get("time")
    if isinstance(time, Mapping):
        return (
            f"{time.get('modelled_s')} s modelled, {time.get('wall_s')} s wall "
            f"(time scale {time.get('time_scale')})"
        )
    if "wall_ms" in shown:
        return (
            f"{shown.get('modelled_ms')} ms modelled, {shown.get('wall_ms')} ms wall "
            f"(time scale {shown.get('time_scale')})"
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
    return _report(
        "Scenarios", command, tuple(tables), _scenario_verdict([r for t in tables for r in t.rows])
    )


def _scenario_verdict(rows: Sequence[ReportRow]) -> str:
    passed = sum(1 for r in rows if r.tone == "good")
    return f"{passed} of {len(rows)} scenarios passed"


def _scenario_row(result: ScenarioResult, masker: Masker) -> ReportRow:
    status = result.status
    gate = result.gate
    tone: Tone = "good" if status == "passed" else "error" if status == "error" else "bad"
    if gate is not None and status != "passed":
        tone = _GATE_TONES[gate] if gate != "fail-closed" else "broken"
    why = [f"{m.where}: expected {m.expected}; actual {m.actual}" for m in result.problems]
    if result.error:
        why.append(result.error)
    for run in result.runs:
        why += [f"{run.label}: {m.where}: expected {m.expected}; actual {m.actual}" for m in run.mismatches]
        if run.error:
            why.append(f"{run.label}: {run.error}")
    first = next((r.record for r in result.runs if r.record is not None), None)
    label = status
    if result.passed and result.fail_open_runs:
        label += f" (pins {result.fail_open_runs} fail-open)"
    return ReportRow(
        name=f"{_relative(result.scenario.path)}  ({result.scenario.name})",
        verdict=label,
        tone=tone,
        outcome=first.outcome if first else "-",
        hall_did=masker.text(journal.describe(first.hall_requests)) if first else "-",
        why=tuple(masker.text(w) for w in why),
        protected_ran=first.protected_ran if first else None,
        wall_ms=round(result.duration_s * 1000, 1),
        **_event_parts(result.runs, result.scenario.platform, masker),
    )


def _event_parts(runs: Sequence[EventRun], platform: str, masker: Masker) -> dict[str, Any]:
    """Every event run's trace in one row (a scenario usually has one event)."""
    hall: list[HallExchange] = []
    routes: list[str] = []
    stubbed: list[str] = []
    traces: list[str] = []
    unconfirmed: dict[str, Any] = {}
    path = PathTaken()
    for run in runs:
        prefix = f"{run.label}: " if len(runs) > 1 else ""
        traces.append(
            (f"── {run.label}\n" if len(runs) > 1 else "") + masker.text(run.trace or run.error or "")
        )
        record = run.record
        if record is None:
            continue
        hall += [_exchange(e, masker) for e in record.hall_requests]
        routes += [prefix + masker.text(line) for line in _routes(record)]
        stubbed += [prefix + masker.text(line) for line in _stubbed(record)]
        unconfirmed.update({n: masker.value(run.settings.get(n)) for n in _unconfirmed_names(platform)})
        if path == PathTaken():
            path = path_of(record)
    return {
        "hall": tuple(hall),
        "routes": tuple(routes),
        "stubbed": tuple(stubbed),
        "trace": "\n\n".join(t for t in traces if t),
        "path": path,
        "unconfirmed": unconfirmed,
    }


def _unconfirmed_names(platform: str) -> tuple[str, ...]:
    if platform == "make":
        from hallsim.harness.make._settings import unconfirmed_names

        return unconfirmed_names()
    from hallsim.harness.pipedream._settings import UNCONFIRMED

    return tuple(sorted(UNCONFIRMED))


def replay_report(
    workflow: Workflow,
    run: WorkflowRun,
    *,
    hall: str,
    command: str = "hallsim replay",
    secrets: Iterable[str | None] = (),
) -> Report:
    """A report of one replay: one table with one row, its verdict by the fail-closed rule."""
    from hallsim.harness.verdict import judge_run, phrase

    masker = Masker(secrets)
    record = run.record
    judged = judge_run(record)
    row = ReportRow(
        name=hall,
        verdict=judged.verdict,
        tone=_GATE_TONES[judged.gate] if judged.gate != "fail-closed" else "good",
        outcome=str(run.outcome),
        hall_did=masker.text(journal.describe(record.hall_requests)),
        why=tuple(masker.text(u) for u in (*judged.unallowed, *judged.errors)),
        cause=masker.text(f"{judged.cause.unit}: {judged.cause.what}") if judged.cause else None,
        fix=masker.text(judged.cause.change) if judged.cause else None,
        protected_ran=judged.protected_ran,
        allowed=judged.allow_received,
        **_run_parts(run, masker),
    )
    table = ReportTable(
        title=_relative(workflow.path),
        platform=workflow.platform,
        verdict=f"{_relative(workflow.path)} under {hall}: {judged.verdict} (the gate {phrase(judged.gate)})",
        tone=row.tone,
        rows=(row,),
        protected=tuple(workflow.protected),
        groups=_groups((row,)),
        shape=shape_of(workflow),
        settings=masker.value(dict(run.settings)),
        unconfirmed=row.unconfirmed,
    )
    return _report("Replay", command, (table,), table.verdict)


def _report(title: str, command: str, tables: tuple[ReportTable, ...], verdict: str) -> Report:
    return Report(
        title=title,
        command=command,
        verdict=verdict,
        tone=worst([t.tone for t in tables]),
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
