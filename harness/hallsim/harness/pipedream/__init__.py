"""The Pipedream harness: runs Pipedream workflows (YAML, or one .mjs step) in a local Node runtime with
Pipedream's semantics (../shared/reference/pipedream.md), against the Hall emulator."""

from __future__ import annotations

from pathlib import Path

from hallsim.harness.pipedream._host import NodeHost, NodeHostError, close_hosts, host_for
from hallsim.harness.pipedream._model import WorkflowSpec, load_step_file, load_workflow_file
from hallsim.harness.pipedream._run import PipedreamRun, StepResult
from hallsim.harness.pipedream._settings import UNCONFIRMED, RunSettings
from hallsim.harness.pipedream._workflow import PipedreamWorkflow


def load_workflow(path: Path | str) -> PipedreamWorkflow:
    """A Pipedream workflow file (.yaml), or a single .mjs step taken as a one-step workflow."""
    path = Path(path)
    if path.suffix in (".mjs", ".js"):
        return PipedreamWorkflow(load_step_file(path))
    return PipedreamWorkflow(load_workflow_file(path))


__all__ = [
    "UNCONFIRMED",
    "NodeHost",
    "NodeHostError",
    "PipedreamRun",
    "PipedreamWorkflow",
    "RunSettings",
    "StepResult",
    "WorkflowSpec",
    "close_hosts",
    "host_for",
    "load_workflow",
]
