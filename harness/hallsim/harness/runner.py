"""Run a scenario: script the emulator, run the workflow once per event, check the expectations.

`hallsim run` and the pytest plugin both call `run_scenario`, so they always agree."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hallsim.harness._errors import HarnessError
from hallsim.harness.expectations import ExpectationFailure, Mismatch, check_run, render_failure, show
from hallsim.harness.record import RunRecord
from hallsim.harness.scenario import Scenario
from hallsim.harness.verdict import GateVerdict, RunVerdict, judge_run
from hallsim.harness.workflow import HallEndpoint, Workflow, load_workflow

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.emulator.journal import JournalEntry

#: the rule every run is held to (verdict.py): the protected action may run only after a well-formed allow
FAIL_CLOSED_RULE = "the protected action runs only after a well-formed allow from the Hall"


@dataclass(frozen=True)
class EventRun:
    """One run of the scenario's workflow, for one trigger event."""

    label: str
    event: Any
    #: the run's typed record; None when the run could not happen (`error`)
    record: RunRecord | None
    trace: str
    mismatches: tuple[Mismatch, ...]
    fail_open: bool
    #: a harness or emulator error that stopped the run (bad input, Node missing, ...)
    error: str | None = None
    #: every setting the run used
    settings: dict[str, Any] = field(default_factory=dict)
    #: the run judged by the fail-closed rule (None when it could not run)
    verdict: RunVerdict | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None

    @property
    def hall_requests(self) -> tuple[JournalEntry, ...]:
        return self.record.hall_requests if self.record is not None else ()


@dataclass(frozen=True)
class ScenarioResult:
    scenario: Scenario
    runs: tuple[EventRun, ...]
    #: problems with the scenario as a whole (a stale `pins_fail_open`)
    problems: tuple[Mismatch, ...] = ()
    duration_s: float = 0.0
    #: the scenario could not run at all
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.error is None and not self.problems and all(r.passed for r in self.runs)

    @property
    def status(self) -> str:
        if self.error is not None or any(r.error for r in self.runs):
            return "error"
        return "passed" if self.passed else "failed"

    @property
    def fail_open_runs(self) -> int:
        return sum(1 for r in self.runs if r.fail_open)

    @property
    def gate(self) -> GateVerdict | None:
        """What the scenario's failure says about the gate, in the matrix's words: error (could not run),
        fail-open (a run failed open and the scenario does not pin it), broken (a failed run did not run the
        protected action after a good allow); None when it passed or failed only on an expectation."""
        if self.status == "error":
            return "error"
        if not self.scenario.pins_fail_open and any(r.fail_open for r in self.runs):
            return "fail-open"
        failed = [r for r in self.runs if not r.passed]
        if any(r.verdict is not None and r.verdict.gate == "broken" for r in failed):
            return "broken"
        return None

    def report(self) -> str:
        """Expected against actual for every failed run, with its trace; empty when the scenario passed."""
        if self.error is not None:
            return f"{self.scenario.path}: {self.error}"
        parts = [self.headline()] if not self.passed else []
        if self.problems:
            parts.append(
                render_failure(self.problems, title=f"{self.scenario.path}: scenario {self.scenario.name!r}")
            )
        failed = [r for r in self.runs if not r.passed]
        for run in failed[:3]:
            title = f"{self.scenario.path}: {run.label}"
            if len(self.runs) > 1:
                title += f"\n  event: {show(run.event)}"
            if run.error is not None:
                parts.append(f"{title}\n\n{run.error}")
            else:
                parts.append(render_failure(run.mismatches, title=title, trace=run.trace))
        if len(failed) > 3:
            parts.append(f"... and {len(failed) - 3} more failed runs out of {len(self.runs)}")
        return "\n\n".join(parts)

    def headline(self) -> str:
        """The first thing that went wrong, in one line (what pytest's summary shows first)."""
        for run in self.runs:
            if run.error is not None:
                return f"could not run: {run.error.splitlines()[0]}"
            if run.mismatches:
                first = run.mismatches[0]
                more = len(run.mismatches) - 1
                extra = f" (+{more} more)" if more else ""
                return f"{first.where}: expected {first.expected}; actual {first.actual}{extra}"
        if self.problems:
            first = self.problems[0]
            return f"{first.where}: expected {first.expected}; actual {first.actual}"
        return f"{self.scenario.path}: failed"

    def raise_for_failure(self) -> None:
        if not self.passed:
            mismatches = [m for r in self.runs for m in r.mismatches] + list(self.problems)
            raise ExpectationFailure(self.report(), mismatches)


