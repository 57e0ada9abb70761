"""`hallsim serve`: run the Hall Server emulator on real uvicorn until Ctrl-C.

Kept import-light (no rich, no Starlette until the admin API is first used) so the first answer comes fast."""

from __future__ import annotations

import gc
from pathlib import Path

import click

from hallsim.cli._signals import Interrupted, raise_on_signal
from hallsim.cli.commands._errors import user_errors


@click.command("serve", help="Run the Hall Server emulator (POST /api/route) until Ctrl-C.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: a free port."
)
@click.option(
    "--script", type=click.Path(path_type=Path, dir_okay=False), help="YAML script: tokens, rules, default."
)
@click.option(
    "--token", "tokens", multiple=True, metavar="T", help="Accepted bearer token (repeatable; default: t)."
)
@click.option(
    "--env",
    "envs",
    multiple=True,
    metavar="NAME",
    help="Accepted `env` value (repeatable; default: the guides' dev, prod; pyhall also knows stage, edge).",
)
@click.option(
    "--behaviour",
    metavar="SPEC",
    help="Default behaviour for requests no rule matches (see `hallsim behaviours`), e.g. deny:reason.",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path, dir_okay=False),
    help="pyhall rules file: decide with pyhall-wcp (policy mode); the default behaviour becomes `policy`.",
)
@click.option(
    "--capability-ids",
    # the keys of emulator/contract.py CAPABILITY_IDS (not imported here: serve stays import-light)
    type=click.Choice(["guide", "any"]),
    default=None,
    help="Which capability_id values requests may carry: guide, the guides' cap.<area>.<verb>.v<N> "
    "(default), or any non-empty id, as pyhall's RouteInput.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1e-6, min_open=False),
    default=None,
    help="Modelled seconds x scale = wall seconds (for `slow`); default 1.",
)
@click.option(
    "--journal-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Requests the journal keeps (the oldest go first).",
)
@click.option(
    "--journal-bytes",
    type=click.IntRange(min=1),
    default=None,
    help="Bytes of request and answer data the journal keeps (the oldest go first; default 16 MiB); a "
    "single value over a sixteenth of it is kept cut short and marked.",
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=None,
    help="Largest request body in bytes; larger ones get 413 (default 65536).",
)
@click.option(
    "--admin-token",
    envvar="HALLSIM_ADMIN_TOKEN",
    metavar="T",
    help="Token the admin API (/__hall/) requires (env HALLSIM_ADMIN_TOKEN). Default: none on loopback; "
    "beyond loopback one is generated and written to a file only you can read.",
)
@click.option("--log", "log_requests", is_flag=True, help="Print one line per request to /api/route.")
@click.option(
    "--record-from",
    metavar="URL",
    help="Record a real Hall: pass /api/route to the Hall at URL, answer as it does, and save each distinct "
    "request and its answer as rules in --record-to (replay with --script).",
)
@click.option(
    "--record-to",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The script file --record-from writes (rewritten after every new answer).",
)
@user_errors
def command(
    host: str,
    port: int,
    script: Path | None,
    tokens: tuple[str, ...],
    envs: tuple[str, ...],
    behaviour: str | None,
    policy: Path | None,
    capability_ids: str | None,
    time_scale: float | None,
    journal_size: int,
    journal_bytes: int | None,
    max_body: int | None,
    admin_token: str | None,
    log_requests: bool,
    record_from: str | None,
    record_to: Path | None,
) -> None:
    from hallsim.emulator.serve_options import ServeOptions, build_app
    from hallsim.emulator.server import bind_socket, make_server, url_for

    if (record_from is None) != (record_to is None):
        raise click.UsageError("--record-from URL and --record-to FILE go together: give both")
    if record_from is not None:
        deciding = [
            name
            for name, value in (("--script", script), ("--behaviour", behaviour), ("--policy", policy))
            if value
        ]
        if deciding:
            raise click.UsageError(
                f"--record-from: the real Hall answers while recording; leave out {', '.join(deciding)}"
            )
    app = build_app(
        ServeOptions(
            script=script,
            policy=policy,
            tokens=tokens,
            envs=envs,
            behaviour=behaviour,
            capability_ids=capability_ids,
            time_scale=time_scale,
            max_body=max_body,
            journal_size=journal_size,
            journal_bytes=journal_bytes,
            admin_token=admin_token,
        )
    )
    if log_requests:
        app.on_request = _print_request
    recorder = None
    if record_from is not None and record_to is not None:
        from hallsim.emulator.recorder import Recorder

        recorder = Recorder.for_app(app, record_from, record_to)

    raise_on_signal()  # a signal stops uvicorn in order; the stop line below is printed before the exit
    sock = bind_socket(host, port)
    bound_port = sock.getsockname()[1]
    app.bind(host, bound_port)
    url = url_for(host, bound_port)
    stopped_by: BaseException | None = None
    try:
        # the socket listens already: connections made from now on wait in its backlog until uvicorn serves
        click.echo(f"Hall emulator listening on {url}  (POST {url}/api/route)")
        click.echo(f"  accepted tokens: {_shown_tokens(app.tokens)}")
        rules = len(app.book.rules)
        click.echo(
            f"  default: {app.default.spec}   rules: {rules}   time scale: {app.time_scale:g}   "
            f"envs: {', '.join(app.envs)}   capability ids: {app.capability_ids}"
            + ("   policy: " + app.policy.source if app.policy else "")
        )
        if recorder is not None:
            replay = f"replay: hallsim serve --script {recorder.path}"
            click.echo(f"  recording: {recorder.url}/api/route -> {recorder.path}   ({replay})")
        page = f"{url}/__hall/" + ("#token=<admin token>" if app.admin.token is not None else "")
        admin_token = _admin_token_line(app.admin.token, app.admin.generated, bound_port)
        click.echo(
            f"  live journal: {page}   admin: {url}/__hall/health, {url}/__hall/journal   "
            f"token: {admin_token}   (Ctrl-C to stop)"
        )
        server = make_server(app)
        # everything loaded so far lives as long as the process: keep it out of the garbage collector's scans,
        # so collections under load only look at requests in flight and the journal (shorter latency spikes)
        gc.collect()
        gc.freeze()
        server.run(sockets=[sock])
    except (KeyboardInterrupt, Interrupted) as err:
        # uvicorn shuts down gracefully on Ctrl-C or SIGTERM, then raises the signal again for the caller
        stopped_by = err
    finally:
        sock.close()
    if recorder is not None:
        count = recorder.recording.count
        click.echo(f"Recorded {count} distinct request(s) to {recorder.path}.")
        for problem in recorder.errors[-5:]:
            click.echo(f"error: {problem}", err=True)
    click.echo("Hall emulator stopped.")
    if stopped_by is not None:
        raise stopped_by  # the exit status says which signal (cli/_signals.py)


