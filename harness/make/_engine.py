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

from hallsim.harness.make import _actions
from hallsim.harness.make._blueprint import LoadedBlueprint, Module, Route
from hallsim.harness.make._filters import Filter, FilterResult, evaluate_filter
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._iml import Env, MappingWarning
from hallsim.harness.make._names import DIRECTIVES, ROUTER, TRANSACTIONAL_APPS
from hallsim.harness.make._settings import ModuleOverride
from hallsim.harness.make._trace import Event, Incomplete, jsonable
from hallsim.harness.make._values import is_empty

Outputs = dict[int, Any]
OnEnd = Callable[[Outputs], None] | None

#: help.make.com "Exponential backoff" with incomplete executions enabled: minutes before each rerun
BACKOFF_MINUTES = (1, 10, 10, 30, 30, 30, 180, 180)
_BACKOFF_TYPES = ("ConnectionError", "RateLimitError", "ModuleTimeoutError")


class StopRun(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _RetryFailed(Exception):
    def __init__(self, error: ModuleError) -> None:
        super().__init__(str(error))
        self.error = error


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
    ) -> None:
        self.bp = blueprint
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
        self.stop: StopRun | None = None
        self.phase = "run"
        self.retrying: int | None = None
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
        )

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
        try:
            for number, bundle in enumerate(passes, 1):
                self.event("bundle-start", number, 0, input=bundle, of=len(passes))
                outputs: Outputs = {}
                if trigger is not None and bundle is not None:
                    outputs[trigger.id] = bundle
                    self._record(trigger, number, output=bundle)
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
                    self.flow(flow[1:], outputs, number, 1)
                else:
                    self.flow(flow, outputs, number, 1)
        except StopRun as stop:
            self.stop = stop
            self.event(
                "stop", 0, 0, status=stop.status, reason=stop.reason, **self._transactions(stop.status)
            )
        self.run_modelled_s = self.clock_s
        self.retries()

    def _transactions(self, status: str) -> dict[str, Any]:
        touched = sorted(
            module_id for module_id in self.executions if self.bp.modules[module_id].app in TRANSACTIONAL_APPS
        )
        if not touched:
            return {}
        return {"rolled_back" if status == "error" else "committed": touched}

    def _record(
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
                result = evaluate_filter(
                    module.filter, self.env(outputs, module.id, bundle, _in(module.filter)), self.coercion
                )
                self.event("filter", bundle, depth, module.id, label=module.label, result=result.to_dict())
                if not result.passed:
                    return
            name = module.module
            if name == ROUTER:
                self.router(module, outputs, bundle, depth)
                return
            if name == "builtin:BasicFeeder":
                self.feeder(modules, index, outputs, bundle, depth, on_end)
                return
            if name == "builtin:BasicIfElse":
                self.if_else(modules, index, outputs, bundle, depth, on_end)
                return
            try:
                outputs[module.id] = self.execute(module, outputs, bundle, depth)
            except ModuleError as error:
                self.on_error(module, error, outputs, bundle, depth, modules[index + 1 :], on_end)
                return
            index += 1
        if on_end is not None:
            on_end(outputs)

    def execute(self, module: Module, outputs: Outputs, bundle: int, depth: int) -> Any:
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
        if result.error is not None:
            data["error"] = result.error.to_dict()
            self._record(module, bundle, error=result.error)
            self.event("module", bundle, depth, module.id, **data)
            raise result.error
        data["output"] = result.output
        self._record(module, bundle, output=result.output)
        self.event("module", bundle, depth, module.id, **data)
        return result.output

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
            result = (
                evaluate_filter(
                    first.filter, self.env(outputs, first.id, bundle, _in(first.filter)), self.coercion
                )
                if first.filter
                else None
            )
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
                result = evaluate_filter(
                    first.filter, self.env(outputs, first.id, bundle, _in(first.filter)), self.coercion
                )
            passed = result is None or result.passed
            why = "fallback route: no other route took the bundle"
            self._route(module, route, bundle, depth + 1, result, passed, why, decisions)
            if passed:
                taken.append(route.index)
                self.flow(route.flow, dict(outputs), bundle, depth + 2, skip_first_filter=True)
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
        }
        decisions.append(record)
        self.event("route", bundle, depth, router.id, **record)

    # -- iterator / aggregator, if-else / merge (public patterns iterator-aggregator and if-else-merge)
    def feeder(
        self, modules: Sequence[Module], index: int, outputs: Outputs, bundle: int, depth: int, on_end: OnEnd
    ) -> None:
        module = modules[index]
        env = self.env(outputs, module.id, bundle)
        mapper = module.mapper.eval(env)
        array = mapper.get("array") if isinstance(mapper, dict) else None
        items = array if isinstance(array, list) else ([] if is_empty(array) else [array])
        self.operations += 1
        self._record(module, bundle, output={"items": len(items)})
        self.event(
            "module",
            bundle,
            depth,
            module.id,
            name=module.module,
            label=module.label,
            mapper=mapper,
            output={"items": len(items)},
            operations=1,
            kind="iterator",
        )
        end = next(
            (
                j
                for j in range(index + 1, len(modules))
                if modules[j].module == "builtin:BasicAggregator"
                and modules[j].parameters.get("feeder") == module.id
            ),
            None,
        )
        segment = modules[index + 1 : end] if end is not None else modules[index + 1 :]
        collected: list[Outputs] = []
        for position, item in enumerate(items, 1):
            element = dict(item) if isinstance(item, dict) else {"value": item}
            element["__IMTINDEX__"] = position
            element["__IMTLENGTH__"] = len(items)
            inner = dict(outputs)
            inner[module.id] = element
            self.event("feeder", bundle, depth + 1, module.id, item=position, of=len(items))
            self.flow(
                segment, inner, bundle, depth + 1, on_end=collected.append if end is not None else on_end
            )
        if end is None:
            return
        aggregator = modules[end]
        array_out = []
        for inner in collected:
            value = aggregator.mapper.eval(self.env(inner, aggregator.id, bundle, "aggregator mapper"))
            array_out.append(value if value is not None else {})
        output = {"array": array_out, "__IMTAGGLENGTH__": len(array_out)}
        self.operations += 1
        self._record(aggregator, bundle, output=output)
        self.event(
            "module",
            bundle,
            depth,
            aggregator.id,
            name=aggregator.module,
            label=aggregator.label,
            output=output,
            operations=1,
            kind="aggregator",
        )
        after = dict(outputs)
        after[aggregator.id] = output
        self.flow(modules[end + 1 :], after, bundle, depth, on_end=on_end)

    def if_else(
        self, modules: Sequence[Module], index: int, outputs: Outputs, bundle: int, depth: int, on_end: OnEnd
    ) -> None:
        module = modules[index]
        chosen = None
        decisions = []
        for branch in module.branches:
            if branch.kind == "else" or branch.filter is None:
                chosen = branch
                decisions.append({"branch": branch.index, "label": branch.label or "else", "passed": True})
                break
            result = evaluate_filter(
                branch.filter, self.env(outputs, module.id, bundle, _in(branch.filter)), self.coercion
            )
            decisions.append(
                {
                    "branch": branch.index,
                    "label": branch.label,
                    "passed": result.passed,
                    "filter": result.to_dict(),
                }
            )
            if result.passed:
                chosen = branch
                break
        self.event(
            "ifelse",
            bundle,
            depth,
            module.id,
            label=module.label,
            decisions=decisions,
            chosen=chosen.index if chosen else None,
        )
        if chosen is None:
            return
        merge = (
            modules[index + 1]
            if index + 1 < len(modules) and modules[index + 1].module == "builtin:BasicMerge"
            else None
        )
        if not (chosen.merge and merge is not None):
            self.flow(chosen.flow, dict(outputs), bundle, depth + 1)
            return
        ends: list[Outputs] = []
        self.flow(chosen.flow, dict(outputs), bundle, depth + 1, on_end=ends.append)
        position = [b.index for b in module.branches if b.merge].index(chosen.index)
        for end in ends:
            env = self.env(end, merge.id, bundle, "merge outputs")
            merged = {
                name: maps[position].eval(env) if position < len(maps) else None
                for name, maps in merge.merge_outputs
            }
            self.event(
                "module",
                bundle,
                depth,
                merge.id,
                name=merge.module,
                label=merge.label,
                output=merged,
                operations=0,
                kind="merge",
            )
            after = dict(end)
            after[merge.id] = merged
            self.flow(modules[index + 2 :], after, bundle, depth, on_end=on_end)

    # -- errors
    def on_error(
        self,
        module: Module,
        error: ModuleError,
        outputs: Outputs,
        bundle: int,
        depth: int,
        rest: Sequence[Module],
        on_end: OnEnd,
    ) -> None:
        if self.retrying == module.id:
            raise _RetryFailed(error)
        if error.fatal:
            self.event(
                "error",
                bundle,
                depth,
                module.id,
                error=error.to_dict(),
                handled=False,
                why="AccountValidationError is fatal: error handlers do not handle it (make.md Error types)",
            )
            raise StopRun(
                "error", f"module {module.id} failed with {error.type}, which no error handler handles"
            )
        if not module.onerror:
            if self.bp.scenario.dlq:
                backoff = error.type in _BACKOFF_TYPES
                self._store(
                    module,
                    error,
                    outputs,
                    bundle,
                    depth,
                    rest,
                    directive="(no handler)",
                    retry=backoff,
                    count=len(BACKOFF_MINUTES),
                    interval=0.0,
                )
                return
            raise StopRun(
                "error",
                f"module {module.id} failed with {error.type} and has no error handler: the run "
                "stops and rolls back",
            )
        failed = dict(outputs)
        failed[module.id] = {"error": {"type": error.type, "name": error.type, "message": error.message}}
        self.event(
            "error-route",
            bundle,
            depth,
            module.id,
            error=error.to_dict(),
            handlers=[h.id for h in module.onerror],
        )
        for handler in module.onerror:
            if handler.module in DIRECTIVES:
                self.directive(module, handler, error, outputs, failed, bundle, depth + 1, rest, on_end)
                return
            if handler.filter is not None:
                result = evaluate_filter(
                    handler.filter, self.env(failed, handler.id, bundle, _in(handler.filter)), self.coercion
                )
                self.event(
                    "filter", bundle, depth + 1, handler.id, label=handler.label, result=result.to_dict()
                )
                if not result.passed:
                    break
            try:
                failed[handler.id] = self.execute(handler, failed, bundle, depth + 1)
            except ModuleError as inner:
                raise StopRun(
                    "error",
                    f"module {handler.id} failed with {inner.type} inside the error route of "
                    f"module {module.id}: an error inside an error route fails the run",
                ) from None
        self.event(
            "directive",
            bundle,
            depth + 1,
            module.id,
            directive=None,
            acts_as="builtin:Ignore",
            why="the error route ends without a directive, which acts as Ignore",
        )

    def directive(
        self,
        module: Module,
        handler: Module,
        error: ModuleError,
        outputs: Outputs,
        failed: Outputs,
        bundle: int,
        depth: int,
        rest: Sequence[Module],
        on_end: OnEnd,
    ) -> None:
        name = handler.module
        mapper = handler.mapper.eval(self.env(failed, handler.id, bundle))
        if name == "builtin:Ignore":
            self.event(
                "directive",
                bundle,
                depth,
                handler.id,
                directive=name,
                why="Ignore: the bundle is dropped; other bundles continue; status success",
            )
            return
        if name == "builtin:Resume":
            substitute = mapper if isinstance(mapper, dict) else {}
            self.event(
                "directive",
                bundle,
                depth,
                handler.id,
                directive=name,
                substitute=substitute,
                why=f"Resume: module {module.id} outputs the substitute and the flow continues",
            )
            resumed = dict(outputs)
            resumed[module.id] = substitute
            self.flow(rest, resumed, bundle, depth - 1, on_end=on_end)
            return
        if name == "builtin:Commit":
            self.event(
                "directive",
                bundle,
                depth,
                handler.id,
                directive=name,
                why="Commit: the run stops here, changes are committed; status success",
            )
            raise StopRun("success", f"Commit on module {module.id}'s error route stopped the run")
        if name == "builtin:Rollback":
            self.event(
                "directive",
                bundle,
                depth,
                handler.id,
                directive=name,
                why="Rollback: the run stops, transactional modules revert; status error",
            )
            raise StopRun("error", f"Rollback on module {module.id}'s error route stopped the run")
        settings = mapper if isinstance(mapper, dict) else {}
        retry = settings.get("retry", self.settings["make.break.retry"])
        retry = retry is True or str(retry).lower() == "true"
        count = int(float(settings.get("count") or 3))
        interval = float(settings.get("interval") or 15)
        if not self.bp.scenario.dlq:
            self.notes.append(
                f"module {handler.id}: Break needs 'Allow storing of incomplete executions' "
                "(metadata.scenario.dlq), which this blueprint leaves off; replayed as if it were on"
            )
        self._store(
            module,
            error,
            outputs,
            bundle,
            depth - 1,
            rest,
            directive=name,
            retry=retry,
            count=count,
            interval=interval,
        )

    def _store(
        self,
        module: Module,
        error: ModuleError,
        outputs: Outputs,
        bundle: int,
        depth: int,
        rest: Sequence[Module],
        *,
        directive: str,
        retry: bool,
        count: int,
        interval: float,
    ) -> None:
        incomplete = Incomplete(
            len(self.incompletes) + 1,
            bundle,
            module.id,
            error.to_dict(),
            (module, *rest),
            dict(outputs),
            depth,
            retry,
            count,
            interval,
            directive,
        )
        self.incompletes.append(incomplete)
        if directive == "(no handler)":
            later = f"; {error.type} is rerun with exponential backoff" if retry else " for manual resolution"
            why = f"no error handler, but incomplete executions are allowed: the bundle is stored{later}"
        else:
            why = f"Break: the bundle is stored as incomplete execution {incomplete.number}; " + (
                f"retried up to {count} times every {interval:g} min" if retry else "resolve it by hand"
            )
        self.event(
            "incomplete", bundle, depth + 1, module.id, number=incomplete.number, directive=directive, why=why
        )

    # -- Break retries, simulated after the run on the virtual clock (no wall time)
    def retries(self) -> None:
        index = 0
        while index < len(self.incompletes):
            incomplete = self.incompletes[index]
            index += 1
            if not incomplete.retry:
                continue
            for attempt in range(1, incomplete.count + 1):
                wait = (
                    BACKOFF_MINUTES[attempt - 1]
                    if incomplete.directive == "(no handler)"
                    else incomplete.interval_min
                )
                self.clock_s += wait * 60
                self.phase = f"retry {attempt} of incomplete execution {incomplete.number}"
                at_minutes = round(self.clock_s / 60, 2)
                self.event(
                    "retry",
                    incomplete.bundle,
                    incomplete.depth,
                    incomplete.module,
                    number=incomplete.number,
                    attempt=attempt,
                    at_minutes=at_minutes,
                )
                self.retrying = incomplete.module
                outcome: dict[str, Any] = {"attempt": attempt, "at_minutes": at_minutes}
                try:
                    self.flow(
                        incomplete.remaining,
                        dict(incomplete.outputs),
                        incomplete.bundle,
                        incomplete.depth,
                        skip_first_filter=True,
                    )
                    outcome["result"] = "completed"
                except _RetryFailed as failed:
                    outcome["result"] = "failed"
                    outcome["error"] = failed.error.to_dict()
                except StopRun as stop:
                    outcome["result"] = "completed" if stop.status == "success" else "failed"
                    outcome["stopped"] = stop.reason
                finally:
                    self.retrying = None
                incomplete.attempts.append(outcome)
                self.event(
                    "retry-end",
                    incomplete.bundle,
                    incomplete.depth,
                    incomplete.module,
                    number=incomplete.number,
                    **outcome,
                )
                if outcome["result"] == "completed":
                    incomplete.resolved = True
                    break
            self.phase = "run"

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


def _in(flt: Filter) -> str:
    return f"filter `{flt.name}`" if flt.name else "filter"


def _filter_why(result: FilterResult) -> str:
    name = f"filter `{result.name}`" if result.name else "the filter"
    return f"{name} {'passed' if result.passed else 'did not pass'}"
