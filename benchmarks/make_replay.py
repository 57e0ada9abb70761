"""Replays per second of fixtures/make/gate_break.blueprint.json, one after another, against the emulator.

Target: >= 2,500 warm replays/s (each line prints its ratio to it). Also shown: CPU per replay, which a loaded
machine swells far less than wall time, split into the replay's own (this thread: the engine, the HTTP
client) and the emulator's (the in-process emulator's threads, or the `hallsim serve` process). Two set-ups:
the emulator in-process (the Python API, as tests and the matrix use it; the run reads its journal) and the
emulator in its own process (`hallsim serve`, nothing shared but the socket). The floor line is the gate's one
request sent with http.client and nothing else: what a replay in one process cannot go below. Also shown:
the wall time of a replay whose Hall never answers (the documented 10 s module timeout, scaled by time_scale
0.01, then Break's three retries).

.venv/bin/python benchmarks/make_replay.py [--runs 1000] [--behaviour deny]"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.make import MakeBlueprint, close_shared_client, load_blueprint

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = ROOT / "fixtures" / "make" / "gate_break.blueprint.json"


TARGET = 2500.0


def _process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of another process (Linux /proc), None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _measure(
    blueprint: MakeBlueprint, hall: HallEndpoint, runs: int, warmup: int, server_pid: int | None = None
) -> tuple[float, list[float], float, float]:
    """(replays/s, each replay's ms, replay CPU ms, emulator CPU ms) per replay."""
    for _ in range(warmup):
        blueprint.run(hall)
    times = []
    server_started = _process_cpu_s(server_pid) if server_pid is not None else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    thread_started = time.thread_time()
    for _ in range(runs):
        began = time.perf_counter()
        blueprint.run(hall)
        times.append((time.perf_counter() - began) * 1000)
    client_ms = (time.thread_time() - thread_started) / runs * 1000
    process_ms = (time.process_time() - cpu_started) / runs * 1000
    rate = runs / (time.perf_counter() - started)
    if server_pid is None:
        return rate, times, client_ms, process_ms - client_ms  # the emulator's threads
    server_now = _process_cpu_s(server_pid)
    if server_started is None or server_now is None:
        return rate, times, client_ms, float("nan")
    return rate, times, client_ms, (server_now - server_started) / runs * 1000


def _report(label: str, rate: float, times: list[float], client_ms: float, emulator_ms: float) -> None:
    times = sorted(times)
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"{label:44} {rate:6.0f} replays/s ({rate / TARGET:4.2f}x the {TARGET:,.0f}/s target)   "
        f"p50 {p50:5.2f} ms   p99 {p99:6.2f} ms   CPU/replay {client_ms + emulator_ms:4.2f} ms = "
        f"replay {client_ms:4.2f} + emulator {emulator_ms:4.2f}"
    )


def _http_floor(url: str, token: str, runs: int) -> tuple[float, float, float]:
    """The gate's one request to the in-process emulator, sent with the standard library and nothing else:
    what a replay cannot go below in one process. (requests/s, client CPU ms, emulator CPU ms)."""
    parts = httpx.URL(url)
    body = json.dumps(
        {"capability_id": "cap.data.write.v1", "worker_id": "wrk_make_acme_prod", "env": "prod"}
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = http.client.HTTPConnection(parts.host, parts.port)

    def one() -> None:
        conn.request("POST", "/api/route", body=body, headers=headers)
        conn.getresponse().read()

    for _ in range(50):
        one()
    started, cpu_started, thread_started = time.perf_counter(), time.process_time(), time.thread_time()
    for _ in range(runs):
        one()
    client_ms = (time.thread_time() - thread_started) / runs * 1000
    process_ms = (time.process_time() - cpu_started) / runs * 1000
    conn.close()
    return runs / (time.perf_counter() - started), client_ms, process_ms - client_ms


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--behaviour", default="deny")
    args = parser.parse_args()

    load_started = time.perf_counter()
    blueprint = load_blueprint(BLUEPRINT)
    load_ms = (time.perf_counter() - load_started) * 1000
    print(
        f"{BLUEPRINT.relative_to(ROOT)}: loaded and checked in {load_ms:.1f} ms; Hall behaviour "
        f"{args.behaviour}"
    )

    with HallEmulator(default=args.behaviour) as emulator:
        hall = HallEndpoint(emulator.url, emulator.tokens[0], emulator)
        rate, times, client, emulator_cpu = _measure(blueprint, hall, args.runs, args.warmup)
        _report("emulator in-process (journal read per run)", rate, times, client, emulator_cpu)
        rate, client, emulator_cpu = _http_floor(emulator.url, emulator.tokens[0], args.runs)
        print(
            f"{'floor: one bare http.client POST, no replay':44} {rate:6.0f} requests/s "
            f"({rate / TARGET:4.2f}x)   CPU/request {client + emulator_cpu:4.2f} ms = client {client:4.2f} + "
            f"emulator {emulator_cpu:4.2f}"
        )
        emulator.set_default("timeout")
        began = time.perf_counter()
        run = blueprint.run(hall, settings={"time_scale": 0.01})
        wall = time.perf_counter() - began
        modelled = run.to_json()["time"]
        print(
            f"{'Hall never answers (timeout, Break x3)':44} {wall:6.3f} s wall for "
            f"{len(run.hall_requests)} calls "
            f"of 10 s modelled each; retries until +{modelled['modelled_s'] / 60:.0f} min on the "
            "virtual clock"
        )

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "hallsim", "serve", "--port", str(port), "--behaviour", args.behaviour],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{url}/__hall/health", timeout=0.5)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise SystemExit("hallsim serve did not start within 10 s") from None
                time.sleep(0.05)
        endpoint = HallEndpoint(url, "t")
        rate, times, client, emulator_cpu = _measure(blueprint, endpoint, args.runs, args.warmup, server.pid)
        _report("emulator in its own process (hallsim serve)", rate, times, client, emulator_cpu)
    finally:
        server.terminate()
        server.wait(timeout=10)
        close_shared_client()


if __name__ == "__main__":
    main()
