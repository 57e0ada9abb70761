"""The harness: runs Pipedream workflows and replays Make blueprints against the Hall emulator.

Its names are imported when first used (PEP 562 module `__getattr__`), so the pytest plugin and each command
load only the parts they use. Type checkers and IDEs read the names from the imports below."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:
    from hallsim.harness._errors import HarnessError as HarnessError
    from hallsim.harness._errors import InputError as InputError
    from hallsim.harness.workflow import HallEndpoint as HallEndpoint
    from hallsim.harness.workflow import Workflow as Workflow
    from hallsim.harness.workflow import WorkflowRun as WorkflowRun
    from hallsim.harness.workflow import detect_platform as detect_platform
    from hallsim.harness.workflow import load_workflow as load_workflow

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_errors": ["HarnessError", "InputError"],
        "workflow": ["HallEndpoint", "Workflow", "WorkflowRun", "detect_platform", "load_workflow"],
    },
)
