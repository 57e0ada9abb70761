"""`hallsim run [PATH ...]`: run scenario files without pytest and print a summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hallsim.cli.commands import _console, _reports
from hallsim.cli.commands._errors import user_errors

if TYPE_CHECKING:
    from rich.console import Console

    from hallsim.harness.runner import ScenarioResult
    from hallsim.harness.scenario import HallSpec


@click.command(
    "run",
    help="""Run scenario files (*.scenario.yaml) and print a summary table.

\b
PATHS are scenario files or folders searched for them; without PATHS, the folder `scenarios/` of the
current directory. Every run is also held to the fail-closed rule (the protected action may run only after
a well-formed allow) unless the scenario pins a fail-open gate (`pins_fail_open: true`).

\b
Exit status, in the matrix's words for what a failed scenario says about its gate:
  0  every scenario passed
  1  a scenario failed: an expectation did not hold, or a run failed open
  2  a scenario could not be loaded or run (no scenario files at all, a broken file, the emulator's error)
  3  a failed run did not run the protected action after a good allow (the gate is broken)
""",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--events", "events", type=click.IntRange(1, 10_000), help="Run each scenario over N generated events."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for --events (same seed, same events)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead of a table.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the trace of scenarios that passed.")
@_reports.html_option
@_reports.junit_option
@user_errors
def command(
    paths: tuple[Path, ...],
    events: int | None,
    seed: int,
    as_json: bool,
    verbose: bool,
    html: Path | None,
    junit: Path | None,
) -> None:
    from hallsim.cli._signals import note_finished
    from hallsim.harness._errors import HarnessError, InputError
    from hallsim.harness.runner import run_scenario
    from hallsim.harness.scenario import find_scenarios, load_scenario

    searched = paths or (Path("scenarios"),)
    files = find_scenarios(searched)
    if not files:
        raise InputError(f"{', '.join(map(str, searched))}: no scenario files (*.scenario.yaml) found")

    from hallsim.emulator import HallEmulator

    console = _console.console()
    results: list[ScenarioResult] = []
    broken: list[tuple[Path, str]] = []
    with HallEmulator() as emulator, console.status("running scenarios...") as status:
        for path in files:
            status.update(f"running {path}")
            try:
                scenario = load_scenario(path)
            except HarnessError as err:
                broken.append((path, str(err)))
                continue
            if events:
                scenario = scenario.with_generated_events(events, seed)
            results.append(run_scenario(scenario, emulator=emulator))
            note_finished(f"{path}: {results[-1].status}")  # listed if a signal stops hallsim

    if as_json:
        click.echo(json.dumps(_as_json(results, broken), indent=2, ensure_ascii=False))
    else:
        _print_table(console, results, broken, verbose)
    _reports.write_scenarios(results, broken, html, junit)
    from hallsim.harness.verdict import GateVerdict, exit_status

    verdicts: list[GateVerdict] = ["error"] if broken else []
    for result in results:
        gate = result.gate
        if gate is not None:
            verdicts.append(gate)
    code = exit_status(verdicts)
    if code == 0 and any(not r.passed for r in results):
        code = 1
    raise SystemExit(code)


def _print_table(
    console: Console, results: list[ScenarioResult], broken: list[tuple[Path, str]], verbose: bool
) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="hallsim scenarios", title_justify="left")
    table.add_column("scenario", no_wrap=True, overflow="fold")
    table.add_column("hall", no_wrap=True, overflow="ellipsis", max_width=24)
    table.add_column("runs", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("time", justify="right", no_wrap=True)
    for result in results:
        scenario = result.scenario
        hall = _hall_label(scenario.hall)
        style = {"passed": "green", "failed": "bold red", "error": "bold red"}[result.status]
        label = result.status
        if result.passed and result.fail_open_runs:
            label += f" (pins {result.fail_open_runs} fail-open)"
        table.add_row(
            _label(scenario.path),
            hall,
            str(len(result.runs)),
            f"[{style}]{label}[/]",
            f"{result.duration_s:.2f}s",
        )
    for path, _message in broken:
        table.add_row(_label(path), "-", "0", "[bold red]error[/]", "-")
    console.print(table)
    for path, message in broken:
        console.print(f"\n[bold red]{escape(str(path))}[/]: could not load")
        console.print(message, markup=False, soft_wrap=True)
    for result in results:
        if not result.passed:
            console.print(f"\n[bold red]FAILED[/] {escape(str(result.scenario.path))}")
            console.print(result.report(), markup=False, soft_wrap=True)
        elif verbose:
            for run in result.runs:
                console.print(f"\n[green]passed[/] {escape(str(result.scenario.path))}: {escape(run.label)}")
                console.print(run.trace, markup=False, soft_wrap=True)
    passed = sum(1 for r in results if r.passed)
    total = len(results) + len(broken)
    colour = "green" if passed == total else "bold red"
    console.print(f"\n[{colour}]{passed} of {total} scenarios passed[/]")


def _as_json(results: list[ScenarioResult], broken: list[tuple[Path, str]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for result in results:
        rows.append(
            {
                "scenario": str(result.scenario.path),
                "name": result.scenario.name,
                "workflow": str(result.scenario.workflow),
                "status": result.status,
                "gate": result.gate,
                "pins_fail_open": result.scenario.pins_fail_open,
                "fail_open_runs": result.fail_open_runs,
                "runs": [
                    {
                        "event": run.label,
                        "passed": run.passed,
                        "fail_open": run.fail_open,
                        "verdict": run.verdict.to_json() if run.verdict is not None else None,
                        "error": run.error,
                        "mismatches": [
                            {"where": m.where, "expected": m.expected, "actual": m.actual}
                            for m in run.mismatches
                        ],
                    }
                    for run in result.runs
                ],
                "problems": [
                    {"where": m.where, "expected": m.expected, "actual": m.actual} for m in result.problems
                ],
                "error": result.error,
                # every setting the runs used, the platforms' UNCONFIRMED choices included
                "settings": result.settings,
                "duration_s": round(result.duration_s, 3),
            }
        )
    for path, message in broken:
        rows.append({"scenario": str(path), "status": "error", "error": message})
    return rows


def _label(path: Path) -> str:
    """A scenario file as the table shows it: its path without the `.scenario.yaml` suffix."""
    text = str(path)
    for suffix in (".scenario.yaml", ".scenario.yml"):
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _hall_label(hall: HallSpec) -> str:
    if isinstance(hall.behaviour, str):
        return hall.behaviour
    if isinstance(hall.behaviour, dict):
        return str(hall.behaviour.get("behaviour", "?"))
    return "script" if hall.script else "rules"
