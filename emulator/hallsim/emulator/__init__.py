"""The Hall Server emulator: `POST /api/route` with scriptable behaviours, rules, a journal, an admin API.

Its names are imported when first used (PEP 562 module `__getattr__`): importing one module of the emulator
(`hallsim.emulator.files`, `hallsim.emulator.contract`) does not start up the whole of it (asyncio, the
server), which keeps the pytest plugin and the commands that need only a part quick to load. Type checkers
and IDEs read the names from the imports below."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hallsim.emulator._errors import EmulatorError as EmulatorError
    from hallsim.emulator._errors import ScriptError as ScriptError
    from hallsim.emulator.behaviours import MATRIX_BEHAVIOURS as MATRIX_BEHAVIOURS
    from hallsim.emulator.behaviours import Behaviour as Behaviour
    from hallsim.emulator.behaviours import BehaviourInfo as BehaviourInfo
    from hallsim.emulator.behaviours import catalogue as catalogue
    from hallsim.emulator.behaviours import parse_behaviour as parse_behaviour
    from hallsim.emulator.contract import DECISION_FIELDS as DECISION_FIELDS
    from hallsim.emulator.contract import GUIDE_REQUEST as GUIDE_REQUEST
    from hallsim.emulator.contract import ROUTE_PATH as ROUTE_PATH
    from hallsim.emulator.contract import artifact_hash as artifact_hash
    from hallsim.emulator.contract import validate_route_request as validate_route_request
    from hallsim.emulator.journal import JournalEntry as JournalEntry
    from hallsim.emulator.rules import Rule as Rule
    from hallsim.emulator.rules import parse_rule as parse_rule
    from hallsim.emulator.script import Script as Script
    from hallsim.emulator.script import load_script as load_script
    from hallsim.emulator.server import HallEmulator as HallEmulator
    from hallsim.emulator.server import RuleBuilder as RuleBuilder

#: public name -> the module under hallsim.emulator that defines it
_WHERE = {
    "EmulatorError": "_errors",
    "ScriptError": "_errors",
    "MATRIX_BEHAVIOURS": "behaviours",
    "Behaviour": "behaviours",
    "BehaviourInfo": "behaviours",
    "catalogue": "behaviours",
    "parse_behaviour": "behaviours",
    "DECISION_FIELDS": "contract",
    "GUIDE_REQUEST": "contract",
    "ROUTE_PATH": "contract",
    "artifact_hash": "contract",
    "validate_route_request": "contract",
    "JournalEntry": "journal",
    "Rule": "rules",
    "parse_rule": "rules",
    "Script": "script",
    "load_script": "script",
    "HallEmulator": "server",
    "RuleBuilder": "server",
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
