"""`hallsim matrix WORKFLOW ...`: run a gate against every Hall behaviour and the Hall unreachable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hallsim.cli.commands import _console
from hallsim.cli.commands._errors import user_errors
from hallsim.cli.commands._inputs import parse_vars, read_event_file

if TYPE_CHECKING:
    from rich.console import Console

    from hallsim.harness.matrix import MatrixReport

_VERDICT_STYLE = {
    "FAIL-OPEN": "bold white on red",
    "blocked on a good allow": "bold yellow",
    "error": "bold magenta",
    "fail-closed": "green",
    "ran on allow": "green",
}


@click.command("matrix", help="Run a gate against every Hall failure and report where it fails open.")
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
    "--behaviour", "behaviours", multiple=True, metavar="SPEC", help="Run only these behaviours (repeatable)."
)
@click.option(
    "--time-scale", type=click.FloatRange(min=1e-4, max=1.0), default=None, help="Modelled-time scale."
)
@click.option(
    "--concurrency", type=click.IntRange(1, 32), default=4, show_default=True, help="Rows run at once."
)
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
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
    as_json: bool,
    markdown: bool,
) -> None:
    """Exit status: 0 when every row fails closed, 1 when a row fails open, 2 when a row could not be run."""
    from hallsim.harness.matrix import DEFAULT_TIME_SCALE, MatrixJob, matrix_behaviours, run_matrices
    from hallsim.harness.workflow import load_workflow

    if as_json and markdown:
        raise click.UsageError("choose one of --json and --markdown")
    event = read_event_file(event_file) if event_file else None
    names = behaviours or matrix_behaviours()
    run_settings = parse_vars(settings, "--set")
    jobs = [
        MatrixJob(load_workflow(path), protected, event, parse_vars(variables) or None, run_settings)
        for path in workflows
    ]
    console = _console.console()
    show_progress = console.is_terminal and not (as_json or markdown)
    total = len(jobs) * (len(names) + 1)
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

    if as_json:
        data: Any = reports[0].to_json() if len(reports) == 1 else [r.to_json() for r in reports]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif markdown:
        click.echo("\n\n".join(r.to_markdown() for r in reports))
    else:
        for report in reports:
            _print_report(console, report)
    if any(r.fail_open for r in reports):
        raise SystemExit(1)
    if any(r.errors for r in reports):
        raise SystemExit(2)


def _note_row(path: Path, row: Any) -> None:
    """A finished row, for the summary hallsim prints when a signal stops it (cli/_signals.py)."""
    from hallsim.cli._signals import note_finished

    note_finished(f"{path}: {row.behaviour}: {row.verdict}")


def _print_report(console: Console, report: MatrixReport) -> None:
    from rich.table import Table
    from rich.text import Text

    from hallsim.harness.matrix import short_behaviour

    table = Table(
        title_style="bold",
        highlight=False,
        title=Text(
            f"{report.workflow}  ({report.platform}; protected: {', '.join(report.protected)}"
            + "".join(f"; {k}={v}" for k, v in report.chosen.items())
            + ")"
        ),
        title_justify="left",
    )
    table.add_column("Hall behaviour", no_wrap=True, overflow="ellipsis", max_width=18)
    table.add_column("what the Hall did", overflow="fold", ratio=1, min_width=14)
    table.add_column("outcome", no_wrap=True)
    # "ran": the protected action ran; "allow": the Hall gave a well-formed allow, so it may run
    table.add_column("ran", justify="center", no_wrap=True)
    table.add_column("allow", justify="center", no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=12)
    for row in report.rows:
        did = row.details("\n")
        # Text, not markup: a reason or an error may hold square brackets
        table.add_row(
            Text(short_behaviour(row.behaviour, 18)),
            Text(did),
            Text(row.outcome),
            "yes" if row.protected_ran else "no",
            "yes" if row.expected_protected else "no",
            Text(row.verdict, style=_VERDICT_STYLE.get(row.verdict, "")),
        )
    console.print(table)
    colour = "bold red" if report.fail_open else "green"
    console.print(
        Text.assemble((report.summary(), colour), (f"  time scale {report.time_scale}", "dim")),
        soft_wrap=True,
    )
    if report.unconfirmed:
        console.print(Text(report.unconfirmed_line(), style="dim"), soft_wrap=True)
    console.print()
