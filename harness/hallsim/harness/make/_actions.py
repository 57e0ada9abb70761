"""What one module does with its evaluated mapper: the HTTP app's modules do real HTTP (`_http`); Make's
other built-in apps do what the help centre documents (`_tools`, `_datastore`; Sleep waits on the virtual
clock); any other module (Slack, Google Sheets, Airtable, ...) is a recorded action: its mapper is recorded
and its output is what the run sets (`make.module.<id>.output`: a bundle, or a list of bundles for a search
that finds several; default an empty bundle) or it fails with the error the run sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hallsim.harness.make import _http
from hallsim.harness.make._datastore import DATASTORE_MODULES, run_datastore
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._names import AGGREGATORS, FREE, HTTP_MODULES
from hallsim.harness.make._tools import TOOLS
from hallsim.harness.make._values import to_number

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module
    from hallsim.harness.make._engine import Engine
    from hallsim.harness.make._iml import Env

SLEEP = "util:FunctionSleep"
WEBHOOK_RESPOND = "gateway:WebhookRespond"

#: modules the replay runs itself with Make's semantics; overrides do not apply to them (script the Hall or
#: the stub services for the HTTP modules, seed the data stores)
BUILT_IN = HTTP_MODULES | DATASTORE_MODULES | frozenset(TOOLS) | AGGREGATORS | {SLEEP}


@dataclass
class ActionResult:
    kind: str  # http | tool | datastore | recorded
    bundles: list[Any]
    error: ModuleError | None = None
    request: dict[str, Any] | None = None
    response: dict[str, Any] | None = None
    wall_s: float = 0.0
    modelled_s: float = 0.0
    #: HTTP: of modelled_s, the seconds of scripted waits, and why the timing reads as it does (`_waits`)
    scripted_s: float = 0.0
    timing_note: str | None = None


def operations(module: Module) -> int:
    """Each module run costs one operation; routers, if-else/merge and directives cost none (make.md)."""
    return 0 if module.module in FREE else 1


def perform(engine: Engine, module: Module, mapper: Any, env: Env) -> ActionResult:
    fields = mapper if isinstance(mapper, dict) else {}
    name = module.module
    if name in HTTP_MODULES:
        keychain = engine.keychains.get(module.id)
        call = _http.call(
            name, module.parameters, fields, engine.settings, keychain, engine.waits, engine.cookies
        )
        bundles = [] if call.output is None else [call.output]
        return ActionResult(
            "http",
            bundles,
            call.error,
            call.request,
            call.response,
            call.wall_s,
            call.modelled_s,
            call.scripted_s,
            call.timing_note,
        )
    if name == SLEEP:
        seconds = to_number(fields.get("duration")) or 0.0
        return ActionResult("tool", [{}], modelled_s=max(0.0, min(seconds, 300.0)))  # virtual: no wall time
    tool = TOOLS.get(name)
    try:
        if tool is not None:
            return ActionResult("tool", tool(engine, module.parameters, fields))
        if name in DATASTORE_MODULES:
            bundles = run_datastore(
                name,
                module.parameters,
                fields,
                engine.datastores,
                engine.settings,
                module=module.id,
                bundle=env.bundle,
            )
            return ActionResult("datastore", bundles)
    except ModuleError as error:
        return ActionResult("tool" if tool is not None else "datastore", [], error)
    return _recorded(engine, module)


def _recorded(engine: Engine, module: Module) -> ActionResult:
    override = engine.overrides.get(module.id)
    if override is None:
        return ActionResult("recorded", [{}])
    uses = engine.override_uses.get(module.id, 0) + 1
    engine.override_uses[module.id] = uses
    if override.error and (override.fail_times is None or uses <= override.fail_times):
        message = override.message or f"set by the run (make.module.{module.id}.error)"
        return ActionResult("recorded", [], error=ModuleError(override.error, message))
    output = override.output
    if isinstance(output, list):
        return ActionResult("recorded", [dict(item) for item in output])
    return ActionResult("recorded", [dict(output) if isinstance(output, dict) else {}])
