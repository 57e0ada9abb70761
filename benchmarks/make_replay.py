"""Replays per second of fixtures/make/gate_break.blueprint.json, one after another, against the emulator.

Target: >= 2,500 warm replays/s. Also shown: CPU per replay (user + system of this process, the in-process
emulator's threads included), which a loaded machine swells far less than wall time. Two set-ups: the
emulator in-process (the Python API, as tests and the matrix use it; the run reads its journal) and the
emulator in its own process (`hallsim serve`, nothing shared but the socket). Also shown: the wall time of a
replay whose Hall never answers (the documented 10 s module
timeout, scaled by time_scale 0.01, then Break's three retries).

.venv/bin/python benchmarks/make_replay.py [--runs 1000] [--behaviour deny]"""

from __future__ import annotations

import argparse
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


def _measure(
    blueprint: MakeBlueprint, hall: HallEndpoint, runs: int, warmup: int
) -> tuple[float, list[float], float]:
    for _ in range(warmup):
        blueprint.run(hall)
    times = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    for _ in range(runs):
        began = time.perf_counter()
        blueprint.run(hall)
        times.append((time.perf_counter() - began) * 1000)
    cpu_ms = (time.process_time() - cpu_started) / runs * 1000
    return runs / (time.perf_counter() - started), times, cpu_ms


def _report(label: str, rate: float, times: list[float], cpu_ms: float) -> None:
    times = sorted(times)
    p50 = statistics.median(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"{label:42} {rate:8.0f} replays/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
        f"CPU {cpu_ms:5.2f} ms/replay"
    )


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
        rate, times, cpu = _measure(blueprint, hall, args.runs, args.warmup)
        _report("emulator in-process (journal read per run)", rate, times, cpu)
        emulator.set_default("timeout")
        began = time.perf_counter()
        run = blueprint.run(hall, settings={"time_scale": 0.01})
        wall = time.perf_counter() - began
        modelled = run.to_json()["time"]
        print(
            f"{'Hall never answers (timeout, Break x3)':42} {wall:8.3f} s wall for "
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
        rate, times, cpu = _measure(blueprint, HallEndpoint(url, "t"), args.runs, args.warmup)
        _report("emulator in its own process (hallsim serve)", rate, times, cpu)
    finally:
        server.terminate()
        server.wait(timeout=10)
        close_shared_client()


if __name__ == "__main__":
    main()
