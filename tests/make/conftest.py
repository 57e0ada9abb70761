"""Helpers for the Make replay tests: write a blueprint from a flow, run it, find events in its trace."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hallsim.harness.make import MakeBlueprint, MakeRun, close_shared_client, load_blueprint
from hallsim.harness.stubs import Stubs
from hallsim.harness.workflow import HallEndpoint

DATA = Path(__file__).parent / "data"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "make"

#: for blueprints that make no HTTP call: nothing listens on port 9 (discard)
NOWHERE = HallEndpoint("http://127.0.0.1:9", "t")


def webhook(module_id: int = 1) -> dict[str, Any]:
    return {"id": module_id, "module": "gateway:CustomWebHook", "version": 1, "parameters": {}, "mapper": {}}


def action(
    module_id: int, module: str = "slack:CreateMessage", mapper: Any = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": module_id,
        "module": module,
        "version": 1,
        "parameters": {},
        "mapper": mapper or {},
        **extra,
    }


def condition(a: Any, o: str, b: Any = None) -> dict[str, Any]:
    out = {"a": a, "o": o}
    if b is not None:
        out["b"] = b
    return out


def flt(name: str, *groups: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "conditions": [list(group) for group in groups], **extra}


def router(module_id: int, *routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": module_id,
        "module": "builtin:BasicRouter",
        "version": 1,
        "mapper": None,
        "routes": [{"flow": list(route)} for route in routes],
    }


def directive(module_id: int, name: str, mapper: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": module_id, "module": f"builtin:{name}", "version": 1, "parameters": {}}
    if mapper is not None:
        out["mapper"] = mapper
    return out


REQUEST_BODY = '{"capability_id": "cap.data.write.v1", "worker_id": "{{1.worker_id}}", "env": "prod"}'


def http_v3(module_id: int = 2, *, handle_errors: bool = True, **mapper: Any) -> dict[str, Any]:
    """An HTTP v3 "Make a request" shaped like a real export (see the guide fixtures), calling the Hall."""
    fields: dict[str, Any] = {
        "url": "{{variable.PYHALL_HALL_URL}}/api/route",
        "method": "post",
        "headers": [{"name": "Authorization", "value": "Bearer {{variable.HALL_SESSION_TOKEN}}"}],
        "qs": [],
        "bodyType": "raw",
        "contentType": "application/json",
        "data": REQUEST_BODY,
        "parseResponse": True,
        "timeout": "10",
        "followRedirect": True,
        **mapper,
    }
    return {
        "id": module_id,
        "module": "http:ActionSendData",
        "version": 3,
        "parameters": {"handleErrors": handle_errors, "useNewZLibDeCompress": True},
        "mapper": fields,
    }


def http_v4(module_id: int = 2, **mapper: Any) -> dict[str, Any]:
    """An HTTP v4 "Make a request" shaped like the public make-blueprints patterns."""
    fields: dict[str, Any] = {
        "url": "{{variable.PYHALL_HALL_URL}}/api/route",
        "method": "post",
        "headers": [{"name": "Authorization", "value": "Bearer {{variable.HALL_SESSION_TOKEN}}"}],
        "contentType": "json",
        "parseResponse": True,
        "queryParameters": [],
        "inputMethod": "jsonString",
        "jsonStringBodyContent": REQUEST_BODY,
        **mapper,
    }
    return {
        "id": module_id,
        "module": "http:MakeRequest",
        "version": 4,
        "parameters": {"authenticationType": "noAuth"},
        "mapper": fields,
    }


@pytest.fixture
def hall(hall_emulator: Any) -> HallEndpoint:
    """The plugin's emulator (reset around each test) as a Hall endpoint with its accepted token."""
    return HallEndpoint(hall_emulator.url, next(iter(hall_emulator.tokens)), hall_emulator)


@pytest.fixture
def write_blueprint(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1, 1000))

    def write(
        flow: list[dict[str, Any]],
        *,
        dlq: bool = False,
        auto_commit: bool = True,
        name: str = "test scenario",
    ) -> Path:
        path = tmp_path / f"blueprint{next(counter)}.json"
        document = {
            "name": name,
            "flow": flow,
            "metadata": {
                "version": 1,
                "scenario": {"roundtrips": 1, "maxErrors": 3, "autoCommit": auto_commit, "dlq": dlq},
            },
        }
        path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        return path

    return write


@pytest.fixture
def replay(write_blueprint: Callable[..., Path]) -> Callable[..., MakeRun]:
    """Write a flow as a blueprint and replay it (against NOWHERE unless `hall` is given)."""

    def run(
        flow: list[dict[str, Any]],
        *,
        event: Any = None,
        settings: dict[str, Any] | None = None,
        variables: dict[str, str] | None = None,
        hall: HallEndpoint = NOWHERE,
        dlq: bool = False,
        auto_commit: bool = True,
        stubs: Stubs | None = None,
    ) -> MakeRun:
        blueprint = load_blueprint(write_blueprint(flow, dlq=dlq, auto_commit=auto_commit))
        return blueprint.run(hall, event=event, settings=settings, variables=variables, stubs=stubs)

    return run


def executed(run: MakeRun) -> list[int]:
    """Module ids in the order they executed (every execution, retries included)."""
    return [e.module for e in run.events if e.kind == "module" and e.module is not None]


def events(run: MakeRun, kind: str) -> list[Any]:
    return [e for e in run.events if e.kind == kind]


def fixture(name: str) -> MakeBlueprint:
    return load_blueprint(FIXTURES / name)


@pytest.fixture(autouse=True, scope="session")
def _close_http_client() -> Iterator[None]:
    yield
    close_shared_client()