def _shown_tokens(tokens: tuple[str, ...]) -> str:
    """The accepted tokens as the banner shows them: masked (hallsim.emulator.secrets), except the built-in
    test token `t`, which is no secret (the docs name it)."""
    from hallsim.emulator.secrets import mask_token

    if tokens == ("t",):
        return "t (the built-in test token; set your own with --token)   send: Authorization: Bearer t"
    return ", ".join(mask_token(t) for t in tokens) + "   (masked)   send: Authorization: Bearer <token>"


def _admin_token_line(token: str | None, generated: bool, port: int) -> str:
    from hallsim.emulator.secrets import mask_token

    if token is None:
        return "none (loopback only; set one with --admin-token)"
    if not generated:
        return f"{mask_token(token)} (masked; send Authorization: Bearer <admin token>)"
    path = _write_private(f"hallsim-admin-{port}.token", token)
    return f"{mask_token(token)} (generated, masked; the token is in {path}, readable only by you)"


def _write_private(name: str, text: str) -> Path:
    """Write `text` to a file in the user's runtime (or temp) folder that only the user can read."""
    import os
    import tempfile

    folder = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    path = folder / name
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    return path


def _print_request(entry: object) -> None:
    from hallsim.emulator.journal import JournalEntry

    assert isinstance(entry, JournalEntry)
    if entry.fault:
        outcome = f"fault {entry.fault}"
    elif entry.status is not None:
        outcome = f"{entry.status}"
        if entry.decision is not None:
            outcome += f" denied={entry.decision.get('denied')!r}"
    else:
        outcome = "no answer"
    rule = f" rule {entry.rule}" if entry.rule is not None else ""
    behaviour = f" [{entry.behaviour}{rule}]" if entry.behaviour else ""
    line = f"#{entry.seq} {entry.method} {entry.path} -> {outcome}{behaviour}"
    click.echo(entry.masker.mask_text(line))
