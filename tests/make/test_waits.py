"""The HTTP modules' clock (make/_waits.py): a module's timeout fires on a wait the run scripted (the Hall
emulator's or a stub's `slow`/`timeout`, a Hall that never answers), never because the machine was slow.
At time_scale 0.01 a 10 s timeout is 0.1 s of wall time; a real, unscripted 0.2 s of latency is 0.2 s of
modelled time, not 20 s."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from hallsim.harness.make import MakeRun
from hallsim.harness.stubs import parse_stubs
from hallsim.harness.workflow import HallEndpoint

from .conftest import action, http_v3, webhook

Replay = Callable[..., MakeRun]
SCALED = {"time_scale": 0.01}
#: a third-party host the run's stub service answers (egress.py: it is not the run's Hall)
CRM = "https://crm.example.invalid/api/notes"


def _gate(module: dict[str, Any]) -> list[dict[str, Any]]:
    module["onerror"] = [{"id": 9, "module": "builtin:Ignore", "version": 1}]
    return [webhook(), module, action(3, mapper={"denied": "{{2.data.denied}}"})]


def _http(run: MakeRun) -> Any:
    [event] = [e for e in run.events if e.kind == "module" and e.module == 2]
    return event.data


def _gate_against(replay: Replay, hall: HallEndpoint, behaviour: str) -> tuple[MakeRun, Any]:
    """The gate's HTTP module (timeout 10 s) against the emulator answering `behaviour`: run and module."""
    hall.emulator.set_default(behaviour)  # type: ignore[union-attr]
    run = replay(_gate(http_v3(timeout="10")), hall=hall, settings=SCALED)
    return run, _http(run)


def _late_allow(request: Request) -> Response:
    time.sleep(0.2)  # real latency nobody scripted: a busy machine, a slow network
    return Response('{"denied": false, "decision_id": "d1"}', content_type="application/json")


def test_an_unscripted_real_delay_is_an_answer_not_a_timeout(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/route").respond_with_handler(_late_allow)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), "t")
    run = replay(_gate(http_v3(timeout="10")), hall=hall, settings=SCALED)
    data = _http(run)
    assert "error" not in data, data.get("error")
    assert data["response"]["status"] == 200
    assert data["output"]["data"]["denied"] is False
    # the 0.2 s count as they are: a few tenths of a modelled second, far from the 10 s timeout
    assert 0.2 <= data["modelled_s"] < 2
    assert "latency_grace_s" in data["timing_note"]
    httpserver.check_assertions()


def test_the_grace_is_a_setting_the_trace_shows(replay: Replay, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/route").respond_with_handler(_late_allow)
    hall = HallEndpoint(httpserver.url_for("/").rstrip("/"), "t")
    settings = {**SCALED, "make.http.latency_grace_s": 0.02}
    run = replay(_gate(http_v3(timeout="10")), hall=hall, settings=settings)
    data = _http(run)
    assert data["error"]["type"] == "ConnectionError"  # make.http.timeout_error
    assert data["modelled_s"] == 10
    assert "no scripted wait was known" in data["timing_note"]
    assert "make.http.latency_grace_s=0.02" in run.render()
    assert run.to_json()["settings"]["make.http.latency_grace_s"] == 0.02


@pytest.fixture
def busy_emulator(hall: HallEndpoint, monkeypatch: pytest.MonkeyPatch) -> HallEndpoint:
    """The in-process emulator, its loop kept busy 0.2 s before it picks each answer (no scripted wait)."""
    app = hall.emulator.app  # type: ignore[union-attr]
    select = app.select

    def slow_select(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.2)
        return select(*args, **kwargs)

    monkeypatch.setattr(app, "select", slow_select)
    return hall


@pytest.mark.parametrize(
    ("behaviour", "status", "error"),
    [("allow", 200, None), ("deny", 200, None), ("close", None, "ECONNRESET"), ("reset", None, "ECONNRESET")],
)
def test_a_busy_emulator_is_not_a_timeout(
    replay: Replay, busy_emulator: HallEndpoint, behaviour: str, status: int | None, error: str | None
) -> None:
    _, data = _gate_against(replay, busy_emulator, behaviour)
    if error is None:
        assert "error" not in data, data.get("error")
        assert data["response"]["status"] == status
    else:
        assert data["error"]["message"].startswith(error)
    assert data["modelled_s"] < 2
    assert "scripted_s" not in data


@pytest.mark.parametrize("behaviour", ["timeout", "slow:30", "slow:5:timeout"])
def test_a_scripted_wait_longer_than_the_timeout_still_times_out(
    replay: Replay, hall: HallEndpoint, behaviour: str
) -> None:
    run, data = _gate_against(replay, hall, behaviour)
    assert data["error"]["message"].startswith("ETIMEDOUT")
    assert data["modelled_s"] == 10
    assert "timing_note" not in data  # the journal said the wait was scripted: no grace was needed
    assert run.to_json()["time"]["run_modelled_s"] >= 10


def test_a_scripted_wait_on_a_busy_emulator_still_times_out(
    replay: Replay, busy_emulator: HallEndpoint
) -> None:
    _, data = _gate_against(replay, busy_emulator, "timeout")
    assert data["error"]["message"].startswith("ETIMEDOUT")
    assert data["modelled_s"] == 10


def test_a_scripted_wait_inside_the_timeout_counts_its_modelled_seconds(
    replay: Replay, hall: HallEndpoint
) -> None:
    run, data = _gate_against(replay, hall, "slow:2.5")
    assert data["response"]["status"] == 200
    assert data["scripted_s"] == 2.5
    assert 2.5 <= data["modelled_s"] < 4.5
    assert "2.5 s of it scripted" in run.render()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A loopback port that takes connections and never reads or answers (its backlog accepts them)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_hall_that_never_answers_times_out_after_the_grace(replay: Replay, blackhole: str) -> None:
    settings = {**SCALED, "make.http.latency_grace_s": 0.1}
    run = replay(_gate(http_v3(timeout="10")), hall=HallEndpoint(blackhole, "t"), settings=settings)
    data = _http(run)
    assert data["error"]["message"].startswith("ETIMEDOUT")
    assert data["modelled_s"] == 10
    assert "no scripted wait was known" in data["timing_note"]


def _crm_call(**mapper: Any) -> dict[str, Any]:
    return http_v3(url=CRM, headers=[], timeout="10", **mapper)


@pytest.mark.parametrize("respond", ["slow:30:http-200", "timeout"])
def test_a_stub_s_scripted_wait_times_out(replay: Replay, hall: HallEndpoint, respond: str) -> None:
    stubs = parse_stubs({"rules": [{"match": {"host": "crm.example.invalid"}, "respond": respond}]})
    run = replay(_gate(_crm_call()), hall=hall, settings=SCALED, stubs=stubs)
    data = _http(run)
    assert data["error"]["message"].startswith("ETIMEDOUT")
    assert data["modelled_s"] == 10
    assert "timing_note" not in data


def test_a_stub_s_short_scripted_wait_is_an_answer(replay: Replay, hall: HallEndpoint) -> None:
    rule = {"match": {"host": "crm.example.invalid"}, "respond": {"behaviour": "slow:2:http-200"}}
    run = replay(_gate(_crm_call()), hall=hall, settings=SCALED, stubs=parse_stubs({"rules": [rule]}))
    data = _http(run)
    assert data["response"]["status"] == 200
    assert data["scripted_s"] == 2
