"""The `hallsim` command line: a thin layer that parses arguments, calls the library and turns its errors into
a clear message and an exit code. Each command lives in its own module under commands/ and is imported
only when it runs, so `hallsim serve` starts fast."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

# command name -> module under hallsim.cli.commands that defines `command`
_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("serve", "Run the Hall Server emulator."),
    "behaviours": ("behaviours", "List the emulator's behaviours."),
    "replay": ("replay", "Run a Pipedream workflow or replay a Make blueprint against the emulator."),
    "run": ("run", "Run scenario files and print a summary."),
    "matrix": ("matrix", "Run a gate against every Hall failure and report where it fails open."),
    "repro": ("repro", "Reproduce a customer's decision record against their workflow."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module_name, _ = _COMMANDS[cmd_name]
        module = importlib.import_module(f"hallsim.cli.commands.{module_name}")
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # list commands from the table above, without importing every module just to print help
        rows = [(name, help_text) for name, (_, help_text) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    # imported only when asked: hallsim.emulator's package imports the whole emulator (uvicorn, asyncio)
    from hallsim.emulator._version import __version__

    click.echo(f"hallsim, version {__version__}")
    ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--project",
    "project_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the defaults from this pyproject.toml or hallsim.toml (default: found from here upward).",
)
@click.option("--no-project", is_flag=True, help="Ignore pyproject.toml's [tool.hallsim] and hallsim.toml.")
@click.pass_context
def cli(ctx: click.Context, project_file: Path | None, no_project: bool) -> None:
    """Emulate the PyHall Hall Server and test Pipedream and Make governance gates against it.

    Defaults may come from a [tool.hallsim] table in pyproject.toml, or from hallsim.toml, found from the
    current directory upward; the command line wins. Shell completion: see the README."""
    from hallsim.cli import _project

    _project.apply(ctx, project_file, no_project)


def main() -> None:
    """The `hallsim` executable: a signal ends any command with 128 + its number (cli/_signals.py)."""
    from hallsim.cli import _signals

    # the hallsim program puts a replay in a loopback-only network namespace when the OS allows it
    # (hallsim.harness.netns); in-process callers (tests, CliRunner) keep their own network unless they ask
    os.environ.setdefault("HALLSIM_NETNS", "auto")
    # httpx/__init__.py imports its own command line (httpx._main: rich, pygments, click) whenever those are
    # installed, and falls back to a stub `httpx.main` on ImportError; a None entry in sys.modules is how
    # Python spells "this import fails" (docs.python.org "The module cache"). This process is the hallsim
    # program, which never runs httpx's command line: that saves about 70 ms of every command that uses httpx.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from hallsim.cli._exit import exit_now

    try:
        with _signals.guarded():
            cli()
    except SystemExit as done:
        exit_now(done.code)
    exit_now(0)
