"""A loaded blueprint as a hallsim `Workflow`: load once, replay many times against a Hall endpoint."""

from __future__ import annotations

import copy
import dataclasses
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

import httpx

from hallsim.emulator.behaviours import Behaviour
from hallsim.emulator.files import read_json
from hallsim.emulator.journal import mask_token
from hallsim.harness._errors import InputError
from hallsim.harness.egress import EgressRule, Walls, egress_scope
from hallsim.harness.make._actions import BUILT_IN
from hallsim.harness.make._blueprint import LoadedBlueprint, Module, read_blueprint
from hallsim.harness.make._coverage import unknown_modules
from hallsim.harness.make._datastore import read_seed
from hallsim.harness.make._dates import to_datetime
from hallsim.harness.make._engine import Engine
from hallsim.harness.make._keychains import (
    Keychain,
    hall_default,
    keychain_ref,
    resolve_keychains,
    split_keychain_vars,
)
from hallsim.harness.make._names import DIRECTIVES, FREE
from hallsim.harness.make._run import MakeRun
from hallsim.harness.make._settings import resolve_settings
from hallsim.harness.make._waits import ScriptedWaits
from hallsim.harness.stubs import StubCall, StubRun, Stubs
from hallsim.harness.workflow import HallEndpoint

#: the bundle a run uses when no event is given: the fields the seed guide's request maps from the trigger
#: ({{1.worker_id}}, {{1.data_label}}), with the guide's fixed worker id for a Make integration
DEFAULT_BUNDLE: dict[str, Any] = {"worker_id": "wrk_make_acme_prod", "data_label": "INTERNAL"}

_SCOPES = ("organization", "team", "input", "scenario", "variable")
_SECRET_WORDS = ("TOKEN", "KEY", "SECRET", "PASSWORD")


def _bundles(event: Any, path: Path) -> list[dict[str, Any]]:
    if event is None:
        return [dict(DEFAULT_BUNDLE)]
    source = "the event"
    if isinstance(event, (str, Path)):
        source = str(event)
        event = read_json(Path(event), error=InputError, what="event file")
    items = event if isinstance(event, list) else [event]
    if not items:
        raise InputError(
            f"{source}: an empty list: a Make event is a bundle (JSON object) or a list of bundles"
        )
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"{source}[{index}]" if isinstance(event, list) else source
            raise InputError(
                f"{where}: expected a bundle (JSON object) for {path.name}'s trigger, got "
                f"{type(item).__name__}"
            )
    return [dict(item) for item in items]


def _is_secret(name: str) -> bool:
    return any(word in name.upper() for word in _SECRET_WORDS)


def _shown(name: str, value: Any) -> Any:
    if _is_secret(name) and isinstance(value, str) and value:
        return mask_token(value)
    return value


