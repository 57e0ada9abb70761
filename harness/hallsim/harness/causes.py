"""Why a row failed open or was blocked, and what to change in the gate: read from the run's record.

A cause names the step or module and the expression at fault, says what happened in this run and suggests
the change. It is derived from what the run recorded (the Hall's answer in the journal, the exports and
errors of the steps, the Make mappings that resolved to nothing, the router's filter conditions, the error
handlers' directives), never from the name of the behaviour the emulator was given. Recognised:

- Make: a mapping that resolves to nothing (the guide's `{{2.denied}}`; the HTTP module puts the answer's
  body under `data`), and a filter that passes on a value that is not the boolean false;
- a decision field that is missing or not a boolean, read by truthiness (Pipedream Option A's `if (denied)`,
  the registry Filter's "Evaluates to False");
- an answer whose status was never checked (`response.ok`);
- an error handler that lets the flow go on (Make: Resume, Ignore);
- a published Pipedream action that cannot see the environment variables it reads;
- a step that ended the run before the protected step, or ran before any Hall call."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hallsim.harness import journal
from hallsim.harness.record import (
    ABSENT,
    ErrorHandled,
    Execution,
    HallCall,
    MappingProblem,
    RouteDecision,
    RunRecord,
    UnitResult,
)


@dataclass(frozen=True)
class Cause:
    """Why one row went as it did: where, which expression, what happened, what to change."""

    #: "step branch_on_denied", "module 4 (filter `Allowed`)"
    unit: str
    #: the expression at fault: `{{2.denied}}`, `steps.pyhall_gate.denied`, `response.ok`
    expression: str
    what: str
    change: str

    def line(self) -> str:
        return f"{self.what}. Change: {self.change}"

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "expression": self.expression, "what": self.what, "change": self.change}


def row_cause(record: RunRecord, protected: Sequence[str] | None = None) -> Cause | None:
    """The cause of a row whose protected action ran without a well-formed allow, or did not run after one
    (or never reached the Hall); None when the run kept the rule and ran on its allow."""
    names = {str(p) for p in protected} if protected else set(record.protected)
    executions = [e for e in record.timeline if isinstance(e, Execution) and e.unit in names]
    if executions:
        return _ran_cause(record, executions[0])
    return _blocked_cause(record, names)


# --- the protected action ran: why did the gate let it? ----------------------------------------------------


def _ran_cause(record: RunRecord, execution: Execution) -> Cause | None:
    index = record.timeline.index(execution)
    before = record.timeline[:index]
    call = next((e for e in reversed(before) if isinstance(e, HallCall)), None)
    if call is None:
        return Cause(
            _unit(record, execution.unit),
            "the order of the steps" if record.platform == "pipedream" else "the order of the modules",
            f"{_unit(record, execution.unit)} ran before any Hall call",
            "call the Hall first, and run the protected action only after its well-formed allow",
        )
    entry = call.entry
    if entry is not None and call.received and journal.is_well_formed_allow(entry):
        return None
    handled = [e for e in before[before.index(call) :] if isinstance(e, ErrorHandled)]
    if handled:
        return _handler_cause(handled[-1], execution)
    if record.platform == "make":
        return _make_ran_cause(record, execution)
    return _pipedream_ran_cause(record, call, execution)


def _handler_cause(handled: ErrorHandled, execution: Execution) -> Cause:
    name = handled.directive.removeprefix("builtin:")
    return Cause(
        f"module {handled.handler} (error handler of module {handled.unit})",
        handled.directive,
        f"the Hall call (module {handled.unit}) failed and its error handler {name} let the flow go on to "
        f"module {execution.unit}",
        f"end the Hall call's error route with builtin:Rollback (stop the run) or builtin:Break (retry "
        f'later) instead of {name} (make.md "Error handlers")',
    )


def _make_ran_cause(record: RunRecord, execution: Execution) -> Cause | None:
    route = _route_to(record, execution.unit, taken=True, bundle=execution.bundle)
    if route is None:
        return None
    return _router_filter_cause(
        record,
        route,
        "passes",
        "passed on an answer that is not a well-formed allow",
        "compare the Hall's `denied` with the boolean false (Boolean operators: Equal to `false`) and send "
        "every other answer (missing, text, an HTTP error) to the Denied route",
    )


def _pipedream_ran_cause(record: RunRecord, call: HallCall, execution: Execution) -> Cause | None:
    gate = record.unit(call.unit)
    entry = call.entry
    if gate is None or entry is None:
        return None
    body = journal.response_json(entry)
    if entry.status is not None and entry.status != 200:
        return Cause(
            f"step {gate.name}",
            "response.ok",
            f"step {gate.name} read the decision from an HTTP error answer without checking its status, "
            f"and step {execution.unit} ran",
            "check `response.ok` (or `response.status === 200`) before reading the body, and treat every "
            "other answer as a denial (fail closed)",
        )
    denied = body.get("denied", ABSENT) if isinstance(body, Mapping) else ABSENT
    if denied is False:
        return None
    exported = _export(gate, "denied")
    reader = _reader(record, gate.name, execution.unit)
    where = f"steps.{gate.name}.denied"
    got = "no `denied` field" if denied is ABSENT else f"denied={json.dumps(denied)}"
    if not isinstance(body, Mapping):
        got = "a body that is not a JSON object"
    read_by = f"step {reader.name}" if reader is not None else f"step {execution.unit}"
    how = (
        'its registry Filter ("Evaluates to False")' if reader and reader.source == "filter" else "truthiness"
    )
    return Cause(
        read_by,
        where,
        f"the Hall answered 200 with {got}; step {gate.name} exported `denied` = {_show(exported)}, "
        f"and {read_by} read `{where}` by {how}, which lets anything but true through",
        f"let step {execution.unit} run only when `{where} === false` (a real boolean), and have step "
        f"{gate.name} treat a missing or non-boolean `denied` as a denial",
    )


# --- the protected action did not run: after a good allow, or because the gate never reached the Hall -------


def _blocked_cause(record: RunRecord, protected: set[str]) -> Cause | None:
    calls = record.hall_calls
    if not journal.route_requests(record.hall_requests):
        return _never_called_cause(record)
    if not any(c.received and c.entry is not None and journal.is_well_formed_allow(c.entry) for c in calls):
        return None  # no good allow: not running is right
    if record.platform == "make":
        for unit in sorted(protected):
            route = _route_to(record, unit, taken=False, bundle=None)
            if route is None:
                continue
            return _router_filter_cause(
                record,
                route,
                "does not pass",
                "did not pass on a well-formed allow",
                "compare the Hall's `denied` (under `data` in the HTTP module's output) with the boolean "
                "false",
            )
        return None
    stopped = next((u for u in record.units if u.ran and u.status in ("exited", "error", "timeout")), None)
    if stopped is None:
        return None
    return Cause(
        f"step {stopped.name}",
        f"step {stopped.name}",
        f"step {stopped.name} ended the run ({stopped.status}: {_reason(stopped)}) after a well-formed allow",
        f"let step {stopped.name} end the run only on a denial or an error answer",
    )


def _never_called_cause(record: RunRecord) -> Cause | None:
    failed = next((u for u in record.units if u.ran and u.status in ("error", "timeout")), None)
    if record.platform == "pipedream" and failed is not None:
        elsewhere = next((c.url for c in record.hall_calls if c.unit == failed.name), None)
        called = f" (it called {elsewhere} instead)" if elsewhere else ""
        if failed.source == "action" and record.settings.get("action_env") == "none":
            return Cause(
                f"step {failed.name}",
                "process.env",
                f"step {failed.name} is a published action, which sees no environment variables on Pipedream "
                f"(action_env=none), and failed before reaching the Hall{called}: {_reason(failed)}",
                "give the action the Hall URL and token as props (a secret prop for the token) instead of "
                "process.env; check it as a workflow step with --set action_env=workflow",
            )
        return Cause(
            f"step {failed.name}",
            f"step {failed.name}",
            f"step {failed.name} failed before reaching the Hall{called}: {_reason(failed)}",
            "make the gate reach the Hall (POST /api/route) on every run",
        )
    failed_module = next((u for u in record.units if u.error is not ABSENT), None)
    where = f"module {failed_module.name}" if failed_module is not None else "the gate"
    why = f" ({where} failed: {_reason(failed_module)})" if failed_module is not None else ""
    return Cause(
        where,
        "POST /api/route",
        f"the gate never called the Hall{why}",
        "make the gate reach the Hall (POST /api/route) on every run",
    )


# --- helpers -----------------------------------------------------------------------------------------------


_REFERENCE = re.compile(r"\{\{\s*(\d+)\.([^{}]+?)\s*\}\}")


def _router_filter_cause(
    record: RunRecord, route: RouteDecision, passes: str, what_it_did: str, change: str
) -> Cause:
    """Why a Router filter let the flow through (or held it back): a mapping that resolves to nothing when
    the run recorded one, else the filter's own conditions."""
    problem = _filter_problem(record, route)
    if problem is not None:
        return _mapping_cause(route, problem, passes)
    return Cause(
        f"module {route.first_module} (filter `{route.label}`)",
        _first_operand(route) or f"filter `{route.label}`",
        f"the Router filter `{route.label}` {what_it_did}: " + "; ".join(route.conditions),
        change,
    )


