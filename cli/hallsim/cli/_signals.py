"""Ctrl-C and SIGTERM: every command ends the same way, with an exit status no verdict uses.

- SIGINT (Ctrl-C) exits 130, SIGTERM 143, SIGHUP 129 (128 + the signal number, as shells report a process
  that a signal ended), never 0-3, the codes that carry a verdict;
- before it exits, hallsim ends every Node host it started (they end the processes their steps started) and
  prints to stderr what had finished (commands report finished items with `note_finished`);
- a second signal while that happens is ignored: the clean-up takes a fraction of a second.

Click turns KeyboardInterrupt into "Aborted!" and exit 1, which reads as "a row fails open"; and an exception
raised in the main thread would wait for the rows in flight (ThreadPoolExecutor joins its threads). So the
handler installed here stops hallsim at once, from the handler. A command that stops in order by itself
(`hallsim serve`: uvicorn captures SIGINT and SIGTERM while it serves, shuts down, then raises the signal
again) calls `raise_on_signal()`: the handler then raises `Interrupted`, which Click does not catch, the
command says its last words, and `guarded` (used by the CLI group) turns it into the exit."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

#: signals handled, and the exit status each gives
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
if hasattr(signal, "SIGHUP"):
    EXIT_STATUS[signal.SIGHUP] = 129

_finished: list[str] = []
_lock = threading.Lock()
_raise_instead = False


class Interrupted(BaseException):
    """A signal asked hallsim to stop (raised in the main thread by the handler)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return EXIT_STATUS.get(signal.Signals(self.signum), 128 + self.signum)


def note_finished(text: str) -> None:
    """Record a finished item (a matrix row, a scenario) for the summary printed if a signal stops hallsim."""
    with _lock:
        _finished.append(text)


def finished() -> list[str]:
    with _lock:
        return list(_finished)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _raise_instead:
        raise Interrupted(signum)
    stop_now(signum)


def raise_on_signal() -> None:
    """This command stops in order itself: a signal raises `Interrupted` in the main thread instead."""
    global _raise_instead
    _raise_instead = True


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in EXIT_STATUS:
        signal.signal(signum, _on_signal)


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Run a command; a signal ends it with 128 + the signal number, after the clean-up above."""
    install()
    try:
        yield
    except Interrupted as stop:
        stop_now(stop.signum)
    except KeyboardInterrupt:  # raised before the handler was in place, or by code that raises it itself
        stop_now(signal.SIGINT)


def stop_now(signum: int) -> None:
    """End the Node hosts, print what finished and exit with the signal's status (never returns)."""
    for each in EXIT_STATUS:
        with contextlib.suppress(OSError, ValueError):
            signal.signal(each, signal.SIG_IGN)
    status = EXIT_STATUS.get(signal.Signals(signum), 128 + signum)
    # in a thread: the signal may have come while the main thread held a lock the clean-up needs; if the
    # clean-up hangs, the exit below still closes the hosts' stdin, and they end themselves
    closer = threading.Thread(target=_close_hosts, name="hallsim-stop", daemon=True)
    closer.start()
    closer.join(timeout=3)
    done = finished()
    name = signal.Signals(signum).name
    summary = f"hallsim: stopped by {name} (exit {status}); "
    if done:
        summary += f"{len(done)} finished before it:\n" + "".join(f"  {line}\n" for line in done)
    else:
        summary = summary[: -len("; ")] + "\n"
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.write(summary)
        sys.stderr.flush()
    # threads still running rows would hold a normal exit (ThreadPoolExecutor joins them at exit): the hosts
    # they talk to are gone already, nothing else of hallsim lives outside this process
    os._exit(status)


def _close_hosts() -> None:
    # only if a Node host may have been started: importing the harness just to find none would cost time
    module = sys.modules.get("hallsim.harness.pipedream._host")
    if module is not None:
        with contextlib.suppress(Exception):
            module.close_hosts()
