"""The fail-closed matrix: run a gate once per Hall behaviour, and once with the Hall unreachable; judge each.

The rule (harness/verdict.py): the protected action may run only after a well-formed allow. Whether the gate
got one is read from the emulator's journal for that run (a 200 whose JSON body has the boolean `denied:
false`, delivered in full), never from the behaviour's name, so scripted sequences and late answers are judged
by what happened."""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal
from hallsim.harness._errors import HarnessError, InputError
from hallsim.harness.record import DEFAULT_TIME_SCALE
from hallsim.harness.verdict import allow_received, protected_ran, unallowed_runs
from hallsim.harness.workflow import HallEndpoint, Workflow, load_workflow

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.emulator.journal import JournalEntry

#: the row for a Hall nobody answers at: a loopback port where nothing listens (connection refused)
UNREACHABLE = "unreachable"

#: verdicts, worst first
FAIL_OPEN = "FAIL-OPEN"
BLOCKED_ON_ALLOW = "blocked on a good allow"
FAIL_CLOSED = "fail-closed"
RAN_ON_ALLOW = "ran on allow"
ERROR = "error"


@dataclass(frozen=True)
class MatrixRow:
    behaviour: str
    #: what the Hall did, in words, from the journal
    hall_did: str
    outcome: str
    protected_ran: bool
    #: whether the gate got a well-formed allow, i.e. whether the protected action was allowed to run
    expected_protected: bool
    fail_open: bool
    verdict: str
    hall_calls: int = 0
    wall_ms: float = 0.0
    error: str | None = None
    #: each execution of the protected action that did not follow a well-formed allow, and what came before it
    unallowed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def details(self, sep: str) -> str:
        """What the Hall did, then why an allowed row still fails open, or the error that stopped it."""
        parts = [self.hall_did]
        if self.expected_protected and self.unallowed:
            parts += self.unallowed
        if self.error is not None:
            parts.append(f"error: {self.error}")
        return sep.join(parts)


