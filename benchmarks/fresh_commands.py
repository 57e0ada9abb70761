"""Fresh commands: wall time of `hallsim replay` of the inline Pipedream gate and of a Make blueprint, each as
a new process, against `node -e 0`, with the phases of a Pipedream replay measured in one process (imports,
finding Node, loading the workflow, the first run, stopping the audit sink, ending the Node host).

Targets (benchmarks, not tests): inline gate <= 0.4 s, Make blueprint <= 0.25 s on an idle machine. On a
shared machine the wall times swell with the load; the CPU times (user + system, children included) and the
phases that wait rather than compute (sink stop, host end) say more.

.venv/bin/python benchmarks/fresh_commands.py [--runs 10]"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HALLSIM = [sys.executable, "-c", "from hallsim.cli import main; main()"]
COMMANDS = {
    "replay inline gate": [*HALLSIM, "replay", "fixtures/pipedream/inline_option_a.yaml", "--hall", "allow"],
    "replay Make blueprint": [
        *HALLSIM,
        "replay",
        "fixtures/make/gate_break.blueprint.json",
        "--hall",
        "allow",
    ],
}

PHASES = r"""
import time
t0 = time.perf_counter()
marks = []
def mark(name):
    marks.append((name, time.perf_counter()))
from hallsim.cli import commands  # noqa
import hallsim.cli.commands.replay  # noqa
from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.workflow import load_workflow
from hallsim.harness.pipedream import close_hosts
from hallsim.harness.pipedream import _sink
from hallsim.harness.node import find_node
mark("imports")
node = find_node()
mark("find Node")
workflow = load_workflow("fixtures/pipedream/inline_option_a.yaml")
mark("load workflow")
with HallEmulator() as hall:
    mark("start the emulator")
    run = workflow.run(HallEndpoint(hall.url, "t", hall), settings={"time_scale": 0.01})
    mark("first run")
sink = _sink.shared_sink.forget()
if sink is not None:
    sink.stop()
mark("stop the audit sink")
close_hosts()
mark("end the Node host")
last = t0
print(f"node {node.version_text} ({node.source})")
for name, at in marks:
    print(f"{name}\t{(at - last) * 1000:.1f}")
    last = at
"""


def run_once(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    floor_wall, floor_cpu = zip(*(run_once(["node", "-e", "0"]) for _ in range(args.runs)), strict=True)
    print(
        f"{'node -e 0 (PATH)':<24} wall median {statistics.median(floor_wall) * 1000:6.0f} ms   "
        f"CPU median {statistics.median(floor_cpu) * 1000:5.0f} ms"
    )
    for name, command in COMMANDS.items():
        walls, cpus = zip(*(run_once(command) for _ in range(args.runs)), strict=True)
        print(
            f"{name:<24} wall median {statistics.median(walls) * 1000:6.0f} ms   "
            f"CPU median {statistics.median(cpus) * 1000:5.0f} ms   "
            f"({statistics.median(walls) / statistics.median(floor_wall):.1f}x node -e 0)"
        )
    print("phases of one fresh Pipedream replay (ms, median of runs):")
    table: dict[str, list[float]] = {}
    for _ in range(args.runs):
        done = subprocess.run(
            [sys.executable, "-c", PHASES], cwd=ROOT, capture_output=True, text=True, check=True
        )
        lines = done.stdout.splitlines()
        table.setdefault(lines[0], [])
        for line in lines[1:]:
            name, ms = line.split("\t")
            table.setdefault(name, []).append(float(ms))
    for name, values in table.items():
        print(f"  {name:<22} {statistics.median(values):7.1f}" if values else f"  {name}")


if __name__ == "__main__":
    main()
