"""The fail-closed rule: the protected action may run only after a well-formed allow.

Judged per execution of the protected action: each time it ran, the Hall answer the gate had received most
recently must be a well-formed allow (`journal.is_well_formed_allow`, read from the emulator's journal). "Some
call in the run was allowed" is not enough: a Make run of two bundles where the first is denied and the second
allowed, or a workflow that calls the Hall only after the protected step, must still read as fail-open.

The order of Hall calls and protected executions comes from the run's typed record (`record.RunRecord`:
Pipedream steps one after the other, each with the HTTP calls it made; a Make replay's module executions, HTTP
requests included, in the order they happened), where each Hall call is paired with its journal entry. An
answer the emulator sent counts only if the client's record shows it received an answer: an allow sent just as
the client gave up (a `slow` answer at the client's timeout) is in the journal but never reached the gate.
When the two do not line up (a call that never reached the emulator: refused, another host), the run is
vouched for only when every answer the journal holds is a well-formed allow."""

from __future__ import annotations

from collections.abc import Sequence

from hallsim.harness import journal
from hallsim.harness.record import Execution, HallCall, RunRecord


def _allowed(call: HallCall) -> bool:
    return call.received and call.entry is not None and journal.is_well_formed_allow(call.entry)


def _is_protected(item: Execution, protected: Sequence[str] | None) -> bool:
    return item.unit in {str(p) for p in protected} if protected else item.protected


def unallowed_runs(record: RunRecord, protected: Sequence[str] | None = None) -> list[str]:
    """One line per execution of the protected action that did not follow a well-formed allow; empty when the
    run keeps the rule. `protected` names the steps or module ids (default: the ones the run marks)."""
    runs = [e for e in record.timeline if isinstance(e, Execution) and _is_protected(e, protected)]
    if not record.paired:
        calls = journal.route_requests(record.hall_requests)
        if calls and all(journal.is_well_formed_allow(c) for c in calls):
            return []
        described = journal.describe(record.hall_requests)
        return [f"{item.describe()} ran, and the Hall {described}" for item in runs]
    found: list[str] = []
    last: HallCall | None = None
    for item in record.timeline:
        if isinstance(item, HallCall):
            last = item
        elif not isinstance(item, Execution) or not _is_protected(item, protected):
            continue
        elif last is None:
            found.append(f"{item.describe()} ran before any Hall call")
        elif not last.received:
            found.append(f"{item.describe()} ran after a Hall call whose answer never reached the client")
        elif not _allowed(last):
            entry = last.entry
            assert entry is not None  # paired
            found.append(f"{item.describe()} ran after the Hall {journal.describe_entry(entry)}")
    return found


def allow_received(record: RunRecord) -> bool:
    """Whether the gate received a well-formed allow at least once in this run (the journal alone when the
    run's calls cannot be paired with it)."""
    if not record.paired:
        return journal.well_formed_allow(record.hall_requests)
    return any(_allowed(call) for call in record.hall_calls)


def protected_ran(record: RunRecord, protected: Sequence[str] | None = None) -> bool:
    """Whether a protected step or module ran (those named, or else the ones the run marks)."""
    if not protected:
        return record.protected_ran
    names = {str(p) for p in protected}
    return any(u.ran for u in record.units if u.name in names)
