from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises."""


class InputError(HarnessError):
    """Bad input from the user: names the file, the field and what was expected."""
