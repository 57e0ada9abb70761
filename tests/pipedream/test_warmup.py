"""The Node host started early (pipedream/_warmup.py): the run uses the host the warm-up started, a warm-up
that fails changes nothing a run reports, and the package's parts import without the rest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.node import find_node
from hallsim.harness.pipedream import close_hosts, host_for, load_workflow
from hallsim.harness.pipedream._warmup import warm_host_in_background

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "pipedream" / "inline_option_a.yaml"


@pytest.fixture
def no_hosts() -> None:
    close_hosts()  # this test starts its own; those of earlier tests do not count


@pytest.mark.usefixtures("no_hosts")
def test_the_run_uses_the_host_the_warm_up_started(hall: HallEmulator) -> None:
    warm_host_in_background().join(60)
    host = host_for(find_node())
    started = host.pid
    assert started is not None  # the warm-up started the process (the run has not asked yet)
    run = load_workflow(FIXTURE).run(HallEndpoint(hall.url, "t", hall), settings={"time_scale": 0.01})
    assert run.outcome == "completed"
    assert host.pid == started  # no second host was started for the run


@pytest.mark.usefixtures("no_hosts")
def test_a_failing_warm_up_is_dropped_and_the_run_reports_its_own_error(
    hall: HallEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-node-here"
    monkeypatch.setenv("HALLSIM_NODE", str(missing))
    warm_host_in_background().join(60)  # raises nothing, prints nothing
    from hallsim.harness.node import NodeNotFoundError

    with pytest.raises(NodeNotFoundError, match="no-node-here"):
        load_workflow(FIXTURE).run(HallEndpoint(hall.url, "t", hall))


def test_the_node_host_imports_without_the_workflow_models() -> None:
    # what lets the warm-up overlap the workflow's loading: _host does not pull in pydantic or httpx
    heavy = ("pydantic", "httpx", "hallsim.harness.pipedream._model")
    code = (
        f"import sys, hallsim.harness.pipedream._host; print(sorted(m for m in {heavy} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_package_names_resolve_lazily_and_unknown_ones_fail() -> None:
    import hallsim.harness.pipedream as package

    assert package.load_workflow is load_workflow
    assert "PipedreamRun" in dir(package)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = package.nope  # type: ignore[attr-defined]
