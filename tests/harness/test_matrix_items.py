"""The matrix as pytest items (`pytest --hallsim-matrix PATHS`), driven with pytester: one item per workflow x
Hall behaviour, judged as `hallsim matrix` judges them, JUnit per row, xdist."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hallsim.harness.matrix import UNREACHABLE, matrix_behaviours, run_matrix

from .conftest import MAKE, PIPEDREAM

ROWS = len(matrix_behaviours()) + 1  # and the unreachable Hall


@pytest.fixture
def gates(pytester: pytest.Pytester) -> Path:
    """The Make fixtures and the Pipedream fixtures (workflows with the step files they name) in pytester's
    folder, with files that are not workflows beside them."""
    shutil.copytree(MAKE, pytester.path / "make")
    shutil.copytree(PIPEDREAM, pytester.path / "pipedream")
    (pytester.path / "make" / ".hallsim.yaml").write_text("settings: {}\n", encoding="utf-8")
    (pytester.path / "make" / "notes.md").write_text("not a workflow\n", encoding="utf-8")
    return pytester.path


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # in a process of its own: an in-process run re-imports modules (cryptography's among them) under a
    # second identity, which the emulator's TLS set-up cannot mix with the first
    return pytester.runpytest_subprocess(*args)


def _ids(output: str) -> list[str]:
    return [line for line in output.splitlines() if "::" in line]


def test_one_item_per_workflow_and_behaviour_only_with_the_option(
    pytester: pytest.Pytester, gates: Path
) -> None:
    result = _run(
        pytester, "--hallsim-matrix", "make", "pipedream/inline_option_a.yaml", "--collect-only", "-q"
    )
    ids = _ids(result.stdout.str())
    assert len(ids) == 4 * ROWS
    assert "make/gate_ignore.blueprint.json::allow" in ids
    assert "make/gate_ignore.blueprint.json::unreachable" in ids
    assert "pipedream/inline_option_a.yaml::deny:DENY_POLICY_GATE" in ids
    assert not any(".mjs" in i or ".hallsim.yaml" in i or "notes.md" in i for i in ids)
    # without --hallsim-matrix the same paths collect nothing
    plain = _run(pytester, "make", "--collect-only", "-q")
    assert _ids(plain.stdout.str()) == []


def test_rows_are_judged_as_hallsim_matrix_judges_them(pytester: pytest.Pytester, gates: Path) -> None:
    picked = ["allow", "deny:DENY_POLICY_GATE", "http-500", UNREACHABLE]
    result = _run(
        pytester,
        "--hallsim-matrix",
        "make/gate_ignore.blueprint.json",
        "--junitxml=report.xml",
        "-p",
        "no:cacheprovider",
    )
    # every row of the command's matrix, and the verdict each item got, agree
    report = run_matrix(MAKE / "gate_ignore.blueprint.json")
    failing = {r.behaviour for r in report.rows if r.verdict == "FAIL-OPEN"}
    assert failing, "gate_ignore fails open on some rows (the fixture's point)"
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == len(failing)
    assert outcomes.get("passed", 0) == ROWS - len(failing)
    cases = ET.parse(gates / "report.xml").getroot().iter("testcase")
    by_name = {case.get("name"): case for case in cases}
    assert len(by_name) == ROWS
    for name in picked:
        case = by_name[name]
        failure = case.find("failure")
        if name in failing:
            assert failure is not None
            # the message starts with the verdict, then its cause
            assert failure.get("message", "").startswith("FAIL-OPEN: the Router filter"), failure.get(
                "message"
            )
        else:
            assert failure is None, name
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props["behaviour"] == name
        assert props["row_verdict"] == next(r.verdict for r in report.rows if r.behaviour == name)


def test_a_broken_gate_fails_its_allow_row_with_broken(pytester: pytest.Pytester, gates: Path) -> None:
    # the route to the protected write compares text that never matches: it never runs, even on a good allow
    text = (MAKE / "gate_break.blueprint.json").read_text(encoding="utf-8")
    pad = "\n" + " " * 22
    allowed = f'"a": "{{{{2.denied}}}}",{pad}"b": "false",{pad}"o": "boolean:equal"'
    assert allowed in text, "the fixture's Allowed route compares {{2.denied}} with false"
    never = '"a": "{{2.denied}}", "b": "never", "o": "text:equal"'
    (gates / "make" / "never.blueprint.json").write_text(text.replace(allowed, never, 1), encoding="utf-8")
    result = _run(
        pytester,
        "--hallsim-matrix",
        "make/never.blueprint.json",
        "-k",
        "allow or unreachable",
        "-p",
        "no:cacheprovider",
    )
    out = result.stdout.str()
    assert "FAILED make/never.blueprint.json::allow" in out
    assert "\nbroken: " in out


def test_fail_on_chooses_which_verdicts_fail_a_row(pytester: pytest.Pytester, gates: Path) -> None:
    args = ("--hallsim-matrix", "make/gate_ignore.blueprint.json", "-k", "deny", "-p", "no:cacheprovider")
    _run(pytester, *args).assert_outcomes(failed=1)
    _run(pytester, *args, "--hallsim-fail-on", "broken,error").assert_outcomes(passed=1)
    bad = _run(pytester, *args, "--hallsim-fail-on", "open")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--hallsim-fail-on: open: expected a comma-separated list of fail-open*"])


def test_a_workflow_that_does_not_load_is_a_collection_error(pytester: pytest.Pytester, gates: Path) -> None:
    (gates / "make" / "bad.blueprint.json").write_text("{not json", encoding="utf-8")
    result = _run(pytester, "--hallsim-matrix", "make/bad.blueprint.json", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*bad.blueprint.json*"])
    assert "Traceback" not in result.stdout.str()


def test_xdist_spreads_the_rows(pytester: pytest.Pytester, gates: Path) -> None:
    names = ("gate_break.blueprint.json", "gate_rollback.blueprint.json")
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix", *(f"make/{n}" for n in names), "-n", "2", "-p", "no:cacheprovider"
    )
    assert f"2 workers [{2 * ROWS} items]" in result.stdout.str()
    # the same rows fail as in `hallsim matrix`, wherever xdist ran them
    failing = sum(r.verdict == "FAIL-OPEN" for n in names for r in run_matrix(MAKE / n).rows)
    assert failing
    result.assert_outcomes(passed=2 * ROWS - failing, failed=failing)


_COUNT_STARTED = """
import os
from hallsim.harness import matrix_items

