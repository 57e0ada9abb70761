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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from hallsim.harness import journal
from hallsim.harness.causes import Cause, row_cause
from hallsim.harness.record import Execution, HallCall, RunRecord

#: a row's (one run's) verdict, worst first
FAIL_OPEN = "FAIL-OPEN"
BLOCKED_ON_ALLOW = "blocked on a good allow"
ERROR = "error"
FAIL_CLOSED = "fail-closed"
RAN_ON_ALLOW = "ran on allow"
ROW_VERDICTS = (FAIL_OPEN, BLOCKED_ON_ALLOW, ERROR, FAIL_CLOSED, RAN_ON_ALLOW)


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


# --- the verdict for a whole gate ---------------------------------------------------------------------------

#: what a gate (a workflow, judged over every row of the matrix or over one run) comes to, worst first:
#: fail-open: the protected action ran without a well-formed allow; error: hallsim could not run it (its own
#: failure, the emulator's exception, Node missing, a bad input): a verdict nobody may rely on; broken: the
#: protected action does not run after a good allow (or the gate never calls the Hall), so the gate would stop
#: production on its first run; fail-closed: none of these
GateVerdict = Literal["fail-open", "error", "broken", "fail-closed"]
GATE_VERDICTS: tuple[GateVerdict, ...] = ("fail-open", "error", "broken", "fail-closed")

#: the exit status of `hallsim matrix`, `hallsim run` and `hallsim replay --verdict` for each gate verdict;
#: with several gates, the worst one among those `--fail-on` names (default: all three) decides
EXIT_STATUS: dict[GateVerdict, int] = {"fail-closed": 0, "fail-open": 1, "error": 2, "broken": 3}
FAILING: tuple[GateVerdict, ...] = ("fail-open", "error", "broken")

#: how each verdict reads in a sentence, for one gate and for several
_PHRASES: dict[GateVerdict, tuple[str, str]] = {
    "fail-open": ("fails open", "fail open"),
    "error": ("could not run", "could not run"),
    "broken": ("is broken", "are broken"),
    "fail-closed": ("fails closed", "fail closed"),
}


def phrase(verdict: GateVerdict, count: int = 1) -> str:
    return _PHRASES[verdict][0 if count == 1 else 1]


def exit_status(verdicts: Iterable[GateVerdict], fail_on: Iterable[GateVerdict] = FAILING) -> int:
    """0 when no verdict in `fail_on` is among `verdicts`; else the status of the worst one that is."""
    found, failing = set(verdicts), set(fail_on)
    for verdict in GATE_VERDICTS:
        if verdict in found and verdict in failing:
            return EXIT_STATUS[verdict]
    return 0


def overall_line(verdicts: Sequence[GateVerdict]) -> str:
    """One answer for several gates: "2 of 6 gates fail open, 1 is broken, 3 fail closed"."""
    total = len(verdicts)
    counted: list[tuple[GateVerdict, int]] = []
    for verdict in GATE_VERDICTS:
        count = sum(1 for x in verdicts if x == verdict)
        if count:
            counted.append((verdict, count))
    if not counted:
        return "no gates were judged"
    parts = []
    for index, (verdict, count) in enumerate(counted):
        if index == 0:
            noun = "gate" if total == 1 else "gates"
            parts.append(f"{count} of {total} {noun} {phrase(verdict, count)}")
        else:
            parts.append(f"{count} {phrase(verdict, count)}")
    return ", ".join(parts)


def parse_fail_on(text: str) -> tuple[GateVerdict, ...]:
    """`--fail-on fail-open,broken,error` (or `all`, `none`): which verdicts make the exit status non-zero."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return FAILING
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in FAILING]
    if unknown:
        raise ValueError(
            f"{', '.join(unknown)}: expected a comma-separated list of {', '.join(FAILING)} (or all, none)"
        )
    return tuple(v for v in FAILING if v in names)


def judge(protected_ran: bool, allowed: bool, *, ran_unallowed: bool | None = None) -> str:
    """The verdict for one row: FAIL-OPEN when the protected action ran without a well-formed allow.

    `ran_unallowed`: whether some execution of the protected action did not follow a well-formed allow
    (`unallowed_runs`); by default, whether it ran in a row with no allow at all."""
    if ran_unallowed is None:
        ran_unallowed = protected_ran and not allowed
    if ran_unallowed:
        return FAIL_OPEN
    if protected_ran:
        return RAN_ON_ALLOW
    return BLOCKED_ON_ALLOW if allowed else FAIL_CLOSED


@dataclass(frozen=True)
class RunVerdict:
    """One run judged by the rule: the row verdict, what it means for the gate, and why."""

    verdict: str
    gate: GateVerdict
    protected_ran: bool
    allow_received: bool
    #: each execution of the protected action that did not follow a well-formed allow
    unallowed: tuple[str, ...]
    cause: Cause | None = None
    #: the emulator's own exceptions met by this run (the verdict is then `error`)
    errors: tuple[str, ...] = ()

    @property
    def fail_open(self) -> bool:
        return self.verdict == FAIL_OPEN

    def line(self) -> str:
        """The verdict in one line, the cause after it."""
        text = f"verdict: {self.verdict} (the gate {phrase(self.gate)})"
        if self.errors:
            text += ": " + "; ".join(self.errors)
        if self.cause is not None:
            text += f"\n  why: {self.cause.line()}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "gate": self.gate,
            "fail_open": self.fail_open,
            "protected_ran": self.protected_ran,
            "allow_received": self.allow_received,
            "unallowed": list(self.unallowed),
            "cause": self.cause.to_json() if self.cause is not None else None,
            "errors": list(self.errors),
        }


def judge_run(record: RunRecord, protected: Sequence[str] | None = None) -> RunVerdict:
    """Judge one run (`hallsim replay --verdict`, scenarios): fail-open when the protected action ran without
    a well-formed allow, error when the emulator raised, broken when it did not run after a good allow."""
    ran = protected_ran(record, protected)
    allowed = allow_received(record)
    unallowed = tuple(unallowed_runs(record, protected)) if record.journaled or ran else ()
    verdict = judge(ran, allowed, ran_unallowed=bool(unallowed))
    gate: GateVerdict = "fail-closed"
    if record.emulator_errors:
        verdict, gate = ERROR, "error"
    elif verdict == FAIL_OPEN:
        gate = "fail-open"
    elif verdict == BLOCKED_ON_ALLOW:
        gate = "broken"
    cause = row_cause(record, protected) if verdict in (FAIL_OPEN, BLOCKED_ON_ALLOW) else None
    return RunVerdict(verdict, gate, ran, allowed, unallowed, cause, record.emulator_errors)
