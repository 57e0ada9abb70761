"""`--html FILE` and `--junit FILE`: the report files the matrix, run and replay commands can write."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from hallsim.harness.matrix import MatrixResult
    from hallsim.harness.report import Report
    from hallsim.harness.runner import ScenarioResult
    from hallsim.harness.workflow import Workflow, WorkflowRun

html_option = click.option(
    "--html",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the results as one self-contained HTML page (opens offline, secrets masked).",
)
junit_option = click.option(
    "--junit",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the results as JUnit XML, one test case per row or scenario.",
)


def _command() -> str:
    return "hallsim " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])


def _write(report: Report, html: Path | None, junit: Path | None) -> None:
    from hallsim.harness.report import write_html, write_junit

    for path, write in ((html, write_html), (junit, write_junit)):
        if path is None:
            continue
        try:
            write(report, path)
        except OSError as err:
            from hallsim.cli.commands._errors import UserError

            raise UserError(f"{path}: cannot write the report: {err.strerror or err}") from None
        click.echo(f"report written: {path}", err=True)


def write_matrix(result: MatrixResult, html: Path | None, junit: Path | None) -> None:
    if html is None and junit is None:
        return
    from hallsim.harness.report import matrix_report

    _write(matrix_report(result, command=_command()), html, junit)


def write_scenarios(
    results: Sequence[ScenarioResult],
    broken: Sequence[tuple[Path, str]],
    html: Path | None,
    junit: Path | None,
) -> None:
    if html is None and junit is None:
        return
    from hallsim.harness.report import scenario_report

    _write(scenario_report(results, broken, command=_command()), html, junit)


def write_replay(
    workflow: Workflow, run: WorkflowRun, hall: str, html: Path | None, secrets: Iterable[str | None] = ()
) -> None:
    if html is None:
        return
    from hallsim.harness.report import replay_report

    _write(replay_report(workflow, run, hall=hall, command=_command(), secrets=secrets), html, None)
