# ruff: noqa: E501  (the steps are JavaScript one-liners, kept whole to stay readable)
"""A step tries every way out; the canaries (another loopback port, and 127.0.0.2 on the Hall's port) must
receive nothing, and each attempt shows in the run: answered by the stub service, or refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallsim.emulator import HallEmulator
from hallsim.harness.stubs import parse_stubs

from .conftest import Canary, RunStep

pytestmark = pytest.mark.e2e

HIT = parse_stubs(
    [{"match": {"path": "/hit"}, "respond": {"behaviour": "http-200", "json": {"stubbed": True}}}]
)

#: a custom lookup that sends any name to the canary's address (as got's cacheable-lookup or a dispatcher's
#: connect.lookup can): the guard must decide on the address, not on the name
LOOKUP = "const lookup = (h, o, cb) => (o && o.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4));\n"
STATUS = "$.export('status', r.status ?? r.statusCode);\n"

#: client -> (step body, needs the npm packages)
ANSWERED = {
    "fetch": ("const r = await fetch(`http://127.0.0.1:${CANARY}/hit`);\n" + STATUS, False),
    "fetch to 127.0.0.2 on the Hall's port": (
        "const r = await fetch(`http://127.0.0.2:${HALL_PORT}/hit`);\n" + STATUS,
        False,
    ),
    "http with a custom lookup": (
        LOOKUP + "const http = await import('node:http');\n"
        "const r = await new Promise((res, rej) => http.get(`http://canary.invalid:${CANARY}/hit`, { lookup }, res).on('error', rej));\n"
        + STATUS,
        False,
    ),
    "https with a custom lookup": (
        LOOKUP + "const https = await import('node:https');\n"
        "const r = await new Promise((res, rej) => https.get(`https://canary.invalid:${CANARY}/hit`, { lookup }, res).on('error', rej));\n"
        + STATUS,
        False,
    ),
    "tls.connect with a custom lookup": (
        LOOKUP + "const tls = await import('node:tls');\n"
        "const text = await new Promise((res, rej) => {\n"
        "  const s = tls.connect({ host: 'canary.invalid', port: CANARY, servername: 'canary.invalid', lookup }, () =>\n"
        "    s.write('GET /hit HTTP/1.1\\r\\nHost: canary.invalid\\r\\nConnection: close\\r\\n\\r\\n'));\n"
        "  let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => res(got)); s.on('error', rej);\n"
        "});\n"
        "const r = { status: Number(text.split(' ')[1]) };\n" + STATUS,
        False,
    ),
    "net.connect": (
        "const net = await import('node:net');\n"
        "const text = await new Promise((res, rej) => {\n"
        "  const s = net.connect(CANARY, '127.0.0.1', () => s.write('GET /hit HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n'));\n"
        "  let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => res(got)); s.on('error', rej);\n"
        "});\n"
        "const r = { status: Number(text.split(' ')[1]) };\n" + STATUS,
        False,
    ),
    "a nested Worker": (
        "const { Worker } = await import('node:worker_threads');\n"
        "const code = `const http = require('http'); const { parentPort, workerData } = require('worker_threads');\n"
        "http.get('http://127.0.0.1:' + workerData + '/hit', (r) => parentPort.postMessage(r.statusCode)).on('error', (e) => parentPort.postMessage(String(e)));`;\n"
        "const w = new Worker(code, { eval: true, workerData: CANARY });\n"
        "const status = await new Promise((res) => w.once('message', res));\n"
        "await w.terminate();\n"
        "const r = { status };\n" + STATUS,
        False,
    ),
    "axios (@pipedream/platform)": (
        "const { axios } = await import('@pipedream/platform');\n"
        "await axios($, { url: `http://127.0.0.1:${CANARY}/hit` });\n"
        "const r = { status: 200 };\n" + STATUS,
        False,
    ),
    "undici Agent with connect.lookup": (
        LOOKUP + "const { Agent, fetch: undiciFetch } = await import('undici');\n"
        "const r = await undiciFetch(`http://canary.invalid:${CANARY}/hit`, { dispatcher: new Agent({ connect: { lookup } }) });\n"
        + STATUS,
        True,
    ),
    "got with dnsLookup": (
        LOOKUP + "const { default: got } = await import('got');\n"
        "const r = await got(`http://canary.invalid:${CANARY}/hit`, { dnsLookup: lookup, retry: { limit: 0 } });\n"
        + STATUS,
        True,
    ),
    "node-fetch": (
        "const { default: nodeFetch } = await import('node-fetch');\n"
        "const r = await nodeFetch(`http://127.0.0.1:${CANARY}/hit`);\n" + STATUS,
        True,
    ),
    "axios (npm)": (
        "const { default: axios } = await import('axios');\n"
        "const r = await axios.get(`http://127.0.0.1:${CANARY}/hit`);\n" + STATUS,
        True,
    ),
    "WebSocket (ws)": (
        "const ws_ = await import('ws'); const WebSocket = ws_.WebSocket ?? ws_.default;\n"
        "const ws = new WebSocket(`ws://127.0.0.1:${CANARY}/hit`);\n"
        "const status = await new Promise((res) => { ws.on('unexpected-response', (q, s) => res(s.statusCode)); ws.on('error', (e) => res(String(e))); ws.on('open', () => res('open')); });\n"
        "const r = { status };\n" + STATUS,
        True,
    ),
}


@pytest.mark.parametrize("client", sorted(ANSWERED))
def test_every_client_is_answered_by_the_stub_and_the_canary_hears_nothing(
    run_step: RunStep, canary: Canary, hall: HallEmulator, client: str, request: pytest.FixtureRequest
) -> None:
    source, needs_npm = ANSWERED[client]
    modules: Path | None = request.getfixturevalue("npm_modules") if needs_npm else None
    run = run_step(source, stubs=HIT, node_modules=modules, CANARY=canary.port, HALL_PORT=hall.port)
    step = run.step("call")
    assert step.status == "success", step.error
    assert step.exports["status"] == 200
    assert [c.url.rsplit("/", 1)[-1] for c in run.stub_calls] == ["hit"]
    assert run.stub_calls[0].rule == 0
    assert canary.received() == []
    assert hall.journal() == []


def test_a_localhost_subdomain_on_the_halls_port_is_not_the_hall(
    run_step: RunStep, hall: HallEmulator
) -> None:
    source = (
        "const r = await fetch(`http://hall.localhost:${HALL_PORT}/api/route`, { method: 'POST', body: '{}' });\n"
        + STATUS
    )
    run = run_step(source, HALL_PORT=hall.port)
    assert hall.journal() == []
    [call] = run.stub_calls
    assert call.url == f"http://hall.localhost:{hall.port}/api/route"
    # the auto default: a loopback target that is not the run's Hall is refused (nothing listens there on the
    # platform), so the gate's fetch fails
    assert call.refused
    assert run.step("call").status == "error"


@pytest.mark.parametrize(
    ("what", "source", "message"),
    [
        (
            "a host that is an object",
            "const net = await import('node:net');\n"
            "await new Promise((res, rej) => net.connect({ host: { toString() { return '127.0.0.1'; } }, port: CANARY }, res).on('error', rej));",
            "the host is not a string",
        ),
        (
            "process.binding('tcp_wrap')",
            "const { TCP, constants } = process.binding('tcp_wrap');\nnew TCP(constants.SOCKET);",
            "raw socket and process bindings are not available to steps",
        ),
        (
            "a local socket path",
            "const net = await import('node:net');\n"
            "await new Promise((res, rej) => net.connect('/tmp/hallsim-nothing.sock', res).on('error', rej));",
            "local sockets by path are not allowed",
        ),
    ],
)
def test_raw_paths_out_are_refused_in_the_step_and_the_host_lives_on(
    run_step: RunStep, canary: Canary, what: str, source: str, message: str
) -> None:
    run = run_step(source, CANARY=canary.port)
    step = run.step("call")
    assert step.status == "error"
    assert message in str(step.error)
    assert any(message in str(entry.get("refused")) for entry in step.http)
    assert canary.received() == []
    # the Node host survived: the next run works
    again = run_step("$.export('ok', true);")
    assert again.step("call").exports == {"ok": True}


def test_udp_is_refused(run_step: RunStep, canary: Canary) -> None:
    source = (
        "const dgram = await import('node:dgram');\n"
        "const s = dgram.createSocket('udp4');\n"
        "const err = await new Promise((res) => s.send('hello', CANARY_UDP, '127.0.0.1', res));\n"
        "s.close();\n"
        "$.export('error', String(err));"
    )
    run = run_step(source, CANARY_UDP=canary.udp_port)
    assert "EACCES" in run.step("call").exports["error"]
    assert any("steps may not send UDP" in str(e.get("refused")) for e in run.step("call").http)
    assert canary.received() == []


def test_http2_is_kept_off_the_network(run_step: RunStep, canary: Canary) -> None:
    source = (
        LOOKUP + "const http2 = await import('node:http2');\n"
        "const error = await new Promise((res) => {\n"
        "  const session = http2.connect(`http://canary.invalid:${CANARY}`, { lookup });\n"
        "  session.on('error', (e) => res(String(e)));\n"
        "  const req = session.request({ ':path': '/hit' }); req.on('error', (e) => res(String(e))); req.on('response', () => res('answered')); req.end();\n"
        "});\n"
        "$.export('error', error);"
    )
    run = run_step(source, CANARY=canary.port)
    assert canary.received() == []
    assert [e.get("stubbed") for e in run.step("call").http if e.get("via") == "connect"] == [True]
    # the stub service speaks HTTP/1.1: an HTTP/2 preface is recorded and the connection closed
    assert [c.fault for c in run.stub_calls] == ["protocol"]


def test_stub_default_refuse_fails_unmatched_calls(run_step: RunStep) -> None:
    source = (
        "const r = await fetch('https://crm.example.invalid/contacts', { method: 'POST', body: '{}' });\n"
        + STATUS
    )
    answered = run_step(source)
    assert answered.step("call").exports == {"status": 200}
    refused = run_step(source, stubs=parse_stubs({"default": "refuse"}))
    assert refused.step("call").status == "error"
    [call] = refused.stub_calls
    assert (call.method, call.url, call.refused) == ("POST", "https://crm.example.invalid/contacts", True)
