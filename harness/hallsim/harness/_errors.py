from __future__ import annotations

from collections.abc import Sequence

from hallsim.harness.problems import Problem, format_problems


class HarnessError(Exception):
    """Base of every error the harness raises."""


class InputError(HarnessError):
    """Bad input from the user: names the file, the field and what was expected. `problems` holds the same
    as data (file and line, field path, what was expected) when the input was validated field by field."""

    def __init__(self, message: str = "", problems: Sequence[Problem] = ()) -> None:
        super().__init__(message or format_problems(problems))
        self.problems = tuple(problems)