@dataclass(frozen=True)
class MatrixReport:
    workflow: Path
    platform: str
    protected: tuple[str, ...]
    rows: tuple[MatrixRow, ...]
    time_scale: float
    wall_s: float
    #: every setting the runs used (UNCONFIRMED platform choices included)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the settings the caller chose (`--set`), shown with the verdict
    chosen: dict[str, Any] = field(default_factory=dict)
    #: the names of the settings that stand for a platform rule the references mark UNCONFIRMED
    unconfirmed: tuple[str, ...] = ()

    @property
    def fail_open(self) -> bool:
        return any(r.fail_open for r in self.rows)

    @property
    def errors(self) -> int:
        return sum(1 for r in self.rows if r.verdict == ERROR)

    def counts(self) -> dict[str, int]:
        counted: dict[str, int] = {}
        for row in self.rows:
            counted[row.verdict] = counted.get(row.verdict, 0) + 1
        return counted

    def summary(self) -> str:
        counted = self.counts()
        order = (FAIL_OPEN, BLOCKED_ON_ALLOW, ERROR, FAIL_CLOSED, RAN_ON_ALLOW)
        parts = [f"{counted[v]} {v}" for v in order if v in counted]
        head = "FAILS OPEN" if self.fail_open else "fails closed"
        chosen = "".join(f" with {k}={v}" for k, v in self.chosen.items())
        # fail-closed by the rule, but a gate that never reached the Hall has not been tested by any row
        called = any(r.hall_calls for r in self.rows) or any(r.error for r in self.rows)
        unreached = "" if called else "; the Hall was never called: the gate did not reach it in any row"
        return f"{self.workflow}{chosen}: {head} ({', '.join(parts)}){unreached}"

    def unconfirmed_line(self) -> str:
        """The UNCONFIRMED platform choices these verdicts rest on, with the values used; "" when none."""
        if not self.unconfirmed:
            return ""
        used = ", ".join(f"{name}={self.settings.get(name)}" for name in self.unconfirmed)
        return f"UNCONFIRMED platform choices used (change with --set NAME=VALUE): {used}"

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": str(self.workflow),
            "platform": self.platform,
            "protected": list(self.protected),
            "fail_open": self.fail_open,
            "time_scale": self.time_scale,
            "wall_s": round(self.wall_s, 3),
            "settings": self.settings,
            "chosen_settings": self.chosen,
            "unconfirmed_settings": {name: self.settings.get(name) for name in self.unconfirmed},
            "rows": [r.to_json() for r in self.rows],
        }

    def to_markdown(self) -> str:
        lines = [
            f"### `{self.workflow}` ({self.platform}, protected: {', '.join(self.protected) or '?'})"
            + "".join(f", {k}={v}" for k, v in self.chosen.items()),
            "",
            "| Hall behaviour | what the Hall did | outcome | protected ran | well-formed allow | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            verdict = f"**{r.verdict}**" if r.verdict in (FAIL_OPEN, BLOCKED_ON_ALLOW, ERROR) else r.verdict
            did = r.details("; ")
            lines.append(
                f"| `{short_behaviour(r.behaviour)}` | {_md(did)} | {r.outcome} | {_yes(r.protected_ran)} | "
                f"{_yes(r.expected_protected)} | {verdict} |"
            )
        lines += ["", self.summary()]
        if self.unconfirmed:
            lines += ["", self.unconfirmed_line()]
        return "\n".join(lines)


def short_behaviour(spec: str, width: int = 26) -> str:
    """A behaviour spec cut to fit a table column (JSON keeps the whole spec)."""
    return spec if len(spec) <= width else spec[: width - 1] + "…"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def judge(protected_ran: bool, allowed: bool, *, ran_unallowed: bool | None = None) -> str:
    """The verdict for one row: FAIL-OPEN when the protected action ran without a well-formed allow.

    `ran_unallowed`: whether some execution of the protected action did not follow a well-formed allow
    (`verdict.unallowed_runs`); by default, whether it ran in a row with no allow at all."""
    if ran_unallowed is None:
        ran_unallowed = protected_ran and not allowed
    if ran_unallowed:
        return FAIL_OPEN
    if protected_ran:
        return RAN_ON_ALLOW
    return BLOCKED_ON_ALLOW if allowed else FAIL_CLOSED


def matrix_behaviours() -> tuple[str, ...]:
    """The emulator's catalogue of concrete behaviours the matrix runs (one row each)."""
    from hallsim.emulator import MATRIX_BEHAVIOURS

    return tuple(MATRIX_BEHAVIOURS)


class EmulatorPool:
    """A few running emulators handed out one per row, so rows can run side by side with clean journals."""

    def __init__(self, size: int = 1) -> None:
        from hallsim.emulator import HallEmulator

        self._all: list[HallEmulator] = []
        try:
            for _ in range(max(1, size)):
                self._all.append(HallEmulator().start())
        except BaseException:
            self.close()  # the ones already started do not outlive a pool that failed to start
            raise
        self._free: queue.SimpleQueue[HallEmulator] = queue.SimpleQueue()
        for emulator in self._all:
            self._free.put(emulator)

    @property
    def size(self) -> int:
        return len(self._all)

    @contextmanager
    def lease(self) -> Iterator[HallEmulator]:
        emulator = self._free.get()
        try:
            yield emulator
        finally:
            self._free.put(emulator)

    def close(self) -> None:
        for emulator in self._all:
            emulator.stop()

    def __enter__(self) -> EmulatorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@dataclass(frozen=True)
class MatrixJob:
    """One workflow to run through the matrix, and how."""

    workflow: Workflow
    protected: tuple[str, ...] = ()
    event: Any = None
    variables: Mapping[str, str] | None = None
    settings: Mapping[str, Any] | None = None


RowCallback = Callable[[Path, MatrixRow], None]


def run_matrix(
    path: Path | str,
    *,
    protected: Sequence[str] = (),
    event: Any = None,
    variables: Mapping[str, str] | None = None,
    settings: Mapping[str, Any] | None = None,
    behaviours: Sequence[str] | None = None,
    time_scale: float = DEFAULT_TIME_SCALE,
    concurrency: int = 4,
    pool: EmulatorPool | None = None,
    on_row: RowCallback | None = None,
) -> MatrixReport:
    """Run one workflow through the matrix."""
    job = MatrixJob(load_workflow(path), tuple(protected), event, variables, settings)
    (report,) = run_matrices(
        [job], behaviours=behaviours, time_scale=time_scale, concurrency=concurrency, pool=pool, on_row=on_row
    )
    return report


def run_matrices(
    jobs: Sequence[MatrixJob],
    *,
    behaviours: Sequence[str] | None = None,
    time_scale: float = DEFAULT_TIME_SCALE,
    concurrency: int = 4,
    pool: EmulatorPool | None = None,
    on_row: RowCallback | None = None,
) -> list[MatrixReport]:
    """Run several workflows through the matrix, their rows side by side on `concurrency` emulators."""
    names = tuple(behaviours) if behaviours is not None else matrix_behaviours()
    for job in jobs:
        if not (job.protected or job.workflow.protected):
            raise InputError(
                f"{job.workflow.path}: no protected action: mark the step or module the gate guards as "
                "protected in the workflow, or name it with --protected"
            )
        # a misspelt --protected is reported before any row runs, not after all of them
        unknown = [name for name in job.protected if str(name) not in job.workflow.units]
        if unknown:
            kind = "module ids" if job.workflow.platform == "make" else "step names"
            raise InputError(
                f"{job.workflow.path}: --protected {', '.join(unknown)}: not in this workflow; "
                f"its {kind} are {', '.join(job.workflow.units)}"
            )
    own_pool = pool is None
    pool = pool or EmulatorPool(concurrency)
    started = time.perf_counter()
    try:
        with refused_port() as dead_port, ThreadPoolExecutor(max_workers=pool.size) as executor:
            futures = {
                (index, name): executor.submit(_run_row, job, name, pool, dead_port, time_scale, on_row)
                for index, job in enumerate(jobs)
                for name in (*names, UNREACHABLE)
            }
            results = {key: future.result() for key, future in futures.items()}
    finally:
        if own_pool:
            pool.close()
    wall = time.perf_counter() - started
    reports = []
    for index, job in enumerate(jobs):
        rows = tuple(results[(index, name)][0] for name in (*names, UNREACHABLE))
        run_settings, unconfirmed = next(
            (extra for _, extra in (results[(index, n)] for n in names) if extra[0]), ({}, ())
        )
        reports.append(
            MatrixReport(
                workflow=job.workflow.path,
                platform=job.workflow.platform,
                protected=job.protected or tuple(job.workflow.protected),
                rows=rows,
                time_scale=time_scale,
                wall_s=wall,
                settings=run_settings,
                chosen=dict(job.settings or {}),
                unconfirmed=unconfirmed,
            )
        )
    return reports


_lock = threading.Lock()


def _run_row(
    job: MatrixJob,
    behaviour: str,
    pool: EmulatorPool,
    dead_port: int,
    time_scale: float,
    on_row: RowCallback | None,
) -> tuple[MatrixRow, tuple[dict[str, Any], tuple[str, ...]]]:
    settings = {**(job.settings or {}), "time_scale": time_scale}
    if job.protected and job.workflow.platform == "make":
        # the replay marks the protected modules itself (its `protected` setting), so its trace agrees
        settings.setdefault("protected", ",".join(job.protected))
    started = time.perf_counter()
    with pool.lease() as emulator:
        token = next(iter(emulator.tokens))
        if behaviour == UNREACHABLE:
            hall = HallEndpoint(f"http://127.0.0.1:{dead_port}", token, None)
        else:
            emulator.reset()
            emulator.set_default(behaviour)
            hall = HallEndpoint(emulator.url, token, emulator)
        try:
            run = job.workflow.run(hall, event=job.event, variables=job.variables, settings=settings)
        except HarnessError as err:
            row = MatrixRow(
                behaviour,
                _hall_did(behaviour, [], dead_port),
                "-",
                False,
                False,
                False,
                ERROR,
                error=str(err),
                wall_ms=(time.perf_counter() - started) * 1000,
            )
            extra: tuple[dict[str, Any], tuple[str, ...]] = ({}, ())
        else:
            record = run.record
            ran = protected_ran(record, job.protected or None)
            allowed = allow_received(record)
            unallowed = tuple(unallowed_runs(record, job.protected or None))
            verdict = judge(ran, allowed, ran_unallowed=bool(unallowed))
            requests = list(record.hall_requests) if behaviour != UNREACHABLE else []
            hall_did = _hall_did(behaviour, requests, dead_port)
            if journal.well_formed_allow(requests) and not allowed:
                hall_did += ", but the client had given up before the answer reached it"
            row = MatrixRow(
                behaviour=behaviour,
                hall_did=hall_did,
                outcome=str(run.outcome),
                protected_ran=ran,
                expected_protected=allowed,
                fail_open=verdict == FAIL_OPEN,
                verdict=verdict,
                hall_calls=len(journal.route_requests(requests)),
                wall_ms=round((time.perf_counter() - started) * 1000, 1),
                unallowed=unallowed,
            )
            extra = (dict(run.settings), tuple(run.unconfirmed_settings))
    if on_row is not None:
        with _lock:
            on_row(job.workflow.path, row)
    return row, extra


def _hall_did(behaviour: str, requests: list[JournalEntry], dead_port: int) -> str:
    if behaviour == UNREACHABLE:
        return f"connection refused (nothing listens on 127.0.0.1:{dead_port})"
    return journal.describe(requests)
