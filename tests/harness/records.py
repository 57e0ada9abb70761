"""Builders for the judges' tests: journal entries and run records as the platforms make them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hallsim.emulator.journal import JournalEntry
from hallsim.harness.record import (
    AuditWrite,
    Event,
    Execution,
    HallCall,
    Platform,
    RouteDecision,
    RunRecord,
    UnitResult,
    emulator_errors,
    pair_calls,
)

URL = "http://127.0.0.1:9/api/route"


def entry(
    status: int | None = 200,
    body: Any = None,
    *,
    raw: str | None = None,
    fault: str | None = None,
    request: Any = None,
    behaviour: str | None = None,
    seq: int = 1,
) -> JournalEntry:
    """A journal entry for a `POST /api/route`: the answer's status and JSON body (or `raw` text)."""
    answer = None
    if status is not None:
        answer = (raw if raw is not None else json.dumps(body)).encode()
    return JournalEntry(
        seq,
        0.0,
        "POST",
        "/api/route",
        [],
        raw_body=json.dumps(request if request is not None else {}).encode(),
        behaviour=behaviour,
        status=status,
        response_body=answer,
        fault=fault,
    )


def hall_call(unit: str, *, received: bool = True, bundle: int | None = None) -> HallCall:
    return HallCall(unit=unit, url=URL, received=received, status=200 if received else None, bundle=bundle)


def record(
    platform: Platform,
    timeline: Sequence[Event],
    entries: Sequence[JournalEntry] = (),
    *,
    units: Sequence[UnitResult] = (),
    outcome: str = "completed",
    audit: Sequence[AuditWrite] = (),
    bundles: int = 1,
) -> RunRecord:
    """A run record with each Hall call paired with its journal entry, as the platforms build it."""
    paired, ok = pair_calls(timeline, entries)
    protected = tuple(dict.fromkeys(e.unit for e in timeline if isinstance(e, Execution) and e.protected))
    return RunRecord(
        platform=platform,
        outcome=outcome,
        protected=protected,
        timeline=paired,
        units=tuple(units),
        hall_requests=tuple(entries),
        audit=tuple(audit),
        bundles=bundles,
        paired=ok,
        emulator_errors=emulator_errors(entries),
    )


__all__ = ["URL", "RouteDecision", "entry", "hall_call", "record"]
