"""The run record: what one run did, typed and in order. The contract between the platforms and the judges.

Every platform's run (Pipedream, Make) builds a `RunRecord`: an ordered timeline of events (Hall calls, each
paired with the emulator's journal entry it produced, and executions of steps or modules, plus the routes a
Make router took), the result of every step or module, the audit records the run wrote and the journal
entries themselves. The judges (`verdict`, `expectations`, the matrix, repro, the scenario runner, the pytest
plugin) read only this record; a run's `to_json()` is an output derived from the same data, never read back.

To add a kind of event, add a frozen dataclass and name it in `Event`: judges match on the classes they know
and pass over the others."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from hallsim.emulator.contract import DECISION_FIELDS, ROUTE_PATH

if TYPE_CHECKING:
    from hallsim.emulator.journal import JournalEntry
    from hallsim.harness.stubs import StubCall

__all__ = [
    "ABSENT",
    "DECISION_FIELDS",
    "DEFAULT_TIME_SCALE",
    "ROUTE_PATH",
    "AuditWrite",
    "ErrorHandled",
    "Event",
    "Execution",
    "HallCall",
    "MappingProblem",
    "RouteDecision",
    "RunRecord",
    "UnitResult",
    "emulator_errors",
    "is_route_url",
    "pair_calls",
]

#: wall seconds per modelled second in scenario, matrix, repro and fixture runs: a 30 s Pipedream timeout
#: is 0.3 s of wall time, a Make 10 s module timeout 0.1 s, both far above the few milliseconds a real answer
#: takes, so a good answer is never cut short
DEFAULT_TIME_SCALE = 0.01

Platform = Literal["pipedream", "make"]


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


#: a value a step or module result does not have at all (as opposed to one holding null)
ABSENT: Any = _Absent()


@dataclass(frozen=True)
class HallCall:
    """A `POST /api/route` the gate made, as the client recorded it."""

    #: the step name (Pipedream) or module id (Make) that made it
    unit: str
    url: str
    #: the client's record shows an HTTP answer (Pipedream: a status; Make: a response)
    received: bool
    #: the status the client saw, when it received one
    status: int | None = None
    #: Make: the bundle being processed
    bundle: int | None = None
    #: the emulator's journal entry for this call, once paired (`pair_calls`); None for a call that never
    #: reached the emulator (refused, another host) or when the run's calls and the journal do not line up
    entry: JournalEntry | None = None


@dataclass(frozen=True)
class Execution:
    """One execution of a step (Pipedream) or module (Make)."""

    kind: Literal["step", "module"]
    #: the step name or the module id as a string
    unit: str
    #: whether the workflow marks it as the protected action
    protected: bool
    #: Make: the bundle; None for Pipedream
    bundle: int | None = None
    #: Make: "run", or "retry N of incomplete execution M" for a Break retry
    phase: str = "run"

    def describe(self) -> str:
        if self.kind == "step":
            return f"step {self.unit}"
        where = f"bundle {self.bundle}" + (f", {self.phase}" if self.phase != "run" else "")
        return f"module {self.unit} ({where})"


@dataclass(frozen=True)
class RouteDecision:
    """A Make router's decision for one route and one bundle: taken or not, and why."""

    bundle: int
    router: int
    route: int
    label: str
    taken: bool
    why: str
    phase: str = "run"
    #: the route's first module (whose filter is the route's condition)
    first_module: str | None = None
    #: why each condition of the route's filter passed or not, in words
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True)
class ErrorHandled:
    """Make: a module's error went to its error route, and the directive there decided what happens next."""

    #: the module that failed
    unit: str
    #: the error handler module and its directive (builtin:Ignore, builtin:Resume, builtin:Break, ...)
    handler: str
    directive: str
    bundle: int | None = None
    error: str = ""


#: what a run's timeline holds, in the order it happened
Event = HallCall | Execution | RouteDecision | ErrorHandled


@dataclass(frozen=True)
class MappingProblem:
    """Make: a mapping that resolved to nothing (make.md "Blueprint JSON": Make maps a missing value to
    empty), with the module that holds it and what the module it names does output."""

    unit: str
    #: "mapper" or "filter `NAME`"
    context: str
    expression: str
    #: the module the expression reads, and the names it outputs
    referenced: str | None
    outputs: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class UnitResult:
    """What a step (Pipedream) or module (Make) ended with. A field the unit does not have is ABSENT."""

    kind: Literal["step", "module"]
    #: the step name or the module id as a string
    name: str
    ran: bool
    protected: bool = False
    #: Pipedream: success | exited | error | timeout | not_run; Make: None
    status: str | None = None
    #: Pipedream: code | action | filter (a published action sees no environment variables); Make: the
    #: module's name (http:ActionSendData, ...)
    source: str | None = None
    #: Make: how many times it executed
    executions: int = 0
    exports: Any = ABSENT
    return_value: Any = ABSENT
    exit_reason: Any = ABSENT
    output: Any = ABSENT
    error: Any = ABSENT

    def value(self, name: str) -> Any:
        """One of the result fields a scenario may expect (`exports`, `error`, ...), or ABSENT."""
        if name not in _RESULT_FIELDS:
            raise KeyError(name)
        return getattr(self, name)


