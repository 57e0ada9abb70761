"""`hallsim behaviours`: list the emulator's behaviours, one line each."""

from __future__ import annotations

import json

import click

from hallsim.cli.commands._errors import user_errors


@click.command("behaviours", help="List the emulator's behaviours, one line each.")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.option("--matrix", is_flag=True, help="List the concrete behaviours the fail-closed matrix runs.")
@user_errors
def command(as_json: bool, matrix: bool) -> None:
    from hallsim.emulator import MATRIX_BEHAVIOURS, catalogue

    if matrix:
        if as_json:
            click.echo(json.dumps(list(MATRIX_BEHAVIOURS), indent=2))
        else:
            for spec in MATRIX_BEHAVIOURS:
                click.echo(spec)
        return
    infos = catalogue()
    if as_json:
        click.echo(json.dumps([info.to_dict() for info in infos], indent=2))
        return
    width = max(len(info.usage) for info in infos)
    for info in infos:
        click.echo(f"{info.usage:<{width}}  {info.summary}")
    click.echo(
        "\nA behaviour is a spec string NAME[:ARG] or a mapping {behaviour: NAME, <parameter>: value};"
        "\nparameters: `hallsim behaviours --json`. Timeouts and delays are modelled seconds x time scale."
    )
