"""The matrix scaled out: many gates at once, as an organisation with hundreds of them runs it in CI.

Copies the six documented fixtures (fixtures/pipedream and fixtures/make, with the step files they name) into
--workflows / 6 folders of a temporary directory, then runs, each as a fresh process:
- `pytest --hallsim-matrix DIR -n WORKERS --dist loadgroup` (pytest-xdist spreads the gates over the cores,
  each worker runs a gate's rows side by side; one test per workflow x behaviour, 22 per gate);
- `hallsim matrix DIR/* --concurrency C --json` (one process, rows side by side on C emulators).
For each it prints wall time, CPU time of the process tree, CPU per row, and the ratio to the target.
Reference, in the same run: as many empty tests as there are rows, with the same pytest and xdist options
(`pytest-floor`), which is what pytest and xdist alone cost for that many items on this machine.
Target (issue "Speed"): 200 workflows (4,400 rows) <= 15 s on 2 cores.

    .venv/bin/python benchmarks/matrix_scale.py [--workflows 200] [--workers 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 15.0
ROWS_PER_GATE = 22


def copy_fixtures(into: Path, workflows: int) -> list[Path]:
    """--workflows gates: whole copies of the six fixtures (each copy keeps its relative step files)."""
    gates: list[Path] = []
    copies = max(1, -(-workflows // 6))
    for k in range(copies):
        folder = into / f"copy{k:03d}"
        shutil.copytree(ROOT / "fixtures" / "pipedream", folder / "pipedream")
        shutil.copytree(ROOT / "fixtures" / "make", folder / "make")
        gates.extend(sorted((folder / "pipedream").glob("*.yaml")) + sorted((folder / "make").glob("*.json")))
    for extra in gates[workflows:]:  # trim to the number asked for
        extra.unlink()
    return gates[:workflows]


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the process tree, combined output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=1800)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout + done.stderr


def report(label: str, wall: float, cpu: float, rows: int, *, reference: bool = False) -> None:
    """One line; a reference (pytest-floor) is not held to the target."""
    target = " " * 26 if reference else f"= {wall / TARGET_S:4.2f}x the 15 s target"
    print(
        f"{label:<44} {wall:6.1f} s wall {target}   CPU {cpu:6.1f} s = "
        f"{cpu / max(rows, 1) * 1000:5.1f} ms per row ({rows} rows, {rows / wall:,.0f} rows/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--workers", default="2", help="pytest-xdist -n (a number or auto)")
    parser.add_argument("--concurrency", type=int, default=8, help="hallsim matrix --concurrency")
    parser.add_argument("--skip-cli", action="store_true", help="only the pytest run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hallsim-matrix-scale-") as tmp:
        folder = Path(tmp)
        gates = copy_fixtures(folder, args.workflows)
        rows = len(gates) * ROWS_PER_GATE
        print(
            f"{len(gates)} workflows ({rows} rows) on {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        pytest = [sys.executable, "-m", "pytest", "-n", args.workers, "--dist", "loadgroup", "-q"]
        pytest += ["-p", "no:cacheprovider"]
        wall, cpu, out = timed(
            [*pytest, "--hallsim-matrix", str(folder), "--hallsim-fail-on", "none", "--rootdir", str(folder)],
            folder,
        )
        summary = re.findall(r"(\d+) (passed|failed|error)", out)
        print(f"  pytest: {', '.join(f'{n} {what}' for n, what in summary) or out[-400:]}")
        report(f"pytest --hallsim-matrix -n {args.workers} --dist loadgroup", wall, cpu, rows)
        floor = folder / "floor"
        floor.mkdir()
        (floor / "test_floor.py").write_text(
            "import pytest\n\n\n"
            f"@pytest.mark.parametrize('row', range({rows}))\ndef test_row(row):\n    pass\n",
            encoding="utf-8",
        )
        floor_wall, floor_cpu, _ = timed([*pytest, "--rootdir", str(floor), str(floor)], floor)
        report(f"pytest-floor: {rows} empty tests, same options", floor_wall, floor_cpu, rows, reference=True)
        print(
            f"  the matrix under pytest = {wall / floor_wall:.1f}x the wall and {cpu / floor_cpu:.1f}x the "
            f"CPU of pytest and xdist alone; beyond them: {(cpu - floor_cpu) / rows * 1000:.1f} ms of CPU "
            "per row"
        )
        if not args.skip_cli:
            wall, cpu, _ = timed(
                [
                    sys.executable,
                    "-c",
                    "from hallsim.cli import main; main()",
                    "matrix",
                    *map(str, gates),
                    "--concurrency",
                    str(args.concurrency),
                    "--json",
                    "--fail-on",
                    "none",
                ],
                folder,
            )
            report(f"hallsim matrix --concurrency {args.concurrency}", wall, cpu, rows)


if __name__ == "__main__":
    main()
