"""What a replay records, in the order it happened: one event per module execution, filter, route decision,
error route step, directive and retry. `to_json()` and `render()` are both built from these events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hallsim.harness.make._values import to_text


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return to_text(value)
    return to_text(value)


@dataclass
class Event:
    #: bundle-start | module | filter | router | route | fallback | no-route | ifelse | error | error-route |
    #: directive | incomplete | retry | retry-end | stop | feeder | aggregator-empty | note
    kind: str
    bundle: int
    depth: int
    module: int | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: "run" for the run itself, "retry N of incomplete execution M" for Break retries
    phase: str = "run"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "bundle": self.bundle, "phase": self.phase}
        if self.module is not None:
            out["module"] = self.module
        out.update(jsonable(self.data))
        return out


@dataclass
class Incomplete:
    """An incomplete execution (make.md: Break stores the failing bundle; the rest of the flow is kept)."""

    number: int
    bundle: int
    module: int
    error: dict[str, Any]
    #: the module that failed and the modules after it on its path, as the retry runs them
    remaining: tuple[Any, ...]
    outputs: dict[int, Any]
    depth: int
    retry: bool
    count: int
    interval_min: float
    directive: str
    attempts: list[dict[str, Any]] = field(default_factory=list)
    resolved: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "bundle": self.bundle,
            "module": self.module,
            "error": self.error,
            "directive": self.directive,
            "retry": self.retry,
            "count": self.count,
            "interval_minutes": self.interval_min,
            "attempts": jsonable(self.attempts),
            "resolved": self.resolved,
        }
