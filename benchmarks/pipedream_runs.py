"""Warm workflow runs of fixtures/pipedream/inline_option_a.yaml, one after another, against the emulator.

Targets: median <= 20 ms per warm run, >= 50 runs/s sequentially. A cold `node` start costs ~85 ms
on the reference machine, so the harness must keep Node warm between runs without leaking state.

    .venv/bin/python benchmarks/pipedream_runs.py [--runs 300] [--behaviour allow]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint, load_workflow
from hallsim.harness.pipedream import close_hosts

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "fixtures" / "pipedream" / "inline_option_a.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--behaviour", default="allow")
    args = parser.parse_args()

    workflow = load_workflow(WORKFLOW)
    with HallEmulator(default=args.behaviour) as emulator:
        hall = HallEndpoint(emulator.url, emulator.tokens[0], emulator)
        started = time.perf_counter()
        first = workflow.run(hall)
        cold_ms = (time.perf_counter() - started) * 1000
        for _ in range(args.warmup):
            workflow.run(hall)
        times = []
        fresh = 0
        outcomes: dict[str, int] = {}
        began = time.perf_counter()
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run = workflow.run(hall)
            times.append((time.perf_counter() - t0) * 1000)
            outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
            fresh += run.worker.get("runs") == 1
        elapsed = time.perf_counter() - began
    close_hosts()

    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(f"workflow      {WORKFLOW.relative_to(ROOT)} (Hall: {args.behaviour})")
    print(f"node          {first.node['version']} ({first.node['path']}, from {first.node['source']})")
    print(f"first run     {cold_ms:.1f} ms (starts the Node host and its first worker)")
    print(f"warm runs     {args.runs} sequential, outcomes {outcomes}")
    print(f"median        {statistics.median(times):.2f} ms per run   (target <= 20 ms)")
    print(f"p95           {p95:.2f} ms")
    print(f"throughput    {args.runs / elapsed:.1f} runs/s   (target >= 50 runs/s)")
    print(f"fresh workers {fresh} of {args.runs} runs (a clean worker is reused; a dirty one is replaced)")


if __name__ == "__main__":
    main()
