"""The Node host started early (pipedream/_warmup.py): the run uses the host the warm-up started, a warm-up
that fails changes nothing a run reports, and the package's parts import without the rest."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.node import find_node
from hallsim.harness.pipedream import NodeHost, close_hosts, host_for, load_workflow
from hallsim.harness.pipedream._host import last_runs
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


def _workers_once_quiet(host: NodeHost) -> dict[str, int]:
    """The host's workers once none is starting (a spare takes a fraction of a second) and every one is idle
    (a worker checks that it stayed clean after its run before it is idle again)."""
    deadline = time.monotonic() + 30
    while True:
        workers: dict[str, int] = host.request("ping", wall_timeout=30)["workers"]
        quiet = workers["starting"] == 0 and workers["idle"] == workers["all"]
        if quiet or time.monotonic() > deadline:
            return workers
        time.sleep(0.02)


@pytest.mark.usefixtures("no_hosts")
def test_a_last_run_leaves_no_spare_worker_and_the_next_run_asks_for_one_again(hall: HallEmulator) -> None:
    workflow = load_workflow(FIXTURE)
    endpoint = HallEndpoint(hall.url, "t", hall)
    host = host_for(find_node())
    host.request("ping", wall_timeout=30)
    assert _workers_once_quiet(host)["all"] == 1  # the host starts one worker before any run asks
    with last_runs():  # as `hallsim replay` runs its one run
        assert workflow.run(endpoint, settings={"time_scale": 0.01}).outcome == "completed"
    assert _workers_once_quiet(host) == {"idle": 1, "starting": 0, "all": 1}  # the used one, no spare
    assert workflow.run(endpoint, settings={"time_scale": 0.01}).outcome == "completed"
    assert _workers_once_quiet(host)["all"] == 2  # outside last_runs() a spare is kept warm again


@pytest.mark.usefixtures("no_hosts")
def test_a_matrix_warm_up_starts_as_many_workers_as_rows_go_side_by_side(hall: HallEmulator) -> None:
    warm_host_in_background(workers=3).join(60)  # as `hallsim matrix --concurrency 3` does
    host = host_for(find_node())
    assert _workers_once_quiet(host) == {"idle": 3, "starting": 0, "all": 3}
    # three runs take those three: none is ended, and a fourth (the host's usual spare) starts only if all
    # three were in use at once (a run that comes as another has just finished reuses that one)
    endpoint = HallEndpoint(hall.url, "t", hall)
    workflow = load_workflow(FIXTURE)
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(workflow.run(endpoint).outcome)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes == ["completed"] * 3
    assert _workers_once_quiet(host)["all"] in (3, 4)


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
    with pytest.raises(AttributeError, match="nope"):
        _ = package.nope  # type: ignore[attr-defined]


def test_a_pipedream_run_does_not_import_httpx() -> None:
    # httpx (with httpcore, h11) is the Make modules' client; the egress rule both platforms share is apart
    code = "import sys, hallsim.harness.pipedream._workflow; print('httpx' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
