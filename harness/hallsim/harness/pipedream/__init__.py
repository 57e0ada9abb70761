"""The Pipedream harness: runs Pipedream workflows (YAML, or one .mjs step) in a local Node runtime with
Pipedream's semantics (../shared/reference/pipedream.md), against the Hall emulator.

Its names are imported when first used (PEP 562 module `__getattr__`), so importing one part, such as the
Node host (`hallsim.harness.pipedream._host`), does not import the rest (pydantic models, the workflow
loader): a fresh `hallsim replay` starts its Node host while it is still loading the workflow
(`_warmup.py`). Type checkers and IDEs read the names from the imports below."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from hallsim.harness.pipedream._host import (
        NodeHost as NodeHost,
    )
    from hallsim.harness.pipedream._host import (
        NodeHostError as NodeHostError,
    )
    from hallsim.harness.pipedream._host import (
        close_hosts as close_hosts,
    )
    from hallsim.harness.pipedream._host import (
        host_for as host_for,
    )
    from hallsim.harness.pipedream._load import load_workflow as load_workflow
    from hallsim.harness.pipedream._model import WorkflowSpec as WorkflowSpec
    from hallsim.harness.pipedream._run import PipedreamRun as PipedreamRun
    from hallsim.harness.pipedream._run import StepResult as StepResult
    from hallsim.harness.pipedream._settings import UNCONFIRMED as UNCONFIRMED
    from hallsim.harness.pipedream._settings import RunSettings as RunSettings
    from hallsim.harness.pipedream._sync import (
        is_sync_folder as is_sync_folder,
    )
    from hallsim.harness.pipedream._sync import (
        sync_workflows as sync_workflows,
    )
    from hallsim.harness.pipedream._workflow import PipedreamWorkflow as PipedreamWorkflow

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_load": ["load_workflow"],
        "_model": ["WorkflowSpec"],
        "_run": ["PipedreamRun", "StepResult"],
        "_settings": ["UNCONFIRMED", "RunSettings"],
        "_workflow": ["PipedreamWorkflow"],
        "_host": ["NodeHost", "NodeHostError", "close_hosts", "host_for"],
        "_sync": ["is_sync_folder", "sync_workflows"],
    },
)
