"""pytest plugin for hallsim (entry point `pytest11: hallsim`).

- Collects scenario files named `*.scenario.yaml` or `*.scenario.yml` (no other YAML) as test items; a failed
  scenario shows expected against actual for each expectation that did not hold, then the run's trace.
- Fixtures for Python tests: `make_hall_emulator` (one emulator per test session, or per xdist worker),
  `hall_emulator` (the same emulator, reset before and after each test), `run_workflow` (run a Pipedream
  workflow or a Make blueprint against it), `replay_blueprint` (the same, Make only), `audit_sink` (a local
  webhook sink on pytest-httpserver that records what downstream steps post).
- Options: `--hallsim-events N --hallsim-seed S` run every scenario over N generated events instead of its
  own.
- `--hallsim-matrix PATHS` collects the workflows and blueprints among the paths as fail-closed matrix rows,
  one item per workflow x Hall behaviour (matrix_items.py; `--hallsim-fail-on`, `--hallsim-time-scale`).

It is loaded in every pytest run of an environment where hallsim is installed, so it imports nothing heavy
until a scenario or one of its fixtures is used."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hallsim.harness import matrix_items

if TYPE_CHECKING:
    from pytest_httpserver import HTTPServer

    from hallsim.emulator import HallEmulator
    from hallsim.harness.runner import ScenarioResult
    from hallsim.harness.scenario import Scenario
    from hallsim.harness.workflow import WorkflowRun

#: keep in step with hallsim.harness.scenario.SCENARIO_SUFFIXES (not imported here: pydantic is slow)
_SUFFIXES = (".scenario.yaml", ".scenario.yml")

_emulator_key = pytest.StashKey["HallEmulator"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hallsim", "hallsim scenarios")
    group.addoption(
        "--hallsim-events",
        type=int,
        default=None,
        metavar="N",
        help="run every scenario over N generated trigger events (faker) instead of its own event(s)",
    )
    group.addoption(
        "--hallsim-seed", type=int, default=0, metavar="S", help="seed for --hallsim-events (default 0)"
    )
    matrix_items.add_options(group)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(_SUFFIXES):
        return ScenarioFile.from_parent(parent, path=file_path)
    return matrix_items.collect_file(file_path, parent)


def pytest_unconfigure(config: pytest.Config) -> None:
    emulator = config.stash.get(_emulator_key, None)
    if emulator is not None:
        emulator.stop()
        del config.stash[_emulator_key]
    matrix_items.close_pool(config)


class _JunitClassnames:
    """JUnit XML: a scenario's classname is its folder, dotted, and its file name without dots (pytest would
    read `scenarios/make/gate_break.allow.scenario.yaml` as the packages `gate_break`, `allow`, `scenario`).
    Runs before junitxml's own hook, which keeps the attributes already set on a test case."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        path = report.nodeid.split("::", 1)[0]
        if not path.endswith(_SUFFIXES):
            return
        from _pytest.junitxml import xml_key

        log = self.config.stash.get(xml_key, None)
        if log is not None:
            log.node_reporter(report).add_attribute("classname", scenario_classname(path))


def scenario_classname(path: str) -> str:
    """`scenarios/make/gate_break.allow.scenario.yaml` -> `scenarios.make.gate_break_allow`."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1]
    for suffix in _SUFFIXES:
        name = name.removesuffix(suffix)
    return ".".join([*(p for p in parts[:-1] if p not in ("", ".")), name.replace(".", "_")])


def pytest_configure(config: pytest.Config) -> None:
    matrix_items.configure(config)
    if config.getoption("xmlpath", None):
        config.pluginmanager.register(_JunitClassnames(config), "hallsim-junit-classnames")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # a scenario that passes by pinning a fail-open run must not pass silently (docs/scenarios.md)
    pinned = []
    for report in terminalreporter.stats.get("passed", []):
        runs = dict(report.user_properties).get("pins_fail_open")
        if report.when == "call" and runs is not None:
            pinned.append(f"{report.nodeid}: {runs} run(s) fail open, pinned on purpose (pins_fail_open)")
    if pinned:
        terminalreporter.section("hallsim: scenarios that pass by pinning a fail-open gate", sep="-")
        for line in pinned:
            terminalreporter.line(line)


def session_emulator(config: pytest.Config) -> HallEmulator:
    """The test session's emulator, started on first use and stopped when pytest finishes."""
    emulator = config.stash.get(_emulator_key, None)
    if emulator is None:
        from hallsim.emulator import HallEmulator

        emulator = HallEmulator().start()
        config.stash[_emulator_key] = emulator
    return emulator


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from hallsim.harness._errors import HarnessError
        from hallsim.harness.scenario import load_scenario

        try:
            scenario = load_scenario(self.path)
        except HarnessError as err:
            raise self.CollectError(str(err)) from None
        events = self.config.getoption("--hallsim-events")
        if events:
            scenario = scenario.with_generated_events(
                events, int(self.config.getoption("--hallsim-seed") or 0)
            )
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.result: ScenarioResult | None = None

    def runtest(self) -> None:
        from hallsim.harness.runner import run_scenario

        self.result = run_scenario(self.scenario, emulator=session_emulator(self.config))
        self.user_properties.append(("workflow", str(self.scenario.workflow)))
        self.user_properties.append(("runs", str(len(self.result.runs))))
        if self.scenario.pins_fail_open:
            self.user_properties.append(("pins_fail_open", str(self.result.fail_open_runs)))
        self.result.raise_for_failure()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        from hallsim.harness.expectations import ExpectationFailure

        if isinstance(excinfo.value, ExpectationFailure):
            return excinfo.value.report
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"


