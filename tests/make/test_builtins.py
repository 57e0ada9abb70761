"""Make's built-in apps other than HTTP, run with the help centre's semantics: Tools (apps.make.com
"Tools"), JSON (apps.make.com "JSON"), Text parser (apps.make.com "Text parser"), Flow control
(help.make.com "Iterator", "Repeater", "Aggregator"), Data store (apps.make.com "Data store"); and what a
run says about them: the coverage line, unknown built-in modules, both export shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hallsim.harness._errors import InputError
from hallsim.harness.make import MakeRun, load_blueprint

from .conftest import NOWHERE, action, condition, executed, flt, webhook

Replay = Callable[..., MakeRun]


def _mapper(run: MakeRun, module_id: int) -> list[Any]:
    return [e.data["mapper"] for e in run.events if e.kind == "module" and e.module == module_id]


def _output(run: MakeRun, module_id: int) -> Any:
    [module] = [m for m in run.to_json()["modules"] if m["id"] == module_id]
    return module.get("output")


# ----- aggregators: Make's bundle counts
def test_text_aggregator_joins_what_an_iterator_sends(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "builtin:BasicFeeder", {"array": "{{1.words}}"}),
        action(
            3,
            "util:TextAggregator",
            {"value": "<{{2.value}}>"},
            parameters={"feeder": 2, "rowSeparator": "other", "otherRowSeparator": " "},
        ),
        action(4, mapper={"text": "{{3.text}}"}),
    ]
    run = replay(flow, event={"words": ["a", "b", "c"]})
    assert _mapper(run, 4) == [{"text": "<a> <b> <c>"}]
    assert executed(run) == [1, 2, 3, 4]  # module 4 runs once: the aggregator outputs one bundle
    assert run.operations == 1 + 1 + 1 + 1


def test_aggregator_fed_by_a_search_module(replay: Replay) -> None:
    rows = [{"id": 1, "amount": 5}, {"id": 2, "amount": 7}, {"id": 3, "amount": 30}]
    flow = [
        webhook(),
        action(2, "google-sheets:filterRows"),
        action(3, "slack:CreateMessage", {"text": "row {{2.id}}"}),
        action(4, "builtin:BasicAggregator", {"id": "{{2.id}}"}, parameters={"feeder": 2}),
        action(5, mapper={"n": "{{length(4.array)}}", "ids": '{{join(map(4.array; "id"); ",")}}'}),
    ]
    run = replay(flow, settings={"make.module.2.output": json.dumps(rows)})
    assert executed(run).count(3) == 3  # once per bundle of the search
    assert _output(run, 4) == {"array": [{"id": 1}, {"id": 2}, {"id": 3}], "__IMTAGGLENGTH__": 3}
    assert _mapper(run, 5) == [{"n": 3, "ids": "1,2,3"}]  # after the aggregator: one bundle


@pytest.mark.parametrize(
    ("function", "result"), [("SUM", 42), ("AVG", 14), ("COUNT", 3), ("MAX", 30), ("MIN", 5)]
)
def test_numeric_aggregator(replay: Replay, function: str, result: int) -> None:
    rows = [{"amount": 5}, {"amount": "7"}, {"amount": 30}]
    flow = [
        webhook(),
        action(2, "google-sheets:filterRows"),
        action(
            3,
            "util:NumericAggregator",
            {"value": "{{2.amount}}"},
            parameters={"feeder": 2, "function": function},
        ),
        action(4, mapper={"r": "{{3.result}}"}),
    ]
    run = replay(flow, settings={"make.module.2.output": json.dumps(rows)})
    assert _mapper(run, 4) == [{"r": result}]


def test_aggregator_over_the_triggers_bundles(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "util:TextAggregator", {"value": "{{1.n}}"}, parameters={"feeder": 1, "rowSeparator": ","}),
        action(3, mapper={"all": "{{2.text}}"}),
    ]
    run = replay(flow, event=[{"n": 1}, {"n": 2}, {"n": 3}])
    assert _mapper(run, 3) == [{"all": "1,2,3"}]


@pytest.mark.parametrize(("choice", "ran"), [("empty", True), ("none", False)])
def test_aggregator_with_no_bundles(replay: Replay, choice: str, ran: bool) -> None:
    flow = [
        webhook(),
        action(2, "builtin:BasicFeeder", {"array": "{{1.items}}"}),
        action(3, "builtin:BasicAggregator", {"x": "{{2.value}}"}, parameters={"feeder": 2}),
        action(4, mapper={"n": "{{3.__IMTAGGLENGTH__}}"}),
    ]
    run = replay(flow, event={"items": []}, settings={"make.aggregator.no_bundles": choice})
    assert (4 in executed(run)) is ran


def test_aggregator_source_must_be_earlier_in_its_flow(write_blueprint: Callable[..., Path]) -> None:
    flow = [webhook(), action(2, "builtin:BasicAggregator", parameters={"feeder": 7})]
    with pytest.raises(
        InputError, match=r"parameters\.feeder must name its source module, earlier in the same flow"
    ):
        load_blueprint(write_blueprint(flow))


# ----- repeater, switch, increment, variables
def test_repeater_outputs_i(replay: Replay) -> None:
    flow = [
        action(1, "builtin:BasicRepeater", {"start": "0", "repeats": "3", "step": "5"}),
        action(2, "util:FunctionIncrement", parameters={"reset": "scenario"}),
        action(3, mapper={"i": "{{1.i}}", "n": "{{2.i}}"}),
    ]
    run = replay(flow)
    assert _mapper(run, 3) == [{"i": 0, "n": 1}, {"i": 5, "n": 2}, {"i": 10, "n": 3}]


@pytest.mark.parametrize(
    ("event", "regex", "output"),
    [
        ({"e": "complete"}, False, "continue"),
        ({"e": "other"}, False, "stop"),
        ({"e": "completed"}, True, "continue"),
    ],
)
def test_switch(replay: Replay, event: dict[str, str], regex: bool, output: str) -> None:
    cases = [{"pattern": "^complete" if regex else "complete", "output": "continue"}]
    switch = {"input": "{{1.e}}", "useRegExpMatch": regex, "casesTable": cases, "elseOutput": "stop"}
    run = replay(
        [webhook(), action(2, "util:Switcher", switch), action(3, mapper={"o": "{{2.output}}"})], event=event
    )
    assert _mapper(run, 3) == [{"o": output}]


def test_get_variables(replay: Replay) -> None:
    flow = [
        webhook(),
        action(
            2,
            "util:SetVariables",
            {
                "variables": [{"name": "a", "value": "1"}, {"name": "b", "value": "{{1.b}}"}],
                "scope": "roundtrip",
            },
        ),
        action(3, "util:GetVariables", {"variables": [{"name": "a"}, {"name": "b"}]}),
        action(4, mapper={"x": "{{3.a}}{{3.b}}"}),
    ]
    assert _mapper(replay(flow, event={"b": "2"}), 4) == [{"x": "12"}]


# ----- JSON
def test_parse_json_array_is_one_bundle_per_item(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "json:ParseJSON", {"json": '[{"a": 1}, {"a": 2}]'}),
        action(3, mapper={"a": "{{2.a}}"}),
    ]
    assert _mapper(replay(flow), 3) == [{"a": 1}, {"a": 2}]
    single = replay(flow, settings={"make.json.parse_array": "single"})
    assert _output(single, 2) == {"value": [{"a": 1}, {"a": 2}]}


def test_create_and_transform_json(replay: Replay) -> None:
    flow = [
        webhook(),
        action(
            2,
            "json:CreateJSON",
            {"worker_id": "{{1.worker_id}}", "n": 2},
            parameters={"type": 1, "space": ""},
        ),
        action(3, "json:TransformToJSON", {"object": "{{1.tags}}"}, parameters={"space": "2"}),
        action(4, "json:ParseJSON", {"json": "{{2.json}}"}),
        action(5, mapper={"w": "{{4.worker_id}}"}),
    ]
    run = replay(flow, event={"worker_id": "w1", "tags": ["x"]})
    assert _output(run, 2) == {"json": '{"worker_id":"w1","n":2}'}
    assert _output(run, 3) == {"json": '[\n  "x"\n]'}
    assert _mapper(run, 5) == [{"w": "w1"}]


def test_parse_json_error_is_a_data_error(replay: Replay) -> None:
    flow = [webhook(), action(2, "json:ParseJSON", {"json": "{nope"})]
    assert _output(replay(flow), 2) is None
    assert replay(flow).to_json()["modules"][1]["error"]["type"] == "DataError"


# ----- Text parser
def test_match_pattern_global_outputs_each_match(replay: Replay) -> None:
    parser = action(2, "regexp:Parser", {"text": "{{1.text}}"})
    parser["parameters"] = {
        "pattern": "(?<sku>[A-Z]+)-(\\d+)",
        "global": True,
        "sensitive": True,
        "continueWhenNoRes": False,
    }
    run = replay(
        [webhook(), parser, action(3, mapper={"s": "{{2.sku}}", "n": "{{2.$2}}", "i": "{{2.i}}"})],
        event={"text": "AB-1, CD-22"},
    )
    assert _mapper(run, 3) == [{"s": "AB", "n": "1", "i": 1}, {"s": "CD", "n": "22", "i": 2}]


@pytest.mark.parametrize(("go_on", "ran"), [(False, False), (True, True)])
def test_match_pattern_without_a_match(replay: Replay, go_on: bool, ran: bool) -> None:
    parser = action(2, "regexp:Parser", {"text": "none here"})
    parser["parameters"] = {"pattern": "\\d+", "global": False, "continueWhenNoRes": go_on}
    assert (3 in executed(replay([webhook(), parser, action(3)]))) is ran


def test_replace_and_html_to_text(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "regexp:Replace", {"text": "a1b22", "pattern": "(\\d+)", "value": "[$1]", "global": True}),
        action(3, "regexp:HTMLToText", {"html": "<p>Hi &amp; <b>bye</b></p><script>x()</script><p>2</p>"}),
    ]
    run = replay(flow)
    assert _output(run, 2) == {"text": "a[1]b[22]"}
    assert _output(run, 3) == {"text": "Hi & bye\n2"}


def test_sleep_is_virtual(replay: Replay) -> None:
    run = replay([webhook(), action(2, "util:FunctionSleep", {"duration": "30"}), action(3)])
    assert run.to_json()["time"]["run_modelled_s"] >= 30
    assert run.to_json()["time"]["wall_s"] < 30


# ----- Data store
def _store_flow() -> list[dict[str, Any]]:
    store = {"datastore": 5}
    return [
        webhook(),
        action(2, "datastore:ExistRecord", {"key": "{{1.id}}"}, parameters=store),
        action(
            3,
            "datastore:AddRecord",
            {"key": "{{1.id}}", "overwrite": False, "data": {"n": "{{1.n}}"}},
            parameters=store,
            filter=flt("new", [condition("{{2.exist}}", "boolean:equal", "false")]),
        ),
        action(
            4,
            "datastore:UpdateRecord",
            {"key": "seen", "insert": True, "data": {"last": "{{1.id}}"}},
            parameters=store,
        ),
        action(5, "datastore:GetRecord", {"key": "{{1.id}}"}, parameters=store),
        action(6, "datastore:CountRecords", {}, parameters=store),
        action(
            7,
            "datastore:SearchRecord",
            {"filter": [[{"a": "n", "o": "number:greater", "b": "1"}]]},
            parameters=store,
        ),
        action(8, mapper={"n": "{{5.n}}", "count": "{{6.count}}", "key": "{{7.key}}"}),
    ]


def test_data_store_modules_on_a_seeded_store(replay: Replay) -> None:
    seed = {"5": {"a": {"n": 3}, "b": {"n": 1}}}
    run = replay(
        _store_flow(),
        event=[{"id": "a", "n": 9}, {"id": "c", "n": 2}],
        settings={"make.datastores": json.dumps(seed)},
    )
    assert run.datastores["5"] == {"a": {"n": 3}, "b": {"n": 1}, "c": {"n": 2}, "seen": {"last": "c"}}
    # bundle 1: "a" exists, so module 3's filter stops it; bundle 2: "c" is added, then the search finds
    # the records with n > 1 (a and c): one bundle each
    assert executed(run).count(3) == 1
    assert _mapper(run, 8) == [{"n": 2, "count": 4, "key": "a"}, {"n": 2, "count": 4, "key": "c"}]
    assert run.to_json()["datastores"]["5"]["c"] == {"n": 2}


def test_add_record_without_overwrite_on_an_existing_key(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "datastore:AddRecord", {"key": "k", "data": {}}, parameters={"datastore": 1}),
    ]
    run = replay(flow, settings={"make.datastores": '{"1": {"k": {}}}'})
    assert run.to_json()["modules"][1]["error"]["type"] == "DuplicateDataError"
    assert run.status == "error"


def test_delete_record_and_missing_get(replay: Replay) -> None:
    store = {"datastore": 1}
    flow = [
        webhook(),
        action(2, "datastore:DeleteRecord", {"key": "k"}, parameters=store),
        action(3, "datastore:GetRecord", {"key": "k"}, parameters=store),
        action(4),
    ]
    run = replay(flow, settings={"make.datastores": '{"1": {"k": {"v": 1}}}'})
    assert run.datastores["1"] == {}
    assert 4 in executed(run)
    assert 4 not in executed(replay(flow, settings={"make.datastore.get_missing": "none"}))


def test_bad_data_store_seed_is_named(replay: Replay) -> None:
    with pytest.raises(InputError, match="store 1: expected"):
        replay([webhook(), action(2)], settings={"make.datastores": '{"1": [1]}'})


# ----- coverage, unknown built-ins, export shapes
def test_coverage_line(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "util:ComposeTransformer", {"value": "x"}),
        action(3, "slack:CreateMessage"),
        action(4, "util:MadeUpTool"),
    ]
    run = replay(flow, settings={"make.module.3.output": '{"ts": "1"}'})
    coverage = run.to_json()["coverage"]
    assert coverage["emulated"] == [1, 2]
    assert [m["id"] for m in coverage["recorded"]] == [3]
    assert coverage["recorded"][0]["output"] == {"ts": "1"}
    assert [m["module"] for m in coverage["unknown"]] == ["util:MadeUpTool"]
    text = run.render()
    assert (
        'Coverage: 2 of 4 modules emulated (2 ran); 1 recorded: [3] slack:CreateMessage → {"ts": "1"}; '
        "1 unknown to hallsim: [4] util:MadeUpTool → {}"
    ) in text
    assert (
        "WARNING: module 4 (util:MadeUpTool) belongs to Make's own apps but hallsim does not emulate it"
        in text
    )


def test_unknown_builtin_can_be_refused(replay: Replay) -> None:
    with pytest.raises(InputError, match=r"module 2 \(util:MadeUpTool\): Make's own module"):
        replay([webhook(), action(2, "util:MadeUpTool")], settings={"make.unknown_builtin": "error"})


def test_api_wrapped_export_loads_and_orphans_are_left_out(tmp_path: Path) -> None:
    blueprint = {
        "name": "wrapped",
        "flow": [webhook(), action(2)],
        "metadata": {"version": 1, "designer": {"orphans": [action(9, "slack:CreateMessage")]}},
    }
    path = tmp_path / "api.json"
    path.write_text(
        json.dumps(
            {
                "code": "OK",
                "response": {
                    "blueprint": blueprint,
                    "scheduling": {"type": "indefinitely"},
                    "idSequence": 10,
                },
            }
        )
    )
    loaded = load_blueprint(path)
    assert loaded.name == "wrapped"
    assert sorted(loaded.modules) == [1, 2]
    run = loaded.run(NOWHERE)
    notes = run.to_json()["notes"]
    assert any("Make API answer" in note for note in notes)
    assert any("orphans holds 1 unconnected module(s)" in note for note in notes)


def test_not_a_blueprint_names_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"code": "OK", "response": {}}')
    with pytest.raises(InputError, match=r"`response.blueprint.flow`"):
        load_blueprint(path)


def test_system_variables_from_settings(replay: Replay) -> None:
    flow = [
        webhook(),
        action(
            2,
            mapper={
                "id": "{{executionId}}",
                "s": "{{scenario.name}}",
                "u": "{{scenario.url}}",
                "ops": "{{operationsConsumed}}",
            },
        ),
    ]
    run = replay(flow, settings={"make.system.execution_id": "abc", "make.system.scenario_id": "42"})
    [mapper] = _mapper(run, 2)
    assert mapper == {
        "id": "abc",
        "s": "test scenario",
        "u": "https://eu1.make.com/1/scenarios/42/edit",
        "ops": 1,
    }
    other = _mapper(replay(flow), 2)[0]["id"]
    assert len(other) == 32
    assert other != _mapper(replay(flow), 2)[0]["id"]  # a new id per run


@pytest.mark.parametrize(("auto_commit", "left"), [(True, {"a": {"v": 1}}), (False, {})])
def test_rollback_undoes_data_store_writes(replay: Replay, auto_commit: bool, left: dict[str, Any]) -> None:
    # help.make.com "Rollback error handler": auto-commit on reverts only the failing module's changes (here
    # none: it failed); off reverts everything the failing bundle changed
    store = {"datastore": 1}
    flow = [
        webhook(),
        action(2, "datastore:AddRecord", {"key": "a", "data": {"v": 1}}, parameters=store),
        action(3, "datastore:AddRecord", {"key": "a", "data": {"v": 2}}, parameters=store),  # no overwrite
    ]
    run = replay(flow, auto_commit=auto_commit)
    assert run.status == "error"
    assert run.datastores["1"] == left


def test_nested_iterators_and_chained_aggregators_as_public_exports_chain_them(replay: Replay) -> None:
    # the shape of a public meeting-transcript export: a switch feeds an array aggregator, between them an
    # iterator over segments, an iterator over each segment's words, a text aggregator of the words (source:
    # the inner iterator) and a text aggregator of that (source: the first text aggregator)
    flow = [
        webhook(),
        action(
            52,
            "util:Switcher",
            {
                "input": "{{1.event}}",
                "casesTable": [{"pattern": "complete", "output": "go"}],
                "elseOutput": "stop",
            },
        ),
        action(14, "builtin:BasicFeeder", {"array": "{{1.segments}}"}),
        action(23, "builtin:BasicFeeder", {"array": "{{14.words}}"}),
        action(
            22,
            "util:TextAggregator",
            {"value": "{{23.value}}"},
            parameters={"feeder": 23, "rowSeparator": "other", "otherRowSeparator": " "},
        ),
        action(
            32,
            "util:TextAggregator",
            {"value": "{{14.speaker}}: {{22.text}}"},
            parameters={"feeder": 22, "rowSeparator": ""},
        ),
        action(26, "builtin:BasicAggregator", {"text": "{{32.text}}"}, parameters={"feeder": 52}),
        action(2, mapper={"n": "{{length(26.array)}}", "all": '{{join(map(26.array; "text"); " | ")}}'}),
    ]
    segments = [{"speaker": "Ann", "words": ["hi", "there"]}, {"speaker": "Bob", "words": ["hello"]}]
    run = replay(flow, event={"event": "complete", "segments": segments})
    assert _mapper(run, 2) == [{"n": 2, "all": "Ann: hi there | Bob: hello"}]  # one bundle reaches module 2
    assert executed(run).count(22) == 2  # once per segment


def test_group_by_gives_one_bundle_per_value(replay: Replay) -> None:
    flow = [
        webhook(),
        action(2, "builtin:BasicFeeder", {"array": "{{1.orders}}"}),
        action(
            3,
            "builtin:BasicAggregator",
            {"id": "{{2.id}}"},
            parameters={"feeder": 2, "groupBy": "{{2.country}}"},
        ),
        action(4, mapper={"country": "{{3.__IMTKEY__}}", "n": "{{length(3.array)}}"}),
    ]
    orders = [{"id": 1, "country": "CZ"}, {"id": 2, "country": "DE"}, {"id": 3, "country": "CZ"}]
    run = replay(flow, event={"orders": orders})
    assert _mapper(run, 4) == [{"country": "CZ", "n": 2}, {"country": "DE", "n": 1}]


@pytest.mark.parametrize(("stop", "ran"), [(False, True), (True, False)])
def test_stop_processing_after_an_empty_aggregation(replay: Replay, stop: bool, ran: bool) -> None:
    flow = [
        webhook(),
        action(2, "builtin:BasicFeeder", {"array": "{{1.items}}"}),
        action(
            3,
            "util:TextAggregator",
            {"value": "{{2.value}}"},
            parameters={"feeder": 2, "stopProcessingOnEmpty": stop},
        ),
        action(4, mapper={"t": "{{3.text}}"}),
    ]
    run = replay(
        flow, event={"items": []}, settings={"make.aggregator.no_bundles": "none" if not stop else "empty"}
    )
    assert (4 in executed(run)) is ran  # the export's own setting wins over make.aggregator.no_bundles
