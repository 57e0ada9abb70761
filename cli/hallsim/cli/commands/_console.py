"""The rich console the table-printing commands (`run`, `matrix`) share."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def console() -> Console:
    """A console for tables: the terminal's width, or at least 132 columns in a log or a pipe."""
    from rich.console import Console

    out = Console(highlight=False)
    if not out.is_terminal:  # a log or a pipe: room for the whole table
        out = Console(highlight=False, width=max(out.width, 132))
    return out
