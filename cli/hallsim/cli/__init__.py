"""The `hallsim` command line: a thin layer that parses arguments, calls the library and turns its errors into
a clear message and an exit code. Each command lives in its own module under commands/ and is imported
only when it runs, so `hallsim serve` starts fast."""

from __future__ import annotations

import importlib
import os

import click

from hallsim.emulator._version import __version__

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


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hallsim")
def cli() -> None:
    """Emulate the PyHall Hall Server and test Pipedream and Make governance gates against it."""


def main() -> None:
    # the hallsim program puts a replay in a loopback-only network namespace when the OS allows it
    # (hallsim.harness.netns); in-process callers (tests, CliRunner) keep their own network unless they ask
    os.environ.setdefault("HALLSIM_NETNS", "auto")
    cli()
