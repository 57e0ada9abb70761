"""Ending what the Node host's steps started, from Python, when the host could not do it itself (it was
killed with SIGKILL, or stopped answering).

The host runs in a session of its own (so its session id is its pid) and every child a step starts carries
`HALLSIM_PROCESS=<host tag>.<run>.` in its environment (processes.mjs); a process in that session, or with
that tag, is the host's. Linux does not reuse a pid while it is still the id of a session or process group,
so a session id read here cannot name someone else's processes. Where there is no /proc nothing is swept."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

TAG_NAME = b"HALLSIM_PROCESS="


def _stat(entry: Path) -> tuple[int, int] | None:
    """(process group, session) of a live process, or None."""
    try:
        raw = (entry / "stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 4 or fields[0] == b"Z":
        return None
    return int(fields[2]), int(fields[3])


def _tag(entry: Path) -> bytes | None:
    try:
        environ = (entry / "environ").read_bytes()
    except OSError:
        return None
    for item in environ.split(b"\0"):
        if item.startswith(TAG_NAME):
            return item[len(TAG_NAME) :]
    return None


def host_processes(host_pid: int, tag: str) -> list[int]:
    """Live processes that belong to the host: in its session or process group, or carrying its tag."""
    prefix = f"{tag}.".encode()
    found: list[int] = []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return found
    me = os.getpid()
    for entry in entries:
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in (me, host_pid):
            continue
        stat = _stat(entry)
        if stat is None:
            continue
        pgid, sid = stat
        if host_pid in (pgid, sid):
            found.append(pid)
            continue
        found_tag = _tag(entry)
        if found_tag is not None and found_tag.startswith(prefix):
            found.append(pid)
    return found


def sweep_host(host_pid: int, tag: str) -> int:
    """Kill (SIGKILL) what the host left running; returns how many processes were signalled."""
    killed = 0
    for pid in host_processes(host_pid, tag):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed
