"""The Pipedream harness: runs Pipedream workflows (YAML, or one .mjs step) in a local Node runtime with
Pipedream's semantics (../shared/reference/pipedream.md), against the Hall emulator.

Its names are imported when first used (PEP 562 module `__getattr__`), so importing one part, such as the
Node host (`hallsim.harness.pipedream._host`), does not import the rest (pydantic models, the workflow
loader): a fresh `hallsim replay` starts its Node host while it is still loading the workflow
(`_warmup.py`). Type checkers and IDEs read the names from the imports below."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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

#: public name -> the module under hallsim.harness.pipedream that defines it
_WHERE = {
    "NodeHost": "_host",
    "NodeHostError": "_host",
    "close_hosts": "_host",
    "host_for": "_host",
    "load_workflow": "_load",
    "WorkflowSpec": "_model",
    "PipedreamRun": "_run",
    "StepResult": "_run",
    "UNCONFIRMED": "_settings",
    "RunSettings": "_settings",
    "is_sync_folder": "_sync",
    "sync_workflows": "_sync",
    "PipedreamWorkflow": "_workflow",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