# --- fixtures for Python tests ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def make_hall_emulator(pytestconfig: pytest.Config) -> HallEmulator:
    """The session's running Hall emulator (one per xdist worker); prefer `hall_emulator` in tests."""
    return session_emulator(pytestconfig)


@pytest.fixture
def hall_emulator(make_hall_emulator: HallEmulator) -> Iterator[HallEmulator]:
    """The Hall emulator, reset (rules, journal, default `allow`) before and after the test; an exception
    the emulator raised while answering during the test (a bug in hallsim) fails the test at teardown."""
    make_hall_emulator.reset()
    yield make_hall_emulator
    try:
        make_hall_emulator.check_handler_errors()
    finally:
        make_hall_emulator.reset()


RunWorkflow = Callable[..., "WorkflowRun"]


def _runner(emulator: HallEmulator, platform: str | None) -> RunWorkflow:
    def run(
        path: Path | str,
        *,
        hall: str | None = None,
        event: Any = None,
        variables: Mapping[str, str] | None = None,
        settings: Mapping[str, Any] | None = None,
        token: str | None = None,
        stubs: Any = None,
    ) -> WorkflowRun:
        """Run the workflow against the emulator; `hall` sets its default behaviour first (e.g. "deny").
        `stubs` answer every other call: a list of stub rules, `{default:, rules:}`, or a Stubs."""
        from hallsim.harness._errors import InputError
        from hallsim.harness.record import DEFAULT_TIME_SCALE
        from hallsim.harness.stubs import parse_stubs
        from hallsim.harness.workflow import HallEndpoint, load_workflow

        workflow = load_workflow(path)
        if platform is not None and workflow.platform != platform:
            raise InputError(
                f"{path}: a {workflow.platform} workflow; replay_blueprint takes Make blueprints"
            )
        if hall is not None:
            emulator.set_default(hall)
        endpoint = HallEndpoint(
            emulator.url, token if token is not None else next(iter(emulator.tokens)), emulator
        )
        return workflow.run(
            endpoint,
            event=event,
            variables=variables,
            settings={"time_scale": DEFAULT_TIME_SCALE, **(settings or {})},
            stubs=parse_stubs(stubs, "stubs") if stubs is not None else None,
        )

    return run


@pytest.fixture
def run_workflow(hall_emulator: HallEmulator) -> RunWorkflow:
    """`run_workflow(path, hall="deny", event={...}, settings={...})` -> WorkflowRun (Pipedream or Make)."""
    return _runner(hall_emulator, None)


@pytest.fixture
def replay_blueprint(hall_emulator: HallEmulator) -> RunWorkflow:
    """`replay_blueprint(path, hall="deny", event=[bundle, ...], variables={...})` -> the Make run."""
    return _runner(hall_emulator, "make")


class AuditSink:
    """A local webhook sink: answers every POST to `/audit` with 200 and keeps the JSON bodies.

    Give a Pipedream run `settings={"sink_url": audit_sink.base_url}`: its `{{sink.url}}/audit` lands here."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        server.expect_request("/audit", method="POST").respond_with_json({"ok": True})

    @property
    def base_url(self) -> str:
        return str(self.server.url_for("/")).rstrip("/")

    @property
    def url(self) -> str:
        return str(self.server.url_for("/audit"))

    @property
    def records(self) -> list[Any]:
        records = []
        for request, _response in self.server.log:
            records.append(
                request.get_json(silent=True) if request.is_json else request.get_data(as_text=True)
            )
        return records


@pytest.fixture
def audit_sink(request: pytest.FixtureRequest) -> AuditSink:
    """A local sink for downstream webhooks (pytest-httpserver): `.url` to post to, `.records` received."""
    try:
        import pytest_httpserver  # noqa: F401  (its `httpserver` fixture serves the sink)
    except ImportError:
        message = "hallsim's audit_sink fixture needs pytest-httpserver: pip install 'hallsim[pytest]'"
        pytest.fail(message, pytrace=False)
    server: HTTPServer = request.getfixturevalue("httpserver")
    return AuditSink(server)
