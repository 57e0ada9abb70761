"""The scenario file format: what loads, and how each mistake is reported (file, line, field, expected)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from hallsim.harness.scenario import ScenarioError, find_scenarios, load_scenario

PIPEDREAM_STEP = "export default defineComponent({ async run({ steps, $ }) { return 1 } });\n"
BLUEPRINT = {"name": "gate", "flow": [{"id": 1, "module": "gateway:CustomWebHook"}], "metadata": {}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "gate.mjs").write_text(PIPEDREAM_STEP)
    (tmp_path / "gate.blueprint.json").write_text(json.dumps(BLUEPRINT))
    return tmp_path


def write(folder: Path, text: str, name: str = "s.scenario.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return str(info.value)


def test_minimal_scenario_loads_with_paths_relative_to_the_file(folder: Path) -> None:
    path = write(
        folder,
        """
        workflow: gate.mjs
        hall: deny
        event: {worker_id: wrk_a, data_label: RESTRICTED}
        expect:
          outcome: exited
          protected_ran: false
        """,
    )
    scenario = load_scenario(path)
    assert scenario.name == "s"
    assert scenario.workflow == folder / "gate.mjs"
    assert scenario.platform == "pipedream"
    assert scenario.hall.behaviour == "deny"
    assert scenario.events == ({"worker_id": "wrk_a", "data_label": "RESTRICTED"},)
    assert scenario.expect.outcome == ["exited"]
    assert scenario.time_scale == pytest.approx(0.01)


def test_make_scenario_takes_status_routes_and_module_ids(folder: Path) -> None:
    path = write(
        folder,
        """
        workflow: gate.blueprint.json
        hall: {behaviour: allow}
        expect:
          status: success
          routes: [Allowed]
          modules: {4: {executed: true}}
        """,
    )
    scenario = load_scenario(path)
    assert scenario.platform == "make"
    assert scenario.expect.routes == [["Allowed"]]
    assert set(scenario.expect.modules or {}) == {"4"}


def test_event_file_is_read_relative_to_the_scenario(folder: Path) -> None:
    (folder / "events").mkdir()
    (folder / "events" / "one.json").write_text('{"worker_id": "wrk_file"}')
    path = write(folder, "workflow: gate.mjs\nhall: allow\nevent_file: events/one.json\nexpect: {}\n")
    assert load_scenario(path).events == ({"worker_id": "wrk_file"},)


def test_generated_events_are_the_same_for_the_same_seed(folder: Path) -> None:
    path = write(folder, "workflow: gate.mjs\nhall: allow\nevents: {count: 6, seed: 4}\nexpect: {}\n")
    first, second = load_scenario(path), load_scenario(path)
    assert len(first.events) == 6
    assert first.events == second.events
    assert first.event_labels[2].startswith("event 3 (")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # unknown field: names the line, the field, and the fields that exist there
        (
            "workflow: gate.mjs\nhall: allow\nexpect:\n  protected_rann: false\n",
            ["s.scenario.yaml:4", "expect.protected_rann", "unknown field", "protected_ran"],
        ),
        # a value of the wrong kind
        (
            "workflow: gate.mjs\nhall: allow\nexpect:\n  steps:\n    gate:\n      status: sucess\n",
            ["s.scenario.yaml:6", "expect.steps.gate.status", "'success'", 'got "sucess"'],
        ),
        ("workflow: gate.mjs\nhall: allow\nexpect:\n  protected_ran: yes please\n", ["expect.protected_ran"]),
        ("workflow: gate.mjs\nexpect: {}\n", ["hall: missing; this field is required"]),
        (
            "workflow: gate.mjs\nhall: {behaviour: deny, script: x.yaml}\nexpect: {}\n",
            ["s.scenario.yaml:2", "exactly one of `behaviour`, `script` or `rules`"],
        ),
        (
            "workflow: gate.mjs\nhall: allow\nevent: {}\nevents: {count: 2}\nexpect: {}\n",
            ["at most one of `event`, `event_file` or `events`"],
        ),
        (
            "workflow: gate.mjs\nhall: allow\nevents: {count: 0}\nexpect: {}\n",
            ["events.count", "greater than"],
        ),
        ("workflow: gate.mjs\nhall: allow\ntime_scale: 0\nexpect: {}\n", ["time_scale"]),
        # pinning a fail-open verdict must say why
        (
            "workflow: gate.mjs\nhall: allow\npins_fail_open: true\nexpect: {}\n",
            ["`pins_fail_open: true` needs a `note:`"],
        ),
        # matchers are checked when the file loads
        (
            "workflow: gate.mjs\nhall: allow\nexpect:\n  steps:\n    gate:\n      exports:\n"
            "        decision_id: {$hal: decision_id}\n",
            ["s.scenario.yaml:7", "expect.steps.gate.exports.decision_id", "unknown matcher '$hal'"],
        ),
        (
            "workflow: gate.mjs\nhall: allow\nexpect:\n  hall_calls: {with: {worker_id: {$hall: worker}}}\n",
            ["$hall: expected one of decision_id"],
        ),
        # platform-specific expectations
        (
            "workflow: gate.mjs\nhall: allow\nexpect:\n  routes: [Allowed]\n",
            ["expect.routes: only for Make blueprints; this workflow is pipedream"],
        ),
        (
            "workflow: gate.blueprint.json\nhall: allow\nexpect:\n  outcome: exited\n",
            ["expect.outcome: expected one of success, warning, error for a make workflow; got 'exited'"],
        ),
        # files that are not there
        (
            "workflow: nowhere.yaml\nhall: allow\nexpect: {}\n",
            ["s.scenario.yaml:1", "workflow:", "no such file"],
        ),
        ("workflow: gate.mjs\nhall: {script: nope.yaml}\nexpect: {}\n", ["hall.script", "no such file"]),
        # the Hall's rules and behaviours are checked when the file loads, not half-way through a run
        (
            "workflow: gate.mjs\nhall:\n  rules:\n    - {match: {worker_id: a}, respond: deny}\n"
            "    - {match: {worker_id: b}, respond: dney}\nexpect: {}\n",
            ["s.scenario.yaml:5", "hall.rules[1].respond: unknown behaviour 'dney'"],
        ),
        (
            "workflow: gate.mjs\nhall: {rules: [], default: dney}\nexpect: {}\n",
            ["s.scenario.yaml:2", "hall.default: unknown behaviour 'dney'"],
        ),
        ("workflow: gate.mjs\nhall: allow\nevent_file: e.json\nexpect: {}\n", ["event_file", "no such file"]),
        ("workflow: gate.mjs\nhall: allow\nexpect: [\n", ["not valid YAML"]),
        ("- just\n- a list\n", ["expected a mapping with at least `workflow`, `hall` and `expect`"]),
    ],
)
def test_mistakes_name_file_line_field_and_what_was_expected(
    folder: Path, body: str, expected: list[str]
) -> None:
    message = error_of(write(folder, body))
    assert str(folder / "s.scenario.yaml") in message
    for part in expected:
        assert part in message


def test_find_scenarios_picks_only_scenario_files(folder: Path) -> None:
    (folder / "sub").mkdir()
    write(folder, "x: 1\n", "b.scenario.yaml")
    write(folder, "x: 1\n", "sub/a.scenario.yml")
    write(folder, "x: 1\n", "workflow.yaml")
    found = find_scenarios([folder])
    assert [p.name for p in found] == ["b.scenario.yaml", "a.scenario.yml"]
    with pytest.raises(ScenarioError, match="no such file or folder"):
        find_scenarios([folder / "missing"])


def test_a_broken_hall_script_is_reported_with_both_files(folder: Path) -> None:
    (folder / "hall.yaml").write_text("rules:\n  - match: {worker_id: a}\n    respond: dney\n")
    message = error_of(write(folder, "workflow: gate.mjs\nhall: {script: hall.yaml}\nexpect: {}\n"))
    assert f"{folder / 's.scenario.yaml'}:2: hall.script: {folder / 'hall.yaml'}:3:" in message
    assert "unknown behaviour 'dney'" in message


def test_an_event_file_that_is_not_text_is_reported(folder: Path) -> None:
    (folder / "event.json").write_bytes(b"\xff\xfe{}")
    message = error_of(write(folder, "workflow: gate.mjs\nhall: allow\nevent_file: event.json\nexpect: {}\n"))
    assert f"s.scenario.yaml:3: event_file: {folder / 'event.json'}: cannot read it as text" in message
