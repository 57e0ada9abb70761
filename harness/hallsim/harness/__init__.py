"""The harness: runs Pipedream workflows and replays Make blueprints against the Hall emulator.

Its names are imported when first used (PEP 562 module `__getattr__`), so the pytest plugin and each command
load only the parts they use. Type checkers and IDEs read the names from the imports below."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hallsim.harness._errors import HarnessError as HarnessError
    from hallsim.harness._errors import InputError as InputError
    from hallsim.harness.workflow import HallEndpoint as HallEndpoint
    from hallsim.harness.workflow import Workflow as Workflow
    from hallsim.harness.workflow import WorkflowRun as WorkflowRun
    from hallsim.harness.workflow import detect_platform as detect_platform
    from hallsim.harness.workflow import load_workflow as load_workflow

#: public name -> the module under hallsim.harness that defines it
_WHERE = {
    "HarnessError": "_errors",
    "InputError": "_errors",
    "HallEndpoint": "workflow",
    "Workflow": "workflow",
    "WorkflowRun": "workflow",
    "detect_platform": "workflow",
    "load_workflow": "workflow",
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
