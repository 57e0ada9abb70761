"""What one module does with its evaluated mapper: HTTP modules do real HTTP; the Tools modules (set/get
variable, compose, sleep), JSON parse and the webhook response do what Make documents; any other module
(Slack, Google Sheets, Airtable, Data store, ...) is a recorded action: its mapper is recorded and its
output is what the run sets (`make.module.<id>.output`, default an empty bundle) or it fails with the error
the run sets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hallsim.harness.make import _http
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._names import FREE, HTTP_V3, HTTP_V4
from hallsim.harness.make._values import to_number, to_text

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module
    from hallsim.harness.make._engine import Engine
    from hallsim.harness.make._iml import Env

#: modules the replay runs itself; overrides do not apply to them (script the Hall for the HTTP modules)
BUILT_IN = frozenset(
    {
        HTTP_V3,
        HTTP_V4,
        "util:SetVariable2",
        "util:SetVariables",
        "util:GetVariable2",
        "util:ComposeTransformer",
        "util:FunctionSleep",
        "json:ParseJSON",
    }
)


@dataclass
class ActionResult:
    kind: str  # http | tool | recorded
    output: Any = None
    error: ModuleError | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    wall_s: float = 0.0
    modelled_s: float = 0.0


def operations(module: Module) -> int:
    """Each module run costs one operation; routers, if-else/merge and directives cost none (make.md)."""
    return 0 if module.module in FREE else 1


def perform(engine: Engine, module: Module, mapper: Any, env: Env) -> ActionResult:
    fields = mapper if isinstance(mapper, dict) else {}
    name = module.module
    if name in (HTTP_V3, HTTP_V4):
        call = _http.call(name, module.parameters, fields, engine.settings)
        return ActionResult(
            "http", call.output, call.error, call.request, call.response, call.wall_s, call.modelled_s
        )
    if name == "util:SetVariable2":
        variable = to_text(fields.get("name"))
        engine.execution_variables[variable] = fields.get("value")
        return ActionResult("tool", {variable: fields.get("value")})
    if name == "util:SetVariables":
        out = {}
        for item in fields.get("variables") or []:
            if isinstance(item, dict):
                out[to_text(item.get("name"))] = item.get("value")
        engine.execution_variables.update(out)
        return ActionResult("tool", out)
    if name == "util:GetVariable2":
        variable = to_text(fields.get("name"))
        return ActionResult("tool", {variable: engine.execution_variables.get(variable)})
    if name == "util:ComposeTransformer":
        return ActionResult("tool", {"value": to_text(fields.get("value"))})
    if name == "util:FunctionSleep":
        seconds = to_number(fields.get("duration")) or 0.0
        return ActionResult("tool", {}, modelled_s=max(0.0, min(seconds, 300.0)))  # virtual: no wall time
    if name == "json:ParseJSON":
        try:
            parsed = json.loads(to_text(fields.get("json")))
        except json.JSONDecodeError as err:
            return ActionResult(
                "tool", error=ModuleError("DataError", f"Source is not valid JSON: {err.msg}")
            )
        return ActionResult("tool", parsed if isinstance(parsed, dict) else {"value": parsed})
    return _recorded(engine, module)


def _recorded(engine: Engine, module: Module) -> ActionResult:
    override = engine.overrides.get(module.id)
    if override is None:
        return ActionResult("recorded", {})
    uses = engine.override_uses.get(module.id, 0) + 1
    engine.override_uses[module.id] = uses
    if override.error and (override.fail_times is None or uses <= override.fail_times):
        message = override.message or f"set by the run (make.module.{module.id}.error)"
        return ActionResult("recorded", error=ModuleError(override.error, message))
    return ActionResult("recorded", dict(override.output) if isinstance(override.output, dict) else {})
