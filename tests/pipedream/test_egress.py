"""Outbound network from steps (hallsim.harness.egress): the run's own Hall and sink for real, every other
call answered by the run's stub service and recorded, whatever client the step uses (tests/egress tries them
all)."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from hallsim.harness import HallEndpoint
from hallsim.harness.pipedream import load_workflow
from hallsim.harness.stubs import parse_stubs

from .conftest import FIXTURES, body, code_step

pytestmark = pytest.mark.e2e


def test_a_third_party_call_is_answered_by_the_stub_not_the_internet(write_workflow, run_workflow) -> None:
    source = body(
        "const r = await fetch('https://api.example.invalid/v1/things?x=1',\n"
        "  { headers: { authorization: 'Bearer abcdefghijk' } });\n"
        "$.export('status', r.status);\n$.export('body', await r.json());"
    )
    run = run_workflow(write_workflow(code_step("call", source)))
    assert run.step("call").exports == {"status": 200, "body": {}}, run.step("call")
    [call] = run.stub_calls
    assert (call.unit, call.method, call.url, call.rule) == (
        "call",
        "GET",
        "https://api.example.invalid/v1/things?x=1",
        None,
    )
    assert call.headers["authorization"] == "Bearer a***"
    assert run.to_json()["stub_calls"][0]["url"] == call.url
    assert run.record.stub_calls == (call,)
    assert run.record.walls == {"guard": "node", "network_namespace": False}
    assert "Stubbed calls (1), unmatched: auto" in run.render()


@pytest.mark.parametrize("client", ["fetch", "https.get"])
def test_an_https_call_to_an_ip_address_is_answered_by_the_stub(write_workflow, hall, client) -> None:
    # the client sends no server name and checks the address against the certificate (RFC 6066 3): the stub's
    # one certificate passes the egress guard's check for it as for any name (netguard.cjs). A loopback
    # address that is not the Hall's, answered by a rule (the auto default refuses it): nothing leaves anyway
    call = {
        "fetch": (
            "const r = await fetch('https://127.0.0.2/v1/ping');\nconst status = r.status;\nawait r.text();"
        ),
        "https.get": (
            "const https = await import('node:https');\n"
            "const status = await new Promise((ok, fail) => https.get('https://127.0.0.2/v1/ping', (res) =>"
            " { res.resume(); res.on('end', () => ok(res.statusCode)); }).on('error', fail));"
        ),
    }[client]
    path = write_workflow(code_step("call", body(call + "\n$.export('status', status);")))
    stubs = parse_stubs([{"match": {"url": "https://127.0.0.2/*"}, "respond": {"behaviour": "http-200"}}])
    hall.set_default("allow")
    run = load_workflow(path).run(
        HallEndpoint(hall.url, "t", hall), settings={"time_scale": 0.01}, stubs=stubs
    )
    assert run.step("call").exports == {"status": 200}, run.step("call")
    [stubbed] = run.stub_calls
    assert (stubbed.method, stubbed.url, stubbed.fault) == ("GET", "https://127.0.0.2/v1/ping", None)


def test_every_call_is_recorded_with_its_answer(run_workflow) -> None:
    run = run_workflow(FIXTURES / "inline_option_a.yaml", "allow")
    [gate_call] = run.step("pyhall_gate").http
    assert gate_call["method"] == "POST"
    assert gate_call["url"] == f"{run.hall_url}/api/route"
    assert gate_call["status"] == 200
    [audit_call] = run.step("audit_log").http
    assert audit_call["url"].endswith("/audit")
    assert run.stub_calls == ()
    walls = run.to_json()["egress"]["walls"]
    assert walls == {"guard": "node", "network_namespace": False}


def test_another_loopback_port_gets_the_stub_unless_allowed_explicitly(
    write_workflow, run_workflow, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/other").respond_with_json({"reached": True})
    source = body(
        f"const r = await fetch({httpserver.url_for('/other')!r});\n$.export('body', await r.json());"
    )
    path = write_workflow(code_step("call", source))
    stubbed = run_workflow(path)
    assert stubbed.outcome == "errored"  # the auto default refuses a loopback target that is not the Hall
    assert [c.refused for c in stubbed.stub_calls] == [True]
    assert httpserver.log == []
    allowed = run_workflow(path, egress_allow=f"localhost:{httpserver.port}")
    assert allowed.step("call").exports == {"body": {"reached": True}}
    assert allowed.stub_calls == ()


def test_a_hall_by_a_name_that_does_not_resolve_is_unreachable(hall) -> None:
    run = load_workflow(FIXTURES / "pyhall_gate.mjs").run(
        HallEndpoint("http://hall.example.invalid:8765", "t"), settings={"time_scale": 0.01}
    )
    error = run.step("pyhall_gate").error
    assert "ENOTFOUND" in str(error) or "EAI_AGAIN" in str(error)
    assert run.stub_calls == ()
