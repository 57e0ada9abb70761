"""Generated trigger events: reproducible from a seed, with the edge cases a gate must survive."""

from __future__ import annotations

from hallsim.harness.events import DATA_LABELS, EDGE_CASES, generate_cases, generate_events


def test_same_seed_same_events_other_seed_other_events() -> None:
    assert generate_events(12, 7) == generate_events(12, 7)
    assert generate_events(12, 7) != generate_events(12, 8)


def test_normal_events_carry_what_the_gates_read() -> None:
    normal = [c.event for c in generate_cases(30, 1, platform="make") if c.case == "normal"]
    assert len(normal) == 20
    for event in normal:
        assert event["worker_id"].startswith("wrk_make_")
        assert event["data_label"] in DATA_LABELS
        assert event["tenant_id"].startswith("org.")


def test_every_edge_case_appears_in_a_long_enough_run() -> None:
    cases = generate_cases(3 * len(EDGE_CASES), 2)
    assert {c.case for c in cases} == {"normal", *EDGE_CASES}
    by_case = {c.case: c.event for c in cases}
    assert "worker_id" not in by_case["missing worker_id"]
    assert by_case["empty data_label"]["data_label"] == ""
    assert by_case["null worker_id"]["worker_id"] is None
    assert any(ord(ch) > 127 for ch in by_case["unicode worker_id"]["worker_id"])
    assert '"' in by_case["quote in worker_id"]["worker_id"]
    assert by_case["empty event"] == {}
