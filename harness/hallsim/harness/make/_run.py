"""One replay's result: the run status, what each module did, which routes each bundle took and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from hallsim.harness.egress import EgressRule, Walls
from hallsim.harness.make._settings import SETTINGS, unconfirmed_names
from hallsim.harness.make._trace import jsonable
from hallsim.harness.stubs import StubCall, Stubs

if TYPE_CHECKING:
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
        hall_requests: list[dict[str, Any]],
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

    def to_json(self) -> dict[str, Any]:
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
            "hall": {"url": self.hall.url},
            "hall_requests": jsonable(self.hall_requests),
            "settings": jsonable(self.settings),
            "unconfirmed_settings": list(unconfirmed_names()),
            "variables": jsonable(self.variables),
            "time": self.to_time(),
            "trace": [event.to_dict() for event in engine.events],
            "stub_calls": [call.to_json() for call in self.stub_calls],
            "stubs": self.stubs.to_json(),
            "egress": {"endpoints": self.egress.to_json(), "walls": self.walls.to_json()},
        }

    def to_time(self) -> dict[str, float]:
        """Modelled seconds (virtual clock: HTTP wall time / time_scale, timeouts, sleeps, Break "
        "retry waits)."""
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
