"""Running the fail-closed matrix: run a gate once per Hall behaviour, and once with the Hall unreachable;
judge each (the report, its verdicts and causes are in matrix_report.py).

The rule (harness/verdict.py): the protected action may run only after a well-formed allow. Whether the gate
got one is read from the emulator's journal for that run (a 200 whose JSON body has the boolean `denied:
false`, delivered in full), never from the behaviour's name, so scripted sequences and late answers are judged
by what happened."""

from __future__ import annotations

import functools
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hallsim.harness import journal
from hallsim.harness._errors import HarnessError, InputError
from hallsim.harness.causes import row_cause
from hallsim.harness.matrix_report import (
    ALLOW_ROW,
    BLOCKED_ON_ALLOW,
    ERROR,
    FAIL_CLOSED,
    FAIL_OPEN,
    LEGEND,
    RAN_ON_ALLOW,
    UNREACHABLE,
    MatrixReport,
    MatrixResult,
    MatrixRow,
    behaviour_label,
    judge,
    short_behaviour,
)
from hallsim.harness.problems import did_you_mean
from hallsim.harness.record import DEFAULT_TIME_SCALE
from hallsim.harness.verdict import allow_received, protected_ran, unallowed_runs
from hallsim.harness.workflow import HallEndpoint, Workflow, load_workflow

__all__ = [
    "ALLOW_ROW",
    "BLOCKED_ON_ALLOW",
    "DEFAULT_TIME_SCALE",
    "ERROR",
    "FAIL_CLOSED",
    "FAIL_OPEN",
    "LEGEND",
    "RAN_ON_ALLOW",
    "UNREACHABLE",
    "EmulatorPool",
    "MatrixJob",
    "MatrixReport",
    "MatrixResult",
    "MatrixRow",
    "behaviour_label",
    "judge",
    "matrix_behaviours",
    "refused_port",
    "run_matrices",
    "run_matrix",
    "short_behaviour",
    "sleeps",
    "start_order",
]

if TYPE_CHECKING:
    from hallsim.emulator import HallEmulator
    from hallsim.emulator.journal import JournalEntry


def matrix_behaviours() -> tuple[str, ...]:
    """The emulator's catalogue of concrete behaviours the matrix runs (one row each)."""
    from hallsim.emulator import MATRIX_BEHAVIOURS

    return tuple(MATRIX_BEHAVIOURS)


class EmulatorPool:
    """A few running emulators handed out one per row, so rows can run side by side with clean journals.
    `size` are started at once; a lease when all are in use starts one more (about a millisecond: they share
    one event loop), which the pool keeps until it closes."""

    def __init__(self, size: int = 1) -> None:
        self._all: list[HallEmulator] = []
        self._free: queue.SimpleQueue[HallEmulator] = queue.SimpleQueue()
        self._size = max(1, size)
        self._grow = threading.Lock()
        try:
            for _ in range(self._size):
                self._free.put(self._start())
        except BaseException:
            self.close()  # the ones already started do not outlive a pool that failed to start
            raise

    def _start(self) -> HallEmulator:
        from hallsim.emulator import HallEmulator

        emulator = HallEmulator().start()
        with self._grow:
            self._all.append(emulator)
        return emulator

    @property
    def size(self) -> int:
        """How many rows the pool was made for (rows run side by side, besides those that only wait)."""
        return self._size

    @contextmanager
    def lease(self) -> Iterator[HallEmulator]:
        try:
            emulator = self._free.get_nowait()
        except queue.Empty:
            emulator = self._start()
        try:
            yield emulator
        finally:
            self._free.put(emulator)

    def close(self) -> None:
        with self._grow:
            started, self._all = self._all, []
        for emulator in started:
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
    # every behaviour and the unreachable Hall by default; only the rows asked for when given (`unreachable`
    # among them for that row)
    names = tuple(behaviours) if behaviours is not None else (*matrix_behaviours(), UNREACHABLE)
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
                + did_you_mean(str(unknown[0]), job.workflow.units)
            )
    own_pool = pool is None
    pool = pool or EmulatorPool(concurrency)
    started = time.perf_counter()
    try:
        keys = [(index, name) for index in range(len(jobs)) for name in names]
        with refused_port() as dead_port:
            if len(keys) == 1:  # one row (a pytest item's): on this thread, no pool of threads to start
                ((index, name),) = keys
                results = {keys[0]: _run_row(jobs[index], name, pool, dead_port, time_scale, on_row)}
            else:
                # rows that only wait sleep beside the rows that work; the others in start_order
                waiting = [key for key in keys if sleeps(jobs[key[0]], key[1])]
                asleep = set(waiting)
                working = sorted(
                    (key for key in keys if key not in asleep),
                    key=lambda key: start_order(jobs[key[0]], key[1]),
                )
                with (
                    ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="row-wait") as sleepers,
                    ThreadPoolExecutor(max_workers=pool.size, thread_name_prefix="row") as workers,
                ):
                    futures = {
                        key: executor.submit(
                            _run_row, jobs[key[0]], key[1], pool, dead_port, time_scale, on_row
                        )
                        for executor, group in ((sleepers, waiting), (workers, working))
                        for key in group
                    }
                    results = {key: future.result() for key, future in futures.items()}
    finally:
        if own_pool:
            pool.close()
    wall = time.perf_counter() - started
    reports = []
    for index, job in enumerate(jobs):
        rows = tuple(results[(index, name)][0] for name in names)
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
            # the emulator's own exception: hallsim failed, so the row says nothing about the gate
            failure = "; ".join(record.emulator_errors) or None
            if failure is not None:
                verdict = ERROR
            cause = None
            if verdict in (FAIL_OPEN, BLOCKED_ON_ALLOW) or (
                behaviour == ALLOW_ROW and verdict == FAIL_CLOSED
            ):
                cause = row_cause(record, job.protected or None)
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
                error=failure,
                unallowed=unallowed,
                cause=cause,
                run=run,
            )
            extra = (dict(run.settings), tuple(run.unconfirmed_settings))
    if on_row is not None:
        with _lock:
            on_row(job.workflow.path, row)
    return row, extra


def sleeps(job: MatrixJob, behaviour: str) -> bool:
    """Whether the row only waits, asleep on a Python thread: a Make row whose Hall hangs or answers late.
    It runs on a thread of its own and never holds one of the `concurrency` places of the rows that work.
    A Pipedream row waits inside a Node worker, and another worker costs about 0.2 s of CPU to start (more
    than the wait it would save on a small machine, measured with benchmarks/compare.py): it keeps its
    place."""
    return job.workflow.platform == "make" and _waits(behaviour)


def start_order(job: MatrixJob, behaviour: str) -> tuple[bool, bool]:
    """The order rows that work start in: those that need no Node worker first (they run while the Node host
    still starts its workers), then those that wait (the longest first), then the rest."""
    return (job.workflow.platform != "make", not _waits(behaviour))


@functools.cache
def _waits(behaviour: str) -> bool:
    """Whether a row of this behaviour spends its time waiting for the Hall (emulator behaviours.py)."""
    from hallsim.emulator import ScriptError, parse_behaviour

    if behaviour == UNREACHABLE:
        return False
    try:
        return parse_behaviour(behaviour).waits
    except ScriptError:
        return False  # the row itself reports the bad behaviour


def _hall_did(behaviour: str, requests: list[JournalEntry], dead_port: int) -> str:
    if behaviour == UNREACHABLE:
        return f"connection refused (nothing listens on 127.0.0.1:{dead_port})"
    return journal.describe(requests)
