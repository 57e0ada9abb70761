"""Pipedream's step semantics as a workflow author sees them (rules from ../shared/reference/pipedream.md)."""

from __future__ import annotations

import json

import pytest

from .conftest import TIME_SCALE, body, code_step

pytestmark = pytest.mark.e2e


def test_exit_without_return_keeps_running_the_step_and_ends_the_workflow(
    write_workflow, run_workflow
) -> None:
    # pipedream.md "The $ object": $.flow.exit does NOT throw; the rest of the step runs, exports included
    path = write_workflow(
        code_step("gate", body("$.flow.exit('stop here');\n$.export('after_exit', 1);\nreturn 'done';")),
        code_step("later", body("$.export('ran', true);")),
    )
    run = run_workflow(path)
    gate = run.step("gate")
    assert run.outcome == "exited"
    assert gate.status == "exited"
    assert gate.exit_reason == "stop here"
    assert gate.exports == {"after_exit": 1}
    assert gate.return_value == "done"
    assert run.step("later").status == "not_run"


def test_return_exit_stops_the_step_at_once(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("gate", body("return $.flow.exit('now');\n$.export('never', 1);")))
    gate = run_workflow(path).step("gate")
    assert gate.status == "exited"
    assert gate.exports == {}


def test_later_steps_see_exports_and_return_values(write_workflow, run_workflow) -> None:
    # pipedream.md "The steps object": exports are steps.<name>.<key>; the return value is $return_value
    path = write_workflow(
        code_step("first", body("$.export('n', 41);\nreturn { ok: true };")),
        code_step(
            "second",
            body(
                "$.export('n', steps.first.n + 1);\n"
                "$.export('ret', steps.first.$return_value);\n"
                "$.export('event', steps.trigger.event);\n"
                "$.export('has_context', typeof steps.trigger.context.id === 'string');"
            ),
        ),
        event={"worker_id": "w1"},
    )
    second = run_workflow(path).step("second")
    assert second.exports == {"n": 42, "ret": {"ok": True}, "event": {"worker_id": "w1"}, "has_context": True}


def test_http_trigger_header_names_are_lower_case(write_workflow, run_workflow) -> None:
    # pipedream.md "The steps object": HTTP trigger header names are lower case
    path = write_workflow(
        code_step("look", body("$.export('names', Object.keys(steps.trigger.event.headers));")),
        event={"headers": {"X-Request-Id": "1", "Content-Type": "application/json"}, "body": {}},
    )
    assert run_workflow(path).step("look").exports == {"names": ["x-request-id", "content-type"]}


def test_exports_pass_as_json_to_later_steps(write_workflow, run_workflow) -> None:
    path = write_workflow(
        code_step("first", body("$.export('when', new Date(0));\n$.export('nested', { a: [1, { b: 2 }] });")),
        code_step(
            "second",
            body("$.export('type', typeof steps.first.when);\n$.export('b', steps.first.nested.a[1].b);"),
        ),
    )
    run = run_workflow(path)
    assert run.step("first").exports["when"] == "1970-01-01T00:00:00.000Z"
    assert run.step("second").exports == {"type": "string", "b": 2}


def test_exporting_undefined_leaves_the_key_absent_and_says_so(write_workflow, run_workflow) -> None:
    path = write_workflow(
        code_step("first", body("$.export('gone', undefined);\n$.export('fn', () => 1);")),
        code_step("second", body("$.export('seen', 'gone' in steps.first);")),
    )
    run = run_workflow(path)
    first = run.step("first")
    assert first.exports == {}
    assert any("recorded as absent" in w and "UNCONFIRMED" in w for w in first.warnings)
    assert run.step("second").exports == {"seen": False}
    assert run.settings["export_undefined"] == "absent"


def test_exporting_undefined_as_null_is_a_setting(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("first", body("$.export('gone', undefined);")))
    assert run_workflow(path, export_undefined="null").step("first").exports == {"gone": None}


