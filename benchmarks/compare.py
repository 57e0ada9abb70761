"""One run that compares: the fresh commands against `node -e 0` and `python -c pass`, the matrix over the six
fixtures against its modelled floor, and CPU per matrix row; prints ratios first.

CPU figures are user + system time of the process tree (`resource.getrusage(RUSAGE_CHILDREN)` around each
fresh process; `RUSAGE_SELF` plus children, and the Node host's from /proc, for the in-process matrix),
which swell far less than wall time on a machine other work loads. Wall figures are shown beside them.
Loopback only; every run is bounded (--runs).

The matrix's modelled floor: each row must wait for the scaled time its platform models (a Make HTTP module's
timeout, a Pipedream step's timeout, a `slow` answer). The rows that hold one of the --concurrency places
share them: the sum of their waits divided by --concurrency; a Make row that only waits for the Hall sleeps
beside them (`hallsim.harness.matrix.sleeps`) and counts only as a single row. The floor is the larger of
that share and the longest single row. Fresh Node workers: how many rows of the warm round got a worker
that had never run before (each costs about 0.15 s of CPU to start).

Targets (benchmarks, not tests): fresh replay of the inline gate <= 0.4 s, of a Make blueprint <= 0.25 s;
matrix over the six fixtures <= 1.2 s fresh, CPU per row <= 4 ms.

    .venv/bin/python benchmarks/compare.py [--runs 5] [--concurrency 4]"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fresh_commands import COMMANDS, HALLSIM  # benchmarks/ is this script's folder, first on sys.path
from matrix_full import FIXTURES as SIX

ROOT = Path(__file__).resolve().parent.parent
FRESH = {
    "node -e 0": ["node", "-e", "0"],
    "python -c pass": [sys.executable, "-c", "pass"],
    **COMMANDS,
    "matrix, six fixtures": [*HALLSIM, "matrix", *map(str, SIX), "--json"],
}


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def fresh(command: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children) of one fresh process."""
    before = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False, timeout=120)
    wall = time.perf_counter() - started
    return wall, _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - before


def _row_floor_s(run: Any) -> float:
    """The scaled wait one row's run must take: what its platform models, times the time scale."""
    if run is None:
        return 0.0
    data = run.to_json()
    if isinstance(data.get("trace"), list):  # a Make replay: the modelled time of each HTTP module
        modelled = sum(float(e.get("modelled_s") or 0) for e in data["trace"] if isinstance(e, dict))
        return modelled * float(data["time"]["time_scale"])
    return float(data.get("modelled_ms") or 0) / 1000 * float(data.get("time_scale") or 0)


def matrix_in_process(concurrency: int) -> dict[str, float]:
    from hallsim.harness.matrix import EmulatorPool, MatrixJob, run_matrices, sleeps
    from hallsim.harness.workflow import load_workflow

    jobs = [MatrixJob(load_workflow(p)) for p in SIX]
    with EmulatorPool(concurrency) as pool:
        run_matrices(jobs, pool=pool)  # warm: Node host, emulators, imports
        host_before = _node_host_cpu()
        before = _cpu(resource.getrusage(resource.RUSAGE_SELF)) + _cpu(
            resource.getrusage(resource.RUSAGE_CHILDREN)
        )
        started = time.perf_counter()
        reports = run_matrices(jobs, pool=pool)
        wall = time.perf_counter() - started
        host_cpu = _node_host_cpu() - host_before
        cpu = (
            _cpu(resource.getrusage(resource.RUSAGE_SELF))
            + _cpu(resource.getrusage(resource.RUSAGE_CHILDREN))
            - before
        )
    rows = [(job, row) for job, report in zip(jobs, reports, strict=True) for row in report.rows]
    floors = [_row_floor_s(row.run) for _, row in rows]
    working = sum(f for (job, row), f in zip(rows, floors, strict=True) if not sleeps(job, row.behaviour))
    floor = max(working / concurrency, max(floors))
    workers = [getattr(row.run, "worker", None) for _, row in rows]
    return {
        "rows": len(rows),
        "fresh_workers": sum(1 for w in workers if w is not None and w.get("runs") == 1),
        "wall": wall,
        "cpu": cpu,
        "host_cpu": host_cpu,
        "floor": floor,
        "sum": working,
        "max": max(floors),
    }


def _node_host_cpu() -> float:
    """CPU seconds of this process's live children (the Node host), from /proc (Linux)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; medians of {args.runs} runs"
    )
    figures: dict[str, tuple[float, float]] = {}
    for name, command in FRESH.items():
        walls, cpus = zip(*(fresh(command) for _ in range(args.runs)), strict=True)
        figures[name] = (statistics.median(walls), statistics.median(cpus))
    node_wall, node_cpu = figures["node -e 0"]
    py_wall, py_cpu = figures["python -c pass"]
    print("fresh commands (ratios: CPU, then wall)")
    for name, (wall, cpu) in figures.items():
        print(
            f"  {name:<22} CPU {cpu * 1000:6.0f} ms = {cpu / node_cpu:5.1f}x node, "
            f"{cpu / py_cpu:5.1f}x python"
            f"   wall {wall * 1000:6.0f} ms = {wall / node_wall:5.1f}x node, {wall / py_wall:5.1f}x python"
        )
    m = matrix_in_process(args.concurrency)
    host_cpu = m["host_cpu"]
    cpu = m["cpu"] + host_cpu
    print(f"matrix over the six fixtures, warm, in process, {args.concurrency} rows side by side")
    print(
        f"  {m['wall']:.2f} s wall = {m['wall'] / m['floor']:.1f}x its modelled floor of {m['floor']:.2f} s "
        f"(scaled waits of the rows that hold a place: sum {m['sum']:.2f} s / {args.concurrency}; "
        f"longest row {m['max']:.2f} s)"
    )
    print(
        f"  {int(m['rows'])} rows; CPU {cpu:.2f} s (Python {m['cpu']:.2f} s + Node host {host_cpu:.2f} s) = "
        f"{cpu / m['rows'] * 1000:.1f} ms per row; {int(m['fresh_workers'])} fresh Node worker(s)"
    )
    fresh_wall, fresh_cpu = figures["matrix, six fixtures"]
    print(
        f"  fresh command: {fresh_wall:.2f} s wall = {fresh_wall / m['floor']:.1f}x the floor; "
        f"CPU {fresh_cpu:.2f} s"
    )


if __name__ == "__main__":
    main()
