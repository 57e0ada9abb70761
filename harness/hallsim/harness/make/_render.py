"""The trace a Make user recognises: bundle by bundle, module by module (with the editor's names and ids),
which route took the bundle and why -- every filter operand shown as what it resolved to -- and the run's
status."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal
from hallsim.harness.make._trace import Event, jsonable
from hallsim.harness.make._values import describe
from hallsim.harness.verdict import unallowed_runs

if TYPE_CHECKING:
    from hallsim.harness.make._run import MakeRun

_INDENT = "  "


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _conditions(result: dict[str, Any], pad: str) -> list[str]:
    lines = []
    groups = result.get("conditions") or []
    for g, group in enumerate(groups):
        if g:
            lines.append(f"{pad}OR")
        for c, cond in enumerate(group):
            joiner = "AND " if c else ""
            b = "" if cond["o"] in ("exist", "notexist") else f" {json.dumps(cond['b'])}"
            mark = "✓" if cond["passed"] else "✗"
            lines.append(
                f"{pad}{mark} {joiner}{cond['a']} → {describe(cond['a_resolved'])}   "
                f"{cond['o']}{b}:  {cond['why']}"
            )
    if not groups:
        lines.append(f"{pad}(no conditions)")
    return lines


def _redirects(request: dict[str, Any], settings: dict[str, Any]) -> str:
    if request.get("follow_redirects"):
        return "follows redirects"
    if request.get("follow_setting") and request.get("method") not in ("GET", "HEAD"):
        choice = settings["make.http.v3_redirect_methods"]
        return (
            f"Follow redirect is on, but a {request.get('method')} is redirected only with "
            f"Follow all redirects (make.http.v3_redirect_methods={choice})"
        )
    return "does not follow redirects"


def _http_output(output: Any) -> str:
    if not isinstance(output, dict):
        return _short(output)
    return f"statusCode={output.get('statusCode')} · data={_short(output.get('data'), 140)}"


def _module_lines(run: MakeRun, event: Event, pad: str, shown: set[int]) -> list[str]:
    data = event.data
    module = run.blueprint.modules.get(event.module) if event.module is not None else None
    version = f" v{module.version}" if module is not None and module.version else ""
    star = "★ " if data.get("protected") else ""
    kind = data.get("kind")
    tags = []
    if data.get("trigger"):
        tags.append("trigger")
    if data.get("protected"):
        tags.append("PROTECTED ACTION")
    if kind == "recorded":
        tags.append("recorded action")
    if data.get("operations"):
        tags.append(f"{data['operations']} op")
    head = f"{pad}[{event.module}] {star}{data.get('label')} ({data.get('name')}{version})"
    lines = [head + ("  " + " · ".join(tags) if tags else "")]
    inner = pad + _INDENT + _INDENT
    request = data.get("request")
    if request:
        lines.append(f"{inner}{request.get('method')} {request.get('url')}")
        if request.get("timeout_s") is not None:
            evaluate = (
                "4xx/5xx are errors" if request.get("evaluate_errors") else "4xx/5xx are ordinary outputs"
            )
            redirects = _redirects(request, run.settings)
            lines.append(f"{inner}  timeout {request['timeout_s']:g} s · {evaluate} · {redirects}")
        if event.module not in shown:  # headers and body once per module; retries repeat the same request
            shown.add(event.module or 0)
            keychain = request.get("keychain")
            if keychain:
                where = (
                    f"user {keychain.get('username')}"
                    if keychain["type"] == "basicAuth"
                    else f"{keychain.get('placement')} {keychain.get('name')}"
                )
                key_id = keychain["id"] or "(no id)"
                lines.append(
                    f"{inner}  keychain {key_id}: {keychain['type']}, {where} ({keychain['source']})"
                )
            for name, value in (request.get("headers") or {}).items():
                lines.append(f"{inner}  {name}: {value}")
            body = request.get("body")
            if isinstance(body, str) and "\n" in body and len(body) < 800:
                lines.append(f"{inner}  body:")
                lines.extend(f"{inner}    {text}" for text in body.splitlines())
            elif body is not None:
                lines.append(f"{inner}  body: {_short(body, 200)}")
        response = data.get("response")
        timing = f"{data.get('wall_ms', 0):g} ms wall = {data.get('modelled_s', 0):g} s modelled"
        if data.get("scripted_s"):
            timing += f", {data['scripted_s']:g} s of it scripted"
        if response:
            lines.append(f"{inner}← HTTP {response.get('status')} ({timing})")
        elif "error" in data:
            lines.append(f"{inner}← no HTTP answer ({timing})")
        if data.get("timing_note"):
            lines.append(f"{inner}  ({data['timing_note']})")
    elif data.get("mapper") not in (None, {}) and not data.get("trigger"):
        lines.append(f"{inner}mapper: {_short(data.get('mapper'))}")
    if "error" in data:
        error = data["error"]
        lines.append(f"{inner}✗ {error['type']}: {error['message']}")
    elif data.get("trigger"):
        lines.append(f"{inner}bundle: {_short(data.get('output'))}")
    elif kind == "http":
        lines.append(f"{inner}output: {_http_output(data.get('output'))}")
    else:
        lines.append(f"{inner}output: {_short(data.get('output'))}")
    return lines


def _event_lines(run: MakeRun, event: Event, shown: set[int]) -> list[str]:
    pad = _INDENT * (event.depth + (1 if event.phase != "run" else 0))
    data = event.data
    kind = event.kind
    if kind == "bundle-start":
        bundle = data.get("input")
        text = _short(bundle) if bundle is not None else "(no trigger: the flow runs once)"
        return ["", f"Bundle {event.bundle} of {data['of']}: {text}"]
    if kind == "module":
        return _module_lines(run, event, pad, shown)
    if kind == "filter":
        result = data["result"]
        verdict = "passed" if result["passed"] else "did not pass: the bundle stops here on this path"
        name = f"`{result['name']}`" if result.get("name") else ""
        return [
            f"{pad}filter {name} before [{event.module}] {data.get('label')}: {verdict}",
            *_conditions(result, pad + _INDENT),
        ]
    if kind == "router":
        return [
            f"{pad}[{event.module}] {data.get('label')} (builtin:BasicRouter): {data['routes']} routes, each "
            "passing route in order"
        ]
    if kind == "route":
        label = f' "{data["label"]}"' if data.get("label") else ""
        fallback = " (fallback)" if data.get("fallback") else ""
        verdict = "TAKEN" if data["taken"] else "not taken"
        lines = [f"{pad}route {data['route']}{label}{fallback}: {verdict} -- {data['why']}"]
        if data.get("filter"):
            lines.extend(_conditions(data["filter"], pad + _INDENT))
        return lines
    if kind == "no-route":
        return [f"{pad}→ {data['why']}"]
    if kind == "aggregator-empty":
        return [f"{pad}[{event.module}] {data.get('label')}: {data['why']}"]
    if kind == "feeder":
        return [f"{pad}bundle {data['item']} of {data['of']} from [{event.module}]"]
    if kind == "ifelse":
        chosen = data.get("chosen")
        return [f"{pad}[{event.module}] {data.get('label')}: branch {chosen if chosen else 'none'} taken"]
    if kind == "error-route":
        error = data["error"]
        return [
            f"{pad}error handler of [{event.module}] catches {error['type']}: runs "
            + ", ".join(f"[{h}]" for h in data["handlers"])
        ]
    if kind == "error":
        return [f"{pad}✗ not handled: {data['why']}"]
    if kind == "directive":
        directive = data.get("directive") or data.get("acts_as")
        return [f"{pad}[{event.module}] {directive}: {data['why']}"]
    if kind == "incomplete":
        return [f"{pad}→ {data['why']}"]
    if kind == "retry":
        return [
            "",
            f"{_INDENT}Incomplete execution {data['number']} (bundle {event.bundle}, module {event.module}): "
            f"retry {data['attempt']} at +{data['at_minutes']:g} min (virtual clock, no wall time)",
        ]
    if kind == "retry-end":
        result = data["result"]
        detail = f": {data['error']['type']}: {data['error']['message']}" if data.get("error") else ""
        return [f"{_INDENT * 2}→ retry {data['attempt']} {result}{detail}"]
    if kind == "stop":
        extra = ""
        if data.get("rolled_back"):
            extra += f"; transactional modules rolled back: {data['rolled_back']}"
        if data.get("committed"):
            extra += f"; transactional modules committed: {data['committed']}"
        if "auto_commit" in data:
            extra += f" (auto-commit {'on' if data['auto_commit'] else 'off'})"
        return ["", f"Run stopped ({data['status']}): {data['reason']}{extra}"]
    return [f"{pad}{kind}: {_short(data)}"]


def render_run(run: MakeRun) -> str:
    bp = run.blueprint
    lines = [f'Make replay: {bp.path}  "{bp.name}"', f"Hall: {run.hall.url}"]
    if run.variables:
        lines.append("Variables:")
        for name, info in run.variables.items():
            lines.append(f"{_INDENT}{name} = {info['value']}   ({info['source']})")
        lines.append(
            f"{_INDENT}note: the guide's {{{{variable.X}}}} form is UNCONFIRMED in Make "
            f"(make.variable_form={run.settings['make.variable_form']})"
        )
    protected = ", ".join(f"[{p}] {bp.modules[int(p)].label}" for p in run.protected) or "none marked"
    lines.append(f"Protected action: {protected}")
    shown: set[int] = set()
    for event in run.events:
        lines.extend(_event_lines(run, event, shown))
    if run.warnings:
        lines += ["", "Warnings:"]
        for warning in run.warnings:
            bundles = ", ".join(str(b) for b in warning["bundles"])
            where = f"module {warning['module']} ({warning['in']})"
            lines.append(f"{_INDENT}! {where}: {warning['message']} (bundle {bundles})")
    for note in run.engine.notes:
        lines.append(f"{_INDENT}note: {note}")
    lines += ["", "Routes taken:"]
    for entry in run.routes_taken():
        parts = []
        for t in entry["taken"]:
            label = f' "{t["label"]}"' if t["label"] else ""
            when = f" (in {t['phase']})" if t["phase"] != "run" else ""
            parts.append(f"router [{t['router']}] route {t['route']}{label}{when}")
        lines.append(f"{_INDENT}bundle {entry['bundle']}: {', '.join(parts) or 'none'}")
    lines += ["", run.coverage.line()]
    ran = "RAN" if run.protected_ran else "did not run"
    lines += [
        "",
        f"Status: {run.status}   ·   protected action {ran}   ·   {run.operations} operations",
    ]
    requests = journal.route_requests(run.hall_requests)
    # the fail-closed rule (harness/verdict.py): the protected action may run only after a well-formed allow
    if run.protected_ran and run.hall.emulator is not None:
        unallowed = unallowed_runs(run.record)
        if unallowed:
            lines.append("FAIL-OPEN: the protected action ran without a well-formed allow from the Hall")
            lines += [f"{_INDENT}{line}" for line in unallowed]
    if run.hall.emulator is not None:
        lines.append(f"Hall: {journal.describe(run.hall_requests)} ({len(requests)} call(s) to /api/route)")
    lines.append(f"Stubbed calls ({len(run.stub_calls)}), unmatched: {run.stubs.default_spec}")
    lines += [f"{_INDENT}{call.describe()}" for call in run.stub_calls]
    lines.append(f"Egress: the Hall only; walls: {run.walls.describe()}")
    unconfirmed = [f"{name}={value}" for name, value, flag in run.setting_lines() if flag]
    lines.append(
        f"Settings: time_scale={run.settings['time_scale']:g}, make.http.latency_grace_s="
        f"{run.settings['make.http.latency_grace_s']:g}; UNCONFIRMED parts of Make (change with --set):"
    )
    lines.extend(
        textwrap.wrap(", ".join(unconfirmed), 110, initial_indent=_INDENT, subsequent_indent=_INDENT)
    )
    time = run.to_time()
    later = ""
    if time["modelled_s"] != time["run_modelled_s"]:
        later = f", retries until +{time['modelled_s'] / 60:.1f} min (virtual clock)"
    lines.append(f"Time: {time['run_modelled_s']:g} s modelled for the run{later}; {time['wall_s']:g} s wall")
    return "\n".join(lines)