def test_exporting_the_same_key_twice_keeps_the_last_value(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("first", body("$.export('k', 1);\n$.export('k', 2);")))
    first = run_workflow(path).step("first")
    assert first.exports == {"k": 2}
    assert any("more than once" in w for w in first.warnings)


def test_an_export_json_cannot_serialise_fails_the_step(write_workflow, run_workflow) -> None:
    source = body("const loop = {};\nloop.self = loop;\n$.export('loop', loop);\n$.export('big', 10n);")
    path = write_workflow(code_step("first", source), code_step("second", body("")))
    run = run_workflow(path)
    first = run.step("first")
    assert run.outcome == "errored"
    assert first.error["name"] == "ExportError"
    assert "circular" in first.error["message"]
    assert run.step("second").status == "not_run"
    dropped = run_workflow(path, unserialisable_export="drop")
    assert dropped.outcome == "completed"
    assert dropped.step("first").exports == {}


@pytest.mark.parametrize(("setting", "outcome"), [("error", "errored"), ("drop", "completed")])
def test_a_return_value_json_cannot_serialise_follows_the_same_setting(
    write_workflow, run_workflow, setting: str, outcome: str
) -> None:
    path = write_workflow(code_step("first", body("const loop = {};\nloop.self = loop;\nreturn loop;")))
    run = run_workflow(path, unserialisable_export=setting)
    first = run.step("first")
    assert run.outcome == outcome
    assert not first.has_return_value
    assert any(f"unserialisable_export={setting}, UNCONFIRMED" in w for w in first.warnings)


@pytest.mark.parametrize(
    ("throw", "name", "message"),
    [
        ("throw new TypeError('bad input');", "TypeError", "bad input"),
        ("throw 'a bare string';", "non-Error thrown (string)", "a bare string"),
        ("throw { code: 42 };", "non-Error thrown (object)", '{"code":42}'),
        ("throw null;", "non-Error thrown (null)", "null"),
        ("await Promise.reject(7);", "non-Error thrown (number)", "7"),
    ],
)
def test_anything_thrown_stops_the_workflow_with_its_name_and_message(
    write_workflow, run_workflow, throw: str, name: str, message: str
) -> None:
    # pipedream.md "Errors and time": an error stops that step and every later step; the run is errored
    path = write_workflow(code_step("bad", body(throw)), code_step("later", body("")))
    run = run_workflow(path)
    bad = run.step("bad")
    assert run.outcome == "errored"
    assert bad.status == "error"
    assert bad.error["name"] == name
    assert bad.error["message"] == message
    assert run.step("later").status == "not_run"
    assert run.http_response == {
        "source": "platform",
        "status": 400,
        "body": "No $.respond called in workflow",
    }


def test_an_error_stack_points_into_the_workflow_file_for_inline_code(tmp_path, run_workflow) -> None:
    path = tmp_path / "inline.yaml"
    path.write_text(
        "steps:\n"
        "  - name: bad\n"
        "    source: |\n"
        "      export default defineComponent({\n"
        "        async run({ steps, $ }) {\n"
        "          const x = null;\n"
        "          x.boom();\n"
        "        },\n"
        "      });\n",
        encoding="utf-8",
    )
    stack = run_workflow(path).step("bad").error["stack"]
    assert "inline.yaml:7" in stack


def test_an_error_thrown_from_a_callback_fails_the_running_step(write_workflow, run_workflow) -> None:
    source = body(
        "setTimeout(() => { throw new Error('from a timer'); }, 10);\n"
        "await new Promise((r) => setTimeout(r, 1000));"
    )
    run = run_workflow(write_workflow(code_step("bad", source)))
    assert run.step("bad").error["message"] == "from a timer"


def test_respond_and_send_http_are_recorded(write_workflow, run_workflow) -> None:
    source = body(
        "await $.respond({ status: 202, body: { queued: true } });\n"
        "$.send.http({ method: 'post', url: 'https://example.com/hook', data: { a: 1 } });"
    )
    run = run_workflow(write_workflow(code_step("reply", source)))
    flows = run.step("reply").flow
    assert flows[0] == {"action": "respond", "response": {"status": 202, "body": {"queued": True}}}
    assert flows[1]["action"] == "send.http"
    assert flows[1]["request"]["method"] == "POST"
    assert run.http_response == {"source": "$.respond", "status": 202, "body": {"queued": True}}


