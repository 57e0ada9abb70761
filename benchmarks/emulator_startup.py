"""Time from running `hallsim serve` to its first answer to the guide's request (target: <= 0.5 s).

    .venv/bin/python benchmarks/emulator_startup.py [--runs 10]

Each run starts `python -m hallsim serve --port P --token t` (a fresh interpreter, as from a shell) and
keeps trying `POST /api/route` every 2 ms on fresh connections until one answers 200; the figure is the wall
time from spawning the process to that answer (interpreter start-up and imports included).
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hallsim.emulator.contract import GUIDE_REQUEST  # noqa: E402

BODY = json.dumps(GUIDE_REQUEST)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def first_answer(port: int, limit: float = 15.0) -> float:
    """Seconds from spawning `hallsim serve` to a 200 from /api/route."""
    command = [sys.executable, "-m", "hallsim", "serve", "--port", str(port), "--token", "t"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < limit:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
            try:
                connection.request(
                    "POST",
                    "/api/route",
                    body=BODY,
                    headers={"Authorization": "Bearer t", "Content-Type": "application/json"},
                )
                if connection.getresponse().status == 200:
                    return time.perf_counter() - started
            except OSError:
                time.sleep(0.002)
            finally:
                connection.close()
        raise SystemExit(f"no answer within {limit} s")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    first_answer(free_port())  # warm the OS file cache once, as a second launch would be
    times = [first_answer(free_port()) for _ in range(args.runs)]
    print(f"hallsim serve -> first answer, {args.runs} runs (fresh interpreter each)")
    print(f"median : {statistics.median(times) * 1000:.0f} ms   (target <= 500 ms)")
    print(f"min    : {min(times) * 1000:.0f} ms")
    print(f"max    : {max(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