def _variables(
    given: Mapping[str, str] | None, hall: HallEndpoint
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Variables by scope for `{{var.organization.X}}`, `{{var.team.X}}`, `{{var.input.X}}` and the guide's
    `{{variable.X}}`. `organization.X=...` (or `team.`, `input.`, `variable.`) sets one scope; a bare `X=...`
    sets X in every scope. PYHALL_HALL_URL and HALL_SESSION_TOKEN default to the Hall endpoint's URL and
    token."""
    scopes: dict[str, dict[str, Any]] = {scope: {} for scope in _SCOPES}
    shown: dict[str, Any] = {}
    for key, value in (given or {}).items():
        name = key[4:] if key.startswith("var.") else key
        scope, _, rest = name.partition(".")
        if scope in _SCOPES and rest:
            scopes[scope][rest] = value
            shown[key] = {"value": _shown(rest, value), "source": "supplied", "scopes": [scope]}
        else:
            for values in scopes.values():
                values[key] = value
            shown[key] = {"value": _shown(key, value), "source": "supplied", "scopes": list(_SCOPES)}
    defaults: tuple[tuple[str, str | None], ...] = (
        ("PYHALL_HALL_URL", hall.url.rstrip("/")),
        ("HALL_SESSION_TOKEN", hall.token),
    )
    for name, default in defaults:
        if default is None or any(name in values for values in scopes.values()):
            continue
        for values in scopes.values():
            values[name] = default
        shown[name] = {
            "value": _shown(name, default),
            "source": "defaulted from the Hall endpoint",
            "scopes": list(_SCOPES),
        }
    return scopes, shown


class MakeBlueprint:
    """A Make blueprint export, loaded and checked; `run()` replays it against a Hall endpoint."""

    platform: Literal["make"] = "make"

    def __init__(self, loaded: LoadedBlueprint, protected: tuple[str, ...] | None = None) -> None:
        self.loaded = loaded
        self.path = loaded.path
        self.name = loaded.name
        marked = tuple(str(m.id) for m in loaded.modules.values() if m.marked_protected)
        self.protected: tuple[str, ...] = tuple(protected) if protected is not None else marked
        for module_id in self.protected:
            self._module(module_id, "protected")
        #: what depends on the blueprint alone is worked out once, not per run
        self._unknown = tuple(unknown_modules(loaded))

    def _module(self, module_id: str | int, what: str) -> Module:
        try:
            return self.loaded.modules[int(module_id)]
        except (KeyError, ValueError):
            ids = ", ".join(str(i) for i in sorted(self.loaded.modules))
            raise InputError(f"{self.path}: {what}: no module {module_id} (module ids: {ids})") from None

    @property
    def modules(self) -> dict[int, Module]:
        return self.loaded.modules

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(str(module_id) for module_id in sorted(self.loaded.modules))

    def _keychains(
        self, values: dict[str, Any], from_vars: dict[str, dict[str, str]], hall: HallEndpoint
    ) -> dict[int, Keychain]:
        """The keychain each authenticated HTTP module uses (see `_keychains`)."""
        available = resolve_keychains(
            str(values["make.keychains"]), from_vars, where=f"{self.path}: run variables"
        )
        out: dict[int, Keychain] = {}
        for module_id, module in sorted(self.loaded.modules.items()):
            ref = keychain_ref(module.module, module.parameters)
            if ref is None:
                continue
            key_id, kind = ref
            keychain = available.get(key_id) or hall_default(key_id, kind, hall.token)
            if keychain is None:
                shown_id = key_id or "ID"
                fields = ("username", "password") if kind == "basicAuth" else ("key",)
                give = " ".join(f"--var keychain.{shown_id}.{name}=..." for name in fields)
                raise InputError(
                    f"{self.path}: module {module_id} ({module.module}): its {kind} keychain "
                    f"{key_id or '(none in the export)'} is not supplied; give {give} or a keychain "
                    "file (--set make.keychains=FILE)"
                )
            if (keychain.kind == "basicAuth") != (kind == "basicAuth"):
                raise InputError(
                    f"{self.path}: module {module_id} ({module.module}): keychain {key_id} is "
                    f"{keychain.kind} ({keychain.source}); the module expects {kind}"
                )
            out[module_id] = keychain
        return out

    def _system(self, values: dict[str, Any], start: datetime) -> dict[str, Any]:
        """System variables (help.make.com "System variables"), from the make.system.* settings."""

        def number(text: Any) -> Any:
            return int(text) if str(text).isdigit() else text

        execution = str(values["make.system.execution_id"]) or uuid.uuid4().hex
        zone = str(values["make.system.zone"])
        team, scenario = values["make.system.team_id"], values["make.system.scenario_id"]
        return {
            "executionId": execution,
            "execution.id": execution,
            "execution.startedAt": start,
            "scenario.id": number(scenario),
            "scenario.name": self.name,
            "scenario.url": f"https://{zone}/{team}/scenarios/{scenario}/edit",
            "team.id": number(team),
            "team.name": values["make.system.team_name"],
            "organization.id": number(values["make.system.organization_id"]),
            "organization.name": values["make.system.organization_name"],
            "organization.operationsLeft": number(values["make.system.operations_left"]),
            "organization.dataLeft": number(values["make.system.data_left"]),
            "organization.zoneDomain": zone,
        }

    def run(
        self,
        hall: HallEndpoint,
        *,
        event: Any = None,
        variables: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
        stubs: Stubs | None = None,
    ) -> MakeRun:
        """Replay the blueprint once: every bundle of `event` through the flow, then any Break retries. HTTP
        modules reach the Hall for real; every other URL is answered by a stub service (`stubs`)."""
        values, overrides = resolve_settings(settings, path=self.path)
        for module_id in overrides:
            module = self._module(module_id, f"make.module.{module_id}")
            if module.module in BUILT_IN or module.module in FREE or module.module in DIRECTIVES:
                raise InputError(
                    f"{self.path}: make.module.{module_id}: module {module_id} is {module.module}, "
                    "which the replay runs itself; only recorded actions take a set output or error "
                    "(script the Hall to make an HTTP module fail; seed make.datastores for a data store)"
                )
        protected = tuple(p for p in values["protected"].split(",") if p) or self.protected
        for protected_id in protected:
            self._module(protected_id, "protected")
        values["protected"] = ",".join(protected)
        bundles = _bundles(event, self.path)
        plain_variables, keychain_vars = split_keychain_vars(variables)
        scopes, shown = _variables(plain_variables, hall)
        keychains = self._keychains(values, keychain_vars, hall)
        unknown = self._unknown
        if unknown and values["make.unknown_builtin"] == "error":
            names = ", ".join(f"module {m.id} ({m.module})" for m in unknown)
            raise InputError(
                f"{self.path}: {names}: Make's own module(s) that hallsim does not emulate "
                "(make.unknown_builtin=error); set make.unknown_builtin=warn to run them as recorded actions"
            )
        datastores = read_seed(str(values["make.datastores"]), where=f"{self.path}: run settings")
        start = datetime.now(timezone.utc)
        if values["now"]:
            parsed = to_datetime(values["now"])
            if parsed is None:
                raise InputError(
                    f"{self.path}: run settings: `now` = {values['now']!r}: expected an ISO 8601 time"
                )
            start = parsed
        emulator = hall.emulator
        first_seq = 0
        if emulator is not None:
            emulator.time_scale = values["time_scale"]
            first_seq = emulator.next_seq
        engine = Engine(
            self.loaded,
            variables=scopes,
            settings=values,
            overrides=overrides,
            protected=frozenset(int(p) for p in protected),
            start=start,
            keychains=keychains,
            datastores=datastores,
            system=self._system(values, start),
        )
        engine.notes.extend(self.loaded.notes)
        for module in unknown:
            engine.notes.append(
                f"WARNING: module {module.id} ({module.module}) belongs to Make's own apps but hallsim does "
                "not emulate it: it runs as a recorded action (output {} unless make.module."
                f"{module.id}.output sets one), so the verdict does not cover what it does"
            )
        if self.loaded.trigger is None and event is not None:
            first = self.loaded.flow[0]
            engine.notes.append(
                f"module {first.id} ({first.module}) is not a trigger: the flow ran once and the event's "
                f"{len(bundles)} bundle(s) were not used"
            )
        rule = EgressRule.for_run([(hall.url, "hall url")])
        chosen = stubs or Stubs()
        began = time.perf_counter()
        with (
            _LazyStubRun(chosen, float(values["time_scale"])) as stub,
            egress_scope(rule, cast(StubRun, stub)),
        ):
            engine.waits = ScriptedWaits(emulator, stub)
            engine.run(bundles)
        wall = time.perf_counter() - began
        stub_calls = attribute_to_modules(stub.calls(), engine.events)
        requests = (
            [copy.copy(entry) for entry in emulator.journal_since(first_seq)] if emulator is not None else []
        )
        return MakeRun(
            blueprint=self,
            engine=engine,
            hall=hall,
            bundles=bundles,
            variables=shown,
            settings=values,
            hall_requests=requests,
            protected=protected,
            wall_s=wall,
            stub_calls=stub_calls,
            stubs=chosen,
            egress=rule,
            walls=Walls("httpx"),
        )


def load_blueprint(
    path: Path | str, *, protected: tuple[str, ...] | list[str] | None = None
) -> MakeBlueprint:
    """Load and check a Make blueprint export. `protected` overrides the module ids marked protected in the
    file
    (module `metadata.hallsim.protected: true`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    loaded = read_blueprint(path)
    return MakeBlueprint(loaded, tuple(str(p) for p in protected) if protected is not None else None)


def attribute_to_modules(calls: tuple[StubCall, ...], events: list[Any]) -> tuple[StubCall, ...]:
    """Each stub call with the module that made it: modules' requests and stub calls in the same order."""
    if not calls:
        return calls
    pending = list(calls)
    out: dict[int, StubCall] = {}
    for event in events:
        request = event.data.get("request") if event.kind == "module" else None
        if not isinstance(request, dict) or not request.get("url"):
            continue
        try:
            wanted = str(httpx.URL(str(request["url"])).copy_with(query=None))
        except (httpx.InvalidURL, TypeError):
            continue
        for call in pending:
            if call.method == request.get("method") and call.url.split("?")[0] == wanted.split("?")[0]:
                out[call.n] = dataclasses.replace(call, unit=f"module {event.module}")
                pending.remove(call)
                break
    return tuple(out.get(call.n, call) for call in calls)


class _LazyStubRun:
    """The run's stub service, started when the first call the egress rule sends to it needs its address: a
    replay whose HTTP modules reach only the Hall starts no server thread (the egress rule reads only
    `address`, `port` and `calls()` of its stub, egress.py)."""

    def __init__(self, stubs: Stubs, time_scale: float) -> None:
        self._stubs = stubs
        self._time_scale = time_scale
        self._run: StubRun | None = None

    def _started(self) -> StubRun:
        if self._run is None:
            self._run = StubRun(self._stubs, time_scale=self._time_scale)
        return self._run

    @property
    def address(self) -> str:
        return self._started().address

    @property
    def port(self) -> int:
        return self._started().port

    @property
    def url(self) -> str:
        return self._started().url

    def calls(self) -> tuple[StubCall, ...]:
        return self._run.calls() if self._run is not None else ()

    def holds(self) -> tuple[tuple[float, Behaviour], ...]:
        return self._run.holds() if self._run is not None else ()

    def __enter__(self) -> _LazyStubRun:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._run is not None:
            self._run.close()
