"""Outbound network from steps (issue 4, item 1): loopback only by default, the run's own Hall and sink;
anything else refused with a clear error, whatever client the step uses; every call recorded."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from hallsim.harness import HallEndpoint
from hallsim.harness.pipedream import load_workflow

from .conftest import FIXTURES, body, code_step

pytestmark = pytest.mark.e2e

CLIENTS = {
    "fetch": "await fetch(URL);",
    "http": (
        "const http = await import('node:http');\n"
        "await new Promise((resolve, reject) => http.get(URL, resolve).on('error', reject));"
    ),
    "https": (
        "const https = await import('node:https');\n"
        "await new Promise((resolve, reject) => https.get(URL, resolve).on('error', reject));"
    ),
    "axios": "const { axios } = await import('@pipedream/platform');\nawait axios($, { url: URL });",
    "net": (
        "const net = await import('node:net');\n"
        "await new Promise((resolve, reject) =>\n"
        "  net.connect(443, 'example.com', resolve).on('error', reject));"
    ),
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_the_internet_is_refused_whatever_the_client(write_workflow, run_workflow, client: str) -> None:
    url = "https://example.com/" if client == "https" else "http://example.com/"
    source = body(f"const URL = {url!r};\n" + CLIENTS[client])
    run = run_workflow(write_workflow(code_step("call", source)))
    step = run.step("call")
    assert run.outcome == "errored"
    text = str(step.error)
    assert "hallsim refused a connection to example.com" in text
    refused = [entry for entry in step.http if entry.get("via") == "connect"]
    assert refused
    assert refused[0]["host"] == "example.com"


def test_every_call_is_recorded_with_its_answer(run_workflow) -> None:
    run = run_workflow(FIXTURES / "inline_option_a.yaml", "allow")
    [gate_call] = run.step("pyhall_gate").http
    assert gate_call["method"] == "POST"
    assert gate_call["url"] == f"{run.hall_url}/api/route"
    assert gate_call["status"] == 200
    [audit_call] = run.step("audit_log").http
    assert audit_call["url"].endswith("/audit")


def test_another_loopback_port_is_refused_by_default(
    write_workflow, run_workflow, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/other").respond_with_json({"reached": True})
    source = body(
        f"const r = await fetch({httpserver.url_for('/other')!r});\n$.export('body', await r.json());"
    )
    path = write_workflow(code_step("call", source))
    refused = run_workflow(path)
    assert refused.outcome == "errored"
    assert "neither the Hall emulator nor a local sink" in refused.step("call").error["cause"]["message"]
    assert run_workflow(path, egress="loopback").step("call").exports == {"body": {"reached": True}}
    allowed = run_workflow(path, egress_allow=f"127.0.0.1:{httpserver.port}")
    assert allowed.step("call").exports == {"body": {"reached": True}}


def test_a_hall_that_is_not_on_loopback_is_refused_too(write_workflow, run_workflow) -> None:
    source = body("await fetch(process.env.FAR_HALL + '/api/route', { method: 'POST' });")
    path = write_workflow(code_step("call", source), env={"FAR_HALL": "http://192.0.2.10:8765"})
    error = run_workflow(path).step("call").error
    assert "192.0.2.10:8765" in error["cause"]["message"]
    assert "loopback addresses only" in error["cause"]["message"]


def test_a_hall_named_like_a_loopback_address_is_not_loopback(hall) -> None:
    run = load_workflow(FIXTURES / "pyhall_gate.mjs").run(
        HallEndpoint("http://127.example.com:8765", "t"), settings={"time_scale": 0.01}
    )
    message = run.step("pyhall_gate").error["cause"]["message"]
    assert "refused a connection to 127.example.com:8765" in message
    assert "loopback addresses only" in message
