"""A Pipedream run as a readable trace: what the Hall did, what each step exported, where it ended."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallsim.harness.journal import describe_entry
from hallsim.harness.pipedream._settings import UNCONFIRMED
from hallsim.harness.verdict import unallowed_runs

if TYPE_CHECKING:
    from hallsim.harness.pipedream._run import PipedreamRun, StepResult

_OUTCOME = {
    "completed": "COMPLETED (every step ran)",
    "exited": "EXITED ($.flow.exit ended the workflow)",
    "errored": "ERRORED (a step threw)",
    "timed_out": "TIMED OUT (the execution timeout ended it)",
}
_STATUS = {"success": "ok", "exited": "EXITED", "error": "ERROR", "timeout": "TIMEOUT", "not_run": "not run"}
_FILE_URL = re.compile(r"file://(/[^\s:)]+)")
#: hallsim's own runtime (the .mjs files next to this module): its frames are hidden unless asked for
_RUNTIME_DIR = str(Path(__file__).resolve().parent)


def _value(value: Any, limit: int = 100) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _own_frame(line: str) -> bool:
    return _RUNTIME_DIR in line.replace("file://", "") or "(node:" in line or line.startswith("at node:")


def _stack(error: dict[str, Any], limit: int = 4, internal: bool = False) -> list[str]:
    from hallsim.harness.pipedream._run import short_path

    stack = error.get("stack") or ""
    lines = [ln.strip() for ln in stack.splitlines()[1:] if ln.strip().startswith("at ")]
    if not internal:  # the user's frames only; show_internal_frames=true shows hallsim's and Node's too
        lines = [ln for ln in lines if not _own_frame(ln)]
    shown = [_FILE_URL.sub(lambda m: short_path(m[1]), ln) for ln in lines]
    return shown[:limit] if not internal else shown


def _location_lines(location: dict[str, Any]) -> list[str]:
    """file:line:column, the offending line and a caret under the column, as `node --check` shows them."""
    from hallsim.harness.pipedream._run import short_path

    lines = [f"  at {short_path(str(location.get('file')))}:{location.get('line')}:{location.get('column')}"]
    code = location.get("code")
    if isinstance(code, str):
        lines.append(f"  | {code}")
        column = int(location.get("column") or 1)
        lines.append("  | " + " " * max(column - 1, 0) + "^")
    return lines


def _error_lines(error: dict[str, Any], internal: bool = False) -> list[str]:
    lines = [f"{error.get('name')}: {error.get('message')}"]
    location = error.get("location")
    if isinstance(location, dict):
        lines.extend(_location_lines(location))
    lines.extend(f"  {ln}" for ln in _stack(error, internal=internal))
    cause = error.get("cause")
    while isinstance(cause, dict):
        lines.append(f"  cause: {cause.get('name')}: {cause.get('message')}")
        cause = cause.get("cause")
    return lines


def _http_line(entry: dict[str, Any]) -> str:
    if entry.get("via") in ("connect", "udp", "binding"):
        where = entry.get("path") or f"{entry.get('host')}:{entry.get('port')}"
        if entry.get("stubbed"):
            return f"connection to {where} -> the stub service"
        return f"{'UDP' if entry['via'] == 'udp' else 'connection'} to {where} REFUSED"
    result = entry.get("error") or (f"-> {entry['status']}" if "status" in entry else "(no answer)")
    timing = f" ({_ms(entry['ms'])})" if entry.get("ms") is not None else ""
    return f"{entry.get('method')} {entry.get('url')} {result}{timing}"


def _step_block(index: int, step: StepResult, internal: bool = False) -> list[str]:
    tags = step.kind + (", protected" if step.protected else "")
    head = f"  {index}. {step.name} ({tags})  {_STATUS[step.status]}"
    if step.ran:
        head += f"  [{_ms(step.wall_ms)} wall, {_ms(step.modelled_ms)} modelled]"
        if step.attempts > 1:
            head += f"  attempts: {step.attempts}"
    lines = [head]
    pad = "       "

    def section(label: str, rows: list[str]) -> None:
        for i, row in enumerate(rows):
            lines.append(f"{pad}{label if i == 0 else '':<9} {row}")

    section("exports", [f"{k} = {_value(v)}" for k, v in step.exports.items() if k != "$summary"])
    if "$summary" in step.exports:  # pipedream.md "The $ object": a display key
        section("summary", [str(step.exports["$summary"])])
    if step.has_return_value:
        section("returns", [_value(step.return_value)])
    if step.status == "exited" or step.exit_reason is not None:
        section("exit", [_value(step.exit_reason)])
    if step.error:
        section("error", _error_lines(step.error, internal))
    section("http", [_http_line(e) for e in step.http])
    flows = [f for f in step.flow if f.get("action") != "exit"]
    section("flow", [f"{f['action']} {_value({k: v for k, v in f.items() if k != 'action'})}" for f in flows])
    section(
        "log",
        [
            f"{log['text']}" if log["level"] == "log" else f"[{log['level']}] {log['text']}"
            for log in step.logs
        ],
    )
    section("warning", list(step.warnings))
    return lines


def render_run(run: PipedreamRun) -> str:
    from hallsim.harness.pipedream._run import short_path

    protected = run.protected
    if protected:
        verdict = f"protected step {', '.join(protected)} {'RAN' if run.protected_ran else 'did NOT run'}"
        # the fail-closed rule (verdict.py): the protected action may run only after a well-formed allow
        unallowed = unallowed_runs(run.record) if run.protected_ran and run.journaled else []
        if unallowed:
            verdict += f" without a well-formed allow from the Hall: FAIL-OPEN ({'; '.join(unallowed)})"
    else:
        verdict = "no step is marked protected"
    settings = run.settings
    lines = [
        f"Pipedream workflow {short_path(run.workflow)}: {_OUTCOME.get(run.outcome, run.outcome)}; {verdict}",
        f"  node {run.node.get('version')} ({run.node.get('path')}, from {run.node.get('source')}"
        + (f"; {run.node['note']}" if run.node.get("note") else "")
        + ")"
        f" · {_ms(run.wall_ms)} wall, {_ms(run.modelled_ms)} modelled"
        f" at time_scale {settings.get('time_scale')}"
        f" · timeout {settings.get('timeout_s')} s",
        *([f"  @pipedream/platform: {run.node['platform']}"] if run.node.get("platform") else []),
        *(f"  {line}" for line in (run.node.get("actions") or "").splitlines()),
        "",
        f"Hall requests ({len(run.hall_requests)}) at {run.hall_url}",
    ]
    for entry in run.hall_requests:
        lines.append(f"  #{entry.seq} {entry.method} {entry.path} {_value(entry.body, 160)}")
        behaviour = f"behaviour {entry.behaviour}: " if entry.behaviour else ""
        lines.append(f"     {behaviour}{describe_entry(entry)}")
        decision = entry.decision
        if isinstance(decision, dict):
            lines.append(
                f"     decision_id {decision.get('decision_id')}"
                f"  artifact_hash {decision.get('artifact_hash')}"
            )
    if not run.hall_requests:
        lines.append("  (none)" if run.journaled else "  (not an emulator: hallsim cannot see its requests)")
    lines += ["", "Steps"]
    for index, step in enumerate(run.steps, 1):
        lines.extend(_step_block(index, step, bool(settings.get("show_internal_frames"))))
    lines.append("")
    if run.sink_url is None:
        lines.append("Sink: not used by this workflow")
    else:
        lines.append(f"Sink requests ({len(run.sink_requests)}) at {run.sink_url}")
        for request in run.sink_requests:
            lines.append(
                f"  {request.get('method')} {request.get('path')} "
                + _value(request.get("json") or request.get("body"), 200)
            )
    lines.append(f"Stubbed calls ({len(run.stub_calls)}), unmatched: {run.stubs.default_spec}")
    for call in run.stub_calls:
        lines.append(f"  {call.describe()}")
    lines.append(f"Egress: the Hall and sink only; walls: {run.walls.describe()}")
    response = run.http_response
    if response is not None:
        lines.append(f"HTTP trigger response: {_value(response, 200)}")
    marked = [
        f"{k}={_value(v, 60)}{'*' if k in UNCONFIRMED else ''}"
        for k, v in settings.items()
        if v not in (None, [])
    ]
    lines += [
        "",
        "Settings: " + " ".join(marked),
        "  (* UNCONFIRMED platform behaviour: the harness's choice; change with --set)",
    ]
    if run.http:
        lines.append("Other HTTP: " + "; ".join(_http_line(e) for e in run.http))
    for warning in run.warnings:
        lines.append(f"Warning: {warning}")
    if run.output.strip():
        lines.append("Process output: " + run.output.strip()[:500])
    return "\n".join(lines)
