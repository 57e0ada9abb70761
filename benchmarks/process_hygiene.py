"""Soak: end `hallsim matrix` from outside mid-run, many times, and count what it left alive 2 s later.

Each try starts a matrix over a gate whose step starts a shell background job (`sleep … &`) and then waits,
waits until the Node host and that job exist, sends the signal, and looks 2 s later for any process that was
a descendant of the matrix or carries the job's marker. Target: 0 left over in every try, and the exit status
of SIGTERM/SIGINT 143/130 (SIGKILL: -9, nothing to print).

.venv/bin/python benchmarks/process_hygiene.py [--tries 10] [--signals TERM,KILL,INT]"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hostile"))

from test_processes_signals import (  # noqa: E402  (the helpers the test suite uses)
    alive,
    descendants,
    start_matrix,
    wait_for_children,
    with_marker,
)


def one_try(signum: int, n: int) -> tuple[int | None, int, float]:
    """(exit status, processes left 2 s after, seconds from the signal to the matrix's exit)."""
    marker = f"46.{os.getpid()}{int(signum)}{n:03d}"
    with tempfile.TemporaryDirectory() as folder:
        proc = start_matrix(Path(folder), marker)
        started = wait_for_children(proc, marker)
        sent = time.perf_counter()
        proc.send_signal(signum)
        proc.communicate(timeout=30)
        exited = time.perf_counter() - sent
        time.sleep(2.0)
        left = alive(started) | with_marker(marker) | descendants(proc.pid)
        for pid in left:  # do not leave them to the next try
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return proc.returncode, len(left), exited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--signals", default="TERM,KILL")
    args = parser.parse_args()
    total_left = 0
    for name in args.signals.split(","):
        signum = signal.Signals[f"SIG{name.strip().upper()}"]
        statuses: list[int | None] = []
        lefts: list[int] = []
        times: list[float] = []
        for n in range(args.tries):
            status, left, exited = one_try(signum, n)
            statuses.append(status)
            lefts.append(left)
            times.append(exited)
        total_left += sum(lefts)
        print(
            f"SIG{name:<5} tries {args.tries:3d}   exit statuses {sorted(set(statuses))}   "
            f"processes left after 2 s: {sum(lefts)} (per try {lefts})   "
            f"signal -> exit: median {sorted(times)[len(times) // 2] * 1000:.0f} ms, "
            f"max {max(times) * 1000:.0f} ms"
        )
    print("PASS: nothing left" if total_left == 0 else f"FAIL: {total_left} processes left")
    raise SystemExit(0 if total_left == 0 else 1)


if __name__ == "__main__":
    main()
