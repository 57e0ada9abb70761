"""The HTTP modules' clock: a module's timeout fires because of a wait the run scripted, never because the
machine was busy.

At time_scale 0.01 a 10 s module timeout is 0.1 s of wall time. Counting every wall second x100 made a busy
machine's latency (the emulator thread waiting for the GIL, a loaded CI runner) read as a timeout. The rule
here, the Make counterpart of the Pipedream runtime's modelled clock (pipedream/runtime.mjs `modelledClock`:
scripted waiting is scaled, real work counts as it is):

- a wait the run scripted (the in-process emulator's `slow`/`timeout`, as its journal records them; the stub
  service's `slow`/`timeout`) counts as its modelled seconds: wall x 1/time_scale;
- every other wall second (sending, the machine's latency, Python's own work) counts as it is (x1);
- the module times out when that modelled time reaches its timeout. While nothing says a wait is scripted
  (a Hall whose journal the run cannot read, a blackholed Hall), the client waits timeout x time_scale plus
  `make.http.latency_grace_s` wall seconds, then takes the Hall as one that never answers.

The modelled time of a timed-out call is exactly its timeout."""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpcore

from hallsim.emulator import ScriptError
from hallsim.emulator.behaviours import Behaviour, parse_behaviour

if TYPE_CHECKING:
    from hallsim.emulator.journal import JournalEntry

#: how often a wait that is not known to be scripted asks again whether it is (wall seconds)
_RECHECK_S = 0.01


@dataclass(frozen=True)
class Hold:
    """A wait the run scripted: when it began (time.time()) and how many modelled seconds it lasts (None:
    until the client gives up)."""

    start: float
    seconds: float | None


class HallJournal(Protocol):
    """The in-process emulator as the clock reads it (hallsim.emulator.HallEmulator)."""

    @property
    def next_seq(self) -> int: ...

    def journal_since(self, seq: int) -> list[JournalEntry]: ...


class StubHolds(Protocol):
    """The run's stub service as the clock reads it (hallsim.harness.stubs.StubRun.holds)."""

    def holds(self) -> tuple[tuple[float, Behaviour], ...]: ...


def scripted_seconds(behaviour: Behaviour) -> float | None:
    """The modelled seconds a behaviour holds a request before its answer (or its fault): `slow`'s delay and
    what comes after it; None for `timeout` (held until the client gives up)."""
    total = 0.0
    inner: Behaviour | None = behaviour
    while inner is not None:
        if inner.kind == "timeout":
            return None
        if inner.kind != "slow":
            return total
        total += inner.delay or 0.0
        inner = inner.then
    return total


@functools.lru_cache(maxsize=256)
def _spec_seconds(spec: str) -> float | None:
    try:
        return scripted_seconds(parse_behaviour(spec))
    except ScriptError:
        return 0.0


@dataclass(frozen=True)
class Mark:
    seq: int
    holds: int


class ScriptedWaits:
    """Where one run's scripted waits are recorded: the in-process emulator's journal (the behaviour it chose
    for each request, from its arrival) and the stub service's holds."""

    def __init__(self, emulator: HallJournal | None, stub: StubHolds | None) -> None:
        self.emulator = emulator
        self.stub = stub

    def mark(self) -> Mark:
        seq = self.emulator.next_seq if self.emulator is not None else 0
        holds = len(self.stub.holds()) if self.stub is not None else 0
        return Mark(seq, holds)

    def held(self, mark: Mark, path: str) -> Hold | None:
        """The latest scripted wait of a request sent since `mark` (the replay sends one at a time); None
        when none is known (yet)."""
        if self.stub is not None:
            holds = self.stub.holds()
            if len(holds) > mark.holds:
                start, behaviour = holds[-1]
                return Hold(start, scripted_seconds(behaviour))
        if self.emulator is None:
            return None
        for entry in reversed(self.emulator.journal_since(mark.seq)):
            if entry.path != path or entry.behaviour is None:
                continue
            seconds = _spec_seconds(entry.behaviour)
            return None if seconds == 0.0 else Hold(entry.time, seconds)
        return None


@dataclass
class ModuleClock:
    """One HTTP module call's clock (see the module docstring)."""

    timeout_s: float
    scale: float
    grace_s: float
    waits: ScriptedWaits | None
    path: str
    started: float = 0.0
    mark: Mark = Mark(0, 0)

    def start(self) -> None:
        self.mark = self.waits.mark() if self.waits is not None else Mark(0, 0)
        self.started = time.time()

    @property
    def unknown_budget_s(self) -> float:
        """Wall seconds the client waits while nothing says the wait is scripted."""
        base = self.timeout_s * self.scale
        return max(base, min(base + self.grace_s, self.timeout_s))

    def hold(self) -> Hold | None:
        return self.waits.held(self.mark, self.path) if self.waits is not None else None

    def wait_left(self) -> float:
        """Wall seconds the client may go on waiting for the answer now (<= 0: the module timed out)."""
        now = time.time()
        base_end = self.started + self.timeout_s * self.scale
        if now < base_end:
            return base_end - now  # the timeout cannot fire earlier whatever the wait was
        hold = self.hold()
        if hold is None:
            return min(self.started + self.unknown_budget_s - now, _RECHECK_S)
        before = max(0.0, hold.start - self.started)  # real seconds before the scripted wait began
        left = self.timeout_s - before
        if hold.seconds is None or hold.seconds >= left:
            return hold.start + max(0.0, left) * self.scale - now
        # a scripted wait shorter than the timeout: its answer is due, give it the real-latency allowance
        return hold.start + hold.seconds * self.scale + self.grace_s - now

    def modelled(self, wall_s: float) -> tuple[float, float]:
        """(modelled seconds, of which scripted) of a call that ended after `wall_s` without timing out."""
        hold = self.hold()
        scripted = hold.seconds if hold is not None and hold.seconds is not None else 0.0
        return scripted + max(0.0, wall_s - scripted * self.scale), scripted


_CLOCK: contextvars.ContextVar[ModuleClock | None] = contextvars.ContextVar(
    "hallsim_make_clock", default=None
)


def current_clock() -> ModuleClock | None:
    """The clock of the module call under way in this thread, if any."""
    return _CLOCK.get()


def set_clock(clock: ModuleClock | None) -> contextvars.Token[ModuleClock | None]:
    return _CLOCK.set(clock)


def reset_clock(token: contextvars.Token[ModuleClock | None]) -> None:
    _CLOCK.reset(token)


class _ClockedStream(httpcore.NetworkStream):
    """A connection whose reads wait as long as the current module's clock allows, asking it again each
    time a read times out (a socket read that times out leaves the connection usable)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        clock = _CLOCK.get()
        if clock is None:
            return self._inner.read(max_bytes, timeout)
        while True:
            left = clock.wait_left()
            if left <= 0:
                raise httpcore.ReadTimeout("the module's timeout elapsed (modelled)")
            try:
                return self._inner.read(max_bytes, left)
            except httpcore.ReadTimeout:
                continue

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _ClockedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class ClockedBackend(httpcore.NetworkBackend):
    """httpcore's own sync backend, its connections read under the module clock."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _ClockedStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _ClockedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
