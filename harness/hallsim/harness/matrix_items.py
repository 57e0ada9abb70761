"""The fail-closed matrix as pytest items: `pytest --hallsim-matrix fixtures/` collects one item per
workflow x Hall behaviour (and the unreachable Hall), so pytest-xdist spreads the rows over cores and CI
shards them over machines with the usual tools, with one JUnit test case per row.

Each item runs its row with `matrix.run_matrices` (the same run, journal reading and row verdict as `hallsim
matrix`), and judges it as `hallsim matrix` judges a gate, over that one row (`MatrixReport.verdict`):
fail-open, error or broken fail the item (those `--hallsim-fail-on` names; default all three), fail-closed
passes. A failing item's message starts with the row's verdict and its cause.

Which files are workflows (with `--hallsim-matrix` only): `*.yaml`, `*.yml` and `*.json` files other than
scenarios and dot-files; a Pipedream GitHub-Sync folder's `workflow.yaml` stands for its folder. `.mjs` and
`.js` files are steps that workflows name, not collected. A file that does not load is a collection error
naming the file and the field (pytest exits 2).

Rows run ahead of their items (`RowsAhead`), `--hallsim-concurrency` of them side by side in each pytest
process, so a row that waits (a timeout, a slow answer) holds a thread, not the process (a Make row that waits
sleeps on a thread of its own, beside those `--hallsim-concurrency`: matrix.sleeps; a batch starts in
matrix.start_order): without xdist, every selected row is started when the first one runs; under xdist with
`--dist loadgroup`, the workflows are dealt into `GROUPS_PER_WORKER` groups per worker (`deal_groups`;
hallsim's own scheduler, `matrix_xdist.py`, sends each group to one worker) and a group's rows start together
when its first item runs; with `loadfile` or `loadscope` (each workflow's rows go to one worker) a workflow's
rows start together; with `--dist load` (rows of one workflow spread over workers) each item runs its own row
when it runs. An item's reported duration is then the time it waited for its row; the row's own wall time is
the JUnit property `row_wall_ms`."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hallsim.harness.matrix import EmulatorPool, MatrixJob, MatrixReport
    from hallsim.harness.verdict import GateVerdict

#: keep in step with pytest_plugin._SUFFIXES (scenario files are never workflows)
_SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml")
_WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")

_ahead_key = pytest.StashKey["RowsAhead"]()
#: how many rows each pytest process runs side by side unless --hallsim-concurrency says otherwise
DEFAULT_CONCURRENCY = 4
#: xdist distribution modes that send all of one workflow's items to the same worker
_GROUPING_MODES = ("loadfile", "loadscope", "loadgroup")
_DIST_KEY = "hallsim_dist"
#: under --dist loadgroup: how many groups of workflows per xdist worker. A worker runs a group's rows side by
#: side; with one workflow per group it would wait at the end of each for that workflow's slowest row (a
#: timeout, a slow answer) with its other threads idle. Several groups per worker still let xdist even out
#: the load, since a worker that finishes early takes the next group.
GROUPS_PER_WORKER = 8


def matrix_file_part(nodeid: str) -> str | None:
    """The workflow part of a matrix item's node id (`gates/a.json::http-500` -> `gates/a.json`), None for
    any other node id. Only --hallsim-matrix collects workflow files (workflow_path's rule, by name)."""
    file_part, sep, _ = nodeid.partition("::")
    if not sep:
        return None
    return file_part if _workflow_name(file_part.rsplit("/", 1)[-1]) else None


def deal_groups(nodeids: Sequence[str], workers: int) -> dict[str, str]:
    """Workflow (node id's file part) -> its group under --dist loadgroup: the workflows in collection order,
    in runs of ceil(n / (workers x GROUPS_PER_WORKER)). The xdist controller (from the node ids the workers
    report) and every worker (from its own items, the same list: xdist checks that) work it out alike."""
    workflows = list(dict.fromkeys(part for part in map(matrix_file_part, nodeids) if part is not None))
    groups = max(1, workers) * GROUPS_PER_WORKER
    per_group = max(1, -(-len(workflows) // groups))
    return {workflow: f"hallsim-matrix-{n // per_group + 1}" for n, workflow in enumerate(workflows)}


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption(
        "--hallsim-matrix",
        action="store_true",
        default=False,
        help="collect the workflows and blueprints among the paths as fail-closed matrix rows, one test per "
        "workflow x Hall behaviour (and the unreachable Hall)",
    )
    group.addoption(
        "--hallsim-fail-on",
        default="all",
        metavar="VERDICTS",
        help="with --hallsim-matrix: which verdicts fail a row: a comma-separated list of fail-open, error, "
        "broken (or all, none; default all)",
    )
    group.addoption(
        "--hallsim-time-scale",
        type=float,
        default=None,
        metavar="F",
        help="with --hallsim-matrix: scale of the modelled waits (default that of hallsim matrix)",
    )
    group.addoption(
        "--hallsim-concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"with --hallsim-matrix: rows run side by side in each pytest process or xdist worker (default "
        f"{DEFAULT_CONCURRENCY}; a row that waits holds a thread, not a core)",
    )


def _workflow_name(name: str) -> bool:
    """A file name --hallsim-matrix collects: YAML or JSON, not a scenario, not a dot-file."""
    return name.endswith(_WORKFLOW_SUFFIXES) and not name.endswith(_SCENARIO_SUFFIXES) and name[:1] != "."


def workflow_path(file_path: Path) -> Path | None:
    """The workflow a collected file stands for, or None when it is not one."""
    name = file_path.name
    if not _workflow_name(name):
        return None
    if name == "workflow.yaml":
        from hallsim.harness.pipedream import sync_workflows

        if sync_workflows(file_path.parent) == [file_path.parent]:
            return file_path.parent
    return file_path


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("--hallsim-matrix"):
        return None
    workflow = workflow_path(file_path)
    if workflow is None:
        return None
    return MatrixFile.from_parent(parent, path=file_path, workflow=workflow)


def fail_on(config: pytest.Config) -> tuple[GateVerdict, ...]:
    from hallsim.harness.verdict import parse_fail_on

    try:
        return parse_fail_on(str(config.getoption("--hallsim-fail-on")))
    except ValueError as err:
        raise pytest.UsageError(f"--hallsim-fail-on: {err}") from None


def configure(config: pytest.Config) -> None:
    """A misspelt --hallsim-fail-on is a usage error before anything is collected."""
    if config.getoption("--hallsim-matrix", False):
        fail_on(config)
        _concurrency(config)
        if config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput"):
            config.pluginmanager.register(_DistToWorkers(config), "hallsim-matrix-dist")


def _concurrency(config: pytest.Config) -> int:
    given = config.getoption("--hallsim-concurrency", DEFAULT_CONCURRENCY)
    value = DEFAULT_CONCURRENCY if given is None else int(given)
    if not 1 <= value <= 64:
        raise pytest.UsageError(f"--hallsim-concurrency: {value}; expected a number from 1 to 64")
    return value


def _dist_mode(config: pytest.Config) -> str:
    """pytest-xdist's --dist in an xdist worker (xdist sets the worker's own to "no"; the controller hands
    the real one over in `workerinput`, see _DistToWorkers); "no" in a process that runs its items itself."""
    workerinput = getattr(config, "workerinput", None)  # set by xdist on its workers' configs
    if workerinput is None:
        return "no"
    return str(workerinput.get(_DIST_KEY, "load"))


class _DistToWorkers:
    """On the xdist controller: tells each worker which --dist it runs under (pytest-xdist's
    `pytest_configure_node` hook, whose `node.workerinput` reaches the worker as `config.workerinput`), and
    makes the scheduler for --dist loadgroup."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[_DIST_KEY] = str(self.config.getoption("dist", "load"))

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """--dist loadgroup sends each group of `deal_groups` whole to one worker (matrix_xdist.py)."""
        if config.getoption("dist", "load") != "loadgroup":
            return None
        from hallsim.harness.matrix_xdist import MatrixGroupScheduling

        return MatrixGroupScheduling(config, log)


class RowsAhead:
    """The session's matrix rows, started before their items ask, `concurrency` at a time on as many
    emulators (one pool per pytest process or xdist worker)."""

    def __init__(self, config: pytest.Config) -> None:

        self._config = config
        self.concurrency = _concurrency(config)
        self.mode = _dist_mode(config)
        self._pool: EmulatorPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._sleepers: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[MatrixReport]] = {}
        self._lock = threading.Lock()
        self._groups: dict[str, str] | None = None  # --dist loadgroup: deal_groups over this session's items

    @property
    def started(self) -> int:
        """How many rows have been started (run, running or waiting for a thread)."""
        return len(self._futures)

    def report(self, item: MatrixItem) -> MatrixReport:
        """The row's report: started now with the batch it belongs to unless it was started already."""
        from hallsim.harness.matrix import start_order

        with self._lock:
            future = self._futures.get(item.nodeid)
            if future is None:
                for each in sorted(self._batch(item), key=lambda each: start_order(each.job, each.behaviour)):
                    self._futures[each.nodeid] = self._submit(each)
                future = self._futures[item.nodeid]
        return future.result()

    def _batch(self, item: MatrixItem) -> Sequence[MatrixItem]:
        """The items to start with this one: every selected row not started yet (one process runs them
        all), that workflow's rows (a grouping xdist mode sends them all here), or the item alone."""
        if self.mode not in ("no", *_GROUPING_MODES):
            return [item]
        waiting = [
            each
            for each in item.session.items
            if isinstance(each, MatrixItem) and each.nodeid not in self._futures
        ]
        if self.mode == "loadgroup":
            groups = self._dealt(item)
            group = groups.get(matrix_file_part(item.nodeid) or "")
            waiting = [each for each in waiting if groups.get(matrix_file_part(each.nodeid) or "") == group]
        elif self.mode != "no":
            waiting = [each for each in waiting if each.job is item.job]
        return waiting if item in waiting else [item, *waiting]

    def _dealt(self, item: MatrixItem) -> dict[str, str]:
        if self._groups is None:
            workers = int(getattr(self._config, "workerinput", {}).get("workercount", 1))
            self._groups = deal_groups([each.nodeid for each in item.session.items], workers)
        return self._groups

    def _submit(self, item: MatrixItem) -> Future[MatrixReport]:
        from hallsim.harness.matrix import EmulatorPool, run_matrices, sleeps
        from hallsim.harness.record import DEFAULT_TIME_SCALE

        if self._pool is None or self._executor is None or self._sleepers is None:
            self._pool = EmulatorPool(self.concurrency)
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="hallsim-matrix-row")
            # rows that only wait, beside those that work (matrix.sleeps)
            self._sleepers = ThreadPoolExecutor(self.concurrency, thread_name_prefix="hallsim-matrix-wait")
        scale = self._config.getoption("--hallsim-time-scale")
        pool = self._pool
        executor = self._sleepers if sleeps(item.job, item.behaviour) else self._executor

        def run() -> MatrixReport:
            (report,) = run_matrices(
                [item.job],
                behaviours=[item.behaviour],
                time_scale=DEFAULT_TIME_SCALE if scale is None else float(scale),
                pool=pool,
            )
            return report

        return executor.submit(run)

    def close(self) -> None:
        """Rows not started yet are dropped (pytest stopped early: -x, Ctrl-C); running ones finish."""
        for executor in (self._executor, self._sleepers):
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        if self._pool is not None:
            self._pool.close()


def rows_ahead(config: pytest.Config) -> RowsAhead:
    ahead = config.stash.get(_ahead_key, None)
    if ahead is None:
        ahead = config.stash[_ahead_key] = RowsAhead(config)
    return ahead


def close_pool(config: pytest.Config) -> None:
    ahead = config.stash.get(_ahead_key, None)
    if ahead is not None:
        ahead.close()
        del config.stash[_ahead_key]


class MatrixFile(pytest.File):
    def __init__(self, *, workflow: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workflow = workflow

    def collect(self) -> Iterator[pytest.Item]:
        from hallsim.harness._errors import HarnessError
        from hallsim.harness.matrix import UNREACHABLE, MatrixJob, behaviour_label, matrix_behaviours
        from hallsim.harness.workflow import load_workflow

        try:
            job = MatrixJob(load_workflow(self.workflow))
        except HarnessError as err:
            raise self.CollectError(str(err)) from None
        if not job.workflow.protected:
            raise self.CollectError(
                f"{self.workflow}: no protected action: mark the step or module the gate guards as protected "
                "in the workflow (--hallsim-matrix reads it from there)"
            )
        for behaviour in (*matrix_behaviours(), UNREACHABLE):
            yield MatrixItem.from_parent(self, name=behaviour_label(behaviour), job=job, behaviour=behaviour)


class RowFailure(Exception):
    """A matrix row whose verdict is among those --hallsim-fail-on names."""


class MatrixItem(pytest.Item):
    def __init__(self, *, job: MatrixJob, behaviour: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.behaviour = behaviour
        self.report: MatrixReport | None = None

    def runtest(self) -> None:
        report = rows_ahead(self.config).report(self)
        self.report = report
        (row,) = report.rows
        self.user_properties += [
            ("workflow", str(self.job.workflow.path)),
            ("behaviour", self.behaviour),
            ("row_verdict", row.verdict),
            ("gate_verdict", report.verdict),
            ("row_wall_ms", row.wall_ms),
        ]
        if report.verdict in fail_on(self.config):
            raise RowFailure(failure_message(report))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        if isinstance(excinfo.value, RowFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"matrix row: {self.behaviour}"


def failure_message(report: MatrixReport) -> str:
    """The verdict and its cause first, then the row's details (what the Hall did, the outcome, the error)."""
    (row,) = report.rows
    gate = report.verdict
    if gate == "fail-open":
        head = f"{row.verdict}: " + (row.cause.line() if row.cause is not None else "; ".join(row.unallowed))
    elif gate == "error":
        head = f"error: {row.error or 'hallsim could not run this row'}"
    else:
        head = f"broken: {report.broken}"
        if row.cause is not None:
            head += f": {row.cause.line()}"
    lines = [
        head,
        f"workflow: {report.workflow} ({report.platform}), protected: {', '.join(report.protected)}",
        f"Hall behaviour: {row.behaviour}",
        f"row verdict: {row.verdict}; outcome: {row.outcome}; protected ran: {row.protected_ran}; "
        f"allowed: {row.expected_protected}; Hall calls: {row.hall_calls}",
        f"details: {row.details('; ')}",
    ]
    if report.chosen or report.unconfirmed:
        lines.append(report.unconfirmed_line())
    return "\n".join(lines)
