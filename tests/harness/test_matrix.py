"""The fail-closed matrix: verdicts judged from what the Hall delivered, over the real engines."""

from __future__ import annotations

import pytest

from hallsim.harness import InputError
from hallsim.harness.matrix import (
    BLOCKED_ON_ALLOW,
    FAIL_CLOSED,
    FAIL_OPEN,
    RAN_ON_ALLOW,
    UNREACHABLE,
    EmulatorPool,
    judge,
    run_matrix,
)

from .conftest import GATE_IGNORE, OPTION_A, PIPEDREAM


@pytest.fixture(scope="module")
def pool() -> EmulatorPool:
    with EmulatorPool(2) as emulators:
        yield emulators


@pytest.mark.parametrize(
    ("ran", "allowed", "verdict"),
    [
        (True, True, RAN_ON_ALLOW),
        (True, False, FAIL_OPEN),
        (False, True, BLOCKED_ON_ALLOW),
        (False, False, FAIL_CLOSED),
    ],
)
def test_the_rule(ran: bool, allowed: bool, verdict: str) -> None:
    # verdict.py: the protected action may run only after a well-formed allow
    assert judge(ran, allowed) == verdict


def test_an_allow_somewhere_in_the_row_does_not_cover_an_execution_that_followed_no_allow() -> None:
    assert judge(True, True, ran_unallowed=True) == FAIL_OPEN
    assert judge(True, True, ran_unallowed=False) == RAN_ON_ALLOW


def test_option_a_rows_and_the_unreachable_row(pool: EmulatorPool) -> None:
    report = run_matrix(
        OPTION_A, behaviours=["allow", "deny", "missing-denied", "reset", UNREACHABLE], pool=pool
    )
    rows = {row.behaviour: row for row in report.rows}
    assert list(rows) == ["allow", "deny", "missing-denied", "reset", UNREACHABLE]
    assert (rows["allow"].verdict, rows["allow"].protected_ran, rows["allow"].expected_protected) == (
        RAN_ON_ALLOW,
        True,
        True,
    )
    assert rows["deny"].verdict == FAIL_CLOSED
    assert rows["deny"].outcome == "exited"
    assert rows["missing-denied"].verdict == FAIL_OPEN
    assert rows["missing-denied"].fail_open
    assert rows["reset"].hall_did.startswith("reset the connection")
    unreachable = rows[UNREACHABLE]
    assert unreachable.hall_calls == 0
    assert "connection refused" in unreachable.hall_did
    assert unreachable.outcome == "errored"
    assert unreachable.verdict == FAIL_CLOSED
    assert report.fail_open
    assert report.protected == ("write_record",)


def test_verdict_comes_from_what_was_delivered_not_the_name(pool: EmulatorPool) -> None:
    # `slow:40` ends in an allow, but Make's 10 s module timeout gives up first: no allow reached the gate
    report = run_matrix(GATE_IGNORE, behaviours=["slow:40", "denied-as-string:false"], pool=pool)
    slow, as_string = report.rows[0], report.rows[1]
    assert not slow.expected_protected
    assert not slow.protected_ran
    assert slow.verdict == FAIL_CLOSED
    assert "client gave up" in slow.hall_did
    # a 200 whose denied is the string "false" is not a well-formed allow, and the blueprint runs the write
    assert as_string.verdict == FAIL_OPEN


def test_blocked_on_a_good_allow_is_told_apart(pool: EmulatorPool) -> None:
    report = run_matrix(
        GATE_IGNORE,
        behaviours=["allow"],
        settings={"make.filter.boolean_coercion": "strict"},
        pool=pool,
    )
    assert report.rows[0].verdict == BLOCKED_ON_ALLOW
    assert not report.fail_open
    # a gate that blocks a good allow would stop production on its first run: broken, never green
    assert report.verdict == "broken"
    assert report.rows[0].cause is not None
    assert report.rows[0].cause.expression == "{{2.denied}}"
    assert report.chosen == {"make.filter.boolean_coercion": "strict"}
    assert "with make.filter.boolean_coercion=strict" in report.summary()
    # the UNCONFIRMED platform choices the verdicts rest on are shown with the values used (house rule)
    assert report.to_json()["unconfirmed_settings"]["make.filter.boolean_coercion"] == "strict"
    assert (
        "make.filter.boolean_coercion=strict, make.router.fallback_marker=flag" in report.unconfirmed_line()
    )