def pytest_runtest_teardown(item):
    config = item.config
    if not getattr(config, "_counted", False):
        config._counted = True
        worker = getattr(config, "workerinput", {}).get("workerid", "main")
        with open(os.path.join(str(config.rootpath), "started.txt"), "a") as out:
            out.write(f"{worker} {matrix_items.rows_ahead(config).started}\\n")
"""


def _started_after_first_item(
    pytester: pytest.Pytester,
    *args: str,
    names: tuple[str, ...] = ("gate_break.blueprint.json", "gate_rollback.blueprint.json"),
    conftest: str = "",
) -> list[int]:
    (pytester.path / "started.txt").unlink(missing_ok=True)
    pytester.makeconftest(_COUNT_STARTED + conftest)
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix", *(f"make/{n}" for n in names), "-p", "no:cacheprovider", *args
    )
    failing = sum(r.verdict == "FAIL-OPEN" for n in names for r in run_matrix(MAKE / n).rows)
    result.assert_outcomes(passed=len(names) * ROWS - failing, failed=failing)
    lines = (pytester.path / "started.txt").read_text().split("\n")
    return sorted(int(line.split()[1]) for line in lines if line)


def test_one_process_starts_every_row_with_the_first_item(pytester: pytest.Pytester, gates: Path) -> None:
    # rows that wait hold a thread, not the process: all 44 are under way once the first item has run
    assert _started_after_first_item(pytester, "-p", "no:xdist") == [2 * ROWS]


def test_under_loadgroup_a_worker_starts_its_workflows_rows_together(
    pytester: pytest.Pytester, gates: Path
) -> None:
    # two workflows on two workers: a group each (GROUPS_PER_WORKER per worker, at most one per workflow), so
    # each worker gets a whole workflow and starts its rows at once
    assert _started_after_first_item(pytester, "-n", "2", "--dist", "loadgroup") == [ROWS, ROWS]


def test_under_loadgroup_several_workflows_share_a_group_and_start_together(
    pytester: pytest.Pytester, gates: Path
) -> None:
    # one group per worker: 3 workflows on 2 workers make groups of 2 and 1, and a worker starts all of its
    # group's rows with its first item, so no worker waits for one workflow's slowest row before the next
    started = _started_after_first_item(
        pytester,
        "-n",
        "2",
        "--dist",
        "loadgroup",
        names=("gate_break.blueprint.json", "gate_ignore.blueprint.json", "gate_rollback.blueprint.json"),
        conftest="matrix_items.GROUPS_PER_WORKER = 1\n",
    )
    assert started == [ROWS, 2 * ROWS]


_COUNT_ALL_STARTED = """
import os
from hallsim.harness import matrix_items

