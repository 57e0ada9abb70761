"""The fail-closed rule (issue 6): the protected action may run only after a well-formed allow.

Judged per execution of the protected action: each time it ran, the Hall answer the gate had received most
recently must be a well-formed allow (`journal.is_well_formed_allow`, read from the emulator's journal). "Some
call in the run was allowed" is not enough: a Make run of two bundles where the first is denied and the second
allowed, or a workflow that calls the Hall only after the protected step, must still read as fail-open.

The order of Hall calls and protected executions comes from the run's own record: Pipedream steps run one
after the other, each with the HTTP calls it made (a protected step's own Hall calls count as made before it
acts); a Make replay's trace lists every module execution, HTTP requests included, in the order it happened.
The k-th Hall call in that order is the k-th `POST /api/route` in the journal. An answer the emulator sent
counts only if the client's record shows it received an answer: an allow sent just as the client gave up (a
`slow` answer at the client's timeout) is in the journal but never reached the gate. When the two do not line
up (a call that never reached the emulator: refused, another host), the run is vouched for only when every
answer the journal holds is a well-formed allow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from hallsim.harness import journal


@dataclass(frozen=True)
class _HallCall:
    """A Hall call in a run's timeline (a string there names an execution of the protected action)."""

    #: the client's record shows an HTTP answer (Pipedream: a status; Make: a response)
    received: bool
    #: its journal entry, once paired
    entry: Mapping[str, Any] | None = None

    @property
    def allowed(self) -> bool:
        return self.received and self.entry is not None and journal.is_well_formed_allow(self.entry)


def unallowed_runs(
    run: Mapping[str, Any],
    hall_requests: Sequence[Mapping[str, Any]],
    protected: Sequence[str] | None = None,
) -> list[str]:
    """One line per execution of the protected action that did not follow a well-formed allow; empty when the
    run keeps the rule. `run` is the run's `to_json()`; `protected` names the steps or module ids (default:
    the ones the run marks)."""
    timeline, paired = _paired(run, hall_requests, protected)
    if not paired:
        calls = journal.route_requests(hall_requests)
        if calls and all(journal.is_well_formed_allow(c) for c in calls):
            return []
        described = journal.describe(hall_requests)
        return [f"{item} ran, and the Hall {described}" for item in timeline if isinstance(item, str)]
    found: list[str] = []
    last: _HallCall | None = None
    for item in timeline:
        if isinstance(item, _HallCall):
            last = item
        elif last is None:
            found.append(f"{item} ran before any Hall call")
        elif not last.received:
            found.append(f"{item} ran after a Hall call whose answer never reached the client")
        elif not last.allowed:
            found.append(f"{item} ran after the Hall {journal.describe_entry(last.entry or {})}")
    return found


def allow_received(
    run: Mapping[str, Any],
    hall_requests: Sequence[Mapping[str, Any]],
    protected: Sequence[str] | None = None,
) -> bool:
    """Whether the gate received a well-formed allow at least once in this run (the journal alone when the
    run's calls cannot be paired with it)."""
    timeline, paired = _paired(run, hall_requests, protected)
    if not paired:
        return journal.well_formed_allow(hall_requests)
    return any(isinstance(item, _HallCall) and item.allowed for item in timeline)


def _paired(
    run: Mapping[str, Any], hall_requests: Sequence[Mapping[str, Any]], protected: Sequence[str] | None
) -> tuple[list[str | _HallCall], bool]:
    """The run's timeline with each Hall call given its journal entry, and whether they could be paired."""
    timeline = _timeline(run, protected)
    calls = journal.route_requests(hall_requests)
    if sum(1 for item in timeline if isinstance(item, _HallCall)) != len(calls):
        return timeline, False
    entries = iter(calls)
    return [replace(i, entry=next(entries)) if isinstance(i, _HallCall) else i for i in timeline], True


def _timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | _HallCall]:
    if run.get("platform") == "make":
        return _make_timeline(run, protected)
    return _pipedream_timeline(run, protected)


def _pipedream_timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | _HallCall]:
    names = set(protected) if protected else {str(p) for p in run.get("protected") or ()}
    timeline: list[str | _HallCall] = []
    for step in run.get("steps") or ():
        calls = sorted(
            (c for c in step.get("http") or () if _is_route(c.get("url"))), key=lambda c: c.get("n") or 0
        )
        timeline.extend(_HallCall(received=c.get("status") is not None) for c in calls)
        if step.get("name") in names and step.get("status") not in (None, "not_run"):
            timeline.append(f"step {step['name']}")
    return timeline


def _make_timeline(run: Mapping[str, Any], protected: Sequence[str] | None) -> list[str | _HallCall]:
    ids = {str(p) for p in (protected or run.get("protected") or ())}
    timeline: list[str | _HallCall] = []
    for event in run.get("trace") or ():
        if "operations" not in event:  # not a module execution (a filter, a route, a directive, ...)
            continue
        request = event.get("request")
        if isinstance(request, Mapping) and _is_route(request.get("url")):
            response = event.get("response")
            timeline.append(_HallCall(received=isinstance(response, Mapping) and "status" in response))
        if str(event.get("module")) in ids:
            phase = event.get("phase")
            where = f"bundle {event.get('bundle')}" + (f", {phase}" if phase not in (None, "run") else "")
            timeline.append(f"module {event['module']} ({where})")
    return timeline


def _is_route(url: Any) -> bool:
    return isinstance(url, str) and urlsplit(url).path.rstrip("/") == journal.ROUTE_PATH
