"""The admin API under /__hall/: rules, default, reset, journal, time scale, health."""

from __future__ import annotations

from typing import Any

from hallsim.emulator import GUIDE_REQUEST
from hallsim.emulator.app import HallApp


def test_health(client: Any) -> None:
    health = client.get("/__hall/health").json()
    assert health["status"] == "ok"
    assert (health["default"], health["rules"], health["tokens"]) == ("allow", 0, 1)
    assert health["envs"] == ["dev", "prod"]
    assert health["capability_ids"] == "guide"
    assert health["held_requests"] == 0


def test_rules_set_add_and_read(app: HallApp, client: Any) -> None:
    rule = {"name": "restricted", "match": {"data_label": "RESTRICTED"}, "respond": "deny:needs approval"}
    assert client.put("/__hall/rules", json=[rule]).json() == {"rules": 1}
    added = client.post("/__hall/rules", json={"respond": ["http-503", "allow"]}).json()
    assert added == {"added": [1], "rules": 2}
    client.post("/api/route", json={**GUIDE_REQUEST, "data_label": "RESTRICTED"})
    listed = client.get("/__hall/rules").json()
    assert listed["rules"][0] == rule
    assert listed["rules"][1] == {"respond": ["http-503", "allow"], "after": "last"}
    assert listed["uses"] == [1, 0]
    assert client.put("/__hall/rules", json={"rules": []}).json() == {"rules": 0}


def test_adding_several_rules_is_all_or_nothing(client: Any) -> None:
    answer = client.post("/__hall/rules", json=[{"respond": "http-503"}, {"respond": "nope"}])
    assert answer.status_code == 400
    assert "rules[1].respond: unknown behaviour 'nope'" in answer.json()["detail"]
    assert client.get("/__hall/rules").json()["rules"] == []
    assert client.post("/__hall/rules", json=[{"respond": "http-503"}, {"respond": "allow"}]).json() == {
        "added": [0, 1],
        "rules": 2,
    }


def test_default_as_a_spec_or_a_mapping(client: Any) -> None:
    assert client.put("/__hall/default", json="http-503").json()["behaviour"] == "http-503"
    assert client.post("/api/route", json=GUIDE_REQUEST).status_code == 503
    answer = client.put("/__hall/default", json={"behaviour": "deny", "reason": "admin"}).json()
    assert answer["mapping"] == {"behaviour": "deny", "reason": "admin"}
    assert client.get("/__hall/default").json()["behaviour"] == "deny:admin"


def test_reset(client: Any) -> None:
    client.put("/__hall/default", json="http-500")
    client.post("/api/route", json=GUIDE_REQUEST)
    state = client.post("/__hall/reset", json={}).json()
    assert (state["status"], state["default"]) == ("reset", "allow")
    assert client.get("/__hall/journal").json()["entries"] == []


def test_journal_since_and_clear(client: Any) -> None:
    for _ in range(3):
        client.post("/api/route", json=GUIDE_REQUEST)
    everything = client.get("/__hall/journal").json()
    assert [e["seq"] for e in everything["entries"]] == [1, 2, 3]
    assert everything["next_seq"] == 4
    assert [e["seq"] for e in client.get("/__hall/journal?since=3").json()["entries"]] == [3]
    assert everything["entries"][0]["headers"]["authorization"] == "Bearer ***"
    assert client.delete("/__hall/journal", headers={"Content-Type": "application/json"}).json() == {
        "status": "cleared",
        "next_seq": 4,
    }
    assert client.get("/__hall/journal").json()["entries"] == []


def test_time_scale(client: Any) -> None:
    assert client.put("/__hall/time-scale", json={"time_scale": 0.01}).json() == {"time_scale": 0.01}
    assert client.get("/__hall/time-scale").json() == {"time_scale": 0.01}


def test_mistakes_are_400_saying_what_was_expected(client: Any) -> None:
    cases = [
        ("put", "/__hall/default", {"json": "nope"}, "unknown behaviour 'nope'"),
        ("put", "/__hall/rules", {"json": {"rule": []}}, "expected a list of rules"),
        ("post", "/__hall/rules", {"json": {"respond": "x"}}, "rules[0].respond: unknown behaviour 'x'"),
        (
            "post",
            "/__hall/rules",
            {"json": {"respond": "allow", "seed": 7}},
            "rules[0].seed: seed only applies",
        ),
        (
            "put",
            "/__hall/rules",
            {"content": b"{", "headers": {"Content-Type": "application/json"}},
            "expected a JSON body",
        ),
        ("put", "/__hall/time-scale", {"json": {"time_scale": "fast"}}, "time_scale: expected a number"),
        ("get", "/__hall/journal?since=last", {}, "expected a whole number"),
    ]
    for method, path, kwargs, message in cases:
        answer = getattr(client, method)(path, **kwargs)
        assert answer.status_code == 400, path
        assert message in answer.json()["detail"], (path, answer.json())
