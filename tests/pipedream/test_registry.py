"""Registry actions by key and version: hallsim's built-in Filter, Delay and End workflow, measured against
what the real components do (PipedreamHQ/pipedream components/filter/filter.app.mjs checkCondition,
actions/continue-based-on-condition, end-based-on-condition; components/delay; components/helper_functions
actions/end-workflow), and the same table run through a real components copy when
HALLSIM_PIPEDREAM_COMPONENTS names one. Component binding (app methods, propDefinitions, additionalProps) is
tested on a components tree of this file's own making, shaped like the registry's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallsim.harness import HallEndpoint
from hallsim.harness._errors import InputError
from hallsim.harness.pipedream import load_workflow
from hallsim.harness.pipedream._registry import COMPONENTS_ENV, parse_uses

from .conftest import TIME_SCALE

REAL_COMPONENTS = os.environ.get(COMPONENTS_ENV)
needs_copy = pytest.mark.skipif(
    not REAL_COMPONENTS, reason=f"{COMPONENTS_ENV} names no copy of PipedreamHQ/pipedream's components/ tree"
)


def sync_folder(root: Path, steps: list[dict[str, Any]], side: dict[str, Any] | None = None) -> Path:
    folder = root / "wf-p_test01"
    folder.mkdir(parents=True, exist_ok=True)
    document = {"schema": "workflow/2022.04", "name": "t", "triggers": [{"id": "hi_t"}], "steps": steps}
    (folder / "workflow.yaml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    (folder / ".workflow.state").write_text(
        "---\nschema: workflow.state/2022.04\nid: p_test01\n", encoding="utf-8"
    )
    if side is not None:
        (folder / ".hallsim.yaml").write_text(yaml.safe_dump(side), encoding="utf-8")
    return folder


def action(name: str, uses: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"namespace": name, "runtime": "nodejs20.x", "uses": uses, "props": props}


def after_step(name: str = "after") -> dict[str, Any]:
    return {"namespace": name, "runtime": "nodejs20.x", "uses": f"./{name}/entry.js"}


def write_after(folder: Path, name: str = "after") -> None:
    (folder / name).mkdir(exist_ok=True)
    (folder / name / "entry.js").write_text(
        "export default defineComponent({ async run({ $ }) { $.export('ran', true); } });\n", encoding="utf-8"
    )


@pytest.fixture
def run_sync(hall, tmp_path, monkeypatch):
    """run_sync(steps, components=None) -> run; components None means the built-ins only."""

    def run(steps: list[dict[str, Any]], components: str | None = None, side: dict[str, Any] | None = None):
        # the copy is named as a user names it: the environment variable (or .hallsim.yaml settings)
        if components is None:
            monkeypatch.delenv(COMPONENTS_ENV, raising=False)
        else:
            monkeypatch.setenv(COMPONENTS_ENV, components)
        folder = sync_folder(tmp_path / ("copy" if components else "builtin"), [*steps, after_step()], side)
        write_after(folder)
        # 10x the usual scale: a 3 s wall budget, so a busy machine does not turn a row into a timeout
        settings: dict[str, Any] = {"time_scale": TIME_SCALE * 10}
        hall.set_default("allow")
        return load_workflow(folder).run(HallEndpoint(hall.url, "t", hall), settings=settings)

    return run


def outcome(run: Any, step: str = "check") -> tuple[Any, ...]:
    result = run.step(step)
    if result.status == "error":
        return ("error", result.error["name"], result.error["message"])
    if result.status == "exited":
        return ("exit", result.exit_reason)
    return ("continue", result.return_value if result.has_return_value else None)


UNDEFINED = "{{undefined}}"

#: (condition, initialValue, secondValue, what the registry's filter.app.mjs checkCondition makes of it for
#: "Continue execution if a condition Is met": continue, exit, or the error it throws)
FILTER_TABLE = [
    ("FALSE", False, None, ("continue", "go on")),
    ("FALSE", UNDEFINED, None, ("continue", "go on")),  # !undefined: the fail-open reading
    ("FALSE", "false", None, ("exit", "stopped")),  # a non-empty string is truthy
    ("FALSE", True, None, ("exit", "stopped")),
    ("FALSE", None, None, ("continue", "go on")),
    ("TRUE", "false", None, ("continue", "go on")),
    ("TRUE", UNDEFINED, None, ("exit", "stopped")),
    ("TEXT_EQUALS", "False", "false", ("continue", "go on")),  # lower-cased unless case sensitive
    ("TEXT_EQUALS", False, "false", ("error", "TypeError", "input.toLowerCase is not a function")),
    ("EQUALS", "1", 1, ("continue", "go on")),
    ("EQUALS", True, 0, ("error", "Error", "Input cannot be converted to a number")),
    ("IS_NULL", "null", None, ("continue", "go on")),
    ("IS_NULL", "x", None, ("exit", "stopped")),
    ("KEY_EXISTS", "denied", '{"denied": false}', ("continue", "go on")),
    ("IN_ARRAY", "a", "[1]", ("exit", "stopped")),
    (
        "KEY_EXISTS",
        "a",
        "[1]",
        ("error", "ConfigurationError", "Error: Unable to parse second value to object"),
    ),
    ("NOPE", 1, None, ("error", "Error", "Condition operation not supported")),
]


def filter_step(uses: str, condition: str, initial: Any, second: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "initialValue": initial,
        "condition": {"__lv": {"label": condition, "value": condition}},
        "messageOnContinue": "go on",
        "messageOnEnd": "stopped",
    }
    if second is not None:
        props["secondValue"] = second
    return action("check", uses, props)


def _error_message_matches(got: tuple[Any, ...], expected: tuple[Any, ...]) -> bool:
    # a TypeError's text names the variable (input.toLowerCase, or what the implementation calls it)
    if expected[0] == "error" and expected[1] == "TypeError":
        return got[:2] == expected[:2] and "toLowerCase is not a function" in got[2]
    return got == expected


@pytest.mark.parametrize(("condition", "initial", "second", "expected"), FILTER_TABLE)
def test_builtin_continue_filter_acts_as_the_registry_component(
    run_sync, condition, initial, second, expected
):
    run = run_sync([filter_step("filter-continue-based-on-condition@0.0.2", condition, initial, second)])
    got = outcome(run)
    assert _error_message_matches(got, expected), got
    assert run.step("after").status == ("success" if expected[0] == "continue" else "not_run")


def test_builtin_end_filter_ends_when_the_condition_is_met(run_sync):
    run = run_sync([filter_step("filter-end-based-on-condition@0.0.2", "FALSE", False, None)])
    assert outcome(run) == ("exit", "stopped")
    assert run.step("after").status == "not_run"


@needs_copy
@pytest.mark.parametrize(("condition", "initial", "second", "expected"), FILTER_TABLE)
def test_the_real_filter_component_gives_the_same_results(run_sync, condition, initial, second, expected):
    uses = "filter-continue-based-on-condition@0.0.2"
    real = outcome(run_sync([filter_step(uses, condition, initial, second)], components=REAL_COMPONENTS))
    builtin = outcome(run_sync([filter_step(uses, condition, initial, second)]))
    assert _error_message_matches(real, expected), real
    assert real[:2] == builtin[:2]


DELAY_TABLE = [
    (5, "Milliseconds", 5),
    ("2", "Seconds", 2000),
    (1, "Minutes", 60_000),
    (1, "Hours", 3_600_000),
]


def delay_step(value: Any, unit: str) -> dict[str, Any]:
    unit_value = {"__lv": {"label": unit, "value": unit}}
    return action(
        "check", "delay-delay-workflow@0.0.1", {"delayDurationValue": value, "delayDurationUnit": unit_value}
    )


def delay_result(run: Any) -> tuple[Any, ...]:
    step = run.step("check")
    delays = [f["ms"] for f in step.flow if f.get("action") == "delay"]
    return (step.status, delays, step.exports.get("$summary"), step.logs[0]["text"] if step.logs else None)


@pytest.mark.parametrize(("value", "unit", "ms"), DELAY_TABLE)
def test_builtin_delay_workflow_delays_on_the_modelled_clock(run_sync, value, unit, ms):
    run = run_sync([delay_step(value, unit)])
    status, delays, summary, log = delay_result(run)
    assert (status, delays) == ("success", [ms])
    assert summary == f"Successfully configured this workflow to delay for {value} {unit}."
    assert log == f"{value} {unit} = {ms if unit != 'Milliseconds' else value} ms"
    assert run.step("after").status == "success"
    assert run.modelled_ms >= ms


def test_builtin_delay_refuses_an_unknown_unit_as_the_registry_app_does(run_sync):
    run = run_sync([delay_step(1, "Days")])
    assert outcome(run) == ("error", "Error", "something here")


@needs_copy
@pytest.mark.parametrize(("value", "unit", "ms"), DELAY_TABLE)
def test_the_real_delay_component_gives_the_same_results(run_sync, value, unit, ms):
    real = delay_result(run_sync([delay_step(value, unit)], components=REAL_COMPONENTS))
    assert real == delay_result(run_sync([delay_step(value, unit)]))
    assert real[1] == [ms]


@pytest.mark.parametrize(
    ("condition", "expected", "summary"),
    [
        (None, ("exit", "no record"), "Workflow ended. Reason: `no record`"),  # condition defaults to true
        (False, ("continue", None), "Workflow continued. Condition evaluated to false."),
    ],
)
def test_builtin_end_workflow_exits_and_still_exports_its_summary(run_sync, condition, expected, summary):
    props: dict[str, Any] = {"reason": "no record"}
    if condition is not None:
        props["condition"] = condition
    for components in (None, REAL_COMPONENTS) if REAL_COMPONENTS else (None,):
        run = run_sync([action("check", "helper_functions-end-workflow@0.2.2", props)], components=components)
        assert outcome(run) == expected
        assert run.step("check").exports["$summary"] == summary


def test_an_action_no_one_has_is_a_load_error_naming_the_key_and_where_hallsim_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(COMPONENTS_ENV, raising=False)
    folder = sync_folder(tmp_path, [action("x", "slack-send-message@0.1.0", {})])
    with pytest.raises(InputError) as err:
        load_workflow(folder)
    text = str(err.value)
    assert "workflow.yaml:" in text
    assert "slack-send-message@0.1.0" in text
    assert "hallsim's built-in actions" in text
    assert COMPONENTS_ENV in text


def test_uses_parses_registry_and_private_keys():
    registry = parse_uses("filter-continue-based-on-condition@0.0.2")
    assert registry is not None
    assert (registry.key, registry.version, registry.workspace) == (
        "filter-continue-based-on-condition",
        "0.0.2",
        None,
    )
    private = parse_uses("@acme/record-decision@1.2.0")
    assert private is not None
    assert (private.key, private.workspace) == ("record-decision", "acme")
    assert parse_uses("./gate/entry.js") is None


# --- component binding, on a components tree shaped like the registry's ------------------------------

APP = """
export default {
  type: "app",
  app: "acme",
  propDefinitions: {
    level: { type: "string", label: "Level", options: ["low", "high"], default: "low" },
    note: { type: "string", optional: true },
  },
  methods: {
    _base() { return "https://acme.invalid"; },
    url(path) { return `${this._base()}/${path}?key=${this.$auth.api_key}`; },
    wantsExtra(level) { return level === "high"; },
  },
};
"""

ACTION = """
import acme from "../../acme.app.mjs";
export default {
  key: "acme-probe",
  version: "0.3.0",
  type: "action",
  props: {
    acme,
    level: { propDefinition: [acme, "level"] },
    note: { propDefinition: [acme, "note"], label: "Own label" },
    header: { type: "string", default: "{{steps.trigger.event.headers.authorization}}" },
  },
  async additionalProps() {
    return this.acme.wantsExtra(this.level) ? { extra: { type: "integer", default: 7 } } : {};
  },
  methods: { label() { return `level ${this.level}`; } },
  async run({ $ }) {
    const { url } = this.acme; // bound: works detached too
    $.export("url", url("items"));
    $.export("level", this.level);
    $.export("note", this.note ?? "none");
    $.export("extra", this.extra ?? "none");
    $.export("header", this.header);
    return this.label();
  },
};
"""


@pytest.fixture
def own_components(tmp_path):
    root = tmp_path / "pd" / "components"
    (root / "acme" / "actions" / "probe").mkdir(parents=True)
    (root / "acme" / "acme.app.mjs").write_text(APP, encoding="utf-8")
    (root / "acme" / "actions" / "probe" / "probe.mjs").write_text(ACTION, encoding="utf-8")
    return str(tmp_path / "pd")


@pytest.mark.parametrize(
    ("level", "extra"),
    [(None, "none"), ({"__lv": {"label": "High", "value": "high"}}, 7)],
    ids=["default", "high"],
)
def test_app_props_propdefinitions_and_additional_props_bind_as_on_pipedream(
    run_sync, own_components, level, extra
):
    props: dict[str, Any] = {"acme": {"authProvisionId": "apn_acme"}}
    if level is not None:
        props["level"] = level
    side = {"auth": {"apn_acme": {"api_key": "k1"}}, "event": {"headers": {"authorization": "Bearer z"}}}
    run = run_sync([action("check", "acme-probe@0.3.0", props)], components=own_components, side=side)
    step = run.step("check")
    assert step.status == "success", step.error
    assert step.exports == {
        "url": "https://acme.invalid/items?key=k1",
        "level": "low" if level is None else "high",
        "note": "none",
        "extra": extra,
        "header": "Bearer z",
    }
    assert step.return_value == f"level {step.exports['level']}"


def test_a_version_other_than_the_copy_has_is_a_warning(run_sync, own_components):
    side = {"event": {"headers": {"authorization": "Bearer z"}}}
    run = run_sync([action("check", "acme-probe@0.2.0", {})], components=own_components, side=side)
    assert any("has version 0.3.0; the workflow pins 0.2.0" in w for w in run.warnings)


def test_a_connected_account_without_fake_auth_warns_and_gets_an_empty_auth(run_sync, own_components):
    side = {"event": {"headers": {"authorization": "Bearer z"}}}
    steps = [action("check", "acme-probe@0.3.0", {"acme": {"authProvisionId": "apn_x"}})]
    run = run_sync(steps, components=own_components, side=side)
    step = run.step("check")
    assert step.exports["url"] == "https://acme.invalid/items?key=undefined"
    assert any("apn_x has no local fake auth" in w for w in step.warnings)
