"""The record of one Pipedream run: per-step results, Hall and sink requests, settings; JSON and text."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hallsim.harness.egress import EgressRule, Walls
from hallsim.harness.pipedream._settings import UNCONFIRMED
from hallsim.harness.record import (
    AuditWrite,
    Event,
    Execution,
    HallCall,
    RunRecord,
    UnitResult,
    emulator_errors,
    is_route_url,
    pair_calls,
)
from hallsim.harness.stubs import StubCall, Stubs

if TYPE_CHECKING:
    from hallsim.emulator.journal import JournalEntry

StepStatus = Literal["success", "exited", "error", "timeout", "not_run"]


@dataclass(frozen=True)
class StepResult:
    name: str
    kind: str
    protected: bool
    status: StepStatus
    exports: dict[str, Any]
    return_value: Any
    has_return_value: bool
    error: dict[str, Any] | None
    exit_reason: Any
    attempts: int = 0
    logs: tuple[dict[str, str], ...] = ()
    http: tuple[dict[str, Any], ...] = ()
    flow: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    wall_ms: float | None = None
    modelled_ms: float | None = None

    @property
    def ran(self) -> bool:
        return self.status != "not_run"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "protected": self.protected,
            "status": self.status,
            "exports": self.exports,
            "return_value": self.return_value,
            "error": self.error,
            "exit_reason": self.exit_reason,
            "attempts": self.attempts,
            "logs": list(self.logs),
            "http": list(self.http),
            "flow": list(self.flow),
            "warnings": list(self.warnings),
            "wall_ms": _round(self.wall_ms),
            "modelled_ms": _round(self.modelled_ms),
        }


@dataclass(frozen=True)
class PipedreamRun:
    workflow: Path
    outcome: str
    steps: tuple[StepResult, ...]
    hall_url: str
    hall_requests: list[JournalEntry]
    sink_requests: list[dict[str, Any]]
    sink_url: str | None
    settings: dict[str, Any]
    node: dict[str, str]
    event: Any
    wall_ms: float
    modelled_ms: float
    warnings: tuple[str, ...] = ()
    http: tuple[dict[str, Any], ...] = ()
    output: str = ""
    #: whether hall_requests come from an emulator's journal (else the Hall was something hallsim cannot see)
    journaled: bool = True
    #: the worker thread that ran it: {"runs": how many runs it has done (1 = fresh), "retired": why or null}
    worker: dict[str, Any] = field(default_factory=dict)
    #: every call the stub service answered or refused (hallsim.harness.stubs), oldest first
    stub_calls: tuple[StubCall, ...] = ()
    stubs: Stubs = field(default_factory=Stubs)
    egress: EgressRule = field(default_factory=EgressRule)
    walls: Walls = field(default_factory=lambda: Walls("node"))
    platform: Literal["pipedream"] = field(default="pipedream")

    @property
    def protected(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.protected)

    @property
    def protected_ran(self) -> bool:
        return any(s.ran for s in self.steps if s.protected)

    def step(self, name: str) -> StepResult:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"no step named {name!r}; steps are {', '.join(s.name for s in self.steps)}")

    @property
    def http_response(self) -> dict[str, Any] | None:
        """What the HTTP trigger's caller got (pipedream.md "The $ object", $.respond)."""
        responses = [f["response"] for s in self.steps for f in s.flow if f.get("action") == "respond"]
        if responses:
            return {"source": "$.respond", **(responses[-1] or {})}
        if self.outcome == "errored":
            return {"source": "platform", "status": 400, "body": "No $.respond called in workflow"}
        return None

    @property
    def unconfirmed_settings(self) -> tuple[str, ...]:
        """The names of the settings that stand for a platform rule the references mark UNCONFIRMED."""
        return tuple(sorted(UNCONFIRMED))

    @property
    def record(self) -> RunRecord:
        """The typed run record the judges read (`hallsim.harness.record`), built on each read: steps run one
        after the other, each with the HTTP calls it made; a protected step's own Hall calls count as made
        before it acts."""
        timeline: list[Event] = []
        for step in self.steps:
            calls = sorted(
                (c for c in step.http if is_route_url(c.get("url"))), key=lambda c: c.get("n") or 0
            )
            for call in calls:
                status = call.get("status")
                timeline.append(
                    HallCall(
                        unit=step.name,
                        url=str(call["url"]),
                        received=status is not None,
                        status=status if isinstance(status, int) else None,
                    )
                )
            if step.ran:
                timeline.append(Execution("step", step.name, step.protected))
        paired, ok = pair_calls(timeline, self.hall_requests)
        units = tuple(
            UnitResult(
                kind="step",
                name=step.name,
                ran=step.ran,
                protected=step.protected,
                status=step.status,
                source=step.kind,
                exports=step.exports,
                return_value=step.return_value,
                exit_reason=step.exit_reason,
                error=step.error,
            )
            for step in self.steps
        )
        return RunRecord(
            platform="pipedream",
            outcome=self.outcome,
            protected=self.protected,
            timeline=paired,
            units=units,
            hall_requests=tuple(self.hall_requests),
            journaled=self.journaled,
            audit=tuple(AuditWrite("sink", _sink_body(r)) for r in self.sink_requests),
            paired=ok,
            settings=dict(self.settings),
            emulator_errors=emulator_errors(self.hall_requests),
            stub_calls=tuple(self.stub_calls),
            walls=self.walls.to_json(),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "workflow": str(self.workflow),
            "outcome": self.outcome,
            "protected": list(self.protected),
            "protected_ran": self.protected_ran,
            "steps": [s.to_json() for s in self.steps],
            "hall_url": self.hall_url,
            "hall_requests": _jsonable([entry.to_dict() for entry in self.hall_requests]),
            "sink_url": self.sink_url,
            "sink_requests": self.sink_requests,
            "http_response": self.http_response,
            "settings": self.settings,
            "unconfirmed_settings": list(self.unconfirmed_settings),
            "node": self.node,
            "event": self.event,
            "time_scale": self.settings.get("time_scale"),
            "wall_ms": _round(self.wall_ms),
            "modelled_ms": _round(self.modelled_ms),
            "warnings": list(self.warnings),
            "http": list(self.http),
            "output": self.output,
            "worker": self.worker,
            "stub_calls": [call.to_json() for call in self.stub_calls],
            "stubs": self.stubs.to_json(),
            "egress": {"endpoints": self.egress.to_json(), "walls": self.walls.to_json()},
        }

    def render(self) -> str:
        from hallsim.harness.pipedream._render import render_run

        return render_run(self)


def _sink_body(request: Any) -> Any:
    """The JSON body the audit sink received (its text when it was not JSON)."""
    body = request.get("json", request.get("body")) if isinstance(request, Mapping) else None
    if isinstance(body, str):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return body


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _jsonable(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
    )


def short_path(path: str | Path) -> str:
    """A path relative to the current folder when it is inside it."""
    text = str(path)
    if text.startswith("file://"):
        text = text[len("file://") :]
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text
    return relative if not relative.startswith("..") else text
