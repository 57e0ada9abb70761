"""Errors and what handles them (shared/reference/make.md "Error handlers"): the error route runs its modules,
then its directive acts; AccountValidationError is fatal and no handler handles it; Break stores an
incomplete execution whose retries run after the run on the virtual clock.

Break (help.make.com "Break error handler"): the failing bundle is stored with the rest of its flow and
retried `count` times every `interval` minutes when `retry` is on; the other bundles continue; the run ends
with a warning. With no handler but incomplete executions allowed (help.make.com "Incomplete executions";
"Directives for error handling": Rollback is the default only when storing them is off), the bundle is
stored, except on the scenario's first module ("Errors that don't create incomplete executions");
ConnectionError, RateLimitError and ModuleTimeoutError are rerun with the documented backoff
(help.make.com "Automatic retry of incomplete executions": 1, 10, 10, 30, 30, 30, 180, 180 min)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._names import DIRECTIVES
from hallsim.harness.make._trace import Incomplete

if TYPE_CHECKING:
    from hallsim.harness.make._blueprint import Module
    from hallsim.harness.make._engine import Engine, OnEnd, Outputs

#: help.make.com "Exponential backoff" with incomplete executions enabled: minutes before each rerun
BACKOFF_MINUTES = (1, 10, 10, 30, 30, 30, 180, 180)
_BACKOFF_TYPES = ("ConnectionError", "RateLimitError", "ModuleTimeoutError")


class StopRun(Exception):
    """Ends the whole run (Commit, Rollback, a fatal error, an unhandled error): other bundles do not run."""

    def __init__(self, status: str, reason: str, module: int) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.module = module  # the module whose error stopped the run


class RetryFailed(Exception):
    def __init__(self, error: ModuleError) -> None:
        super().__init__(str(error))
        self.error = error


def on_error(
    engine: Engine,
    module: Module,
    error: ModuleError,
    outputs: Outputs,
    bundle: int,
    depth: int,
    rest: Sequence[Module],
    on_end: OnEnd,
) -> None:
    if engine.retrying == module.id:
        raise RetryFailed(error)
    if engine.error_routes:
        raise StopRun(
            "error",
            f"module {module.id} failed with {error.type} inside the error route of module "
            f"{engine.error_routes[-1]}: an error inside an error route fails the run",
            module.id,
        )
    if error.fatal:
        engine.event(
            "error",
            bundle,
            depth,
            module.id,
            error=error.to_dict(),
            handled=False,
            why="AccountValidationError is fatal: error handlers do not handle it (make.md Error types)",
        )
        raise StopRun(
            "error", f"module {module.id} failed with {error.type}, which no error handler handles", module.id
        )
    if not module.onerror:
        # help.make.com "Errors that don't create incomplete executions": an error on the scenario's first
        # module is not stored (only a Break handler on it stores one), so it stops the run like no dlq
        first = engine.bp.flow[0].id == module.id
        if engine.bp.scenario.dlq and not first:
            backoff = error.type in _BACKOFF_TYPES
            store(
                engine,
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
        stored = (
            " (an error on the first module is not stored as an incomplete execution)"
            if first and engine.bp.scenario.dlq
            else ""
        )
        raise StopRun(
            "error",
            f"module {module.id} failed with {error.type} and has no error handler: the run "
            f"stops and rolls back{stored}",
            module.id,
        )
    failed = dict(outputs)
    failed[module.id] = {"error": {"type": error.type, "name": error.type, "message": error.message}}
    engine.event(
        "error-route",
        bundle,
        depth,
        module.id,
        error=error.to_dict(),
        handlers=[h.id for h in module.onerror],
    )
    # the error route's modules run as a flow (filters, routers, iterators as anywhere else); an error in
    # any of them fails the run (make.md "Error handlers"), checked at the top of on_error
    last = module.onerror[-1]
    body = module.onerror[:-1] if last.module in DIRECTIVES else module.onerror
    reached: list[Outputs] = []
    engine.error_routes.append(module.id)
    try:
        engine.flow(body, failed, bundle, depth + 1, on_end=reached.append)
    finally:
        engine.error_routes.pop()
    if last.module in DIRECTIVES and reached:
        directive(engine, module, last, error, outputs, reached[-1], bundle, depth + 1, rest, on_end)
        return
    if last.module in DIRECTIVES:  # the bundle did not get to it: a filter in the route stopped it
        why = f"the bundle did not reach {last.module} at the end of the error route: acts as Ignore"
    else:
        why = "the error route ends without a directive, which acts as Ignore"
    engine.event("directive", bundle, depth + 1, module.id, directive=None, acts_as="builtin:Ignore", why=why)


#: the directives that stop the run: the status it ends with, and what happens to the changes (make.md
#: "Error handlers")
_STOPS = {
    "builtin:Commit": ("success", " here, changes are committed"),
    "builtin:Rollback": ("error", ", transactional modules revert"),
}


def directive(
    engine: Engine,
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
    mapper = handler.mapper.eval(engine.env(failed, handler.id, bundle))
    engine.record(handler, bundle, output={"directive": name})

    def announce(why: str, **extra: Any) -> None:
        engine.event("directive", bundle, depth, handler.id, directive=name, why=why, **extra)

    if name == "builtin:Ignore":
        announce("Ignore: the bundle is dropped; other bundles continue; status success")
        return
    if name == "builtin:Resume":
        substitute = mapper if isinstance(mapper, dict) else {}
        announce(
            f"Resume: module {module.id} outputs the substitute and the flow continues", substitute=substitute
        )
        resumed = dict(outputs)
        resumed[module.id] = substitute
        engine.flow(rest, resumed, bundle, depth - 1, on_end=on_end)
        return
    if name in _STOPS:
        status, effect = _STOPS[name]
        verb = name.removeprefix("builtin:")
        announce(f"{verb}: the run stops{effect}; status {status}")
        raise StopRun(status, f"{verb} on module {module.id}'s error route stopped the run", module.id)
    settings = mapper if isinstance(mapper, dict) else {}
    retry = settings.get("retry", engine.settings["make.break.retry"])
    retry = retry is True or str(retry).lower() == "true"
    # constants are checked when the blueprint loads; a mapped value that is not a number falls back to
    # Make's default (3 attempts, 15 minutes) and says so
    count = int(_number(engine, handler, settings, "count", 3))
    interval = _number(engine, handler, settings, "interval", 15)
    if not engine.bp.scenario.dlq:
        engine.notes.append(
            f"module {handler.id}: Break needs 'Allow storing of incomplete executions' "
            "(metadata.scenario.dlq), which this blueprint leaves off; replayed as if it were on"
        )
    store(
        engine,
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


def _number(engine: Engine, handler: Module, settings: dict[str, Any], key: str, default: float) -> float:
    value = settings.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
        if math.isfinite(number) and number >= 0:
            return number
    except (TypeError, ValueError):
        pass
    engine.notes.append(
        f"module {handler.id}: Break `{key}` resolved to {value!r}, not a number; used Make's default "
        f"{default:g}"
    )
    return default


def store(
    engine: Engine,
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
        len(engine.incompletes) + 1,
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
    engine.incompletes.append(incomplete)
    if directive == "(no handler)":
        later = f"; {error.type} is rerun with exponential backoff" if retry else " for manual resolution"
        why = f"no error handler, but incomplete executions are allowed: the bundle is stored{later}"
    else:
        why = f"Break: the bundle is stored as incomplete execution {incomplete.number}; " + (
            f"retried up to {count} times every {interval:g} min" if retry else "resolve it by hand"
        )
    engine.event(
        "incomplete", bundle, depth + 1, module.id, number=incomplete.number, directive=directive, why=why
    )


# -- Break retries, simulated after the run on the virtual clock (no wall time)
def retries(engine: Engine) -> None:
    index = 0
    while index < len(engine.incompletes):
        incomplete = engine.incompletes[index]
        index += 1
        if not incomplete.retry:
            continue
        for attempt in range(1, incomplete.count + 1):
            wait = (
                BACKOFF_MINUTES[attempt - 1]
                if incomplete.directive == "(no handler)"
                else incomplete.interval_min
            )
            engine.clock_s += wait * 60
            engine.phase = f"retry {attempt} of incomplete execution {incomplete.number}"
            at_minutes = round(engine.clock_s / 60, 2)
            engine.event(
                "retry",
                incomplete.bundle,
                incomplete.depth,
                incomplete.module,
                number=incomplete.number,
                attempt=attempt,
                at_minutes=at_minutes,
            )
            engine.retrying = incomplete.module
            outcome: dict[str, Any] = {"attempt": attempt, "at_minutes": at_minutes}
            try:
                engine.flow(
                    incomplete.remaining,
                    dict(incomplete.outputs),
                    incomplete.bundle,
                    incomplete.depth,
                    skip_first_filter=True,
                )
                outcome["result"] = "completed"
            except RetryFailed as failed:
                outcome["result"] = "failed"
                outcome["error"] = failed.error.to_dict()
            except StopRun as stop:
                outcome["result"] = "completed" if stop.status == "success" else "failed"
                outcome["stopped"] = stop.reason
            finally:
                engine.retrying = None
            incomplete.attempts.append(outcome)
            engine.event(
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
        engine.phase = "run"
