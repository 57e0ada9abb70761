"""A corpus of realistic gate scenarios (tests/make/corpus: written for hallsim, shaped like public exports:
designer metadata, restore blocks, connections as ids, an API-wrapped export, orphans), replayed under allow
and deny against the Hall emulator. Together they use every module hallsim emulates and every function of
the IML reference, and each replay must run with no unknown module and no mapping that resolves to
nothing: the coverage of a real scenario, checked."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hallsim.harness.make import MakeRun, load_blueprint
from hallsim.harness.make._actions import BUILT_IN
from hallsim.harness.make._coverage import UNKNOWN
from hallsim.harness.make._functions import FUNCTIONS, KEYWORDS
from hallsim.harness.make._names import DIRECTIVES, FREE
from hallsim.harness.workflow import HallEndpoint

from .conftest import executed

CORPUS = Path(__file__).parent / "corpus"
CASES: dict[str, Any] = json.loads((CORPUS / "cases.json").read_text(encoding="utf-8"))


def _replay(name: str, hall: HallEndpoint) -> MakeRun:
    case = CASES[name]
    blueprint = load_blueprint(CORPUS / case["file"])
    return blueprint.run(
        hall,
        event=case.get("event"),
        variables=case.get("variables"),
        settings={"now": "2024-05-01T13:00:00Z", **case.get("settings", {})},
    )


@pytest.mark.parametrize("behaviour", ["allow", "deny"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_corpus_gate(hall: HallEndpoint, name: str, behaviour: str) -> None:
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    run = _replay(name, hall)
    expect = CASES[name][behaviour]
    assert run.status == expect["status"]
    assert run.protected_ran is expect["protected_ran"]
    posts = [r for r in run.hall_requests if r.method == "POST" and r.path == "/api/route"]
    assert len(posts) == expect["hall_posts"]
    assert all(r.status == 200 for r in posts)
    ran = set(executed(run))
    assert set(expect.get("ran", [])) <= ran
    assert not set(expect.get("not_ran", [])) & ran
    for store, keys in expect.get("store", {}).items():
        assert sorted(run.datastores[store]) == keys
    assert run.coverage.of(UNKNOWN) == ()
    assert run.warnings == []
    assert run.coverage.line() in run.render()
    assert run.to_json()["coverage"]["line"] == run.coverage.line()


def _expressions(value: Any) -> list[str]:
    if isinstance(value, str):
        return re.findall(r"\{\{(.*?)\}\}", value, re.S)
    if isinstance(value, dict):
        return [e for item in value.values() for e in _expressions(item)]
    if isinstance(value, list):
        return [e for item in value for e in _expressions(item)]
    return []


def test_the_corpus_uses_every_emulated_module_and_every_function() -> None:
    modules: set[str] = set()
    expressions: list[str] = []
    for case in CASES.values():
        loaded = load_blueprint(CORPUS / case["file"])
        for module in loaded.modules.values():
            modules.add(module.module)
            expressions.extend(_expressions(module.raw_mapper))
    text = " ".join(expressions)
    called = set(re.findall(r"([A-Za-z][A-Za-z0-9]*)\(", text))
    assert sorted(set(FUNCTIONS) - called) == []
    assert sorted(k for k in KEYWORDS if not re.search(rf"\b{k}\b", text)) == []
    flow_control = {"builtin:BasicRouter", "builtin:BasicIfElse", "builtin:BasicMerge", "builtin:BasicFeeder"}
    missing = (BUILT_IN | flow_control) - modules
    assert sorted(missing) == []
    assert modules & DIRECTIVES
    assert modules & FREE
