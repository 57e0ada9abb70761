"""`hallsim repro --decision RECORD.json --workflow WORKFLOW`: reproduce a customer's decision."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hallsim.cli.commands._errors import user_errors
from hallsim.cli.commands._inputs import read_event_file


@click.command("repro", help="Reproduce a customer's decision record against their workflow.")
@click.option(
    "--decision",
    "record",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The decision record (JSON with decision_id, worker_id, capability_id, data_label, denied, ...).",
)
@click.option(
    "--workflow",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The Pipedream workflow (.yaml, .mjs) or Make blueprint (.json).",
)
@click.option(
    "--event",
    "event_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Trigger event (JSON); default: one built from the record's worker_id and data_label.",
)
@click.option(
    "--save", type=click.Path(path_type=Path, dir_okay=False), help="Save the run as a scenario file."
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON instead of the trace.")
@user_errors
def command(record: Path, workflow: Path, event_file: Path | None, save: Path | None, as_json: bool) -> None:
    """Exit status: 0 when reproduced, 1 when the protected action ran without a well-formed allow."""
    from hallsim.harness.repro import reproduce

    if save is not None and not save.name.endswith((".scenario.yaml", ".scenario.yml")):
        raise click.BadParameter(f"{save}: name it *.scenario.yaml so pytest and hallsim run collect it")
    event = read_event_file(event_file) if event_file else None
    repro = reproduce(record, workflow, event=event)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "decision_id": repro.record.decision_id,
                    "matched": repro.matched,
                    "differences": {
                        k: {"record": a, "request": b} for k, (a, b) in repro.differences.items()
                    },
                    "hash_matches": repro.hash_matches,
                    "fail_open": repro.fail_open,
                    "run": repro.run_json,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        click.echo(repro.render())
    if save is not None:
        save.parent.mkdir(parents=True, exist_ok=True)
        repro.save(save)
        click.echo(f"\nsaved scenario: {save}  (run it: hallsim run {save})", err=as_json)
    if repro.fail_open:
        raise SystemExit(1)
