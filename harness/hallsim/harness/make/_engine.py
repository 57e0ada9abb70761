"""Run bundles through a blueprint the way Make does: module by module, routers fanning out, filters, error
routes and their directives, Break retries on a virtual clock.

Rules (shared/reference/make.md): a router sends a bundle to EVERY route whose filter passes, in array order,
each to its end before the next; a route's condition is the filter on its first module; the fallback route
runs only when no other route took the bundle, last; a bundle no route takes stops silently. Directives: Break
stores an incomplete execution (retried per its mapper) -> warning; Commit stops the run -> success; Ignore
drops the bundle -> success; Resume substitutes the output and continues -> success; Rollback stops the run ->
error. An error route without a directive acts as Ignore; an error inside an error route fails the run; with
no handler the run stops and rolls back (error) -- unless incomplete executions are allowed (`dlq`), when the
bundle is stored as one (Make help "Directives for error handling": Rollback is the default only when storing
incomplete executions is off)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from hallsim.harness.make import _actions, _branching, _recovery, _tools
from hallsim.harness.make._blueprint import LoadedBlueprint, Module, Route
from hallsim.harness.make._datastore import DataStores
from hallsim.harness.make._filters import Filter, FilterResult, evaluate_filter, filter_context
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._iml import Env, MappingWarning
from hallsim.harness.make._keychains import Keychain
from hallsim.harness.make._names import AGGREGATORS, FEEDER, ROUTER, TRANSACTIONAL_APPS
from hallsim.harness.make._settings import ModuleOverride
from hallsim.harness.make._trace import Event, Incomplete, jsonable
from hallsim.harness.make._values import to_text
from hallsim.harness.make._waits import ScriptedWaits

Outputs = dict[int, Any]
OnEnd = Callable[[Outputs], None] | None


class Engine:
    def __init__(
        self,
        blueprint: LoadedBlueprint,
        *,
        variables: dict[str, dict[str, Any]],
        settings: dict[str, Any],
        overrides: dict[int, ModuleOverride],
        protected: frozenset[int],
        start: datetime,
        keychains: dict[int, Keychain] | None = None,
        datastores: DataStores | None = None,
        system: dict[str, Any] | None = None,
        waits: ScriptedWaits | None = None,
    ) -> None:
        self.bp = blueprint
        #: where the run's scripted waits are recorded, for the HTTP modules' clock (`_waits`)
        self.waits = waits
        #: the cookies the HTTP modules with "Share cookies with other HTTP modules" on share in this run
        self.cookies = httpx.Cookies()
        self.keychains = keychains or {}
        self.datastores = datastores or DataStores()
        self.system = system or {}
        #: Tools - Increment function counters, by module
        self.counters: dict[int, int] = {}
        self.variables = variables
        self.settings = settings
        self.overrides = overrides
        self.protected = protected
        self.start = start
        self.coercion = str(settings["make.filter.boolean_coercion"])
        self.events: list[Event] = []
        self.warnings: dict[tuple[int, str, str], MappingWarning] = {}
        self.executions: dict[int, list[dict[str, Any]]] = {}
        self.routes: dict[int, list[dict[str, Any]]] = {}
        self.incompletes: list[Incomplete] = []
        self.operations = 0
        self.clock_s = 0.0  # modelled seconds since the run started
        self.run_modelled_s = 0.0
        self.http_wall_s = 0.0
        self.protected_ran = False
        self.stop: _recovery.StopRun | None = None
        self.phase = "run"
        self.retrying: int | None = None
        #: ids of the modules whose error routes are running (an error inside one fails the run)
        self.error_routes: list[int] = []
        self.execution_variables: dict[str, Any] = {}
        self.override_uses: dict[int, int] = {}
        self.notes: list[str] = []

    # -- plumbing
    def env(self, outputs: Outputs, where: int, bundle: int, context: str = "mapper") -> Env:
        return Env(
            outputs,
            self.variables,
            self.start + timedelta(seconds=self.clock_s),
            self._warn,
            where=where,
            context=context,
            bundle=bundle,
            variable_form=str(self.settings["make.variable_form"]),
            timezone=str(self.settings["make.timezone"]),
            system=self.system,
            operations=self.operations,
        )

    def check(self, flt: Filter, outputs: Outputs, where: int, bundle: int) -> FilterResult:
        """Evaluate a filter for one bundle, with the run's boolean coercion setting."""
        return evaluate_filter(flt, self.env(outputs, where, bundle, filter_context(flt)), self.coercion)

    def _warn(self, warning: MappingWarning) -> None:
        key = (warning.module, warning.expression, warning.message)
        known = self.warnings.get(key)
        if known is None:
            self.warnings[key] = warning
        elif warning.bundles[0] not in known.bundles:
            known.bundles.append(warning.bundles[0])

    def event(self, kind: str, bundle: int, depth: int, module: int | None = None, /, **data: Any) -> None:
        self.events.append(Event(kind, bundle, depth, module, data, self.phase))

    # -- the run
    def run(self, bundles: Sequence[dict[str, Any]]) -> None:
        flow = self.bp.flow
        trigger = self.bp.trigger
        passes: list[dict[str, Any] | None] = list(bundles) if trigger else [None]
        if trigger is not None and passes:
            self.operations += 1  # a trigger costs one operation per run, however many bundles it returns
        number = 0
        # an aggregator whose source is the trigger collects every bundle of the run (help.make.com
        # "Aggregator": the source module's bundles are aggregated into one)
        end = self._aggregator_index(flow, 0) if trigger is not None else None
        collected: list[Outputs] = []
        try:
            for number, bundle in enumerate(passes, 1):
                self.event("bundle-start", number, 0, input=bundle, of=len(passes))
                outputs: Outputs = {}
                if trigger is not None and bundle is not None:
                    outputs[trigger.id] = bundle
                    self.record(trigger, number, output=bundle)
                    self.event(
                        "module",
                        number,
                        1,
                        trigger.id,
                        name=trigger.module,
                        label=trigger.label,
                        output=bundle,
                        trigger=True,
                        operations=0,
                    )
                    if end is not None:
                        self.flow(flow[1:end], outputs, number, 1, on_end=collected.append)
                    else:
                        self.flow(flow[1:], outputs, number, 1)
                else:
                    self.flow(flow, outputs, number, 1)
            if end is not None:
                outs = self.aggregate(flow[end], collected, number, 1)
                self.after_aggregator(flow, end, outs, {}, number, 1, None)
        except _recovery.StopRun as stop:
            self.stop = stop
            self.event(
                "stop", 0, 0, status=stop.status, reason=stop.reason, **self._transactions(stop, number)
            )
        self.run_modelled_s = self.clock_s
        _recovery.retries(self)

    def _transactions(self, stop: _recovery.StopRun, bundle: int) -> dict[str, Any]:
        """What happens to the changes of transactional (ACID) modules when the run stops. help.make.com
        "Rollback error handler": with auto-commit off, the changes made while processing the failing
        bundle are reverted; with auto-commit on (the default), only those of the module that output the
        error. Commit commits them all."""
        touched = [
            (module_id, {run["bundle"] for run in runs})
            for module_id, runs in sorted(self.executions.items())
            if self.bp.modules[module_id].app in TRANSACTIONAL_APPS
        ]
        if not touched:
            return {}
        if stop.status != "error":
            return {"committed": [module_id for module_id, _ in touched]}
        if self.bp.scenario.auto_commit:
            reverted = [module_id for module_id, _ in touched if module_id == stop.module]
        else:
            reverted = [module_id for module_id, bundles in touched if bundle in bundles]
        # the in-memory data stores undo those writes (the failing bundle's, when auto-commit is off)
        self.datastores.revert(set(reverted), None if self.bp.scenario.auto_commit else bundle)
        out: dict[str, Any] = {"auto_commit": self.bp.scenario.auto_commit}
        out["rolled_back"] = reverted
        out["committed"] = [module_id for module_id, _ in touched if module_id not in reverted]
        return out

    def record(
        self, module: Module, bundle: int, *, output: Any = None, error: ModuleError | None = None
    ) -> None:
        entry: dict[str, Any] = {"bundle": bundle, "phase": self.phase}
        if error is not None:
            entry["error"] = error.to_dict()
        else:
            entry["output"] = jsonable(output)
        self.executions.setdefault(module.id, []).append(entry)

    # -- flows
    def flow(
        self,
        modules: Sequence[Module],
        outputs: Outputs,
        bundle: int,
        depth: int,
        *,
        skip_first_filter: bool = False,
        on_end: OnEnd = None,
    ) -> None:
        index = 0
        while index < len(modules):
            module = modules[index]
            if module.filter is not None and not (index == 0 and skip_first_filter):
                result = self.check(module.filter, outputs, module.id, bundle)
                self.event("filter", bundle, depth, module.id, label=module.label, result=result.to_dict())
                if not result.passed:
                    return
            name = module.module
            if name == ROUTER:
                self.router(module, outputs, bundle, depth)
                return
            if name == "builtin:BasicIfElse":
                _branching.if_else(self, modules, index, outputs, bundle, depth, on_end)
                return
            if name in AGGREGATORS:  # its source is not in this flow: it aggregates the one bundle
                outs = self.aggregate(module, [outputs], bundle, depth)
                self.after_aggregator(modules, index, outs, outputs, bundle, depth, on_end)
                return
            try:
                bundles = self.execute(module, outputs, bundle, depth)
            except ModuleError as error:
                _recovery.on_error(self, module, error, outputs, bundle, depth, modules[index + 1 :], on_end)
                return
            end = self._aggregator_index(modules, index)
            if end is None and len(bundles) == 1 and name != FEEDER:
                outputs[module.id] = bundles[0]
                index += 1
                continue
            self.fan_out(modules, index, end, bundles, outputs, bundle, depth, on_end)
            return
        if on_end is not None:
            on_end(outputs)

    def _aggregator_index(self, modules: Sequence[Module], index: int) -> int | None:
        """Where, later in this flow, the aggregator whose source is modules[index] sits (None: none)."""
        target = self.bp.aggregator_of.get(modules[index].id)
        if target is None:
            return None
        return next((j for j in range(index + 1, len(modules)) if modules[j].id == target), None)

    def fan_out(
        self,
        modules: Sequence[Module],
        index: int,
        end: int | None,
        bundles: list[Any],
        outputs: Outputs,
        bundle: int,
        depth: int,
        on_end: OnEnd,
    ) -> None:
        """The rest of the flow once per bundle a module output (an iterator's items, a search's records,
        a repeater's rounds); with an aggregator whose source it is, the bundles that reach the aggregator
        become its one output and the flow after the aggregator runs once (help.make.com "Iterator",
        "Aggregator")."""
        module = modules[index]
        segment = modules[index + 1 : end if end is not None else len(modules)]
        collected: list[Outputs] = []
        sink = collected.append if end is not None else on_end
        for position, item in enumerate(bundles, 1):
            self.event("feeder", bundle, depth + 1, module.id, item=position, of=len(bundles))
            inner = dict(outputs)
            inner[module.id] = item
            self.flow(segment, inner, bundle, depth + 1, on_end=sink)
        if end is None:
            return
        outs = self.aggregate(modules[end], collected, bundle, depth)
        self.after_aggregator(modules, end, outs, outputs, bundle, depth, on_end)

    def after_aggregator(
        self,
        modules: Sequence[Module],
        index: int,
        outs: list[Any],
        outputs: Outputs,
        bundle: int,
        depth: int,
        on_end: OnEnd,
    ) -> None:
        """The flow after an aggregator: once for its one bundle, once per group (Group by), not at all
        when it output none; another aggregator may take it as its source."""
        aggregator = modules[index]
        end = self._aggregator_index(modules, index)
        if end is None and len(outs) == 1:
            after = dict(outputs)
            after[aggregator.id] = outs[0]
            self.flow(modules[index + 1 :], after, bundle, depth, on_end=on_end)
            return
        if outs or end is not None:
            self.fan_out(modules, index, end, outs, outputs, bundle, depth, on_end)

    def aggregate(self, aggregator: Module, collected: list[Outputs], bundle: int, depth: int) -> list[Any]:
        """An aggregator's output bundles from the bundles that reached it (help.make.com "Aggregator"):
        one, or one per value of its Group by; none when none reached it and "Stop processing after an
        empty aggregation" (`stopProcessingOnEmpty`; when the export leaves it out,
        make.aggregator.no_bundles) is on."""
        stop_on_empty = aggregator.parameters.get("stopProcessingOnEmpty")
        if stop_on_empty is None:
            stop_on_empty = self.settings["make.aggregator.no_bundles"] == "none"
        if not collected and stop_on_empty is True:
            why = "no bundle reached it, so it outputs none and the flow after it does not run"
            self.event("aggregator-empty", bundle, depth, aggregator.id, label=aggregator.label, why=why)
            return []
        groups: dict[str, list[Any]] = {}
        keys: dict[str, Any] = {}
        for inner in collected:
            env = self.env(inner, aggregator.id, bundle, "aggregator mapper")
            row = aggregator.mapper.eval(env)
            key = aggregator.group_by.eval(env) if aggregator.group_by is not None else None
            text = _group_key(key)
            keys.setdefault(text, key)
            groups.setdefault(text, []).append(row)
        if not groups:
            groups[_group_key(None)] = []
        outs = []
        for text, rows in groups.items():
            output = _tools.aggregate(aggregator.module, aggregator.parameters, rows)
            if aggregator.group_by is not None:
                output = {"__IMTKEY__": keys.get(text), **output}
            self.operations += 1
            self.record(aggregator, bundle, output=output)
            data: dict[str, Any] = {
                "name": aggregator.module,
                "label": aggregator.label,
                "kind": "aggregator",
            }
            data.update(output=output, operations=1, received=len(rows))
            self.event("module", bundle, depth, aggregator.id, **data)
            outs.append(output)
        return outs

    def execute(self, module: Module, outputs: Outputs, bundle: int, depth: int) -> list[Any]:
        env = self.env(outputs, module.id, bundle)
        mapper = module.mapper.eval(env)
        protected = module.id in self.protected
        if protected:
            self.protected_ran = True
        operations = _actions.operations(module)
        self.operations += operations
        result = _actions.perform(self, module, mapper, env)
        self.clock_s += result.modelled_s
        self.http_wall_s += result.wall_s
        data: dict[str, Any] = {
            "name": module.module,
            "label": module.label,
            "mapper": mapper,
            "operations": operations,
            "kind": result.kind,
        }
        if protected:
            data["protected"] = True
        if result.request is not None:
            data["request"] = result.request
            data["response"] = result.response
            data["wall_ms"] = round(result.wall_s * 1000, 2)
            data["modelled_s"] = round(result.modelled_s, 3)
            if result.scripted_s:
                data["scripted_s"] = round(result.scripted_s, 3)
            if result.timing_note:
                data["timing_note"] = result.timing_note
        if result.error is not None:
            data["error"] = result.error.to_dict()
            self.record(module, bundle, error=result.error)
            self.event("module", bundle, depth, module.id, **data)
            raise result.error
        output = result.bundles[0] if len(result.bundles) == 1 else result.bundles
        if len(result.bundles) != 1 or module.module == FEEDER:
            data["bundles"] = len(result.bundles)
        data["output"] = output
        self.record(module, bundle, output=output)
        self.event("module", bundle, depth, module.id, **data)
        return result.bundles

    # -- routers
    def router(self, module: Module, outputs: Outputs, bundle: int, depth: int) -> None:
        self.event("router", bundle, depth, module.id, label=module.label, routes=len(module.routes))
        decisions = self.routes.setdefault(bundle, [])
        taken: list[int] = []
        fallbacks: list[Route] = []
        for route in module.routes:
            if route.fallback and self.settings["make.router.fallback_marker"] == "flag":
                fallbacks.append(route)
                continue
            first = route.flow[0]
            result = self.check(first.filter, outputs, first.id, bundle) if first.filter else None
            passed = result is None or result.passed
            why = "no filter: the route always runs" if result is None else _filter_why(result)
            self._route(module, route, bundle, depth + 1, result, passed, why, decisions)
            if passed:
                taken.append(route.index)
                self.flow(route.flow, dict(outputs), bundle, depth + 2, skip_first_filter=True)
        for route in fallbacks:
            if taken:
                self._route(
                    module,
                    route,
                    bundle,
                    depth + 1,
                    None,
                    False,
                    "fallback route: skipped because another route took the bundle",
                    decisions,
                )
                continue
            first = route.flow[0]
            result = None
            if first.filter and first.filter.groups:
                result = self.check(first.filter, outputs, first.id, bundle)
            passed = result is None or result.passed
            why = "fallback route: no other route took the bundle"
            self._route(module, route, bundle, depth + 1, result, passed, why, decisions)
            if passed:
                taken.append(route.index)
                self.flow(route.flow, dict(outputs), bundle, depth + 2, skip_first_filter=True)
        self.record(module, bundle, output={"routes_taken": taken})
        if not taken:
            self.event(
                "no-route",
                bundle,
                depth + 1,
                module.id,
                why="no route took the bundle: it stops here silently, with no error and no output",
            )

    def _route(
        self,
        router: Module,
        route: Route,
        bundle: int,
        depth: int,
        result: FilterResult | None,
        passed: bool,
        why: str,
        decisions: list[dict[str, Any]],
    ) -> None:
        record = {
            "router": router.id,
            "route": route.index,
            "label": route.label,
            "fallback": route.fallback,
            "taken": passed,
            "why": why,
            "filter": result.to_dict() if result is not None else None,
            "first_module": route.flow[0].id,
            "phase": self.phase,
        }
        decisions.append(record)
        self.event("route", bundle, depth, router.id, **record)

    # -- iterator / aggregator, if-else / merge (public patterns iterator-aggregator and if-else-merge)
    def status(self) -> str:
        if self.stop is not None:
            return self.stop.status
        if self.incompletes:
            if (
                all(i.resolved for i in self.incompletes)
                and self.settings["make.break.after_retry_success"] == "success"
            ):
                return "success"
            return "warning"
        return "success"


def _group_key(value: Any) -> str:
    return to_text(value)


def _filter_why(result: FilterResult) -> str:
    name = f"filter `{result.name}`" if result.name else "the filter"
    return f"{name} {'passed' if result.passed else 'did not pass'}"
