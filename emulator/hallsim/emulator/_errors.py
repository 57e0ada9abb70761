"""The emulator's exceptions: one base class, and one for unusable behaviours, rules and script files."""

from __future__ import annotations


class EmulatorError(Exception):
    """Anything the emulator refuses or cannot do; the CLI shows it as `Error: <message>`."""


class ScriptError(EmulatorError):
    """A behaviour, rule or script file that cannot be used; names where it is and what was expected."""
