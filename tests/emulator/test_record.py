"""Recording a real Hall (recorder.py): a second emulator plays the real Hall, on loopback; the script the
recorder writes, served, must answer the same requests the same way (status and body fields; allow/deny
decisions get a fresh decision_id, as a Hall issues one per decision)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_serve_command import serve

from hallsim.emulator import GUIDE_REQUEST, HallEmulator, load_script
from hallsim.emulator.behaviours import parse_behaviour
from hallsim.emulator.recorder import Recorder, answer_behaviour

REAL_TOKEN = "real-hall-token-0123456789"
REAL = {"Authorization": f"Bearer {REAL_TOKEN}"}
OURS = {"Authorization": "Bearer t"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def request(**changes: Any) -> dict[str, Any]:
    return {**GUIDE_REQUEST, **changes}


#: (request, what the "real" Hall does with it); several distinct answers a gate must tell apart
CASES: list[tuple[dict[str, Any], Any]] = [
    (request(), "allow"),
    (request(data_label="RESTRICTED"), "deny:RESTRICTED data needs human approval"),
    (request(worker_id="wrk_unavailable"), "http-503"),
    (request(worker_id="wrk_html"), "http-502:<html>Bad Gateway</html>"),
    (request(worker_id="wrk_odd"), "missing-denied"),
    (request(worker_id="wrk_string"), "denied-as-string:false"),
    (request(worker_id="wrk_empty"), "empty-body"),
    (request(worker_id="wrk_broken"), "malformed-json"),
    (request(worker_id="wrk_retry"), {"behaviour": "http-429", "headers": {"Retry-After": "7"}}),
    # an error body that echoes the token the gate sent: it must never reach the script
    (
        request(worker_id="wrk_echo"),
        {"behaviour": "http-401", "json": {"error": "expired", "token": REAL_TOKEN}},
    ),
    (request(capability_id="cap.data.*.v1"), "deny:glob characters are matched exactly"),
    (request(tenant_id=None), "deny:no tenant"),
]


@pytest.fixture
def real_hall() -> Iterator[HallEmulator]:
    rules = [{"match": dict(body), "respond": answer} for body, answer in CASES]
    rules.append({"match": {"worker_id": "wrk_flaky"}, "respond": ["http-503", "http-503", "allow"]})
    rules.append({"match": {"worker_id": "wrk_reset"}, "respond": "reset"})
    with HallEmulator(
        tokens=(REAL_TOKEN,), rules=rules, envs=("dev", "prod", "stage"), capability_ids="any"
    ) as hall:
        yield hall


def comparable(response: httpx.Response) -> tuple[int, Any, str | None]:
    """Status, body (decision_id left out: the "real" Hall, an emulator, issues a fresh one per answer)
    and the Retry-After a gate may read."""
    try:
        body: Any = response.json()
    except ValueError:  # malformed-json: a decision cut in half, its decision_id in it
        body = UUID.sub("<uuid>", response.text)
    if isinstance(body, dict) and "decision_id" in body:
        assert isinstance(body.pop("decision_id"), str)
    return response.status_code, body, response.headers.get("retry-after")


def send_all(url: str, headers: dict[str, str]) -> list[Any]:
    seen: list[Any] = []
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        for body, _ in CASES:
            seen.append(comparable(client.post("/api/route", json=body)))
        for _ in range(4):
            seen.append(comparable(client.post("/api/route", json=request(worker_id="wrk_flaky"))))
        seen.append(comparable(client.post("/api/route", json=request(env="stage"))))
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{url}/api/route", json=request(worker_id="wrk_reset"), headers=headers, timeout=10)
    return seen


@pytest.mark.e2e
def test_a_recorded_hall_replays_the_same_answers(real_hall: HallEmulator, tmp_path: Path) -> None:
    script = tmp_path / "customer.hall.yaml"
    direct = send_all(real_hall.url, REAL)
    real_hall.reset()  # the flaky worker's sequence starts again
    with HallEmulator() as recording:
        recorder = Recorder.for_app(recording.app, real_hall.url, script)
        through_proxy = send_all(recording.url, REAL)
    # while recording, the gate gets the real Hall's answers
    assert through_proxy == direct
    assert recorder.recording.count == len(CASES) + 3  # + flaky, stage, reset
    # served, the script answers the same requests the same way, with the emulator's token; the one
    # difference: the real token the Hall echoed in an error body is masked
    masked = [tuple(json.loads(json.dumps(a).replace(REAL_TOKEN, "r***"))) for a in direct]
    assert masked != direct
    with HallEmulator(script=script) as replay:
        assert send_all(replay.url, OURS) == masked
        unknown = httpx.post(
            f"{replay.url}/api/route", json=request(worker_id="wrk_never_seen"), headers=OURS
        )
    assert unknown.json()["denied"] is True
    assert unknown.json()["reason"].startswith("NOT_RECORDED")


@pytest.mark.e2e
def test_the_script_holds_no_real_token_and_fresh_decision_ids(
    real_hall: HallEmulator, tmp_path: Path
) -> None:
    script = tmp_path / "hall.yaml"
    with HallEmulator() as recording:
        Recorder.for_app(recording.app, real_hall.url, script)
        first = httpx.post(f"{recording.url}/api/route", json=request(), headers=REAL).json()
        httpx.post(f"{recording.url}/api/route", json=request(worker_id="wrk_echo"), headers=REAL)
    text = script.read_text()
    assert REAL_TOKEN not in text
    assert "r***" in text  # where the Hall echoed it
    assert load_script(script).tokens == ("t",)
    with HallEmulator(script=script) as replay:
        answers = [
            httpx.post(f"{replay.url}/api/route", json=request(), headers=OURS).json() for _ in range(2)
        ]
    # the documented difference: a fresh decision_id per answer; every other field as the Hall sent it
    ids = {first["decision_id"], *(a["decision_id"] for a in answers)}
    assert len(ids) == 3
    strip = [{k: v for k, v in a.items() if k != "decision_id"} for a in (first, *answers)]
    assert strip[0] == strip[1] == strip[2]
    # the Hall's own decision id is kept in a comment, for support to find the decision in its logs
    assert first["decision_id"] in text


def test_an_unreachable_hall_answers_502_and_records_nothing(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = tmp_path / "hall.yaml"
    with HallEmulator() as recording:
        recorder = Recorder.for_app(recording.app, f"http://127.0.0.1:{port}", script)
        answered = httpx.post(f"{recording.url}/api/route", json=request(), headers=REAL)
    assert answered.status_code == 502
    assert answered.json()["error"] == "record_upstream_unreachable"
    assert recorder.recording.count == 0
    assert load_script(script).rules == ()


def test_requests_the_emulator_refuses_itself_are_passed_on_but_not_recorded(
    real_hall: HallEmulator, tmp_path: Path
) -> None:
    script = tmp_path / "hall.yaml"
    with HallEmulator() as recording:
        Recorder.for_app(recording.app, real_hall.url, script)
        answered = httpx.post(f"{recording.url}/api/route", json={"worker_id": "w"}, headers=REAL)
    assert answered.status_code == 422  # the real Hall's answer
    text = script.read_text()
    assert "# not recorded: a request the emulator answers 422 itself" in text
    assert load_script(script).rules == ()


@pytest.mark.parametrize(
    ("status", "headers", "raw", "expected"),
    [
        # a decision exactly as allow sends it, in compact JSON: allow with the Hall's fields fixed
        (
            200,
            {"content-type": "application/json"},
            b'{"decision_id":"d-1","denied":false,"selected_worker_species_id":"wrk.x","artifact_hash":"h"}',
            {"behaviour": "allow", "artifact_hash": "h", "selected_worker_species_id": "wrk.x"},
        ),
        # an extra field the emulator never sends: verbatim
        (
            200,
            {"content-type": "application/json"},
            b'{"decision_id":"d-1","denied":false,"artifact_hash":"h","ttl":5}',
            {
                "behaviour": "http-200",
                "body": '{"decision_id":"d-1","denied":false,"artifact_hash":"h","ttl":5}',
                "headers": {"Content-Type": "application/json"},
            },
        ),
        (
            503,
            {"content-type": "text/html", "retry-after": "3"},
            b"<h1>down</h1>",
            {
                "behaviour": "http-503",
                "body": "<h1>down</h1>",
                "headers": {"Content-Type": "text/html", "Retry-After": "3"},
            },
        ),
        (
            500,
            {"content-type": "application/json"},
            b'{"error": "x"}',
            {"behaviour": "http-500", "json": {"error": "x"}},
        ),
        (
            302,
            {"location": "https://login.example.invalid/"},
            b"",
            {
                "behaviour": "http-302",
                "body": "",
                "headers": {
                    "Location": "https://login.example.invalid/",
                    "Content-Type": "application/octet-stream",
                },
            },
        ),
        (101, {}, b"", None),
    ],
)
def test_answers_become_behaviours(status: int, headers: dict[str, str], raw: bytes, expected: Any) -> None:
    got = answer_behaviour(status, headers, raw, dict(GUIDE_REQUEST))
    assert got == (parse_behaviour(expected) if expected is not None else None)


@pytest.mark.e2e
def test_serve_record_from_then_script_replays(real_hall: HallEmulator, tmp_path: Path) -> None:
    script = tmp_path / "recorded.hall.yaml"
    with serve("--record-from", real_hall.url, "--record-to", str(script)) as (served, url):
        banner = "".join(served.read_line() for _ in range(4))
        assert f"recording: {real_hall.url}/api/route -> {script}" in banner
        recorded = httpx.post(f"{url}/api/route", json=request(data_label="RESTRICTED"), headers=REAL)
        code, rest, _ = served.stop()
    assert code == 130  # stopped by Ctrl-C (cli/_signals.py)
    assert "Recorded 1 distinct request(s)" in rest
    with serve("--script", str(script)) as (_, url):
        replayed = httpx.post(f"{url}/api/route", json=request(data_label="RESTRICTED"), headers=OURS)
    assert comparable(replayed) == comparable(recorded)
    assert json.loads(recorded.text)["reason"] == "RESTRICTED data needs human approval"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--record-from", "http://127.0.0.1:1"], "--record-from URL and --record-to FILE go together"),
        (["--record-from", "ftp://x", "--record-to", "r.yaml"], "expected the Hall's URL"),
        (
            ["--record-from", "http://127.0.0.1:1", "--record-to", "r.yaml", "--behaviour", "deny"],
            "leave out --behaviour",
        ),
    ],
)
def test_serve_record_options_are_checked(args: list[str], message: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hallsim.cli import cli

    args = [str(tmp_path / a) if a == "r.yaml" else a for a in args]
    result = CliRunner().invoke(cli, ["serve", "--port", "0", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.e2e
@pytest.mark.parametrize(
    "workflow", ["fixtures/pipedream/inline_option_a.yaml", "fixtures/make/gate_break.blueprint.json"]
)
def test_support_records_a_customers_hall_once_and_replays_the_gate_against_it(
    workflow: str, tmp_path: Path
) -> None:
    """The support flow in docs/emulator.md: the gate runs once through the recorder against the customer's
    Hall (here an emulator that denies with the customer's own reason), then against the script alone."""
    from hallsim.harness import HallEndpoint, load_workflow

    gate = load_workflow(Path(__file__).parents[2] / workflow)
    script = tmp_path / "customer.hall.yaml"
    customer = HallEmulator(tokens=(REAL_TOKEN,), default="deny:POLICY_ACME_7: writes need a ticket")
    with customer, HallEmulator() as recording:
        Recorder.for_app(recording.app, customer.url, script)
        # at time scale 1: the proxy's wall time is modelled time (at the default 0.01, Make's 10 s module
        # timeout is 0.1 s of wall time, less than a round trip through the recorder on a loaded machine)
        recorded = gate.run(HallEndpoint(recording.url, REAL_TOKEN, recording), settings=REAL_TIME)
    with HallEmulator(script=script) as replay:
        replayed = gate.run(HallEndpoint(replay.url, "t", replay), settings=REAL_TIME)
    assert replayed.outcome == recorded.outcome
    assert replayed.protected_ran == recorded.protected_ran
    (before,), (after,) = recorded.hall_requests, replayed.hall_requests
    assert after.rule == "recorded 1"
    assert comparable_entry(after) == comparable_entry(before)
    assert after.response is not None
    assert after.response["body"]["reason"] == "POLICY_ACME_7: writes need a ticket"


REAL_TIME = {"time_scale": 1.0}


def comparable_entry(entry: Any) -> tuple[Any, Any]:
    assert entry.response is not None
    body = dict(entry.response["body"])
    body.pop("decision_id")
    return entry.response["status"], body
