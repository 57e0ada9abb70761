"""What every platform's workflow and run look like to the rest of hallsim (the CLI, scenarios, the matrix).

A Pipedream workflow (YAML or a single .mjs step) and a Make blueprint (JSON export) are both a `Workflow`:
loaded once, run many times against a Hall endpoint, each run giving a `WorkflowRun`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from hallsim.emulator.files import path_problem
from hallsim.harness._errors import InputError

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.emulator.journal import JournalEntry
    from hallsim.harness.record import RunRecord
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
    def hall_requests(self) -> list[JournalEntry]:
        """The emulator's journal entries for this run (copies taken when it ended), oldest first."""
        ...

    @property
    def record(self) -> RunRecord:
        """The typed, ordered record of the run that every judge reads (`hallsim.harness.record`)."""
        ...

    @property
    def unconfirmed_settings(self) -> tuple[str, ...]:
        """The names of the settings that stand for a platform rule the references mark UNCONFIRMED."""
        ...

    @property
    def settings(self) -> dict[str, Any]:
        """Every named setting the run used, UNCONFIRMED platform choices included, as name -> value."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The run as JSON: an output derived from the record, never read back by a judge."""
        ...

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
    and checks the file and names what is wrong in it. A folder is a Pipedream GitHub-Sync workflow folder
    (or a project folder holding them)."""
    problem = path_problem(path)  # a NUL byte or a name too long would raise from is_dir()
    if problem is not None:
        raise InputError(f"{str(path)[:120]!r}: not a usable file name: {problem}")
    if path.is_dir():
        from hallsim.harness.pipedream import sync_workflows

        if sync_workflows(path):
            return "pipedream"
        raise InputError(
            f"{path}: a folder, but neither a Pipedream GitHub-Sync workflow folder (with workflow.yaml) "
            "nor a project folder holding them"
        )
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.suffix in (".mjs", ".js"):
        return "pipedream"
    with path.open(encoding="utf-8", errors="replace") as file:
        head = file.read(4096).lstrip()
    return "make" if head.startswith("{") else "pipedream"


def expand_workflows(paths: Sequence[Path | str]) -> list[Path]:
    """The workflows the paths name: a synced Pipedream project folder stands for each workflow in it."""
    expanded: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            from hallsim.harness.pipedream import sync_workflows

            expanded.extend(sync_workflows(path) or [path])
        else:
            expanded.append(path)
    return expanded


def load_workflow(path: Path | str) -> Workflow:
    """Load a Pipedream workflow (.yaml, one .mjs step, or a GitHub-Sync folder) or a Make blueprint (.json),
    by content."""
    path = Path(path)
    platform = detect_platform(path)
    if platform == "make":
        from hallsim.harness.make import load_blueprint

        return load_blueprint(path)
    from hallsim.harness.pipedream import load_workflow as load_pipedream

    return load_pipedream(path)