_RESULT_FIELDS = frozenset({"status", "exports", "return_value", "exit_reason", "output", "error"})


@dataclass(frozen=True)
class AuditWrite:
    """A record the run wrote downstream: a body the audit sink received (Pipedream), or the mapped input of
    a recorded action (Make: a spreadsheet row, a data store record)."""

    #: "sink" (Pipedream) or the Make module id
    source: str
    body: Any


@dataclass(frozen=True)
class RunRecord:
    """One run, typed: what judges read."""

    platform: Platform
    #: pipedream: completed | exited | errored | timed_out; make: success | warning | error
    outcome: str
    #: the protected steps or module ids the run marked
    protected: tuple[str, ...]
    timeline: tuple[Event, ...]
    units: tuple[UnitResult, ...]
    #: the emulator's journal entries for this run, oldest first (copies taken when the run ended)
    hall_requests: tuple[JournalEntry, ...] = ()
    #: whether `hall_requests` come from an emulator's journal (else the Hall was nothing hallsim can see)
    journaled: bool = True
    audit: tuple[AuditWrite, ...] = ()
    #: Make: how many bundles the run processed (1 for a run without a trigger)
    bundles: int = 1
    #: whether each Hall call in the timeline was paired with its journal entry (see `pair_calls`)
    paired: bool = field(default=False)
    #: Make: mappings that resolved to nothing
    mapping_problems: tuple[MappingProblem, ...] = ()
    #: every setting the run used, as name -> value
    settings: Mapping[str, Any] = field(default_factory=dict)
    #: exceptions the emulator raised while answering this run's requests: hallsim's failure, never the gate's
    emulator_errors: tuple[str, ...] = ()
    #: every call to anything but the Hall and the sink, answered or refused by the stub service
    #: (hallsim.harness.stubs, docs/egress.md): the run's would-be side effects, with the unit that made each
    stub_calls: tuple[StubCall, ...] = ()
    #: which walls kept the run's traffic on the machine (hallsim.harness.egress.Walls.to_json())
    walls: Mapping[str, Any] = field(default_factory=dict)

    @property
    def protected_ran(self) -> bool:
        return any(u.ran for u in self.units if u.protected)

    @property
    def hall_calls(self) -> tuple[HallCall, ...]:
        return tuple(e for e in self.timeline if isinstance(e, HallCall))

    @property
    def executions(self) -> tuple[Execution, ...]:
        return tuple(e for e in self.timeline if isinstance(e, Execution))

    def unit(self, name: str) -> UnitResult | None:
        return next((u for u in self.units if u.name == name), None)

    def unit_names(self) -> tuple[str, ...]:
        return tuple(u.name for u in self.units)

    def routes_taken(self) -> list[list[str]]:
        """Route labels each bundle took, one list per bundle (Make; none for Pipedream)."""
        if self.platform != "make":
            return []
        taken: list[list[str]] = [[] for _ in range(self.bundles)]
        for event in self.timeline:
            if isinstance(event, RouteDecision) and event.taken and 1 <= event.bundle <= self.bundles:
                taken[event.bundle - 1].append(event.label)
        return taken

    def route_decisions(self) -> Iterator[RouteDecision]:
        return (e for e in self.timeline if isinstance(e, RouteDecision))


def is_route_url(url: object) -> bool:
    """Whether a URL a client called is the Hall's `POST /api/route` endpoint (any host)."""
    return isinstance(url, str) and urlsplit(url).path.rstrip("/") == ROUTE_PATH


def is_route_entry(entry: JournalEntry) -> bool:
    return entry.path.rstrip("/") == ROUTE_PATH


def pair_calls(timeline: Sequence[Event], entries: Sequence[JournalEntry]) -> tuple[tuple[Event, ...], bool]:
    """Give each Hall call in `timeline` its journal entry: the k-th Hall call in run order is the k-th
    `POST /api/route` in the journal. When the two do not line up (a call that never reached the emulator:
    refused, another host), no call is paired and the second value is False."""
    calls = [e for e in entries if is_route_entry(e)]
    if sum(1 for e in timeline if isinstance(e, HallCall)) != len(calls):
        return tuple(timeline), False
    found = iter(calls)
    return tuple(replace(e, entry=next(found)) if isinstance(e, HallCall) else e for e in timeline), True


def emulator_errors(entries: Sequence[JournalEntry]) -> tuple[str, ...]:
    """The exceptions the emulator recorded while answering these requests (`JournalEntry.emulator_error`),
    each naming the request it met."""
    found = []
    for entry in entries:
        error = entry.emulator_error
        if error:
            found.append(f"the emulator raised while answering request #{entry.seq} ({entry.path}): {error}")
    return tuple(found)
