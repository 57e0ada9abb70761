"""Turn the library's errors into a message and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: exit code for bad input from the user (a broken file, an unknown name, a missing Node)
USAGE_ERROR = 2


class UserError(click.ClickException):
    exit_code = USAGE_ERROR


def user_errors(func: F) -> F:
    """Report hallsim's own errors (EmulatorError, HarnessError) as `Error: <message>` with exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hallsim.emulator import EmulatorError
        from hallsim.harness import HarnessError

        try:
            return func(*args, **kwargs)
        except (EmulatorError, HarnessError) as err:
            raise UserError(str(err)) from None

    return wrapper  # type: ignore[return-value]
