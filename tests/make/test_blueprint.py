"""Loading blueprint exports (shared/reference/make.md "Blueprint JSON"): ids unique across the whole
blueprint, mappings resolved by module id, routers with routes, error routes ending in a directive.
Structural problems are errors that name the file and the module id."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hallsim.harness import InputError, load_workflow
from hallsim.harness.make import load_blueprint

from .conftest import FIXTURES, action, condition, directive, flt, router, webhook


def _error(write: Callable[..., Path], flow: list[dict[str, Any]]) -> str:
    path = write(flow)
    with pytest.raises(InputError) as caught:
        load_blueprint(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    return message


def test_duplicate_ids_across_routes_are_named(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), router(2, [action(3)], [action(3, "google-sheets:addRow")])]
    message = _error(write_blueprint, flow)
    assert "module 3: duplicate id" in message
    assert "flow[1].routes[0].flow[0]" in message
    assert "flow[1].routes[1].flow[0]" in message


def test_duplicate_id_in_an_error_route(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, onerror=[directive(2, "Ignore")])]
    assert "module 2: duplicate id" in _error(write_blueprint, flow)


def test_mapping_to_a_module_that_does_not_exist(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, mapper={"text": "{{9.x}}"})]
    message = _error(write_blueprint, flow)
    assert (
        "module 2: mapper: mapping `{{9.x}}` refers to module 9, which does not exist (module ids: 1, 2)"
        in message
    )


def test_mapping_to_a_module_that_has_not_run_yet(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, mapper={"text": "{{3.ts}}"}), action(3)]
    message = _error(write_blueprint, flow)
    assert "module 2: mapper: mapping `{{3.ts}}` refers to module 3, which has not run yet" in message
    assert "(modules before it: 1)" in message


def test_mapping_to_a_module_on_another_route(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), router(2, [action(3)], [action(4, mapper={"text": "{{3.ts}}"})])]
    assert "module 4: mapper: mapping `{{3.ts}}` refers to module 3, which has not run yet" in _error(
        write_blueprint, flow
    )


def test_filter_mapping_is_checked_too(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, filter=flt("late", [condition("{{5.x}}", "exist")]))]
    assert "module 2: filter: mapping `{{5.x}}` refers to module 5, which does not exist" in _error(
        write_blueprint, flow
    )


def test_error_route_may_map_the_failing_module(write_blueprint: Callable[..., Path]) -> None:
    # the public pattern error-handler-fallback maps {{2.error.message}} inside module 2's error route
    flow = [
        webhook(),
        action(2, onerror=[action(3, mapper={"m": "{{2.error.message}}"}), directive(4, "Ignore")]),
    ]
    blueprint = load_blueprint(write_blueprint(flow))
    assert set(blueprint.modules) == {1, 2, 3, 4}


def test_router_without_routes(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), {"id": 2, "module": "builtin:BasicRouter", "version": 1, "mapper": None, "routes": []}]
    assert "module 2: a router needs `routes`" in _error(write_blueprint, flow)


def test_route_without_modules(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), {"id": 2, "module": "builtin:BasicRouter", "mapper": None, "routes": [{"flow": []}]}]
    assert "module 2: route 1: expected {flow: [modules...]} with at least one module" in _error(
        write_blueprint, flow
    )


def test_module_after_a_router_can_never_run(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), router(2, [action(3)]), action(4)]
    assert "module 2: a router ends its flow; module 4 after it can never run" in _error(
        write_blueprint, flow
    )


def test_directive_outside_an_error_route(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), directive(2, "Ignore")]
    assert "module 2: builtin:Ignore is an error-handler directive" in _error(write_blueprint, flow)


def test_directive_must_end_its_error_route(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, onerror=[directive(3, "Ignore"), action(4)])]
    assert "module 3: the directive builtin:Ignore must end its error route" in _error(write_blueprint, flow)


@pytest.mark.parametrize(
    ("mapper", "message"),
    [
        ({"count": "three"}, "builtin:Break mapper.count = 'three': expected a whole number of attempts"),
        ({"count": 2.5}, "builtin:Break mapper.count = 2.5: expected a whole number of attempts"),
        ({"interval": "soon"}, "builtin:Break mapper.interval = 'soon': expected a number of minutes"),
        ({"interval": "-1"}, "builtin:Break mapper.interval = '-1': expected a number of minutes"),
    ],
)
def test_break_retry_settings_must_be_numbers(
    write_blueprint: Callable[..., Path], mapper: dict[str, Any], message: str
) -> None:
    flow = [webhook(), action(2, onerror=[directive(3, "Break", {"retry": True, **mapper})])]
    assert f"module 3: {message}" in _error(write_blueprint, flow)


def test_unknown_filter_operator(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, filter=flt("Allowed", [condition("{{1.x}}", "boolean:is", "true")]))]
    message = _error(write_blueprint, flow)
    assert "module 2: filter `Allowed` condition [1][1]: unknown operator 'boolean:is'" in message
    assert "boolean:equal" in message


def test_unsupported_function_names_module_and_expression(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, mapper={"text": "{{frobnicate(1.x)}}"})]
    message = _error(write_blueprint, flow)
    assert "module 2: mapper: `{{frobnicate(1.x)}}` uses the function `frobnicate`" in message


def test_the_guides_http_module_name_is_not_a_mapping(write_blueprint: Callable[..., Path]) -> None:
    # the seed guide's last step says to branch on {{http_module.denied}}: Make maps by module number
    flow = [
        webhook(),
        action(2, filter=flt("x", [condition("{{http_module.denied}}", "boolean:equal", "true")])),
    ]
    message = _error(write_blueprint, flow)
    assert "`http_module` is not a module id" in message


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ({"module": "x:Y"}, "`id` must be a whole number >= 1 (got None)"),
        ({"id": "2", "module": "x:Y"}, "`id` must be a whole number >= 1 (got '2')"),
        ({"id": 2}, "module 2: `module` must be `app:Name` (got None)"),
        ({"id": 2, "module": "nocolon"}, "module 2: `module` must be `app:Name` (got 'nocolon')"),
    ],
)
def test_module_shape(write_blueprint: Callable[..., Path], module: dict[str, Any], message: str) -> None:
    assert message in _error(write_blueprint, [webhook(), module])


def test_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"flow": [\n  {"id": 1,}\n]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"broken.json: not valid JSON \(line 2, column 12\)"):
        load_blueprint(path)


def test_empty_flow(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({"name": "x", "flow": []}), encoding="utf-8")
    with pytest.raises(InputError, match="`flow` is empty"):
        load_blueprint(path)


def test_missing_file() -> None:
    with pytest.raises(InputError, match=r"nope\.json: no such file"):
        load_blueprint("nope.json")


def test_fixture_marks_the_protected_module_and_can_be_overridden() -> None:
    path = FIXTURES / "gate_break.blueprint.json"
    assert load_blueprint(path).protected == ("4",)
    assert load_blueprint(path, protected=["5", "7"]).protected == ("5", "7")
    with pytest.raises(InputError, match="protected: no module 42"):
        load_blueprint(path, protected=["42"])


def test_load_workflow_tells_a_blueprint_by_content() -> None:
    workflow = load_workflow(FIXTURES / "gate_ignore.blueprint.json")
    assert workflow.platform == "make"
    assert workflow.protected == ("4",)


@pytest.mark.parametrize("name", ["gate_break", "gate_ignore", "gate_rollback"])
def test_guide_fixtures_are_the_documented_gate(name: str) -> None:
    # shared/seeds/003: URL, POST, bearer header, raw JSON body with {{1.worker_id}} and {{1.data_label}},
    # parse response, 10 s timeout, follow redirect, the two {{2.denied}} filters, audit rows on both routes
    blueprint = load_blueprint(FIXTURES / f"{name}.blueprint.json")
    http = blueprint.modules[2]
    assert http.module == "http:ActionSendData"
    mapper = http.raw_mapper
    assert mapper["url"] == "{{variable.PYHALL_HALL_URL}}/api/route"
    assert mapper["method"] == "post"
    assert mapper["headers"] == [{"name": "Authorization", "value": "Bearer {{variable.HALL_SESSION_TOKEN}}"}]
    assert mapper["bodyType"] == "raw"
    assert mapper["contentType"] == "application/json"
    assert json.loads(mapper["data"].replace("{{1.worker_id}}", "w").replace("{{1.data_label}}", "L")) == {
        "capability_id": "cap.data.write.v1",
        "worker_id": "w",
        "env": "prod",
        "data_label": "L",
        "tenant_id": "org.acme",
    }
    assert mapper["parseResponse"] is True
    assert mapper["timeout"] == "10"  # "Timeout: 10000 ms" is 10 in a blueprint (make.md)
    assert mapper["followRedirect"] is True
    assert http.parameters["handleErrors"] is True  # the closest Make has to "errors except 200"
    router_module = blueprint.modules[3]
    allowed, denied = router_module.routes
    assert (allowed.label, denied.label) == ("Allowed", "Denied")
    assert allowed.flow[0].filter is not None
    assert denied.flow[0].filter is not None
    assert [c.a_source for g in allowed.flow[0].filter.groups for c in g] == ["{{2.denied}}"]
    assert [c.b_source for g in denied.flow[0].filter.groups for c in g] == ["true"]
    assert [m.module for m in allowed.flow] == ["datastore:AddRecord", "google-sheets:addRow"]
    assert [m.module for m in denied.flow] == ["slack:CreateMessage", "google-sheets:addRow"]
    assert [h.module for h in http.onerror] == [f"builtin:{name.split('_')[1].capitalize()}"]
