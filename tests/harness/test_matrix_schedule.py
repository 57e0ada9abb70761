"""How the matrix spreads its rows: a Make row that only waits for the Hall runs beside the rows that work,
instead of holding one of their places (harness/matrix.py), and the emulators grow with them."""

from __future__ import annotations

import threading
from pathlib import Path

from hallsim.emulator import HallEmulator
from hallsim.harness.matrix import EmulatorPool, MatrixRow, run_matrix

from .conftest import GATE_IGNORE, OPTION_A

#: gate_ignore's HTTP module waits 10 modelled seconds for an answer: 1 s of wall time at this scale, long
#: beside the milliseconds of a row that works
SCALE = 0.1


def _finishing_order(path: Path, behaviours: list[str]) -> list[str]:
    finished: list[str] = []

    def note(_: Path, row: MatrixRow) -> None:
        finished.append(row.behaviour)

    report = run_matrix(path, behaviours=behaviours, concurrency=1, time_scale=SCALE, on_row=note)
    assert [row.behaviour for row in report.rows] == behaviours  # the report keeps the order asked for
    return finished


def test_a_make_row_that_waits_does_not_hold_the_place_of_the_rows_that_work() -> None:
    # one place for the rows that work: the timeout row (asked for first) sleeps beside them
    finished = _finishing_order(GATE_IGNORE, ["timeout", "allow", "deny", "http-500"])
    assert finished[-1] == "timeout"
    assert sorted(finished[:-1]) == ["allow", "deny", "http-500"]


def test_a_pipedream_row_that_waits_keeps_its_place_and_goes_first() -> None:
    # it waits inside a Node worker, and another worker costs about 0.2 s of CPU to start: it keeps its
    # place among the rows that work, and starts before them (the longest first)
    finished = _finishing_order(OPTION_A, ["allow", "slow:2"])
    assert finished == ["slow:2", "allow"]


def test_an_emulator_pool_starts_one_more_when_all_are_leased() -> None:
    leased: list[HallEmulator] = []
    with EmulatorPool(1) as pool:
        with pool.lease() as first:
            # on a thread: a pool that waited for its one emulator instead would never give a second
            def second_lease() -> None:
                with pool.lease() as second:
                    leased.append(second)

            thread = threading.Thread(target=second_lease, daemon=True)
            thread.start()
            thread.join(timeout=30)
            assert leased, "the second lease waited for the first one to end"
            (second,) = leased
            assert first is not second
            assert first.running
            assert second.running
        with pool.lease() as again:
            assert again in (first, second)  # kept for the next rows
        assert pool.size == 1  # the rows it was made for
    assert not first.running
    assert not second.running