def run_scenario(
    scenario: Scenario, *, emulator: HallEmulator | None = None, workflow: Workflow | None = None
) -> ScenarioResult:
    """Run every event of the scenario against `emulator` (or one started for this call) and check it."""
    from hallsim.emulator import EmulatorError

    started = time.perf_counter()
    try:
        workflow = workflow or load_workflow(scenario.workflow)
        with _emulator(emulator) as hall:
            runs = tuple(
                _run_event(scenario, workflow, hall, label, event)
                for label, event in zip(scenario.event_labels, scenario.events, strict=True)
            )
    except (HarnessError, EmulatorError) as err:
        return ScenarioResult(scenario, (), error=str(err), duration_s=time.perf_counter() - started)
    problems: list[Mismatch] = []
    if (
        scenario.pins_fail_open
        and runs
        and not any(r.fail_open for r in runs)
        and all(r.error is None for r in runs)
    ):
        problems.append(
            Mismatch(
                "pins_fail_open",
                "at least one run fails open (the scenario pins that on purpose)",
                "no run failed open: the gate now fails closed; remove `pins_fail_open` and update the "
                "expectations",
            )
        )
    settings: dict[str, Any] = next((r.settings for r in runs if r.record is not None), {})
    return ScenarioResult(scenario, runs, tuple(problems), time.perf_counter() - started, settings=settings)


@contextmanager
def _emulator(emulator: HallEmulator | None) -> Iterator[HallEmulator]:
    if emulator is not None:
        yield emulator
        return
    from hallsim.emulator import HallEmulator

    with HallEmulator() as own:
        yield own


def configure_hall(emulator: HallEmulator, scenario: Scenario) -> None:
    """Put the emulator in the state the scenario's `hall:` describes, from a clean start."""
    emulator.reset()
    hall = scenario.hall
    if hall.behaviour is not None:
        emulator.set_default(hall.behaviour)
    elif scenario.hall_script is not None:
        emulator.load_script(scenario.hall_script)
    else:
        emulator.set_default(hall.default or "allow")
        emulator.set_rules(list(hall.rules or ()))


def _run_event(
    scenario: Scenario, workflow: Workflow, emulator: HallEmulator, label: str, event: Any
) -> EventRun:
    configure_hall(emulator, scenario)
    token = scenario.hall.token if scenario.hall.token is not None else next(iter(emulator.tokens))
    endpoint = HallEndpoint(emulator.url, token, emulator)
    settings = {**scenario.settings, "time_scale": scenario.time_scale}
    try:
        run = workflow.run(
            endpoint,
            event=event,
            variables=scenario.variables or None,
            settings=settings,
            stubs=scenario.stubs,
        )
    except HarnessError as err:
        return EventRun(label, event, None, "", (), fail_open=False, error=str(err))
    record = run.record
    judged = judge_run(record)
    if judged.errors:
        # the emulator's own exception: the run says nothing about the gate
        error = "; ".join(judged.errors)
        return EventRun(label, event, record, run.render(), (), False, error=error, verdict=judged)
    mismatches = check_run(scenario.expect, record)
    fail_open = judged.fail_open
    if fail_open and not scenario.pins_fail_open:
        cause = f"; why: {judged.cause.line()}" if judged.cause is not None else ""
        mismatches.append(
            Mismatch(
                "fail-closed rule",
                FAIL_CLOSED_RULE,
                "; ".join(judged.unallowed)
                + cause
                + " (pin today's behaviour with `pins_fail_open: true` and a `note:` if this is known)",
            )
        )
    return EventRun(
        label,
        event,
        record,
        run.render(),
        tuple(mismatches),
        fail_open,
        settings=dict(run.settings),
        verdict=judged,
    )