def pytest_sessionfinish(session):
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker is None:
        return  # the controller runs no rows
    with open(os.path.join(str(session.config.rootpath), "started.txt"), "a") as out:
        out.write(f"{worker} {matrix_items.rows_ahead(session.config).started}\\n")
"""


@pytest.mark.parametrize("dist", ["loadgroup", "loadfile", "load"])
def test_under_xdist_no_row_is_started_on_two_workers(
    pytester: pytest.Pytester, gates: Path, dist: str
) -> None:
    # pytest 9.2 node ids are structured and xdist 3.8's own loadgroup ignores xdist_group marks (every item
    # its own unit, pytest-dev/pytest-xdist#1386): a worker that started a whole workflow's rows then ran
    # rows xdist also sent elsewhere. Every row is started exactly once, on the worker that runs its item.
    pytester.makeconftest(_COUNT_ALL_STARTED)
    names = ("gate_break.blueprint.json", "gate_ignore.blueprint.json", "gate_rollback.blueprint.json")
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix", *(f"make/{n}" for n in names), "-p", "no:cacheprovider", "-n", "2", "--dist", dist
    )
    failing = sum(r.verdict == "FAIL-OPEN" for n in names for r in run_matrix(MAKE / n).rows)
    result.assert_outcomes(passed=len(names) * ROWS - failing, failed=failing)
    lines = (pytester.path / "started.txt").read_text().split("\n")
    started = {line.split()[0]: int(line.split()[1]) for line in lines if line}
    assert set(started) == {"gw0", "gw1"}
    assert sum(started.values()) == len(names) * ROWS


def test_under_load_each_item_runs_its_own_row(pytester: pytest.Pytester, gates: Path) -> None:
    # --dist load spreads one workflow's rows over workers: starting them ahead would run them twice
    assert _started_after_first_item(pytester, "-n", "2", "--dist", "load") == [1, 1]


def test_stopping_early_drops_the_rows_not_started(pytester: pytest.Pytester, gates: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix",
        "make/gate_ignore.blueprint.json",
        "-x",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1
    assert "Traceback" not in result.stdout.str()


def test_concurrency_out_of_range_is_a_usage_error(pytester: pytest.Pytester, gates: Path) -> None:
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix", "make/gate_break.blueprint.json", "--hallsim-concurrency", "0", "-p", "no:xdist"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hallsim-concurrency: 0; expected a number from 1 to 64*"])


_NOTE_FINISHED = """
import os
from hallsim.harness import matrix

_run_row = matrix._run_row

def _noted(job, behaviour, *args, **kwargs):
    done = _run_row(job, behaviour, *args, **kwargs)
    with open(os.path.join(os.path.dirname(__file__), "finished.txt"), "a") as out:
        out.write(behaviour + "\\n")
    return done

matrix._run_row = _noted
"""


def test_a_make_row_that_waits_sleeps_beside_the_rows_that_work(
    pytester: pytest.Pytester, gates: Path
) -> None:
    # one place for the rows that work; gate_ignore's module waits 10 modelled seconds, 1 s at this scale:
    # the two rows that wait (collected 13th and 14th) finish after every other row (matrix.sleeps)
    pytester.makeconftest(_NOTE_FINISHED)
    result = pytester.runpytest_subprocess(
        "--hallsim-matrix",
        "make/gate_ignore.blueprint.json",
        "--hallsim-concurrency",
        "1",
        "--hallsim-time-scale",
        "0.1",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
    )
    assert result.parseoutcomes()["passed"] > 0
    finished = (pytester.path / "finished.txt").read_text().splitlines()
    assert len(finished) == ROWS
    assert sorted(finished[-2:]) == ["slow:15", "timeout"]
