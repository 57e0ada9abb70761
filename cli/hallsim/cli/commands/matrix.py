"""`hallsim matrix WORKFLOW ...`: run a gate against every Hall behaviour and the Hall unreachable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hallsim.cli.commands import _console, _reports
from hallsim.cli.commands._errors import user_errors
from hallsim.cli.commands._inputs import check_behaviour, parse_vars, read_event_file

if TYPE_CHECKING:
    from rich.console import Console

    from hallsim.harness.matrix import MatrixReport, MatrixResult

_GATE_STYLE = {
    "fail-open": "bold red",
    "error": "bold magenta",
    "broken": "bold yellow",
    "fail-closed": "green",
}

_VERDICT_STYLE = {
    "FAIL-OPEN": "bold white on red",
    "blocked on a good allow": "bold yellow",
    "error": "bold magenta",
    "fail-closed": "green",
    "ran on allow": "green",
}


_HELP = """Run a gate against every Hall failure and report where it fails open.

\b
Each row is one Hall behaviour (plus the Hall unreachable); the rule: the protected action may run only
after a well-formed allow. Each gate (workflow) then gets one verdict:
  fails open     a row ran the protected action without a well-formed allow
  could not run  hallsim could not run a row (its own error, the emulator's exception, Node missing)
  is broken      the protected action does not run after a good allow (or the gate never calls the Hall)
  fails closed   none of these

\b
Exit status (the worst verdict among those --fail-on names decides):
  0  every gate fails closed and runs on a good allow
  1  a gate fails open
  2  a gate could not run, or bad input (a broken file, an unknown name)
  3  a gate is broken
"""


@click.command("matrix", help=_HELP)
@click.argument("workflows", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--protected",
    "protected",
    multiple=True,
    metavar="ID",
    help="The step name (Pipedream) or module id (Make) the gate guards, instead of the workflow's own mark.",
)
@click.option(
    "--event", "event_file", type=click.Path(path_type=Path, dir_okay=False), help="Trigger event (JSON)."
)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Variables for the run.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A platform setting for every row, e.g. action_env=workflow, filter_kind=registry.",
)
@click.option(
    "--behaviour",
    "behaviours",
    multiple=True,
    metavar="SPEC",
    help="Run only these rows (repeatable; `unreachable` for the Hall nobody answers at).",
)
@click.option(
    "--time-scale", type=click.FloatRange(min=1e-4, max=1.0), default=None, help="Modelled-time scale."
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Rows that work at once (a Make row that only waits for the Hall sleeps beside them).",
)
@click.option(
    "--fail-on",
    "fail_on",
    default="fail-open,error,broken",
    show_default=True,
    metavar="VERDICTS",
    help="Which gate verdicts make the exit status non-zero: a comma-separated list of fail-open, error, "
    "broken (or all, none).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts and rows as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@click.option("--quiet", "-q", is_flag=True, help="Print only the verdict lines.")
@_reports.html_option
@_reports.junit_option
@user_errors
def command(
    workflows: tuple[Path, ...],
    protected: tuple[str, ...],
    event_file: Path | None,
    variables: tuple[str, ...],
    settings: tuple[str, ...],
    behaviours: tuple[str, ...],
    time_scale: float | None,
    concurrency: int,
    fail_on: str,
    as_json: bool,
    markdown: bool,
    quiet: bool,
    html: Path | None,
    junit: Path | None,
) -> None:
    from hallsim.harness.pipedream._warmup import warm_host_for
    from hallsim.harness.verdict import parse_fail_on
    from hallsim.harness.workflow import expand_workflows

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --markdown")
    try:
        failing = parse_fail_on(fail_on)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--fail-on") from None
    for spec in behaviours:
        check_behaviour(spec, "--behaviour", matrix=True)
    event = read_event_file(event_file) if event_file else None
    run_settings = parse_vars(settings, "--set")
    paths = expand_workflows(workflows)
    # Node starts on the other core before the matrix's and the loaders' imports (about 0.4 s of Python)
    warm_host_for(paths, run_settings, workers=concurrency)

    from hallsim.harness.matrix import UNREACHABLE, MatrixJob, MatrixResult, matrix_behaviours, run_matrices
    from hallsim.harness.record import DEFAULT_TIME_SCALE
    from hallsim.harness.workflow import load_workflow

    names = tuple(behaviours) or (*matrix_behaviours(), UNREACHABLE)
    jobs = [
        MatrixJob(load_workflow(path), protected, event, parse_vars(variables) or None, run_settings)
        for path in paths
    ]
    # JSON and Markdown are printed without rich (its console alone is some 20 ms of imports)
    console = None if as_json or markdown else _console.console()
    show_progress = console is not None and console.is_terminal
    total = len(jobs) * len(names)
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("[bold]matrix"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("", total=total)

            def advance(path: Path, row: Any) -> None:
                _note_row(path, row)
                progress.update(task, advance=1, description=f"{path.name}: {row.behaviour}")

            reports = run_matrices(
                jobs,
                behaviours=names,
                time_scale=time_scale or DEFAULT_TIME_SCALE,
                concurrency=concurrency,
                on_row=advance,
            )
    else:
        reports = run_matrices(
            jobs,
            behaviours=names,
            time_scale=time_scale or DEFAULT_TIME_SCALE,
            concurrency=concurrency,
            on_row=_note_row,
        )

    result = MatrixResult(tuple(reports), failing)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    elif markdown:
        click.echo(result.to_markdown())
    elif quiet:
        for line in result.verdict_lines():
            click.echo(line)
    else:
        assert console is not None  # made above for everything but JSON and Markdown
        for report in reports:
            _print_report(console, report)
        _print_verdicts(console, result)
    _reports.write_matrix(result, html, junit)
    raise SystemExit(result.exit_status)


def _note_row(path: Path, row: Any) -> None:
    """A finished row, for the summary hallsim prints when a signal stops it (cli/_signals.py)."""
    from hallsim.cli._signals import note_finished

    note_finished(f"{path}: {row.behaviour}: {row.verdict}")


def _print_report(console: Console, report: MatrixReport) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from hallsim.harness.matrix import behaviour_label

    table = Table(
        title_style="bold",
        highlight=False,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        title=Text(
            f"{report.workflow}  ({report.platform}; protected: {', '.join(report.protected)}"
            + "".join(f"; {k}={v}" for k, v in report.chosen.items())
            + ")"
        ),
        title_justify="left",
    )
    # the behaviour identifies the row: never cut (a long scripted body has a short label, see the details)
    table.add_column("Hall behaviour", no_wrap=True)
    table.add_column("what the Hall did", overflow="fold", ratio=1, min_width=14)
    table.add_column("outcome", no_wrap=True)
    table.add_column("ran", justify="center", no_wrap=True)
    table.add_column("allow", justify="center", no_wrap=True)
    table.add_column("verdict", overflow="fold", min_width=9)
    for row in report.rows:
        did = row.details("\n")
        # Text, not markup: a reason or an error may hold square brackets
        table.add_row(
            Text(behaviour_label(row.behaviour)),
            Text(did),
            Text(row.outcome),
            "yes" if row.protected_ran else "no",
            "yes" if row.expected_protected else "no",
            Text(row.verdict, style=_VERDICT_STYLE.get(row.verdict, "")),
        )
    console.print(table)
    for group in report.cause_groups():
        console.print(Text(f"  why: {group.line()}", style="yellow"), soft_wrap=False)
    console.print(
        Text.assemble(
            (report.summary(), _GATE_STYLE[report.verdict]), (f"  time scale {report.time_scale}", "dim")
        )
    )
    console.print()


def _print_verdicts(console: Console, result: MatrixResult) -> None:
    from rich.text import Text

    from hallsim.harness.matrix import LEGEND

    console.print(Text(LEGEND, style="dim"))
    for line in result.unconfirmed_lines():
        console.print(Text(line, style="dim"))
    console.print()
    for report in result.reports:
        console.print(Text(report.summary(), style=_GATE_STYLE[report.verdict]))
    worst = next((v for v in ("fail-open", "error", "broken") if v in result.verdicts), "fail-closed")
    console.print(Text(result.overall(), style="bold " + _GATE_STYLE[worst]))
