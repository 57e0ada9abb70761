"""`hallsim replay WORKFLOW (--hall BEHAVIOUR | --script FILE)`: one run against a fresh emulator."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hallsim.cli.commands import _reports
from hallsim.cli.commands._errors import user_errors
from hallsim.cli.commands._inputs import check_behaviour, parse_vars, read_event_file


@click.command(
    "replay",
    help=(
        "Run a Pipedream workflow (.yaml, or one .mjs step) or replay a Make blueprint (.json) against a "
        "fresh Hall emulator, and print what happened: steps, exports, exit/error/timeout, Hall requests, "
        "whether the protected step ran, and the verdict (the rule: the protected action may run only after "
        "a well-formed allow). Exit status 0 when the run was carried out (whatever its outcome), 2 for bad "
        "input; with --verdict, the matrix's: 0 fails closed, 1 fails open, 2 could not run, 3 broken (the "
        "protected action did not run after a good allow)."
    ),
)
@click.argument("workflow", type=click.Path(path_type=Path))
@click.option(
    "--hall", "behaviour", metavar="BEHAVIOUR", help="The emulator's behaviour, e.g. allow, deny, http-500."
)
@click.option(
    "--script",
    type=click.Path(path_type=Path, dir_okay=False),
    help="An emulator script (YAML) instead of --hall.",
)
@click.option(
    "--event", "event_file", type=click.Path(path_type=Path, dir_okay=False), help="Trigger event (JSON)."
)
@click.option(
    "--token", default="t", show_default=True, help="The token the emulator accepts ({{hall.token}})."
)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE", help="Set or override a variable.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="SETTING=VALUE",
    help="A run setting, e.g. time_scale=0.01, action_env=workflow (the trace lists them all).",
)
@click.option(
    "--stub",
    "stub_lines",
    multiple=True,
    metavar="'[METHOD] URL_PATTERN BEHAVIOUR'",
    help=(
        "Answer calls to anything but the Hall (and sink) like this, e.g. "
        "'POST https://crm.example.invalid/* http-201' (repeatable; first match wins, before the "
        "file's stubs:)."
    ),
)
@click.option(
    "--stub-default",
    metavar="auto|refuse|BEHAVIOUR",
    help=(
        "What calls no stub rule matches get. auto (default): 200 with {} (a loopback target that is not the "
        "Hall is refused); refuse: every unmatched call fails; or a behaviour such as http-404."
    ),
)
@click.option(
    "--netns",
    type=click.Choice(["auto", "on", "off"]),
    envvar="HALLSIM_NETNS",
    default="off",
    show_envvar=True,
    help=(
        "Run inside a new network namespace with only loopback up (Linux, unprivileged user namespaces): "
        "auto when possible, on or fail, off. The hallsim program defaults to auto."
    ),
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the run as one JSON object, its verdict under `verdict`."
)
@click.option(
    "--verdict",
    "exit_on_verdict",
    is_flag=True,
    help="Exit with the verdict's status (1 fail-open, 2 error, 3 broken) instead of 0.",
)
@_reports.html_option
@user_errors
def command(
    workflow: Path,
    behaviour: str | None,
    script: Path | None,
    event_file: Path | None,
    token: str,
    variables: tuple[str, ...],
    settings: tuple[str, ...],
    stub_lines: tuple[str, ...],
    stub_default: str | None,
    netns: str,
    as_json: bool,
    exit_on_verdict: bool,
    html: Path | None,
) -> None:
    from hallsim.harness.netns import NamespaceError, enter_namespace
    from hallsim.harness.pipedream._warmup import warm_host_for
    from hallsim.harness.stubs import StubError, stubs_from

    try:
        # first, while the process has one thread: everything after (Hall, stubs, Node) starts inside
        enter_namespace("on" if netns == "on" else "auto" if netns == "auto" else "off")
    except NamespaceError as err:
        raise click.UsageError(str(err)) from None
    try:
        stubs = stubs_from(lines=stub_lines, default=stub_default)
    except StubError as err:
        raise click.UsageError(str(err)) from None

    if (behaviour is None) == (script is None):
        raise click.UsageError("give exactly one of --hall BEHAVIOUR and --script FILE")
    if behaviour is not None:
        check_behaviour(behaviour, "--hall")
    run_settings = parse_vars(settings, "--set")
    # Node starts on the other core before the emulator's and the loader's imports (about 0.2 s of Python)
    warm_host_for([workflow], run_settings)

    from hallsim.emulator import HallEmulator
    from hallsim.harness.pipedream._host import last_runs
    from hallsim.harness.verdict import EXIT_STATUS, judge_run
    from hallsim.harness.workflow import HallEndpoint, load_workflow

    loaded = load_workflow(workflow)
    event = read_event_file(event_file) if event_file else None
    emulator = HallEmulator(tokens=(token,), default=behaviour or "allow", script=script)
    with emulator, last_runs():  # one run: the Node host need not start a spare worker beside it
        hall = HallEndpoint(emulator.url, emulator.tokens[0] if emulator.tokens else None, emulator)
        run = loaded.run(
            hall,
            event=event,
            variables=parse_vars(variables) or None,
            settings=run_settings or None,
            stubs=stubs,
        )
    judged = judge_run(run.record)
    if as_json:
        data = {**run.to_json(), "verdict": judged.to_json()}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        click.echo(run.render())
        click.echo(judged.line())
    _reports.write_replay(loaded, run, behaviour or f"script {script}", html, (token,))
    if exit_on_verdict:
        raise SystemExit(EXIT_STATUS[judged.gate])
