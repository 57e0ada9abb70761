"""Rules: matching, sequences, limits, seeded probability, and the index that keeps lookup cheap."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hallsim.emulator import GUIDE_REQUEST, HallEmulator, ScriptError, parse_behaviour, parse_rule
from hallsim.emulator.rules import Rule, RuleBook

ALLOW = parse_behaviour("allow")


def request(**changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict(GUIDE_REQUEST)
    out.update(changes)
    return {k: v for k, v in out.items() if v is not ...}


def chosen(book: RuleBook, body: dict[str, Any], headers: dict[str, str] | None = None) -> str:
    return book.select(body, headers or {}, ALLOW).behaviour.spec


@pytest.mark.parametrize(
    ("match", "body", "hit"),
    [
        ({"data_label": "RESTRICTED"}, request(data_label="RESTRICTED"), True),
        ({"data_label": "RESTRICTED"}, request(data_label="INTERNAL"), False),
        ({"capability_id": "cap.data.*"}, request(capability_id="cap.data.read.v1"), True),
        ({"capability_id": "cap.data.*"}, request(capability_id="cap.notify.send.v1"), False),
        ({"worker_id": "re:^wrk_make_"}, request(worker_id="wrk_make_acme_prod"), True),
        ({"worker_id": "re:^wrk_make_"}, request(worker_id="wrk_pipedream_acme_prod"), False),
        ({"tenant_id": ["org.acme", "org.beta"]}, request(tenant_id="org.beta"), True),
        ({"tenant_id": ["org.acme", "org.beta"]}, request(tenant_id="org.gamma"), False),
        ({"data_label": None}, request(data_label=...), True),
        ({"data_label": None}, request(data_label="PUBLIC"), False),
        ({"tenant_id": "org.acme"}, request(tenant_id=...), False),
        ({"env": "prod", "data_label": "RESTRICTED"}, request(data_label="RESTRICTED"), True),
        ({"env": "dev", "data_label": "RESTRICTED"}, request(data_label="RESTRICTED"), False),
        ({}, request(), True),
    ],
)
def test_matching(match: dict[str, Any], body: dict[str, Any], hit: bool) -> None:
    book = RuleBook((parse_rule({"match": match, "respond": "deny:matched"}),))
    assert chosen(book, body) == ("deny:matched" if hit else "allow")


def test_header_conditions_are_case_insensitive_by_name() -> None:
    book = RuleBook((parse_rule({"match": {"headers": {"X-Source": "make-*"}}, "respond": "http-503"}),))
    assert book.needs_headers
    assert chosen(book, request(), {"x-source": "make-eu1"}) == "http-503"
    assert chosen(book, request(), {"x-source": "pipedream"}) == "allow"
    assert chosen(book, request(), {}) == "allow"


def test_the_first_matching_rule_wins() -> None:
    book = RuleBook(
        (
            parse_rule({"match": {"capability_id": "cap.data.*"}, "respond": "deny:first"}),
            parse_rule({"match": {"data_label": "INTERNAL"}, "respond": "deny:second"}),
        )
    )
    assert chosen(book, request()) == "deny:first"


@pytest.mark.parametrize(
    ("after", "answers"),
    [
        ("last", ["timeout", "http-503", "allow", "allow", "allow"]),
        ("cycle", ["timeout", "http-503", "allow", "timeout", "http-503"]),
        ("fall-through", ["timeout", "http-503", "allow", "deny", "deny"]),
    ],
)
def test_what_happens_when_a_sequence_runs_out(after: str, answers: list[str]) -> None:
    book = RuleBook((parse_rule({"respond": ["timeout", "http-503", "allow"], "after": after}),))
    assert [book.select(request(), {}, parse_behaviour("deny")).behaviour.spec for _ in answers] == answers


def test_times_limits_a_rule_then_it_falls_through() -> None:
    book = RuleBook(
        (
            parse_rule({"respond": "http-503", "times": 2}),
            parse_rule({"respond": "deny:second rule"}),
        )
    )
    expected = ["http-503", "http-503", "deny:second rule", "deny:second rule"]
    assert [chosen(book, request()) for _ in range(4)] == expected
    book.reset()
    assert chosen(book, request()) == "http-503"


def test_a_rule_that_does_not_match_does_not_use_up_its_sequence() -> None:
    book = RuleBook((parse_rule({"match": {"data_label": "RESTRICTED"}, "respond": ["deny:1", "deny:2"]}),))
    assert chosen(book, request()) == "allow"
    assert chosen(book, request(data_label="RESTRICTED")) == "deny:1"


def draws(seed: int, n: int = 200) -> list[str]:
    book = RuleBook((parse_rule({"respond": "http-500", "probability": 0.3, "seed": seed}),))
    return [chosen(book, request()) for _ in range(n)]


def test_probability_with_a_seed_is_reproducible() -> None:
    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    # the seeded draw itself: the same numbers Python's random.Random(7) gives
    rng = random.Random(7)
    assert first == ["http-500" if rng.random() < 0.3 else "allow" for _ in range(200)]


def test_only_matching_requests_draw() -> None:
    # requests the rule does not match leave its seeded draws alone, so a run is reproducible whatever else
    # the gate sends in between
    def book() -> RuleBook:
        rule = {"match": {"data_label": "RESTRICTED"}, "respond": "http-500", "probability": 0.5, "seed": 4}
        return RuleBook((parse_rule(rule),))

    restricted = request(data_label="RESTRICTED")
    alone = book()
    expected = [chosen(alone, restricted) for _ in range(40)]
    mixed = book()
    got = []
    for _ in range(40):
        assert chosen(mixed, request()) == "allow"
        got.append(chosen(mixed, restricted))
    assert got == expected
    assert set(expected) == {"http-500", "allow"}


def test_probability_restarts_on_reset() -> None:
    book = RuleBook((parse_rule({"respond": "http-500", "probability": 0.5, "seed": 3}),))
    before = [chosen(book, request()) for _ in range(30)]
    book.reset()
    assert [chosen(book, request()) for _ in range(30)] == before


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"match": {"data_label": "RESTRICTED"}}, r"rules\[0\]\.respond: missing"),
        ({"respond": "allow", "when": {}}, r"unknown key\(s\) when"),
        ({"respond": []}, "at least one behaviour"),
        ({"respond": ["allow", "nope"]}, r"rules\[0\]\.respond\[1\]: unknown behaviour 'nope'"),
        ({"respond": "allow", "after": "repeat"}, "after: expected one of last, cycle, fall-through"),
        ({"respond": "allow", "times": 0}, "times: expected a whole number >= 1"),
        ({"respond": "allow", "probability": 1.5}, "probability: expected a number from 0 to 1"),
        ({"respond": "allow", "seed": "x"}, "seed: expected a whole number"),
        ({"respond": "allow", "seed": 7}, r"rules\[0\]\.seed: seed only applies with probability"),
        (
            {"respond": "allow", "probability": None, "seed": 7},
            r"rules\[0\]\.seed: seed only applies with probability",
        ),
        ({"respond": "allow", "match": {"worker": "x"}}, "unknown field 'worker'"),
        ({"respond": "allow", "match": {"worker_id": "re:("}}, "not a valid regular expression"),
        ({"respond": "allow", "match": {"worker_id": {"in": ["a"]}}}, "expected text"),
        ({"respond": "allow", "match": {"worker_id": []}}, "non-empty list"),
        ("allow", "expected a mapping with `respond`"),
    ],
)
def test_bad_rules_say_where_and_what_was_expected(spec: Any, message: str) -> None:
    with pytest.raises(ScriptError, match=message):
        parse_rule(spec, "rules[0]")


def test_rules_round_trip_through_their_mapping_form() -> None:
    spec = {
        "name": "flaky",
        "match": {"capability_id": "cap.data.*", "tenant_id": ["a", "b"], "headers": {"x-source": "make"}},
        "respond": ["timeout", "deny:later"],
        "after": "cycle",
        "times": 4,
        "probability": 0.5,
        "seed": 1,
    }
    rule = parse_rule(spec)
    assert rule.to_mapping() == spec
    assert parse_rule(rule.to_mapping()) == rule


def test_indexed_lookup_agrees_with_a_plain_scan() -> None:
    rng = random.Random(11)
    labels = ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]
    workers = [f"wrk_{i}" for i in range(40)]
    specs = []
    for i in range(300):
        match: dict[str, Any] = {}
        if rng.random() < 0.7:
            match["worker_id"] = rng.choice(workers)
        if rng.random() < 0.3:
            match["data_label"] = rng.choice(labels)
        if rng.random() < 0.1:
            match["capability_id"] = "cap.data.*"
        if rng.random() < 0.1:
            match["tenant_id"] = [f"org.{rng.randint(0, 3)}", f"org.{rng.randint(0, 3)}"]
        specs.append({"match": match, "respond": f"deny:rule {i}"})
    rules = tuple(parse_rule(s) for s in specs)
    book = RuleBook(rules[:150])
    for rule in rules[150:]:  # rules added to a live book are filed the same way
        book.add(rule)
    for _ in range(500):
        body = request(
            worker_id=rng.choice(workers), data_label=rng.choice(labels), tenant_id=f"org.{rng.randint(0, 4)}"
        )
        linear = next((r.respond[0].spec for r in rules if r.matches(body, {})), "allow")
        assert chosen(book, body) == linear


def test_fluent_rules_on_a_running_emulator(hall: HallEmulator, http: Any) -> None:
    hall.when(data_label="RESTRICTED").named("restricted").respond("deny", reason="needs approval")
    hall.when(worker_id="wrk_flaky").times(1).respond("http-503")
    hall.when(worker_id="wrk_flaky").respond("timeout", "allow")
    assert len(hall.rules) == 3
    denied = http.post("/api/route", json=request(data_label="RESTRICTED")).json()
    assert (denied["denied"], denied["reason"]) == (True, "needs approval")
    assert hall.journal()[-1].to_dict()["rule"] == "restricted"
    flaky = request(worker_id="wrk_flaky")
    assert http.post("/api/route", json=flaky).status_code == 503
    assert hall.journal()[-1].to_dict()["rule"] == 1  # unnamed: its index
    with pytest.raises(Exception, match="timed out"):
        http.post("/api/route", json=flaky, timeout=0.2)
    assert http.post("/api/route", json=flaky).json()["denied"] is False
    assert http.post("/api/route", json=request()).json()["denied"] is False


def test_a_seed_without_probability_is_refused_from_python(hall: HallEmulator) -> None:
    # every Python way to give a rule a seed: a seed alone would silently draw nothing, so it is an error
    respond = (parse_behaviour("http-503"),)
    with pytest.raises(ScriptError, match=r"^Rule\(name='flaky'\)\.seed: seed only applies with probability"):
        Rule(respond=respond, name="flaky", seed=7)
    with pytest.raises(ScriptError, match=r"^Rule\.seed: seed only applies with probability"):
        Rule(respond=respond, seed=7)
    with pytest.raises(ScriptError, match=r"^rules\[0\]\.seed: seed only applies with probability"):
        hall.add_rule(respond="http-503", seed=7)
    hall.when(worker_id="wrk_flaky").respond("allow")
    with pytest.raises(ScriptError, match=r"^rules\[1\]\.seed: seed only applies with probability"):
        hall.set_rules([{"respond": "allow", "probability": 0.5, "seed": 1}, {"respond": "allow", "seed": 1}])
    assert [r.respond[0].spec for r in hall.rules] == ["allow"]  # the rules in place stay
    # the fluent form always gives probability with its seed
    rule = hall.when(worker_id="wrk_flaky").probability(0.5, seed=7).respond("http-503")
    assert (rule.probability, rule.seed) == (0.5, 7)


def test_set_rules_replaces_and_reset_restores(hall: HallEmulator, http: Any) -> None:
    hall.set_rules([{"respond": "deny:scripted"}])
    assert http.post("/api/route", json=request()).json()["reason"] == "scripted"
    hall.set_rules([])
    assert http.post("/api/route", json=request()).json()["denied"] is False
    hall.set_default("http-500")
    hall.reset()
    assert (hall.rules, hall.default.spec) == ((), "allow")


def test_policy_behaviour_needs_policy_rules(hall: HallEmulator) -> None:
    with pytest.raises(ScriptError, match="needs policy rules"):
        hall.set_default("policy")
    with pytest.raises(ScriptError, match=r"rules\[0\]\.respond\[0\].*needs policy rules"):
        hall.set_rules([{"respond": "policy"}])
