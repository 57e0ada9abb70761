"""What a report shows, as typed records: built from the matrix, scenario and replay results (`_build`), then
rendered as HTML (`_html`) or JUnit XML (`_junit`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hallsim.harness.report._shape import PathTaken, Shape

#: how a verdict is coloured: bad (fails open), broken (blocks a good allow, or fails), error (could not run),
#: good (fails closed, runs on allow)
Tone = Literal["bad", "broken", "error", "good"]

#: worst first: the overall verdict of a table, or of the report, is its worst tone
TONES: tuple[Tone, ...] = ("bad", "broken", "error", "good")


def worst(tones: list[Tone] | tuple[Tone, ...]) -> Tone:
    found: Tone = "good"
    for tone in tones:
        if TONES.index(tone) < TONES.index(found):
            found = tone
    return found


@dataclass(frozen=True)
class HallExchange:
    """One request the Hall emulator received in a run, and what it answered."""

    seq: int
    time: str
    method: str
    path: str
    #: request headers and body, secrets masked
    headers: str
    body: str
    behaviour: str
    rule: str
    #: the answer: "200 denied=true ..." or the fault
    answer: str
    answer_body: str


@dataclass(frozen=True)
class ReportRow:
    """One row of a table: a matrix behaviour, a scenario, or a replay."""

    name: str
    verdict: str
    tone: Tone
    outcome: str
    #: what the Hall did, in words
    hall_did: str
    #: the whole Hall behaviour spec when `name` is a short label for it
    spec: str = ""
    #: why the row has its verdict: the executions that ran unallowed, the failed expectations, the error
    why: tuple[str, ...] = ()
    cause: str | None = None
    fix: str | None = None
    protected_ran: bool | None = None
    allowed: bool | None = None
    hall: tuple[HallExchange, ...] = ()
    #: routers' decisions (Make) and flow control (Pipedream), one line each
    routes: tuple[str, ...] = ()
    #: calls answered by a stand-in instead of a real service: recorded Make actions, the audit sink, stubs
    stubbed: tuple[str, ...] = ()
    timing: str = ""
    #: the full text trace, secrets masked
    trace: str = ""
    path: PathTaken = field(default_factory=PathTaken)
    #: the UNCONFIRMED platform choices this run rested on: name -> value
    unconfirmed: dict[str, Any] = field(default_factory=dict)
    wall_ms: float | None = None


@dataclass(frozen=True)
class CauseGroup:
    """Rows that fail for one reason, with the change that fixes them."""

    verdict: str
    tone: Tone
    cause: str
    fix: str | None
    rows: tuple[str, ...]


@dataclass(frozen=True)
class ReportTable:
    """One workflow (matrix, replay) or one scenario workflow (run): its verdict first, then its rows."""

    title: str
    platform: str
    verdict: str
    tone: Tone
    rows: tuple[ReportRow, ...]
    protected: tuple[str, ...] = ()
    groups: tuple[CauseGroup, ...] = ()
    shape: Shape | None = None
    #: the settings chosen for the run (`--set`), and every setting used
    chosen: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    unconfirmed: dict[str, Any] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Report:
    """A whole report: the overall verdict first, then one table per workflow."""

    title: str
    command: str
    verdict: str
    tone: Tone
    tables: tuple[ReportTable, ...]
    generated: str
    version: str
    #: lines under the overall verdict (one per table)
    lines: tuple[str, ...] = ()
