"""GitHub-Sync workflow folders read unchanged (fixtures/pipedream-sync): every key hallsim reads, the same
verdicts as hallsim's own YAML format, warnings for what it does not know, load errors naming file:line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from hallsim.cli import cli
from hallsim.harness._errors import InputError
from hallsim.harness.matrix import run_matrix
from hallsim.harness.pipedream import load_workflow, sync_workflows
from hallsim.harness.pipedream._registry import COMPONENTS_ENV
from hallsim.harness.pipedream._sync import _unwrap
from hallsim.harness.workflow import detect_platform, expand_workflows

from .conftest import FIXTURES, ROOT, TIME_SCALE

PROJECT = ROOT / "fixtures" / "pipedream-sync"
FILTER = PROJECT / "pyhall-gate-filter-p_hsFilt01"
EVERY_KEY = PROJECT / "every-key-p_hsKeys01"


@pytest.fixture(autouse=True)
def _builtins_only(monkeypatch):
    monkeypatch.delenv(COMPONENTS_ENV, raising=False)


def test_every_key_of_a_synced_workflow_reaches_the_steps(run_workflow) -> None:
    run = run_workflow(EVERY_KEY, time_scale=TIME_SCALE * 10)  # seven steps: a 3 s wall budget
    assert run.outcome == "completed"
    inputs = run.step("check_inputs").exports
    assert inputs == {
        "api_key": "fake-crm-key",  # {authProvisionId} -> the local fake auth of .hallsim.yaml
        "region": "eu",  # {__lv: {label, value}} -> value
        "labels": ["INTERNAL", "PUBLIC"],  # {__lv: [...]} -> the values
        "denied": False,  # a whole-string expression keeps its type
        "denied_type": "boolean",
        "worker": "wrk_pipedream_acme_prod",  # steps.trigger.event (the .hallsim.yaml event)
        "greeting": "worker wrk_pipedream_acme_prod is denied=false",  # interpolated into text
        "hall_url_set": True,  # process.env in an expression
        "mode": "INTERNAL",  # a prop default holding {{ }} is evaluated
        "cached": "from .hallsim.yaml",  # a data store's initial contents
    }
    delays = [f["ms"] for f in run.step("wait_a_minute").flow if f["action"] == "delay"]
    assert delays == [60_000]
    record = run.step("record_decision").exports
    assert record["recorded"] == run.step("pyhall_gate").exports["decision_id"]
    assert record["cached_worker"] == "wrk_pipedream_acme_prod"  # the data store is shared across steps
    assert record["env_seen"] == "none"  # a private action sees no workspace variables
    assert run.step("stop_if_denied").exports["$summary"].startswith("Workflow continued")
    assert run.protected_ran
    assert any("steps[5].color: unknown key, ignored" in w for w in run.warnings)


def test_the_workflow_id_and_name_come_from_the_synced_files(run_workflow) -> None:
    workflow = load_workflow(FILTER)
    assert workflow.spec.workflow_id == "p_hsFilt01"
    assert workflow.spec.name == "pyhall gate, Option B (registry Filter)"
    assert workflow.spec.trigger_type == "http"  # trigger id hi_...
    assert workflow.protected == ("write_record",)


def test_a_denied_gate_stops_at_the_registry_filter_or_before(run_workflow) -> None:
    run = run_workflow(FILTER, "deny:DENY_POLICY_GATE")
    assert run.outcome == "exited"
    assert not run.protected_ran


def test_a_synced_project_gets_the_same_verdicts_as_the_yaml_format() -> None:
    # time scale 0.05: the slow:15 and timeout rows stay clear of the 30 s limit on a busy machine
    synced = run_matrix(FILTER, time_scale=TIME_SCALE * 5)
    own = run_matrix(
        FIXTURES / "inline_filter.yaml", settings={"filter_kind": "registry"}, time_scale=TIME_SCALE * 5
    )
    assert [(r.behaviour, r.verdict) for r in synced.rows] == [(r.behaviour, r.verdict) for r in own.rows]
    assert any(r.verdict == "FAIL-OPEN" for r in synced.rows)  # missing-denied: !undefined continues


def test_a_project_folder_stands_for_each_workflow_in_it() -> None:
    assert sync_workflows(PROJECT) == [EVERY_KEY, FILTER]
    assert expand_workflows([PROJECT, FIXTURES / "inline_filter.yaml"]) == [
        EVERY_KEY,
        FILTER,
        FIXTURES / "inline_filter.yaml",
    ]
    assert detect_platform(PROJECT) == "pipedream"
    with pytest.raises(InputError, match="workflow folders found: every-key-p_hsKeys01, pyhall-gate"):
        load_workflow(PROJECT)


def test_replay_takes_a_synced_folder() -> None:
    result = CliRunner().invoke(cli, ["replay", str(FILTER), "--hall", "allow", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["outcome"] == "completed"
    assert [s["name"] for s in data["steps"]] == [
        "pyhall_gate",
        "continue_if_allowed",
        "write_record",
        "audit_log",
    ]


def test_matrix_takes_a_project_folder(tmp_path) -> None:
    result = CliRunner().invoke(
        cli, ["matrix", str(PROJECT), "--json", "--behaviour", "allow", "--time-scale", str(TIME_SCALE)]
    )
    text = result.output
    assert "every-key-p_hsKeys01" in text
    assert "pyhall-gate-filter-p_hsFilt01" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"__lv": {"label": "Europe", "value": "eu"}}, "eu"),
        ({"__lv": [{"label": "A", "value": 1}, {"label": "B", "value": 2}]}, [1, 2]),
        ({"__lv": "raw"}, "raw"),
        ({"outer": {"__lv": {"label": "x", "value": True}}}, {"outer": True}),
        ({"authProvisionId": "apn_1"}, {"authProvisionId": "apn_1"}),
    ],
)
def test_label_value_wrappers_unwrap_to_their_values(value: Any, expected: Any) -> None:
    assert _unwrap(value) == expected


def write_sync(tmp_path: Path, steps: list[Any], **top: Any) -> Path:
    folder = tmp_path / "wf-p_x"
    folder.mkdir(exist_ok=True)
    document = {
        "schema": "workflow/2022.04",
        "name": "x",
        "triggers": [{"id": "hi_x"}],
        **top,
        "steps": steps,
    }
    (folder / "workflow.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder


def code(folder: Path, name: str) -> dict[str, Any]:
    (folder / name).mkdir(exist_ok=True)
    (folder / name / "entry.js").write_text("export default defineComponent({ async run() {} });\n")
    return {"namespace": name, "runtime": "nodejs20.x", "uses": f"./{name}/entry.js"}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"namespace": "a", "runtime": "python3.12", "uses": "./a/entry.py"},
            "hallsim runs Node.js steps only",
        ),
        ({"namespace": "a-b", "uses": "./a/entry.js"}, r"steps\[0\].namespace: expected a step name"),
        (
            {"namespace": "a", "uses": "./missing/entry.js"},
            r"steps\[0\].uses: no such file './missing/entry.js'",
        ),
        ({"namespace": "a", "uses": "not a key"}, "neither a path"),
        ({"namespace": "a", "uses": "@acme/nothing@1.0.0"}, "no action with key 'nothing' found"),
        ({"namespace": "a"}, r"steps\[0\].uses: expected ./<namespace>/entry.js"),
    ],
)
def test_a_step_hallsim_cannot_run_is_a_load_error_naming_file_line_and_field(
    tmp_path, step, message
) -> None:
    folder = write_sync(tmp_path, [step])
    with pytest.raises(InputError, match=message) as err:
        load_workflow(folder)
    assert f"{folder / 'workflow.yaml'}:" in str(err.value)


def test_unknown_keys_and_an_unknown_schema_are_warnings(tmp_path) -> None:
    folder = tmp_path / "wf-p_x"
    folder.mkdir()
    steps = [code(folder, "a")]
    write_sync(tmp_path, steps, schema="workflow/2030.01", settings={"concurrency": 3}, extra=1)
    warnings = load_workflow(folder).spec.warnings
    text = "\n".join(warnings)
    assert "schema 'workflow/2030.01'" in text
    assert "extra: unknown key" in text
    assert "settings.concurrency: a Pipedream setting hallsim does not model" in text
    assert "no .workflow.state" in text


def test_a_timer_trigger_id_gives_the_cron_timeout(tmp_path) -> None:
    folder = tmp_path / "wf-p_x"
    folder.mkdir()
    write_sync(tmp_path, [code(folder, "a")], triggers=[{"id": "ti_abc"}])
    workflow = load_workflow(folder)
    assert workflow.spec.trigger_type == "cron"
    assert workflow.settings_for().timeout("cron") == 60.0


def test_the_side_file_is_checked(tmp_path) -> None:
    folder = tmp_path / "wf-p_x"
    folder.mkdir()
    write_sync(tmp_path, [code(folder, "a")])
    (folder / ".hallsim.yaml").write_text("protected: [nope]\n")
    with pytest.raises(InputError, match="protected: 'nope' is not a step; the steps are a"):
        load_workflow(folder)
    (folder / ".hallsim.yaml").write_text("protectd: [a]\n")
    with pytest.raises(InputError, match=r"\.hallsim\.yaml:1: protectd: unknown field"):
        load_workflow(folder)
