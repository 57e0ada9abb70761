"""`hallsim` ended from outside: SIGTERM, SIGKILL and Ctrl-C of a running matrix, SIGTERM of `hallsim serve`,
and a pytest run using the plugin. Nothing it started may be alive 2 s later, and a signal's exit status is
128 + its number, never a verdict code (docs/pipedream.md "Processes and signals")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HALLSIM = [sys.executable, "-c", "from hallsim.cli import main; main()"]

# a gate whose step starts a shell background job and then waits, so the matrix is mid-run when it is ended
SLOW_GATE = """\
name: slow gate
trigger: {type: http, event: {}}
env: {PYHALL_HALL_URL: "{{hall.url}}", HALL_SESSION_TOKEN: "{{hall.token}}"}
steps:
  - name: gate
    source: |
      import { exec } from 'node:child_process';
      export default defineComponent({
        async run({ steps, $ }) {
          exec('sleep MARKER &');
          await fetch(process.env.PYHALL_HALL_URL + '/api/route', { method: 'POST',
            headers: { 'Content-Type': 'application/json',
              Authorization: 'Bearer ' + process.env.HALL_SESSION_TOKEN },
            body: JSON.stringify({ capability_id: 'x' }) }).catch(() => {});
          await new Promise((r) => setTimeout(r, 60000));
        },
      });
  - name: write
    protected: true
    source: |
      export default defineComponent({ async run() {} });
"""


def _table() -> dict[int, tuple[int, bytes]]:
    """pid -> (ppid, command line) of every live process."""
    table: dict[int, tuple[int, bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] != b"Z":
            table[int(entry.name)] = (int(fields[1]), cmdline)
    return table


def descendants(root: int) -> set[int]:
    table = _table()
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in table.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found - {root}


def with_marker(marker: str) -> set[int]:
    return {pid for pid, (_, cmdline) in _table().items() if marker.encode() in cmdline}


def alive(pids: set[int]) -> set[int]:
    table = _table()
    return {pid for pid in pids if pid in table}


def start_matrix(tmp_path: Path, marker: str) -> subprocess.Popen[bytes]:
    gate = tmp_path / "slow.yaml"
    gate.write_text(SLOW_GATE.replace("MARKER", marker), encoding="utf-8")
    return subprocess.Popen(
        [*HALLSIM, "matrix", str(gate), "--time-scale", "1", "--concurrency", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,  # so the test's own signals never reach it, and its group can be named
    )


def wait_for_children(proc: subprocess.Popen[bytes], marker: str, within: float = 60) -> set[int]:
    """Wait until the matrix has started its Node host and a step's background job; return its processes."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if with_marker(marker):
            return descendants(proc.pid) | with_marker(marker)
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the matrix never started its steps")


def gone_within(pids: set[int], seconds: float) -> set[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_the_matrix_with_its_status_and_leaves_no_process(tmp_path, signum, status) -> None:
    marker = f"46.{os.getpid()}{int(signum)}1"
    proc = start_matrix(tmp_path, marker)
    started = wait_for_children(proc, marker)
    assert started, "expected the Node host and a step's child"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status
    assert f"stopped by {signal.Signals(signum).name}" in err.decode()
    assert not gone_within(started, 2.0)


def test_sigkill_of_the_matrix_leaves_no_process(tmp_path) -> None:
    marker = f"46.{os.getpid()}91"
    proc = start_matrix(tmp_path, marker)
    started = wait_for_children(proc, marker)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not gone_within(started, 2.0)


def test_serve_prints_its_stop_line_on_sigterm(tmp_path) -> None:
    proc = subprocess.Popen(
        [*HALLSIM, "serve", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert b"listening on" in first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert b"Hall emulator stopped." in out
    assert proc.returncode == 143, err


def test_a_pytest_run_using_the_plugin_leaves_no_process_when_killed(tmp_path) -> None:
    marker = f"46.{os.getpid()}92"
    gate = tmp_path / "slow.yaml"
    gate.write_text(SLOW_GATE.replace("MARKER", marker), encoding="utf-8")
    (tmp_path / "test_slow.py").write_text(
        textwrap.dedent(
            f"""
            from hallsim.harness import HallEndpoint, load_workflow

            def test_slow(hall_emulator):
                load_workflow({str(gate)!r}).run(
                    HallEndpoint(hall_emulator.url, "t", hall_emulator), settings={{"time_scale": 1.0}}
                )
            """
        ),
        encoding="utf-8",
    )
    for signum in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            start_new_session=True,
        )
        started = wait_for_children(proc, marker)
        proc.send_signal(signum)
        proc.communicate(timeout=30)
        assert not gone_within(started, 2.0), signum