def test_delay_costs_modelled_time_not_wall_time(write_workflow, run_workflow) -> None:
    source = body("const urls = $.flow.delay(60 * 60 * 1000);\n$.export('has_resume', 'resume_url' in urls);")
    run = run_workflow(write_workflow(code_step("wait", source), code_step("after", body(""))))
    assert run.outcome == "completed"
    assert run.step("wait").exports == {"has_resume": True}
    assert run.modelled_ms >= 3_600_000
    assert run.wall_ms < 3_600_000 * run.settings["time_scale"]


def test_rerun_runs_the_step_again_up_to_max_retries(write_workflow, run_workflow) -> None:
    source = body(
        "const runs = $.context.run.runs;\n$.export('runs', runs);\n"
        "if (runs < 3) $.flow.rerun(1000, { tried: runs }, 5);"
    )
    step = run_workflow(write_workflow(code_step("poll", source))).step("poll")
    assert step.attempts == 3
    assert step.exports == {"runs": 3}


WAITS = {
    "global": ("", "await new Promise((r) => setTimeout(r, 20000));"),
    "node:timers": (
        "import { setTimeout } from 'node:timers';\n",
        "await new Promise((r) => setTimeout(r, 20000));",
    ),
    "timers/promises": ("import { setTimeout } from 'timers/promises';\n", "await setTimeout(20000);"),
}


@pytest.mark.parametrize("timers", sorted(WAITS))
def test_step_timers_run_on_the_modelled_clock(write_workflow, run_workflow, timers: str) -> None:
    # 20 modelled seconds of waiting is under the 30 s timeout, and costs 0.2 s of wall time at scale 0.01
    imports, wait = WAITS[timers]
    source = imports + body(wait + "\n$.export('waited', true);")
    run = run_workflow(write_workflow(code_step("wait", source)))
    assert run.outcome == "completed"
    # a timer can fire up to 1 ms of wall time early (libuv's clock counts whole ms): 100 modelled ms here
    assert run.step("wait").modelled_ms >= 20_000 - 1 / TIME_SCALE


def test_the_execution_timeout_is_a_setting(write_workflow, run_workflow) -> None:
    source = body("await new Promise((r) => setTimeout(r, 20000));")
    run = run_workflow(write_workflow(code_step("wait", source)), timeout_s=5)
    assert run.outcome == "timed_out"
    assert run.settings["timeout_s"] == 5
    assert "5 s" in run.step("wait").error["message"]


def test_cron_workflows_default_to_a_60_second_timeout(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("s", body("")), trigger_type="cron"))
    assert run.settings["timeout_s"] == 60


def test_console_output_is_kept_per_step(write_workflow, run_workflow) -> None:
    source = body("console.log('hello', { a: 1 });\nconsole.error('oops');")
    logs = run_workflow(write_workflow(code_step("talk", source))).step("talk").logs
    assert logs == ({"level": "log", "text": "hello { a: 1 }"}, {"level": "error", "text": "oops"})


# --- components and published actions ------------------------------------------------------------------

ACTION = """export default {
  key: "demo", version: "0.0.1", type: "action",
  props: {
    label: { type: "string", default: "INTERNAL", options: ["PUBLIC", "INTERNAL"] },
    flag: { type: "boolean", default: true },
    who: { type: "string" },
  },
  methods: { shout(text) { return String(text).toUpperCase(); } },
  async run({ $ }) {
    $.export("label", this.label);
    $.export("flag", this.flag);
    $.export("who", this.shout(this.who));
    $.export("env_keys", Object.keys(process.env));
  },
};
"""


