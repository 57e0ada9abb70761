"""The emulator's exceptions: one base class, and one for unusable behaviours, rules and script files."""

from __future__ import annotations


class EmulatorError(Exception):
    """Anything the emulator refuses or cannot do; the CLI shows it as `Error: <message>`."""


class ScriptError(EmulatorError):
    """A behaviour, rule or script file that cannot be used; names where it is and what was expected.

    `field` is where the problem is, as data: the dotted path inside a script (`rules[2].respond`), when the
    error was raised with `ScriptError.at`; a script file turns it into its line."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @classmethod
    def at(cls, field: str, problem: str) -> ScriptError:
        """The error "FIELD: PROBLEM", with FIELD kept as data."""
        return cls(f"{field}: {problem}", field=field)
