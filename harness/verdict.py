"""The fail-closed rule (issue 6): the protected action may run only after a well-formed allow.

Judged per execution of the protected action: each time it ran, the Hall answer the gate had received most
recently must be a well-formed allow (`journal.is_well_formed_allow`, read from the emulator's journal). "Some
call in the run was allowed" is not enough: a Make run of two bundles where the first is denied and the second
allowed, or a workflow that calls the Hall only after the protected step, must still read as fail-open.

The order of Hall calls and protected executions comes from the run's own record: Pipedream steps run one
after the other, each with the HTTP calls it made (a protected step's own Hall calls count as made before it
acts); a Make replay's trace lists every module execution, HTTP requests included, in the order it happened.
The k-th Hall call in that order is the k-th `POST /api/route` in the journal. When the two do not line up (a
call that never reached the emulator: refused, another host), the run is vouched for only when every answer
the journal holds is a well-formed allow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from hallsim.harness import journal

#: a Hall call in a run's timeline (anything else in it names a protected execution)
_HALL = None


def unallowed_runs(
    run: Mapping[str, Any],
    hall_requests: Sequence[Mapping[str, Any]],
    protected: Sequence[str] | None = None,
) -> list[str]:
    """One line per execution of the protected action that did not follow a well-formed allow; empty when the
    run keeps the rule. `run` is the run's `to_json()`; `protected` names the steps or module ids (default:
    the ones the run marks)."""
    timeline = _timeline(run, protected)
    calls = journal.route_requests(hall_requests)
    aligned = sum(1 for item in timeline if item is _HALL) == len(calls)
    found: list[str] = []
    seen = 0
    for item in timeline:
        if item is _HALL:
            seen += 1
            continue
        if aligned:
            if seen == 0:
                found.append(f"{item} ran before any Hall call")
            elif not journal.is_well_formed_allow(calls[seen - 1]):
                found.append(f"{item} ran after the Hall {journal.describe_entry(calls[seen - 1])}")
        elif not calls or not all(journal.is_well_formed_allow(c) for c in calls):
            found.append(f"{item} ran, and the Hall {journal.describe(hall_requests)}")
    return found


def _timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | None]:
    if run.get("platform") == "make":
        return _make_timeline(run, protected)
    return _pipedream_timeline(run, protected)


def _pipedream_timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | None]:
    names = set(protected) if protected else {str(p) for p in run.get("protected") or ()}
    timeline: list[str | None] = []
    for step in run.get("steps") or ():
        calls = [c for c in step.get("http") or () if _is_route(c.get("url"))]
        timeline.extend(_HALL for _ in calls)
        if step.get("name") in names and step.get("status") not in (None, "not_run"):
            timeline.append(f"step {step['name']}")
    return timeline


def _make_timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | None]:
    ids = {str(p) for p in (protected or run.get("protected") or ())}
    timeline: list[str | None] = []
    for event in run.get("trace") or ():
        if "operations" not in event:  # not a module execution (a filter, a route, a directive, ...)
            continue
        request = event.get("request")
        if isinstance(request, Mapping) and _is_route(request.get("url")):
            timeline.append(_HALL)
        if str(event.get("module")) in ids:
            phase = event.get("phase")
            where = f"bundle {event.get('bundle')}" + (f", {phase}" if phase not in (None, "run") else "")
            timeline.append(f"module {event['module']} ({where})")
    return timeline


def _is_route(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).path.rstrip("/") == journal.ROUTE_PATH
