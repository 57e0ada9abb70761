"""Replay exported Make blueprints against the Hall emulator: modules, routers, filters, error handlers.

`load_blueprint(path)` reads and checks an export (structural problems name the module id) and returns a
`MakeBlueprint`, a hallsim `Workflow`; its `run(hall, event=..., variables=..., settings=...)` returns a
`MakeRun` (`outcome` = the Make run status success | warning | error, `to_json()`, `render()`). Settings:
`SETTINGS`."""

from __future__ import annotations

from hallsim.harness.make._client import close_shared_client
from hallsim.harness.make._http import ModuleError
from hallsim.harness.make._run import MakeRun
from hallsim.harness.make._settings import ERROR_TYPES, SETTINGS, Setting
from hallsim.harness.make._workflow import DEFAULT_BUNDLE, MakeBlueprint, load_blueprint

__all__ = [
    "DEFAULT_BUNDLE",
    "ERROR_TYPES",
    "SETTINGS",
    "MakeBlueprint",
    "MakeRun",
    "ModuleError",
    "Setting",
    "close_shared_client",
    "load_blueprint",
]
