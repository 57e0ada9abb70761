"""`$.flow` as Pipedream documents it (docs code/nodejs/delay.mdx, rerun.mdx, control-flow/delay.mdx), and the
`http_request` prop's `execute()`."""

from __future__ import annotations

import json

import pytest

from .conftest import body, code_step


def test_a_delay_pauses_on_the_modelled_clock_and_the_trace_shows_it(write_workflow, run_workflow) -> None:
    wait = code_step("wait", body("return $.flow.delay(5 * 60 * 1000);"))
    run = run_workflow(write_workflow(wait, code_step("after", body("$.export('ran', true);"))))
    step = run.step("wait")
    assert [f["ms"] for f in step.flow if f["action"] == "delay"] == [300_000]
    assert set(step.return_value) == {"resume_url", "cancel_url"}
    assert run.step("after").exports == {"ran": True}
    assert run.modelled_ms >= 300_000
    assert "delay" in run.render()
    assert "resumed after 300000 ms" in run.render()


def test_a_delay_longer_than_a_year_is_capped_with_a_warning(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("wait", body("$.flow.delay(400 * 24 * 3600 * 1000);"))))
    step = run.step("wait")
    assert [f["ms"] for f in step.flow if f["action"] == "delay"] == [365 * 24 * 3600 * 1000]
    assert any("maximum of one year" in w for w in step.warnings)


@pytest.mark.parametrize(
    ("outcome", "after", "status"),
    [("resume", "success", "success"), ("cancel", "not_run", "exited"), ("timeout", "not_run", "exited")],
)
def test_suspend_ends_as_the_setting_says(write_workflow, run_workflow, outcome, after, status) -> None:
    ask = code_step(
        "ask", body("const urls = $.flow.suspend(60000);\n$.export('urls', Object.keys(urls).sort());")
    )
    run = run_workflow(write_workflow(ask, code_step("after", body(""))), suspend_outcome=outcome)
    assert run.step("ask").status == status
    assert run.step("ask").exports == {"urls": ["cancel_url", "resume_url"]}
    assert run.step("after").status == after
    assert run.settings["suspend_outcome"] == outcome


def test_a_rerun_beyond_max_retries_runs_no_more_and_says_so(write_workflow, run_workflow) -> None:
    source = body("$.export('runs', $.context.run.runs);\n$.flow.rerun(1000, null, 2);")
    run = run_workflow(write_workflow(code_step("poll", source), code_step("after", body(""))))
    poll = run.step("poll")
    assert poll.attempts == 3  # the first run and two reruns
    assert poll.exports == {"runs": 3}
    assert any("beyond maxRetries 2" in w for w in poll.warnings)
    assert run.step("after").status == "success"
    assert run.modelled_ms >= 2000  # two rerun delays, not three


def test_flow_trigger_is_recorded(write_workflow, run_workflow) -> None:
    run = run_workflow(write_workflow(code_step("t", body("$.flow.trigger('p_other', { a: 1 });"))))
    assert {"action": "trigger", "args": ["p_other", {"a": 1}]} in run.step("t").flow


PAYLOAD = '{"capability_id": "cap.data.read.v1", "worker_id": "w", "env": "dev"}'


def test_an_http_request_prop_executes_its_request(write_workflow, run_workflow, hall) -> None:
    source = (
        "export default defineComponent({\n"
        "  props: { req: { type: 'http_request', default: { method: 'POST' } } },\n"
        "  async run({ $ }) {\n"
        "    const response = await this.req.execute();\n"
        "    $.export('status', response.status);\n"
        "    $.export('denied', response.data.denied);\n"
        "  },\n"
        "});\n"
    )
    props = {
        "req": {
            "url": "{{process.env.PYHALL_HALL_URL}}/api/route",
            "method": "POST",
            "headers": [{"name": "Authorization", "value": "Bearer {{process.env.HALL_SESSION_TOKEN}}"}],
            "body": {"type": "raw", "contentType": "application/json", "raw": PAYLOAD},
        }
    }
    run = run_workflow(write_workflow(code_step("call", source, props=props)))
    step = run.step("call")
    assert step.status == "success", step.error
    assert step.exports == {"status": 200, "denied": False}
    assert run.hall_requests[0].to_dict()["body"] == json.loads(PAYLOAD)
