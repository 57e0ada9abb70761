"""Workflow files and settings: mistakes name the file, the line, the field and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallsim.harness import InputError, load_workflow
from hallsim.harness.pipedream import PipedreamWorkflow

from .conftest import FIXTURES


def _write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


STEP = "    source: 'export default defineComponent({ run() {} })'\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps: [\n", r"wf.yaml:\d+: not valid YAML"),
        ("name: x\n", r"wf.yaml:1: steps: missing; this field is required"),
        ("steps: []\n", r"wf.yaml:1: steps: list should have at least 1 item"),
        (
            "steps:\n  - name: a\n" + STEP + "    colour: red\n",
            r"wf.yaml:4: steps\[0\]\.colour: unknown field",
        ),
        ("steps:\n  - name: a b\n" + STEP, r"wf.yaml:2: steps\[0\]\.name: a step name is letters"),
        ("steps:\n  - name: a\n", r"wf.yaml:2: steps\[0\]: a step needs exactly one of `code: FILE.mjs`"),
        ("steps:\n  - name: a\n" + STEP + "    code: a.mjs\n", r"got code, source"),
        ("steps:\n  - name: a\n" + STEP + "  - name: a\n" + STEP, r"two steps are named 'a'"),
        ("steps:\n  - name: trigger\n" + STEP, r"`trigger` is reserved"),
        (
            "steps:\n  - name: a\n    code: missing.mjs\n",
            r"wf.yaml:3: steps\[0\]\.code: no such file 'missing.mjs'",
        ),
        (
            "env:\n  X: '{{hall.password}}'\nsteps:\n  - name: a\n" + STEP,
            r"wf.yaml:2: env.X: unknown placeholder \{\{hall.password\}\}; expected one of \{\{hall.url\}\}",
        ),
        ("trigger:\n  type: webhook\nsteps:\n  - name: a\n" + STEP, r"wf.yaml:2: trigger.type: .*'http'"),
        (
            "steps:\n  - name: f\n    filter:\n      rule_builder:\n        rules: [{value: 1, op: 'is'}]\n",
            r"wf.yaml:5: steps\[0\]\.filter\.rule_builder\.rules\[0\]\.op: .*'bool='",
        ),
        (
            "steps:\n  - name: f\n    filter:\n      registry: {condition: MAYBE}\n",
            r"steps\[0\]\.filter\.registry\.condition: .*'EQUALS'",
        ),
        ("steps:\n  - name: f\n    filter: {}\n", r"give `rule_builder:` or `registry:`"),
    ],
)
def test_workflow_file_mistakes_name_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_workflow(_write(tmp_path, text))


def test_a_missing_workflow_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_workflow(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"colour": "red"}, r"run settings: setting colour: unknown setting; known settings: action_env, "),
        ({"time_scale": "fast"}, r'setting time_scale: .*number.*got "fast"'),
        ({"time_scale": 0}, r"setting time_scale: .*greater than 0"),
        ({"timeout_s": 751}, r"setting timeout_s: .*750"),
        ({"action_env": "some"}, r"setting action_env: .*'none' or 'workflow'"),
        ({"egress_allow": "example.com"}, r"setting egress_allow: .*HOST:PORT"),
    ],
)
def test_bad_settings_name_the_setting_and_what_was_expected(settings: dict, expected: str) -> None:
    with pytest.raises(InputError, match=expected):
        load_workflow(FIXTURES / "inline_option_a.yaml").settings_for(settings)


def test_settings_in_the_file_are_named_with_the_file(tmp_path: Path) -> None:
    workflow = load_workflow(_write(tmp_path, "settings: {timeout_s: -1}\nsteps:\n  - name: a\n" + STEP))
    with pytest.raises(InputError, match=r"wf.yaml: settings: setting timeout_s"):
        workflow.settings_for(None)


def test_settings_layers_file_then_caller(tmp_path: Path) -> None:
    workflow = load_workflow(
        _write(tmp_path, "settings: {timeout_s: 10, time_scale: 0.5}\nsteps:\n  - name: a\n" + STEP)
    )
    settings = workflow.settings_for({"time_scale": "0.02"})
    assert settings.timeout_s == 10
    assert settings.time_scale == 0.02


def test_the_documented_workflows_load_with_their_protected_step() -> None:
    for name in ("inline_option_a", "inline_filter", "component"):
        workflow = load_workflow(FIXTURES / f"{name}.yaml")
        assert isinstance(workflow, PipedreamWorkflow)
        assert workflow.platform == "pipedream"
        assert workflow.protected == ("write_record",)
        assert workflow.spec.steps[0].name == "pyhall_gate"


def test_a_single_mjs_file_is_a_one_step_workflow() -> None:
    gate = load_workflow(FIXTURES / "pyhall_gate.mjs")
    [step] = gate.spec.steps
    assert (step.name, step.kind) == ("pyhall_gate", "code")
    assert gate.spec.env["HALL_SESSION_TOKEN"] == "{{hall.token}}"
    component = load_workflow(FIXTURES / "pyhall_gate_component.mjs")
    assert component.spec.steps[0].kind == "action"
