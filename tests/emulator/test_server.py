"""HallEmulator's life: start on a free port, stop cleanly (idempotent, no thread left), live settings."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from hallsim.emulator import GUIDE_REQUEST, EmulatorError, HallEmulator, ScriptError


def emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hallsim-emulator")]


def test_start_on_a_free_port_answer_and_stop_leaving_no_thread() -> None:
    before = emulator_threads()
    hall = HallEmulator()
    assert hall.start() is hall
    assert hall.running
    assert hall.url == f"http://127.0.0.1:{hall.port}"
    assert hall.port > 0
    answer = httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 200
    hall.stop()
    hall.stop()  # idempotent
    assert not hall.running
    assert emulator_threads() == before
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"{hall.url}/api/route", json=GUIDE_REQUEST, timeout=1)


def test_a_context_manager_and_a_restart() -> None:
    hall = HallEmulator()
    with hall:
        first = hall.port
        assert httpx.get(f"{hall.url}/__hall/health").json()["status"] == "ok"
    assert not hall.running
    with hall:  # same port again, same configuration
        assert hall.port == first
        assert httpx.get(f"{hall.url}/__hall/health").json()["status"] == "ok"


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EmulatorError, match=f"cannot listen on 127.0.0.1:{port}"):
            HallEmulator(port=port).start()


def test_open_keep_alive_connections_do_not_block_stop() -> None:
    hall = HallEmulator().start()
    client = httpx.Client(base_url=hall.url, headers={"Authorization": "Bearer t"})
    client.post("/api/route", json=GUIDE_REQUEST)
    hall.stop()
    assert not hall.running
    client.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tokens": ()}, "tokens: expected one or more tokens"),
        ({"tokens": ("has space",)}, "tokens: expected one or more tokens"),
        ({"default": "nope"}, "unknown behaviour 'nope'"),
        ({"time_scale": 0}, "time_scale: expected a number > 0"),
        ({"journal_size": 0}, "journal_size: expected a whole number >= 1"),
        ({"journal_size": "10"}, "journal_size: expected a whole number >= 1"),
        ({"envs": ()}, "envs: expected one or more env names"),
        ({"max_body": 0}, "max_body: expected a whole number of bytes >= 1"),
        ({"capability_ids": "loose"}, "capability_ids: expected guide .* or any .*; got 'loose'"),
        ({"rules": [{"respond": "nope"}]}, r"rules\[0\]\.respond: unknown behaviour"),
    ],
)
def test_bad_settings_are_refused_up_front(kwargs: dict, message: str) -> None:
    with pytest.raises(EmulatorError, match=message):
        HallEmulator(**kwargs)


def test_a_lone_string_is_one_token_or_env_not_its_characters() -> None:
    hall = HallEmulator(tokens="ci", envs="prod")
    assert (hall.tokens, hall.app.envs) == (("ci",), ("prod",))


def test_capability_ids_is_a_keyword_setting() -> None:
    assert HallEmulator().app.capability_ids == "guide"  # the guides' shape unless told otherwise
    assert HallEmulator(capability_ids="any").app.capability_ids == "any"


def test_settings_change_while_running(hall: HallEmulator, http: httpx.Client) -> None:
    hall.tokens = ["rotated"]
    assert http.post("/api/route", json=GUIDE_REQUEST).status_code == 403
    hall.tokens = ["t"]
    hall.set_default({"behaviour": "deny", "reason": "mapping form"})
    assert http.post("/api/route", json=GUIDE_REQUEST).json()["reason"] == "mapping form"
    hall.set_default("allow", decision_id="fixed-id")
    assert http.post("/api/route", json=GUIDE_REQUEST).json()["decision_id"] == "fixed-id"
    with pytest.raises(ScriptError):
        hall.time_scale = -1
    assert "running" in repr(hall)


def test_add_rule_takes_a_mapping_or_keywords(hall: HallEmulator) -> None:
    hall.add_rule({"match": {"env": "dev"}, "respond": "http-500"})
    hall.add_rule(match={"env": "prod"}, respond="http-502", name="prod")
    assert [r.respond[0].spec for r in hall.rules] == ["http-500", "http-502"]
    with pytest.raises(ScriptError, match="not both"):
        hall.add_rule({"respond": "allow"}, name="x")
