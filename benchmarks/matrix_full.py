"""Wall time of the full fail-closed matrix over the six documented fixtures (target <= 5 s).

Runs `hallsim.harness.matrix.run_matrices` over the three Pipedream workflows and the three Make blueprints,
every behaviour of the emulator's MATRIX_BEHAVIOURS plus the unreachable row, and prints:
- the first (cold) run: emulators start, the Node host starts;
- warm runs (emulators and the Node host reused), median and worst of --repeat;
- the same at other concurrencies, to show what running rows side by side buys on this machine;
- whether every repeat gave the same verdicts;
- the whole command, `hallsim matrix <6 fixtures> --json`, as a user runs it (a fresh process).

    .venv/bin/python benchmarks/matrix_full.py [--repeat 5] [--time-scale 0.01]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = [
    ROOT / "fixtures/pipedream/inline_option_a.yaml",
    ROOT / "fixtures/pipedream/inline_filter.yaml",
    ROOT / "fixtures/pipedream/component.yaml",
    ROOT / "fixtures/make/gate_break.blueprint.json",
    ROOT / "fixtures/make/gate_ignore.blueprint.json",
    ROOT / "fixtures/make/gate_rollback.blueprint.json",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--time-scale", type=float, default=None)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 2, 4, 8])
    args = parser.parse_args()

    from hallsim.harness.matrix import (
        DEFAULT_TIME_SCALE,
        EmulatorPool,
        MatrixJob,
        matrix_behaviours,
        run_matrices,
    )
    from hallsim.harness.workflow import load_workflow

    scale = args.time_scale or DEFAULT_TIME_SCALE
    rows = len(FIXTURES) * (len(matrix_behaviours()) + 1)
    print(f"full matrix: {len(FIXTURES)} workflows x {len(matrix_behaviours()) + 1} rows = {rows} runs")
    print(f"time scale {scale}; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")

    started = time.perf_counter()
    jobs = [MatrixJob(load_workflow(path)) for path in FIXTURES]
    with EmulatorPool(4) as pool:
        reports = run_matrices(jobs, time_scale=scale, pool=pool)
    cold = time.perf_counter() - started
    print(f"cold (load, start 4 emulators and the Node host, run): {cold:.2f} s")
    for report in reports:
        print(f"  {report.summary()}")

    def verdicts(found: list) -> list:
        return [(r.workflow.name, row.behaviour, row.verdict) for r in found for row in r.rows]

    first = verdicts(reports)
    differing = 0
    for concurrency in args.concurrency:
        with EmulatorPool(concurrency) as pool:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                again = run_matrices(jobs, time_scale=scale, pool=pool)
                times.append(time.perf_counter() - started)
                differing += sum(1 for a, b in zip(first, verdicts(again), strict=True) if a != b)
        print(
            f"warm, concurrency {concurrency}: median {statistics.median(times):.2f} s, "
            f"worst {max(times):.2f} s over {args.repeat} runs "
            f"({rows / statistics.median(times):.0f} rows/s)"
        )
    print(f"rows whose verdict differed from the cold run, over all repeats: {differing}")

    command = [str(Path(sys.executable).with_name("hallsim")), "matrix", *map(str, FIXTURES), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    print(
        f"`hallsim matrix <6 fixtures> --json`, a fresh process: {time.perf_counter() - started:.2f} s wall "
        f"(exit {done.returncode}: 1 = a row fails open)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
