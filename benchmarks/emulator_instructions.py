"""User-space instructions per `POST /api/route` of the whole server process, `hallsim serve` against the
ceiling app (benchmarks/emulator_ceiling_app.py), counted by valgrind: a figure other load on a shared machine
does not move, where requests per second and even CPU time per request swing by a quarter between rounds.

    .venv/bin/python benchmarks/emulator_instructions.py [--requests 5000] [--hash-seeds 0,1,2]

Each server runs under `valgrind --tool=cachegrind --cache-sim=no` (about 50x slower, so the rate means
nothing here) twice: once with a warm-up only and once with the warm-up and then `--requests` requests, the
guide's body with a bearer token, over 16 keep-alive connections, each waiting for its answer; the
difference of the two totals, divided by `--requests`, is what one request costs, start-up and shutdown
left out. It counts uvicorn, httptools, uvloop and the app, not the kernel (the socket calls are the same
for both servers), so the ratio is a floor for the ratio of CPU time: the kernel's share is equal work.
Python's string hashes decide where keys land in every dict, which moves the count by up to ~5 %: each
server is counted under each of `--hash-seeds` (PYTHONHASHSEED) and the median is taken. Needs valgrind
(`apt-get install valgrind`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hallsim.emulator.contract import GUIDE_REQUEST  # noqa: E402

TOKEN = "bench"
CONNECTIONS = 16
WARMUP = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def send_requests(port: int, total: int) -> None:
    """`total` keep-alive POSTs over CONNECTIONS connections; each connection waits for its answer."""
    body = json.dumps(GUIDE_REQUEST, separators=(",", ":"))
    request = (
        f"POST /api/route HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(min(CONNECTIONS, total)):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        selector.register(sock, selectors.EVENT_READ)
        buffers[sock] = b""
        sock.sendall(request)
        sent += 1
    while done < total:
        events = selector.select(60)
        if not events:
            raise SystemExit("the server stopped answering")
        for key, _ in events:
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed a connection")
            buffers[sock] += chunk
            while True:
                head, sep, rest = buffers[sock].partition(b"\r\n\r\n")
                found = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
                if not sep or found is None or len(rest) < int(found.group(1)):
                    break
                if not head.startswith(b"HTTP/1.1 200"):
                    raise SystemExit(f"not a 200: {head[:80]!r}")
                buffers[sock] = rest[int(found.group(1)) :]
                done += 1
                if sent < total:
                    sock.sendall(request)
                    sent += 1
    for sock in buffers:
        selector.unregister(sock)
        sock.close()


def counted(server: str, requests: int, seed: str) -> int:
    """Instructions the server process ran: start-up, WARMUP requests, `requests` more, shutdown."""
    port = free_port()
    if server == "hallsim":
        command = [sys.executable, "-m", "hallsim", "serve", "--port", str(port), "--token", TOKEN]
    else:
        command = [sys.executable, str(HERE / "emulator_ceiling_app.py"), str(port)]
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as log:
        process = subprocess.Popen(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *command],
            stdout=subprocess.DEVNULL,
            stderr=open(log.name, "w"),  # noqa: SIM115  (closed with the process)
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise SystemExit(f"{server} did not start under valgrind") from None
                    time.sleep(0.2)
            send_requests(port, WARMUP)
            if requests:
                send_requests(port, requests)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(120)
        found = re.search(r"I\s+refs:\s+([\d,]+)", Path(log.name).read_text())
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count for {server}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--hash-seeds", default="0,1,2", help="PYTHONHASHSEED values, comma-separated")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    seeds = [seed.strip() for seed in args.hash_seeds.split(",") if seed.strip()]
    runs: dict[str, list[float]] = {"ceiling": [], "hallsim": []}
    for seed in seeds:
        for server, counts in runs.items():
            total = counted(server, args.requests, seed) - counted(server, 0, seed)
            counts.append(total / args.requests)
    hallsim, ceiling = statistics.median(runs["hallsim"]), statistics.median(runs["ceiling"])
    print(f"requests       : {args.requests} after {WARMUP} warm-up, {CONNECTIONS} keep-alive connections")
    for server, name in (("hallsim", "hallsim serve"), ("ceiling", "ceiling app")):
        each = ", ".join(f"{c:,.0f}" for c in runs[server])
        print(
            f"{name:<15}: {statistics.median(runs[server]):,.0f} instructions per request (server process, "
            f"user space; median of hash seeds {args.hash_seeds}: {each})"
        )
    print(f"ratio          : {ceiling / hallsim:.2f}x the ceiling's instructions (target >= 0.7x)")


if __name__ == "__main__":
    main()
