"""The long-lived Node host (host.mjs) that runs workflows, driven over JSON lines.

One host per Node executable per Python process, started on first use and ended at exit (its stdin closes,
so it also ends when Python dies without cleaning up). Runs may be sent from several threads at once. A host
that stops answering is killed and a new one starts for the next run."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import subprocess
import threading
from collections import deque
from pathlib import Path
from typing import Any

from hallsim.harness._errors import HarnessError
from hallsim.harness.node import NodeBinary
from hallsim.harness.stubs import stub_authority

HOST_SCRIPT = Path(__file__).with_name("host.mjs")
#: vm.SourceTextModule (step modules linked to the @pipedream/platform stand-in) needs this flag on Node 18-24
NODE_FLAGS = ("--experimental-vm-modules", "--no-warnings")


class NodeHostError(HarnessError):
    """The Node host died or stopped answering."""


class _HostDied(Exception):
    pass


class _Pending:
    __slots__ = ("died", "done", "error", "proc", "result")

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc  # the host process the request went to
        self.done = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self.died = False


class NodeHost:
    def __init__(self, node: NodeBinary) -> None:
        self.node = node
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stderr: deque[str] = deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _start(self) -> subprocess.Popen[bytes]:
        env = {"PATH": os.environ.get("PATH", "")}  # the host never passes Python's environment to steps
        # the stub service's TLS authority (stubs/_tls.py): https calls the guard sends to the stub verify
        env["NODE_EXTRA_CA_CERTS"] = str(stub_authority().ca_file)
        if os.name == "nt":
            env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
        try:
            proc = subprocess.Popen(
                [str(self.node.path), *NODE_FLAGS, str(HOST_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=str(HOST_SCRIPT.parent),
            )
        except OSError as err:
            raise NodeHostError(f"cannot start Node.js {self.node.describe()}: {err}") from None
        threading.Thread(target=self._read, args=(proc,), name="hallsim-node-host", daemon=True).start()
        threading.Thread(
            target=self._read_stderr, args=(proc,), name="hallsim-node-stderr", daemon=True
        ).start()
        return proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                self._stderr.append(f"(unexpected output) {raw[:200]!r}")
                continue
            with self._lock:
                pending = self._pending.pop(message.get("id"), None)
            if pending is not None:
                pending.result = message.get("result")
                pending.error = message.get("error")
                pending.done.set()
        proc.stdout.close()
        code = proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
            if proc.stdin is not None and not proc.stdin.closed:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
            orphans = [(i, p) for i, p in self._pending.items() if p.proc is proc]
            for request_id, _ in orphans:
                del self._pending[request_id]
        for _, pending in orphans:
            pending.died = True
            pending.error = f"the Node host exited (code {code}){self._stderr_tail()}"
            pending.done.set()

    def _read_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self._stderr.append(raw.decode("utf-8", errors="replace").rstrip())
        proc.stderr.close()

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line]
        return (": " + " | ".join(lines[-5:])) if lines else ""

    def request(self, op: str, payload: dict[str, Any] | None = None, *, wall_timeout: float) -> Any:
        """Send one request and wait for its answer. A host that had already died (killed from outside)
        before answering is replaced and the request sent once more; a second death is an error."""
        try:
            return self._request(op, payload, wall_timeout)
        except _HostDied:
            try:
                return self._request(op, payload, wall_timeout)
            except _HostDied as err:
                raise NodeHostError(f"the Node host failed: {err}") from None

    def _request(self, op: str, payload: dict[str, Any] | None, wall_timeout: float) -> Any:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            pending = _Pending(proc)
            request_id = next(self._ids)
            self._pending[request_id] = pending
            line = json.dumps({"id": request_id, "op": op, **(payload or {})}, separators=(",", ":")) + "\n"
            try:
                assert proc.stdin is not None
                proc.stdin.write(line.encode("utf-8"))
                proc.stdin.flush()
            except OSError as err:
                self._pending.pop(request_id, None)
                raise _HostDied(f"cannot talk to the Node host: {err}{self._stderr_tail()}") from None
        if not pending.done.wait(wall_timeout):
            with self._lock:
                self._pending.pop(request_id, None)
            self._kill(proc)
            raise NodeHostError(
                f"the Node host ({self.node.describe()}) gave no answer within {wall_timeout:.1f} s of wall "
                f"time; it was ended and a new one starts for the next run{self._stderr_tail()}"
            )
        if pending.died:
            raise _HostDied(pending.error)
        if pending.error is not None:
            raise NodeHostError(f"the Node host failed: {pending.error}")
        return pending.result

    def run(self, spec: dict[str, Any], *, wall_timeout: float) -> dict[str, Any]:
        result: dict[str, Any] = self.request("run", {"run": spec}, wall_timeout=wall_timeout)
        return result

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()
        if proc.stdin is not None and not proc.stdin.closed:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def close(self) -> None:
        """End the host: close its stdin (it terminates its workers and exits), kill it if it lingers."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self._kill(proc)


_hosts: dict[Path, NodeHost] = {}
_hosts_lock = threading.Lock()


def host_for(node: NodeBinary) -> NodeHost:
    """The shared host for this Node executable."""
    with _hosts_lock:
        host = _hosts.get(node.path)
        if host is None:
            host = _hosts[node.path] = NodeHost(node)
        return host


def close_hosts() -> None:
    """End every Node host this process started (also done at exit)."""
    with _hosts_lock:
        hosts = list(_hosts.values())
        _hosts.clear()
    for host in hosts:
        host.close()


atexit.register(close_hosts)
