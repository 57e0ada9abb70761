"""The Hall Server emulator: `POST /api/route` with scriptable behaviours, rules, a journal, an admin API.

Its names are imported when first used (PEP 562 module `__getattr__`): importing one module of the emulator
(`hallsim.emulator.files`, `hallsim.emulator.contract`) does not start up the whole of it (asyncio, the
server), which keeps the pytest plugin and the commands that need only a part quick to load. Type checkers
and IDEs read the names from the imports below."""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

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

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "_errors": ["EmulatorError", "ScriptError"],
        "behaviours": ["MATRIX_BEHAVIOURS", "Behaviour", "BehaviourInfo", "catalogue", "parse_behaviour"],
        "contract": [
            "DECISION_FIELDS",
            "GUIDE_REQUEST",
            "ROUTE_PATH",
            "artifact_hash",
            "validate_route_request",
        ],
        "journal": ["JournalEntry"],
        "rules": ["Rule", "parse_rule"],
        "script": ["Script", "load_script"],
        "server": ["HallEmulator", "RuleBuilder"],
    },
)
