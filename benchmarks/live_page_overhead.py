"""What an open live journal page (`/__hall/`) costs `POST /api/route`: throughput and latency with no page,
with one page reading the event stream, and with one page that has stopped reading (a stalled tab).

    .venv/bin/python benchmarks/live_page_overhead.py [--connections 16] [--duration 5] [--rounds 3]

The emulator runs as `hallsim serve` in its own process, the load comes from emulator_throughput.py's
generator (wrk when installed, else Python processes), the pages are raw sockets in this process: the reading
one drains the stream in a thread, the stalled one sends its request and never reads (its socket buffers fill,
nothing waits for it). Rounds alternate between the cases: the machine is shared.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import statistics
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator_throughput import free_port, health, run_python, run_wrk, start_emulator

_EVENTS = b"GET /__hall/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"


def open_page(port: int, *, read: bool) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    if not read:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a tab that stopped reading
    sock.sendall(_EVENTS)
    if read:

        def drain() -> None:
            try:
                while sock.recv(65536):
                    pass
            except OSError:
                pass

        threading.Thread(target=drain, daemon=True).start()
    return sock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    wrk = shutil.which("wrk") is not None
    load = run_wrk if wrk else run_python
    width = 1 if wrk else 2
    port = free_port()
    emulator = start_emulator(port)
    results: dict[str, list[dict]] = {"no page": [], "one page reading": [], "one page stalled": []}
    try:
        load(port, args.connections, 1.0, width)  # warm-up
        for _ in range(args.rounds):
            for case in results:
                pages = [] if case == "no page" else [open_page(port, read=case == "one page reading")]
                results[case].append(load(port, args.connections, args.duration, width))
                for page in pages:
                    page.close()
        final = health(port)
    finally:
        emulator.send_signal(signal.SIGINT)
        emulator.wait(15)
    print(f"load generator : {results['no page'][0]['generator']}; {args.connections} connections")
    print(f"rounds         : {args.rounds} x {args.duration:g} s per case, cases alternating")
    base = statistics.median(r["rate"] for r in results["no page"])
    for case, rounds in results.items():
        rate = statistics.median(r["rate"] for r in rounds)
        p99 = statistics.median(r["p99_ms"] for r in rounds)
        print(f"{case:<17}: {rate:>8,.0f} decisions/s ({rate / base:.2f}x)   p99 {p99:6.2f} ms")
    print(f"journal        : next_seq {final['next_seq']}")


if __name__ == "__main__":
    main()
