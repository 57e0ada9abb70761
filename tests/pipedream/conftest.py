"""Shared helpers for the Pipedream harness tests: one emulator and one Node host per test session (xdist
worker), a fresh configuration per test, and small workflow files written on the fly."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.node import find_node
from hallsim.harness.pipedream import PipedreamRun, load_workflow

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "pipedream"
#: tests scale time down: the 30 s execution timeout costs 0.3 s of wall time
TIME_SCALE = 0.01
GUIDE_ENV = {
    "PYHALL_HALL_URL": "{{hall.url}}",
    "HALL_SESSION_TOKEN": "{{hall.token}}",
    "AUDIT_LOG_WEBHOOK_URL": "{{sink.url}}/audit",
}

RunWorkflow = Callable[..., PipedreamRun]


@pytest.fixture
def hall(hall_emulator: HallEmulator) -> HallEmulator:
    """The plugin's emulator (one per session, reset around each test); runs set its time scale."""
    return hall_emulator


@pytest.fixture
def run_workflow(hall: HallEmulator) -> RunWorkflow:
    """run_workflow(path, behaviour="allow", *, event=None, variables=None, token="t", **settings)."""

    def run(
        workflow: Path | str,
        behaviour: str = "allow",
        *,
        event: Any = None,
        variables: dict[str, str] | None = None,
        token: str | None = "t",
        **settings: Any,
    ) -> PipedreamRun:
        hall.set_default(behaviour)
        settings.setdefault("time_scale", TIME_SCALE)
        return load_workflow(workflow).run(
            HallEndpoint(hall.url, token, hall), event=event, variables=variables, settings=settings
        )

    return run


def code_step(name: str, source: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "source": source, **extra}


def body(run_body: str) -> str:
    """A code step whose run() has this body."""
    return f"export default defineComponent({{\n  async run({{ steps, $ }}) {{\n{run_body}\n  }},\n}});\n"


@pytest.fixture
def write_workflow(tmp_path: Path) -> Callable[..., Path]:
    """write_workflow(*steps, env=GUIDE_ENV, event={}, settings=None, files={name: text}) -> path."""

    def write(
        *steps: dict[str, Any],
        env: dict[str, str] | None = None,
        event: Any = None,
        settings: dict[str, Any] | None = None,
        files: dict[str, str] | None = None,
        trigger_type: str = "http",
        name: str = "workflow.yaml",
    ) -> Path:
        for file_name, text in (files or {}).items():
            (tmp_path / file_name).write_text(text, encoding="utf-8")
        document: dict[str, Any] = {
            "trigger": {"type": trigger_type, "event": {} if event is None else event},
            "env": GUIDE_ENV if env is None else env,
            "steps": list(steps),
        }
        if settings:
            document["settings"] = settings
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    return write


def node_module_json(script: str, env: dict[str, str] | None = None) -> Any:
    """Run `script` as an ES module in the Node hallsim picks (with `env` added to the environment), and read
    back the JSON it writes to stdout."""
    done = subprocess.run(
        [str(find_node().path), "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
