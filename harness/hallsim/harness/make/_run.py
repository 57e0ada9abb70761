"""One replay's result: the run status, what each module did, which routes each bundle took and why."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from hallsim.emulator.secrets import Masker
from hallsim.harness.egress import EgressRule, Walls
from hallsim.harness.make._coverage import Coverage, coverage
from hallsim.harness.make._settings import SETTINGS, unconfirmed_names
from hallsim.harness.make._trace import jsonable
from hallsim.harness.record import (
    ABSENT,
    AuditWrite,
    ErrorHandled,
    Event,
    Execution,
    HallCall,
    MappingProblem,
    RouteDecision,
    RunRecord,
    UnitResult,
    emulator_errors,
    is_route_url,
    pair_calls,
)
from hallsim.harness.stubs import StubCall, Stubs

if TYPE_CHECKING:
    from hallsim.emulator.journal import JournalEntry
    from hallsim.harness.make._engine import Engine
    from hallsim.harness.make._workflow import MakeBlueprint
    from hallsim.harness.workflow import HallEndpoint


class MakeRun:
    """A `WorkflowRun` for Make: `outcome` is the run status, success | warning | error."""

    platform: Literal["make"] = "make"

    def __init__(
        self,
        *,
        blueprint: MakeBlueprint,
        engine: Engine,
        hall: HallEndpoint,
        bundles: list[dict[str, Any]],
        variables: dict[str, Any],
        settings: dict[str, Any],
        hall_requests: list[JournalEntry],
        protected: tuple[str, ...],
        wall_s: float,
        stub_calls: tuple[StubCall, ...] = (),
        stubs: Stubs | None = None,
        egress: EgressRule | None = None,
        walls: Walls | None = None,
    ) -> None:
        self.blueprint = blueprint
        self.engine = engine
        self.hall = hall
        self.bundles = bundles
        self.variables = variables
        self.settings = settings
        self.hall_requests = hall_requests
        self.protected = protected
        self.wall_s = wall_s
        #: every call the stub service answered or refused (hallsim.harness.stubs), oldest first
        self.stub_calls = stub_calls
        self.stubs = stubs or Stubs()
        self.egress = egress or EgressRule()
        self.walls = walls or Walls("httpx")
        self.outcome = engine.status()
        self.status = self.outcome
        self.protected_ran = engine.protected_ran
        self.operations = engine.operations

    @property
    def events(self) -> list[Any]:
        return self.engine.events

    @property
    def coverage(self) -> Coverage:
        """Which modules ran with Make's semantics, which were recorded, which hallsim does not know."""
        return coverage(self.blueprint.loaded, self.engine.executions)

    @property
    def datastores(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every data store as the run left it: {store id: {key: record}}."""
        return self.engine.datastores.snapshot()

    @property
    def warnings(self) -> list[dict[str, Any]]:
        return [warning.to_dict() for warning in self.engine.warnings.values()]

    @property
    def incomplete_executions(self) -> list[dict[str, Any]]:
        return [incomplete.to_dict() for incomplete in self.engine.incompletes]

    def routes_taken(self) -> list[dict[str, Any]]:
        """Per bundle: the routes that took it, and every route decision with its filter's operands."""
        out = []
        for number in range(1, len(self.bundles) + 1):
            decisions = self.engine.routes.get(number, [])
            taken = [
                {"router": d["router"], "route": d["route"], "label": d["label"], "phase": d["phase"]}
                for d in decisions
                if d["taken"]
            ]
            out.append({"bundle": number, "taken": taken, "decisions": jsonable(decisions)})
        return out

    def module_results(self) -> list[dict[str, Any]]:
        out = []
        protected = {int(p) for p in self.protected}
        for module_id, module in sorted(self.blueprint.modules.items()):
            runs = self.engine.executions.get(module_id, [])
            entry: dict[str, Any] = {
                "id": module_id,
                "module": module.module,
                "label": module.label,
                "executed": bool(runs),
                "executions": len(runs),
                "protected": module_id in protected,
            }
            if runs:
                last = runs[-1]
                if "error" in last:
                    entry["error"] = last["error"]
                else:
                    entry["output"] = last.get("output")
                entry["runs"] = runs
            out.append(entry)
        return out

    @property
    def unconfirmed_settings(self) -> tuple[str, ...]:
        """The names of the settings that stand for a platform rule the references mark UNCONFIRMED."""
        return tuple(unconfirmed_names())

    @property
    def record(self) -> RunRecord:
        """The typed run record the judges read (`hallsim.harness.record`), built on each read."""
        protected = {int(p) for p in self.protected}
        timeline: list[Event] = []
        audit: list[AuditWrite] = []
        failed: int | None = None  # the module whose error route is running
        for event in self.engine.events:
            data = event.data
            if event.kind == "route":
                timeline.append(
                    RouteDecision(
                        bundle=event.bundle,
                        router=int(data["router"]),
                        route=int(data["route"]),
                        label=str(data["label"]),
                        taken=bool(data["taken"]),
                        why=str(data["why"]),
                        phase=event.phase,
                        first_module=str(data.get("first_module")),
                        conditions=_condition_whys(data.get("filter")),
                    )
                )
                continue
            if event.kind == "error-route":
                failed = event.module
                continue
            if event.kind == "directive" and event.module is not None:
                directive = data.get("directive") or data.get("acts_as") or ""
                timeline.append(
                    ErrorHandled(
                        unit=str(failed if failed is not None else event.module),
                        handler=str(event.module),
                        directive=str(directive),
                        bundle=event.bundle,
                        error=str(data.get("why") or ""),
                    )
                )
                continue
            if event.kind != "module" or event.module is None:
                continue
            request = data.get("request")
            if isinstance(request, Mapping) and is_route_url(request.get("url")):
                response = data.get("response")
                status = response.get("status") if isinstance(response, Mapping) else None
                timeline.append(
                    HallCall(
                        unit=str(event.module),
                        url=str(request["url"]),
                        received=isinstance(status, int),
                        status=status if isinstance(status, int) else None,
                        bundle=event.bundle,
                    )
                )
            timeline.append(
                Execution("module", str(event.module), event.module in protected, event.bundle, event.phase)
            )
            # the module's action kind (engine.execute: "http", "tool", "recorded", ...)
            if data.get("kind") == "recorded" and isinstance(data.get("mapper"), Mapping):
                audit.append(AuditWrite(str(event.module), jsonable(data["mapper"])))
        paired, ok = pair_calls(timeline, self.hall_requests)
        units = []
        for module_id in sorted(self.blueprint.modules):
            runs = self.engine.executions.get(module_id, [])
            last = runs[-1] if runs else None
            units.append(
                UnitResult(
                    kind="module",
                    name=str(module_id),
                    ran=bool(runs),
                    protected=module_id in protected,
                    source=self.blueprint.modules[module_id].module,
                    executions=len(runs),
                    output=last.get("output") if last is not None and "error" not in last else ABSENT,
                    error=last["error"] if last is not None and "error" in last else ABSENT,
                )
            )
        return RunRecord(
            platform="make",
            outcome=self.outcome,
            protected=tuple(str(p) for p in self.protected),
            timeline=paired,
            units=tuple(units),
            hall_requests=tuple(self.hall_requests),
            journaled=self.hall.emulator is not None,
            audit=tuple(audit),
            bundles=len(self.bundles),
            paired=ok,
            mapping_problems=tuple(
                MappingProblem(
                    unit=str(w.module),
                    context=w.context,
                    expression=w.expression,
                    referenced=None if w.referenced is None else str(w.referenced),
                    outputs=self._outputs(w.referenced),
                    message=w.message,
                )
                for w in self.engine.warnings.values()
            ),
            settings=dict(self.settings),
            emulator_errors=emulator_errors(self.hall_requests),
            stub_calls=tuple(self.stub_calls),
            walls=self.walls.to_json(),
        )

    def _outputs(self, module_id: int | None) -> tuple[str, ...]:
        """The top-level names the module's last execution output (what a mapping of it can name)."""
        runs = self.engine.executions.get(module_id, []) if module_id is not None else []
        output = runs[-1].get("output") if runs else None
        return tuple(str(k) for k in output) if isinstance(output, Mapping) else ()

    def masker(self) -> Masker:
        """The run's secrets: the Hall token, keychain keys and passwords, and variables whose names say
        secret (hallsim.emulator.secrets); every output of the run is masked with it."""
        masker = Masker()
        masker.add(self.hall.token)
        for chain in self.engine.keychains.values():
            masker.add(chain.key)
            masker.add(chain.password)
        for scope in self.engine.variables.values():
            masker.add_named_values(scope)
        return masker

    def to_json(self) -> dict[str, Any]:
        masked: dict[str, Any] = self.masker().mask(self._json())
        return masked

    def _json(self) -> dict[str, Any]:
        engine = self.engine
        stop = engine.stop
        return {
            "platform": "make",
            "workflow": str(self.blueprint.path),
            "name": self.blueprint.name,
            "status": self.status,
            "outcome": self.outcome,
            "protected": [int(p) for p in self.protected],
            "protected_ran": self.protected_ran,
            "operations": self.operations,
            "bundles": jsonable(self.bundles),
            "modules": self.module_results(),
            "routes": self.routes_taken(),
            "warnings": self.warnings,
            "incomplete_executions": self.incomplete_executions,
            "stopped": None if stop is None else {"status": stop.status, "reason": stop.reason},
            "notes": list(engine.notes),
            "coverage": self.coverage.to_dict(),
            "datastores": jsonable(self.datastores),
            "hall": {"url": self.hall.url},
            "hall_requests": jsonable([entry.to_dict() for entry in self.hall_requests]),
            "settings": jsonable(self.settings),
            "unconfirmed_settings": list(self.unconfirmed_settings),
            "variables": jsonable(self.variables),
            "time": self.to_time(),
            "trace": [event.to_dict() for event in engine.events],
            "stub_calls": [call.to_json() for call in self.stub_calls],
            "stubs": self.stubs.to_json(),
            "egress": {"endpoints": self.egress.to_json(), "walls": self.walls.to_json()},
        }

    def to_time(self) -> dict[str, float]:
        """Modelled seconds (virtual clock: HTTP calls as the module clock counts them, `_waits`: scripted
        waits x1/time_scale, the rest x1; timeouts, sleeps, Break retry waits)."""
        return {
            "time_scale": float(self.settings["time_scale"]),
            "modelled_s": round(self.engine.clock_s, 3),
            "run_modelled_s": round(self.engine.run_modelled_s, 3),
            "wall_s": round(self.wall_s, 4),
        }

    def render(self) -> str:
        from hallsim.harness.make._render import render_run

        return render_run(self)

    def setting_lines(self) -> list[tuple[str, Any, bool]]:
        return [(name, self.settings[name], SETTINGS[name].unconfirmed) for name in SETTINGS]


def _condition_whys(result: Any) -> tuple[str, ...]:
    """Each condition of a filter result (`FilterResult.to_dict()`), as "`A` op `B`: why"."""
    if not isinstance(result, Mapping):
        return ()
    whys = []
    for group in result.get("conditions") or ():
        for condition in group if isinstance(group, list) else ():
            if isinstance(condition, Mapping):
                a, op, b = condition.get("a"), condition.get("o"), condition.get("b")
                whys.append(f"`{a}` {op} `{b}`: {condition.get('why')}")
    return tuple(whys)