def _mapping_cause(route: RouteDecision, problem: MappingProblem, passes: str) -> Cause:
    outputs = ", ".join(problem.outputs) or "nothing"
    change = "map a value the module does output"
    reference = _REFERENCE.fullmatch(problem.expression)
    if reference is not None and "data" in problem.outputs:
        module, path = reference.groups()
        change = (
            f"map `{{{{{module}.data.{path}}}}}` (the HTTP module puts the parsed answer under `data`) and "
            "compare it with the boolean false"
        )
    return Cause(
        f"module {problem.unit} ({problem.context})",
        problem.expression,
        f"the Router filter `{route.label}` reads `{problem.expression}`, which resolves to nothing "
        f"(module {problem.referenced} outputs {outputs}), and an empty value {passes} it",
        change,
    )


def _route_to(record: RunRecord, unit: str, *, taken: bool, bundle: int | None) -> RouteDecision | None:
    """The route decision (taken or not) whose route starts at `unit`, for `bundle` when given."""
    for decision in record.route_decisions():
        same_bundle = bundle is None or decision.bundle == bundle
        if decision.first_module == unit and decision.taken is taken and same_bundle:
            return decision
    return None


def _filter_problem(record: RunRecord, route: RouteDecision) -> MappingProblem | None:
    return next(
        (
            p
            for p in record.mapping_problems
            if p.unit == route.first_module and p.context.startswith("filter")
        ),
        None,
    )


def _first_operand(route: RouteDecision) -> str | None:
    if not route.conditions:
        return None
    text = route.conditions[0]
    return text[1 : text.index("`", 1)] if text.startswith("`") and "`" in text[1:] else None


def _reader(record: RunRecord, gate: str, protected: str) -> UnitResult | None:
    """The first step that ran between the gate and the protected step (it decided to go on)."""
    names = record.unit_names()
    if gate not in names or protected not in names:
        return None
    between = names[names.index(gate) + 1 : names.index(protected)]
    return next((u for u in record.units if u.name in between and u.ran), None)


def _unit(record: RunRecord, name: str) -> str:
    return f"step {name}" if record.platform == "pipedream" else f"module {name}"


def _export(step: UnitResult, name: str) -> Any:
    return step.exports.get(name, ABSENT) if isinstance(step.exports, Mapping) else ABSENT


def _show(value: Any) -> str:
    return "(absent, i.e. undefined)" if value is ABSENT else json.dumps(value)


def _reason(unit: UnitResult | None) -> str:
    if unit is None:
        return ""
    error = unit.error
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("name") or error)
    if unit.exit_reason not in (ABSENT, None):
        return str(unit.exit_reason)
    return str(unit.status)
