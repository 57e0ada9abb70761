"""The harness: runs Pipedream workflows and replays Make blueprints against the Hall emulator."""

from __future__ import annotations

from hallsim.harness._errors import HarnessError, InputError
from hallsim.harness.workflow import HallEndpoint, Workflow, WorkflowRun, detect_platform, load_workflow

__all__ = [
    "HallEndpoint",
    "HarnessError",
    "InputError",
    "Workflow",
    "WorkflowRun",
    "detect_platform",
    "load_workflow",
]
