"""Load a Pipedream workflow from what a user has: a workflow file, one step file, or a GitHub-Sync folder."""

from __future__ import annotations

from pathlib import Path

from hallsim.harness._errors import InputError
from hallsim.harness.pipedream._model import load_step_file, load_workflow_file
from hallsim.harness.pipedream._sync import load_sync_folder, sync_workflows
from hallsim.harness.pipedream._workflow import PipedreamWorkflow


def load_workflow(path: Path | str) -> PipedreamWorkflow:
    """A Pipedream workflow file (.yaml), a single .mjs step taken as a one-step workflow, or a GitHub-Sync
    workflow folder (`workflow.yaml`, `.workflow.state`, `<namespace>/entry.js`); a synced project folder
    holding exactly one workflow folder is that workflow."""
    path = Path(path)
    if path.is_dir():
        folders = sync_workflows(path)
        if len(folders) != 1:
            found = ", ".join(f.name for f in folders) or "none"
            raise InputError(
                f"{path}: expected a synced workflow folder (with workflow.yaml) or a project folder with "
                f"one; workflow folders found: {found}" + ("; name one of them" if len(folders) > 1 else "")
            )
        return PipedreamWorkflow(load_sync_folder(folders[0]))
    if path.suffix in (".mjs", ".js"):
        return PipedreamWorkflow(load_step_file(path))
    return PipedreamWorkflow(load_workflow_file(path))
