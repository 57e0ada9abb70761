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
naming the file and the field (pytest exits 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hallsim.harness.matrix import EmulatorPool, MatrixJob, MatrixReport
    from hallsim.harness.verdict import GateVerdict

#: keep in step with pytest_plugin._SUFFIXES (scenario files are never workflows)
_SCENARIO_SUFFIXES = (".scenario.yaml", ".scenario.yml")
_WORKFLOW_SUFFIXES = (".yaml", ".yml", ".json")

_pool_key = pytest.StashKey["EmulatorPool"]()


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


def workflow_path(file_path: Path) -> Path | None:
    """The workflow a collected file stands for, or None when it is not one."""
    name = file_path.name
    if name.startswith(".") or name.endswith(_SCENARIO_SUFFIXES) or not name.endswith(_WORKFLOW_SUFFIXES):
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


def session_pool(config: pytest.Config) -> EmulatorPool:
    """The session's emulator for matrix rows (one per xdist worker), started on first use."""
    pool = config.stash.get(_pool_key, None)
    if pool is None:
        from hallsim.harness.matrix import EmulatorPool

        pool = EmulatorPool(1)
        config.stash[_pool_key] = pool
    return pool


def close_pool(config: pytest.Config) -> None:
    pool = config.stash.get(_pool_key, None)
    if pool is not None:
        pool.close()
        del config.stash[_pool_key]


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
        from hallsim.harness.matrix import run_matrices
        from hallsim.harness.record import DEFAULT_TIME_SCALE

        scale = self.config.getoption("--hallsim-time-scale")
        (report,) = run_matrices(
            [self.job],
            behaviours=[self.behaviour],
            time_scale=DEFAULT_TIME_SCALE if scale is None else float(scale),
            pool=session_pool(self.config),
        )
        self.report = report
        (row,) = report.rows
        self.user_properties += [
            ("workflow", str(self.job.workflow.path)),
            ("behaviour", self.behaviour),
            ("row_verdict", row.verdict),
            ("gate_verdict", report.verdict),
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
