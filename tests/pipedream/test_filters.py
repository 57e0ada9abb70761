"""The two kinds of Filter step and how each compares (pipedream.md "Filter steps"; PipedreamHQ/pipedream
components/filter for the registry app). A filter that says stop ends the whole workflow with $.flow.exit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import body, code_step

pytestmark = pytest.mark.e2e

ABSENT = object()


def _source(value: Any) -> dict[str, Any]:
    export = "" if value is ABSENT else f"$.export('v', {json.dumps(value)});"
    return code_step("src", body(export))


def _run(write_workflow, run_workflow, value: Any, variant: dict[str, Any]) -> Any:
    path = write_workflow(
        _source(value),
        {"name": "filter", "filter": variant},
        code_step("after", body("$.export('ran', true);")),
    )
    return run_workflow(path)


RULES = [
    # op, value, to, match_case, continues
    ("bool=", False, False, False, True),
    ("bool=", "false", False, False, False),  # a string "false" never equals the boolean false
    ("bool=", ABSENT, False, False, False),
    ("num=", "1", 1, False, True),
    ("num=", False, 0, False, True),  # +false === 0
    ("num=", "x", "x", False, False),  # NaN equals nothing
    ("str=", "ABC", "abc", False, True),
    ("str=", "ABC", "abc", True, False),
    ("str=", True, "true", False, False),
    ("exist", None, None, False, True),
    ("exist", ABSENT, None, False, False),
    ("true", "true", None, False, False),
    ("false", False, None, False, True),
    ("str/", "Governance denial", "DENIAL", False, True),
]


@pytest.mark.parametrize(("op", "value", "to", "match_case", "continues"), RULES)
def test_rule_builder(write_workflow, run_workflow, op, value, to, match_case, continues) -> None:
    rule = {"value": "{{steps.src.v}}", "op": op, "to": to, "match_case": match_case}
    run = _run(write_workflow, run_workflow, value, {"rule_builder": {"rules": [rule]}})
    step = run.step("filter")
    assert run.step("after").ran is continues
    if continues:
        assert step.exports == {"$summary": "Continuing workflow"}
    else:
        assert run.outcome == "exited"
        assert step.exit_reason == "Ending workflow"


def test_rule_builder_groups_and_end_when_met(write_workflow, run_workflow) -> None:
    rules = {
        "when_met": "end",
        "match": "any",
        "rules": [
            {"value": "{{steps.src.v}}", "op": "num>", "to": 10},
            {"match": "all", "rules": [{"value": "{{steps.src.v}}", "op": "num", "to": None}]},
        ],
    }
    run = _run(write_workflow, run_workflow, 3, {"rule_builder": rules})
    assert run.outcome == "exited"


REGISTRY = [
    # condition, value, compare_to, outcome: "continue", "exit" or the error message
    ("FALSE", False, None, "continue"),
    ("FALSE", "false", None, "exit"),  # JavaScript truthiness: the string "false" is truthy
    ("FALSE", ABSENT, None, "continue"),  # undefined is falsy: a missing field continues
    ("TRUE", "false", None, "continue"),
    ("EQUALS", "1", 1, "continue"),
    ("EQUALS", False, False, "Input cannot be converted to a number"),  # both sides parsed as numbers
    ("TEXT_EQUALS", "ABC", "abc", "continue"),  # lower-cased unless case sensitive
    ("TEXT_EQUALS", True, "true", "toLowerCase is not a function"),  # a boolean throws
    ("IS_NULL", "undefined", None, "continue"),
    ("IS_NULL", ABSENT, None, "continue"),
    ("IS_NULL", 0, None, "exit"),
    ("IN_ARRAY", "b", ["a", "b"], "continue"),
    ("KEY_EXISTS", "k", '{"k": null}', "exit"),
    # the registry wraps a failed parse in ConfigurationError(e): the message is the original error's String()
    ("IN_ARRAY", "b", '{"a": 1}', "ConfigurationError: Error: Unable to parse second value to array"),
    ("IN_ARRAY", "b", "a,b", "ConfigurationError: SyntaxError: Unexpected token"),
    ("KEY_EXISTS", "k", "null", "TypeError: Cannot use 'in' operator"),  # JSON null passes as an object
]


@pytest.mark.parametrize(("condition", "value", "compare_to", "outcome"), REGISTRY)
def test_registry_filter(write_workflow, run_workflow, condition, value, compare_to, outcome) -> None:
    variant = {
        "registry": {
            "action": "continue",
            "condition": condition,
            "value": "{{steps.src.v}}",
            "compare_to": compare_to,
            "message_on_continue": "go on",
            "message_on_end": "stop",
        }
    }
    run = _run(write_workflow, run_workflow, value, variant)
    step = run.step("filter")
    if outcome == "continue":
        assert run.step("after").ran
        assert step.return_value == "go on"
    elif outcome == "exit":
        assert run.outcome == "exited"
        assert step.exit_reason == "stop"
    else:
        assert run.outcome == "errored"
        assert outcome in f"{step.error['name']}: {step.error['message']}"


def test_registry_end_action_ends_when_the_condition_is_met(write_workflow, run_workflow) -> None:
    variant = {"registry": {"action": "end", "condition": "TRUE", "value": "{{steps.src.v}}"}}
    run = _run(write_workflow, run_workflow, True, variant)
    assert run.outcome == "exited"
    assert run.step("after").status == "not_run"


def test_filter_kind_picks_the_variant_and_a_single_variant_is_used_whatever_the_setting(
    write_workflow, run_workflow
) -> None:
    both = {
        "rule_builder": {"rules": [{"value": "{{steps.src.v}}", "op": "bool=", "to": False}]},
        "registry": {"condition": "FALSE", "value": "{{steps.src.v}}"},
    }
    assert _run(write_workflow, run_workflow, ABSENT, both).outcome == "exited"
    registry = run_workflow(
        write_workflow(_source(ABSENT), {"name": "filter", "filter": both}), filter_kind="registry"
    )
    assert registry.outcome == "completed"
    only_registry = {"registry": both["registry"]}
    assert _run(write_workflow, run_workflow, ABSENT, only_registry).outcome == "completed"
