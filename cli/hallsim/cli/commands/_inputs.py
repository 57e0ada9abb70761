"""Small option parsers the commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


def read_event_file(path: Path, option: str = "--event") -> Any:
    """A trigger event from a JSON file; mistakes name the file, the line and the option."""
    from hallsim.emulator.files import read_json
    from hallsim.harness._errors import InputError

    # read once within the hostile-file limits (depth, size, UTF-8, numbers, strings)
    try:
        return read_json(path, error=InputError, what="event file")
    except InputError as err:
        message = str(err)
        if message == f"{path}: no such event file":
            raise InputError(f"{path}: no such file ({option})") from None
        rest = message.removeprefix(f"{path}: ")
        rest = rest.replace("cannot read it as text", "cannot read it as a JSON text file")
        raise InputError(f"{path}: {option}: {rest}") from None


def parse_vars(pairs: tuple[str, ...], option: str = "--var") -> dict[str, str]:
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: expected NAME=VALUE", param_hint=option)
        variables[name] = value
    return variables


#: the names a behaviour spec starts with (`hallsim behaviours`), for "did you mean"
_BEHAVIOUR_NAMES = (
    "allow",
    "deny",
    "http-500",
    "timeout",
    "slow",
    "malformed-json",
    "empty-body",
    "missing-denied",
    "denied-as-string",
    "reset",
    "close",
    "policy",
    "unreachable",
)


def check_behaviour(spec: str, option: str, *, matrix: bool = False) -> None:
    """Refuse an unknown behaviour before anything runs, naming the option and the closest name."""
    from hallsim.emulator import EmulatorError
    from hallsim.emulator.behaviours import parse_behaviour
    from hallsim.harness.problems import did_you_mean

    if matrix and spec == "unreachable":
        return
    try:
        parse_behaviour(spec)
    except EmulatorError as err:
        name = spec.split(":", 1)[0]
        names = _BEHAVIOUR_NAMES if matrix else _BEHAVIOUR_NAMES[:-1]
        raise EmulatorError(f"{option} {spec}: {err}{did_you_mean(name, names)}") from None