def test_protected_override_reads_the_named_step(pool: EmulatorPool) -> None:
    # the audit step runs only when the write does, so naming it gives the same verdicts
    report = run_matrix(OPTION_A, protected=["audit_log"], behaviours=["allow", "deny"], pool=pool)
    assert [r.verdict for r in report.rows] == [RAN_ON_ALLOW, FAIL_CLOSED]
    assert report.protected == ("audit_log",)
    with pytest.raises(
        InputError, match=r"--protected nope: not in this workflow; its step names are pyhall_gate"
    ):
        run_matrix(OPTION_A, protected=["nope"], behaviours=["allow"], pool=pool)


def test_a_misspelt_protected_name_is_refused_before_any_row_runs(pool: EmulatorPool) -> None:
    rows_run: list[object] = []
    with pytest.raises(InputError, match=r"--protected 99: not in this workflow; its module ids are 1, 2, 3"):
        run_matrix(
            GATE_IGNORE,
            protected=["99"],
            pool=pool,
            on_row=lambda *row: rows_run.append(row),
        )
    assert rows_run == []


def test_a_workflow_without_a_protected_action_is_refused(pool: EmulatorPool) -> None:
    with pytest.raises(InputError, match="no protected action"):
        run_matrix(PIPEDREAM / "pyhall_gate.mjs", behaviours=["allow"], pool=pool)


def test_json_and_markdown(pool: EmulatorPool) -> None:
    report = run_matrix(OPTION_A, behaviours=["missing-denied"], pool=pool)
    data = report.to_json()
    assert data["fail_open"] is True
    row = data["rows"][0]
    for key in (
        "behaviour",
        "outcome",
        "protected_ran",
        "expected_protected",
        "fail_open",
        "verdict",
        "hall_did",
    ):
        assert key in row
    assert data["settings"]["time_scale"] == pytest.approx(0.01)
    markdown = report.to_markdown()
    assert (
        "| `missing-denied` | answered 200 without a `denied` field | completed | yes | no | **FAIL-OPEN** |"
        in markdown
    )
    # the verdict first, then the table, then why and what to change
    assert markdown.splitlines()[2].endswith("inline_option_a.yaml: FAILS OPEN (1 FAIL-OPEN)")
    assert "Why, and what to change:" in markdown
    assert data["causes"][0]["expression"] == "steps.pyhall_gate.denied"


def test_a_gate_that_never_reaches_the_hall_is_called_out(pool: EmulatorPool) -> None:
    # the published component sees no environment variables by default (docs/matrix.md): fail-closed by the
    # rule on every row, but no row exercised the gate, and the summary says so
    report = run_matrix(PIPEDREAM / "component.yaml", behaviours=["allow", UNREACHABLE], pool=pool)
    assert [r.verdict for r in report.rows] == [FAIL_CLOSED, FAIL_CLOSED]
    # fail-closed by the rule, but broken: a gate that never reaches the Hall never runs the write
    assert report.verdict == "broken"
    assert report.summary().endswith(
        "IS BROKEN (2 fail-closed): the gate never called the Hall on the allow row"
    )
    cause = report.rows[0].cause
    assert cause is not None
    assert cause.expression == "process.env"
    assert "published action" in cause.what
    reached = run_matrix(OPTION_A, behaviours=["allow"], pool=pool)
    assert reached.verdict == "fail-closed"
    assert "never called" not in reached.summary()
