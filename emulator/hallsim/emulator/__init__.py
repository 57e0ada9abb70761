"""The Hall Server emulator: `POST /api/route` with scriptable behaviours, rules, a journal, an admin API."""

from __future__ import annotations

from hallsim.emulator._errors import EmulatorError, ScriptError
from hallsim.emulator.behaviours import (
    MATRIX_BEHAVIOURS,
    Behaviour,
    BehaviourInfo,
    catalogue,
    parse_behaviour,
)
from hallsim.emulator.contract import (
    DECISION_FIELDS,
    GUIDE_REQUEST,
    ROUTE_PATH,
    artifact_hash,
    validate_route_request,
)
from hallsim.emulator.journal import JournalEntry
from hallsim.emulator.rules import Rule, parse_rule
from hallsim.emulator.script import Script, load_script
from hallsim.emulator.server import HallEmulator, RuleBuilder

__all__ = [
    "DECISION_FIELDS",
    "GUIDE_REQUEST",
    "MATRIX_BEHAVIOURS",
    "ROUTE_PATH",
    "Behaviour",
    "BehaviourInfo",
    "EmulatorError",
    "HallEmulator",
    "JournalEntry",
    "Rule",
    "RuleBuilder",
    "Script",
    "ScriptError",
    "artifact_hash",
    "catalogue",
    "load_script",
    "parse_behaviour",
    "parse_rule",
    "validate_route_request",
]
