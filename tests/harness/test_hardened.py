"""fixtures/hardened/: the guides' gates, fixed; each passes the whole matrix, while the documented ones still
fail as the guides have them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hallsim.harness.matrix import EmulatorPool, MatrixJob, run_matrices
from hallsim.harness.workflow import load_workflow

from .conftest import ROOT

HARDENED = sorted((ROOT / "fixtures" / "hardened").rglob("*.yaml")) + sorted(
    (ROOT / "fixtures" / "hardened").rglob("*.json")
)
DOCUMENTED = sorted((ROOT / "fixtures" / "pipedream").glob("*.yaml")) + sorted(
    (ROOT / "fixtures" / "make").glob("*.json")
)

#: wider than the default 0.01 so a busy CI machine does not turn a good answer into a timeout
TIME_SCALE = 0.05


@pytest.fixture(scope="module")
def pool() -> EmulatorPool:
    with EmulatorPool(4) as emulators:
        yield emulators


def test_there_is_a_hardened_gate_for_each_documented_one() -> None:
    assert [p.name for p in HARDENED] == [
        "component.yaml",
        "inline_filter.yaml",
        "inline_option_a.yaml",
        "gate_break.blueprint.json",
        "gate_ignore.blueprint.json",
        "gate_rollback.blueprint.json",
    ]
    assert sorted(p.name for p in HARDENED) == sorted(p.name for p in DOCUMENTED)


@pytest.mark.parametrize("settings", [{}, {"filter_kind": "registry"}], ids=["default", "registry-filter"])
def test_every_hardened_gate_passes_the_whole_matrix(pool: EmulatorPool, settings: dict[str, str]) -> None:
    paths: list[Path] = HARDENED if not settings else [p for p in HARDENED if p.name == "inline_filter.yaml"]
    jobs = [MatrixJob(load_workflow(p), settings=settings or None) for p in paths]
    reports = run_matrices(jobs, pool=pool, time_scale=TIME_SCALE)
    for report in reports:
        assert report.verdict == "fail-closed", report.to_markdown()
        assert [r.behaviour for r in report.rows if r.verdict == "ran on allow"] == ["allow"]


def test_the_documented_gates_still_fail_as_documented(pool: EmulatorPool) -> None:
    reports = run_matrices(
        [MatrixJob(load_workflow(p)) for p in DOCUMENTED], pool=pool, time_scale=TIME_SCALE
    )
    verdicts = {r.workflow.name: r.verdict for r in reports}
    assert verdicts == {
        "component.yaml": "broken",
        "inline_filter.yaml": "fail-closed",
        "inline_option_a.yaml": "fail-open",
        "gate_break.blueprint.json": "fail-open",
        "gate_ignore.blueprint.json": "fail-open",
        "gate_rollback.blueprint.json": "fail-open",
    }