def test_an_action_gets_props_defaults_and_methods_on_this(write_workflow, run_workflow) -> None:
    path = write_workflow(
        {"name": "act", "action": "act.mjs", "props": {"who": "{{steps.trigger.event.user}}"}},
        files={"act.mjs": ACTION},
        event={"user": "ada"},
    )
    act = run_workflow(path).step("act")
    assert act.kind == "action"
    assert act.exports == {"label": "INTERNAL", "flag": True, "who": "ADA", "env_keys": []}


def test_prop_expressions_keep_their_type_or_interpolate(write_workflow, run_workflow) -> None:
    props = {"label": "{{steps.first.flag}}", "flag": "{{steps.first.flag}}", "who": "user-{{steps.first.n}}"}
    path = write_workflow(
        code_step("first", body("$.export('flag', false);\n$.export('n', 7);")),
        {"name": "act", "action": "act.mjs", "props": props},
        files={"act.mjs": ACTION},
    )
    act = run_workflow(path).step("act")
    assert act.exports["flag"] is False
    assert act.exports["who"] == "USER-7"


def test_prop_options_are_checked_only_when_asked(write_workflow, run_workflow) -> None:
    path = write_workflow(
        {"name": "act", "action": "act.mjs", "props": {"label": "SECRET", "who": "x"}},
        files={"act.mjs": ACTION},
    )
    assert run_workflow(path).step("act").exports["label"] == "SECRET"
    checked = run_workflow(path, check_prop_options=True)
    assert checked.outcome == "errored"
    assert "not one of" in checked.step("act").error["message"]


def test_a_failing_prop_expression_names_the_prop(write_workflow, run_workflow) -> None:
    path = write_workflow(
        {"name": "act", "action": "act.mjs", "props": {"who": "{{steps.nope.value}}"}},
        files={"act.mjs": ACTION},
    )
    error = run_workflow(path).step("act").error
    assert error["name"] == "PropExpressionError"
    assert "prop who" in error["message"]
    assert "steps.nope.value" in error["message"]


def test_platform_axios_returns_data_and_exports_debug_on_http_errors(
    write_workflow, run_workflow, hall
) -> None:
    source = "import { axios, ConfigurationError } from '@pipedream/platform';\n" + body(
        "const data = await axios($, { method: 'POST', url: `${process.env.PYHALL_HALL_URL}/api/route`,\n"
        "  headers: { Authorization: `Bearer ${process.env.HALL_SESSION_TOKEN}` },\n"
        "  data: { capability_id: 'cap.data.read.v1', worker_id: 'w', env: 'dev' } });\n"
        "$.export('denied', data.denied);\n"
        "$.export('is_error_class', new ConfigurationError('x') instanceof Error);\n"
        "await axios($, { url: `${process.env.PYHALL_HALL_URL}/nope` });"
    )
    run = run_workflow(write_workflow(code_step("call", source)))
    call = run.step("call")
    assert call.exports["denied"] is False
    assert call.exports["is_error_class"] is True
    assert call.exports["debug"]["status"] == 404
    # @pipedream/platform 3.4.0 lib/axios.ts convertAxiosError: the name carries axios's message, the message
    # is the response body as JSON text
    assert call.error["name"] == "AxiosError - Request failed with status code 404"
    assert json.loads(call.error["message"]) == call.exports["debug"]["data"]


def test_a_module_that_does_not_export_a_component_is_a_clear_error(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("odd", "export const x = 1;\n")))
    assert run.step("odd").error["name"] == "ComponentError"
    assert "defineComponent" in run.step("odd").error["message"]


def test_a_syntax_error_stops_the_workflow_before_any_step_runs(write_workflow, run_workflow) -> None:
    path = write_workflow(code_step("first", body("")), code_step("broken", body("return 1 +;")))
    run = run_workflow(path)
    assert run.outcome == "errored"
    assert run.step("first").status == "not_run"
    assert run.step("broken").error["name"] == "SyntaxError"


def test_an_npm_import_that_is_not_installed_says_how_to_fix_it(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("npm", "import _ from 'lodash-not-here';\n" + body(""))))
    message = run.step("npm").error["message"]
    assert "lodash-not-here" in message
    assert "npm install" in message
