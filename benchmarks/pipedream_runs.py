"""Warm workflow runs of fixtures/pipedream/inline_option_a.yaml, one after another, against the emulator.

Target: median <= 3 ms of wall time per warm run. A cold `node` start costs 30-90 ms, so the harness keeps
Node warm between runs (a long-lived host, a worker thread reused while it stays clean) without leaking
state. Beside wall time it prints CPU per run, which a loaded machine swells far less: the Node host's
(its main thread, its worker threads and V8's helper threads apart, from /proc) and this Python process's
(the in-process emulator answering the Hall calls, the sink and the stub service included).

    .venv/bin/python benchmarks/pipedream_runs.py [--runs 300] [--behaviour allow]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint, load_workflow
from hallsim.harness.node import find_node
from hallsim.harness.pipedream import close_hosts
from hallsim.harness.pipedream._host import host_for

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "fixtures" / "pipedream" / "inline_option_a.yaml"
TARGET_MEDIAN_MS = 3.0
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _thread_cpu(pid: int) -> tuple[float, float, float]:
    """(main thread, worker threads, V8's helper threads) CPU seconds of a Node process, from /proc (zeros
    where /proc is missing). Node names its worker threads WorkerThread; V8's helpers (garbage collection,
    background compilation) and libuv's pool are the rest."""
    main = workers = helpers = 0.0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0, 0.0, 0.0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="latin1") as stat:
                text = stat.read()
        except OSError:
            continue  # the thread ended meanwhile (its CPU is then lost to this figure)
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        if int(tid) == pid:
            main += seconds
        elif name == "WorkerThread":
            workers += seconds
        else:
            helpers += seconds
    return main, workers, helpers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--behaviour", default="allow")
    args = parser.parse_args()

    workflow = load_workflow(WORKFLOW)
    host = host_for(find_node())
    with HallEmulator(default=args.behaviour) as emulator:
        hall = HallEndpoint(emulator.url, emulator.tokens[0], emulator)
        started = time.perf_counter()
        first = workflow.run(hall)
        cold_ms = (time.perf_counter() - started) * 1000
        for _ in range(args.warmup):
            workflow.run(hall)
        pid = host.pid
        times = []
        fresh = 0
        outcomes: dict[str, int] = {}
        node_before = _thread_cpu(pid) if pid else (0.0, 0.0, 0.0)
        python_before = time.process_time()
        began = time.perf_counter()
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run = workflow.run(hall)
            times.append((time.perf_counter() - t0) * 1000)
            outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
            fresh += run.worker.get("runs") == 1
        elapsed = time.perf_counter() - began
        python_cpu = time.process_time() - python_before
        node_after = _thread_cpu(pid) if pid else (0.0, 0.0, 0.0)
        same_host = host.pid == pid
    close_hosts()

    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    median = statistics.median(times)
    per_run = 1000 / args.runs
    host_ms = (node_after[0] - node_before[0]) * per_run
    workers_ms = (node_after[1] - node_before[1]) * per_run
    helpers_ms = (node_after[2] - node_before[2]) * per_run
    python_ms = python_cpu * per_run
    print(f"workflow      {WORKFLOW.relative_to(ROOT)} (Hall: {args.behaviour})")
    print(f"node          {first.node['version']} ({first.node['path']}, from {first.node['source']})")
    print(f"first run     {cold_ms:.1f} ms (starts the Node host and its first worker)")
    print(f"warm runs     {args.runs} sequential, outcomes {outcomes}")
    ratio = median / TARGET_MEDIAN_MS
    print(f"median        {median:.2f} ms per run   (target <= {TARGET_MEDIAN_MS:g} ms; {ratio:.2f}x)")
    print(f"p95           {p95:.2f} ms")
    print(f"throughput    {args.runs / elapsed:.1f} runs/s")
    if same_host and pid:
        print(
            f"CPU per run   {host_ms + workers_ms + helpers_ms + python_ms:.2f} ms: Node host thread "
            f"{host_ms:.2f}, Node worker threads {workers_ms:.2f}, V8 helper threads {helpers_ms:.2f}, "
            f"Python {python_ms:.2f} (emulator, sink, stubs included)"
        )
    else:
        print(f"CPU per run   Python {python_ms:.2f} ms (Node host replaced meanwhile)")
    print(f"fresh workers {fresh} of {args.runs} runs (a clean worker is reused; a dirty one is replaced)")


if __name__ == "__main__":
    main()
