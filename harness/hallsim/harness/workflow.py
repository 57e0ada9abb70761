"""What every platform's workflow and run look like to the rest of hallsim (the CLI, scenarios, the matrix).

A Pipedream workflow (YAML or a single .mjs step) and a Make blueprint (JSON export) are both a `Workflow`:
loaded once, run many times against a Hall endpoint, each run giving a `WorkflowRun`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hallsim.harness._errors import InputError

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.harness.stubs import Stubs

Platform = Literal["pipedream", "make"]


@dataclass(frozen=True)
class HallEndpoint:
    """Where a run's gate sends `POST /api/route`, and with which token.

    `emulator`, when given, is the running emulator behind `url`: the run takes its journal entries from it
    (`hall_requests`) and sets its time scale to the run's. Leave it out to aim at something else, such as a
    port where nothing listens (the matrix's "Hall unreachable" case)."""

    url: str
    token: str | None
    emulator: HallEmulator | None = None


class WorkflowRun(Protocol):
    # read-only members, so a platform's run may narrow them (platform "make", a frozen dataclass field)
    @property
    def platform(self) -> Platform: ...

    @property
    def outcome(self) -> str:
        """pipedream: completed | exited | errored | timed_out; make: success | warning | error"""
        ...

    @property
    def protected_ran(self) -> bool:
        """Whether the step or module marked protected ran (for Make: executed for at least one bundle)."""
        ...

    @property
    def hall_requests(self) -> list[dict[str, Any]]:
        """The emulator's journal entries for this run (JournalEntry.to_dict()), oldest first."""
        ...

    @property
    def settings(self) -> dict[str, Any]:
        """Every named setting the run used, UNCONFIRMED platform choices included, as name -> value."""
        ...

    def to_json(self) -> dict[str, Any]: ...

    def render(self) -> str: ...


class Workflow(Protocol):
    @property
    def platform(self) -> Platform: ...

    @property
    def path(self) -> Path: ...

    @property
    def protected(self) -> tuple[str, ...]:
        """Names (Pipedream steps) or ids as strings (Make modules) of the protected actions."""
        ...

    @property
    def units(self) -> tuple[str, ...]:
        """Every step name (Pipedream) or module id as a string (Make): what `protected` may name."""
        ...

    def run(
        self,
        hall: HallEndpoint,
        *,
        event: Any = None,
        variables: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
        stubs: Stubs | None = None,
    ) -> WorkflowRun: ...


def detect_platform(path: Path) -> Platform:
    """Tell a Pipedream workflow from a Make blueprint by content, not by file name: a Make export is a JSON
    object, a Pipedream workflow is YAML (or a single .mjs step). Only sniffs; each platform's loader parses
    and checks the file and names what is wrong in it."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix in (".mjs", ".js"):
        return "pipedream"
    with path.open(encoding="utf-8", errors="replace") as file:
        head = file.read(4096).lstrip()
    return "make" if head.startswith("{") else "pipedream"


def load_workflow(path: Path | str) -> Workflow:
    """Load a Pipedream workflow (.yaml, or one .mjs step) or a Make blueprint (.json), by content."""
    path = Path(path)
    platform = detect_platform(path)
    if platform == "make":
        from hallsim.harness.make import load_blueprint

        return load_blueprint(path)
    from hallsim.harness.pipedream import load_workflow as load_pipedream

    return load_pipedream(path)
