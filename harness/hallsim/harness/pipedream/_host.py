"""The long-lived Node host (host.mjs) that runs workflows, driven over JSON lines.

One host per Node executable per Python process, started on first use and ended at exit. Runs may be sent
from several threads at once. A host that stops answering is killed and a new one starts for the next run; a
host that dies during a run is an error of that run, never retried (the run may already have called the Hall).

The channel is a Unix socket this process listens on for a moment (in a private folder, removed once the host
has connected); every line the host sends carries a key given to it on its stdin, so a line a step manages to
write to the channel is refused. The host's stdout is a pipe it reads back into the runs' output, its stderr
comes here (diagnostics shown when it fails), and its stdin stays open until this process ends: the host ends,
with everything its steps started, when stdin closes (this process ended, however), when the channel closes,
when its parent changes, or on SIGTERM. It runs in a session of its own, so a Ctrl-C in a terminal reaches
hallsim alone, which then ends the host in order; what the host could not end (it was killed with SIGKILL) is
swept from here (_processes.py)."""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import itertools
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hallsim.harness._errors import HarnessError
from hallsim.harness.node import NodeBinary
from hallsim.harness.pipedream._processes import sweep_host
from hallsim.harness.stubs import stub_authority

HOST_SCRIPT = Path(__file__).with_name("host.mjs")
#: vm.SourceTextModule (step modules linked to the @pipedream/platform stand-in) needs this flag on Node 18-24
NODE_FLAGS = ("--experimental-vm-modules", "--no-warnings")
#: pipedream.com/docs/workflows/limits "Memory": a workflow runs with 256MB unless its settings raise it
MEMORY_MB = 256


class NodeHostError(HarnessError):
    """The Node host died or stopped answering."""


class _HostDied(Exception):
    pass


class _Pending:
    __slots__ = ("accepted", "died", "done", "error", "proc", "result")

    def __init__(self, proc: _Process) -> None:
        self.proc = proc  # the host process the request went to
        self.done = threading.Event()
        self.result: Any = None
        self.error: str | None = None
        self.died = False
        self.accepted = False  # the host has read the request (so a run may have begun)


class _Process:
    """One running host: its process, its channel and the key its lines carry."""

    def __init__(self, popen: subprocess.Popen[bytes], channel: socket.socket, key: str, tag: str) -> None:
        self.popen = popen
        self.channel = channel
        self.key = key
        self.tag = tag
        self.write_lock = threading.Lock()
        self.closed = False
        self.reader: threading.Thread | None = None  # ends when the channel closes (the host has exited)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def send(self, line: bytes) -> None:
        with self.write_lock:
            self.channel.sendall(line)

    def close_channel(self) -> None:
        with contextlib.suppress(OSError):
            self.channel.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.channel.close()


class NodeHost:
    def __init__(self, node: NodeBinary) -> None:
        self.node = node
        self._proc: _Process | None = None
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stderr: deque[str] = deque(maxlen=40)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.popen.poll() is None else None

    def _start(self, timeout: float) -> _Process:
        env = {"PATH": os.environ.get("PATH", "")}  # the host never passes Python's environment to steps
        # the stub service's TLS authority (stubs/_tls.py): https calls the guard sends to the stub verify
        env["NODE_EXTRA_CA_CERTS"] = str(stub_authority().ca_file)
        if os.name == "nt":
            env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
        folder = tempfile.mkdtemp(prefix="hallsim-host-")  # mode 0700: no other user reaches the socket
        address = os.path.join(folder, "channel")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        out_read, out_write = os.pipe()
        key, tag = secrets.token_hex(16), "h" + secrets.token_hex(6)
        try:
            listener.bind(address)
            listener.listen(1)
            try:
                popen = subprocess.Popen(
                    [str(self.node.path), *NODE_FLAGS, str(HOST_SCRIPT)],
                    stdin=subprocess.PIPE,
                    stdout=out_write,
                    stderr=subprocess.PIPE,
                    pass_fds=(out_read,),
                    env=env,
                    cwd=str(HOST_SCRIPT.parent),
                    start_new_session=True,
                )
            except OSError as err:
                raise NodeHostError(f"cannot start Node.js {self.node.describe()}: {err}") from None
            threading.Thread(
                target=self._read_stderr, args=(popen,), name="hallsim-node-stderr", daemon=True
            ).start()
            hello = {
                "key": key,
                "tag": tag,
                "channel": address,
                "output_fd": out_read,
                "memory_mb": MEMORY_MB,
            }
            try:
                channel = self._connect(popen, listener, hello, timeout)
            except BaseException:
                self._end(popen, tag)
                raise
        finally:
            os.close(out_read)
            os.close(out_write)
            listener.close()
            shutil.rmtree(folder, ignore_errors=True)
        proc = _Process(popen, channel, key, tag)
        proc.reader = threading.Thread(target=self._read, args=(proc,), name="hallsim-node-host", daemon=True)
        proc.reader.start()
        return proc

    def _connect(
        self, popen: subprocess.Popen[bytes], listener: socket.socket, hello: dict[str, Any], timeout: float
    ) -> socket.socket:
        """Hand the host its hello line on stdin and wait until it connects with the key."""
        assert popen.stdin is not None
        try:
            popen.stdin.write(json.dumps(hello).encode("utf-8") + b"\n")
            popen.stdin.flush()
        except OSError as err:
            raise NodeHostError(f"cannot talk to the Node host: {err}{self._stderr_tail()}") from None
        deadline = time.monotonic() + timeout
        listener.settimeout(0.05)
        while True:
            try:
                channel, _ = listener.accept()
                break
            except TimeoutError:
                if popen.poll() is not None:
                    time.sleep(0.05)  # let the stderr reader take its last words
                    raise NodeHostError(
                        f"the Node host ({self.node.describe()}) exited while starting "
                        f"(code {popen.returncode}){self._stderr_tail()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise NodeHostError(
                        f"the Node host ({self.node.describe()}) gave no answer within {timeout:.1f} s of "
                        f"wall time: it did not connect to its channel{self._stderr_tail()}"
                    ) from None
        channel.settimeout(max(0.1, deadline - time.monotonic()))
        first = b""
        with contextlib.suppress(OSError):
            while not first.endswith(b"\n") and len(first) < 4096:
                chunk = channel.recv(4096 - len(first))
                if not chunk:
                    break
                first += chunk
        channel.settimeout(None)
        try:
            ok = json.loads(first).get("hello") == hello["key"]
        except (ValueError, AttributeError):
            ok = False
        if not ok:
            channel.close()
            raise NodeHostError(f"the Node host did not greet with its key (got {first[:80]!r})")
        return channel

    def _read(self, proc: _Process) -> None:
        with proc.channel.makefile("rb") as lines:
            try:
                for raw in lines:
                    self._dispatch(proc, raw)
            except OSError:
                pass
        # the channel closes when the host exits (or when this side closed it, after killing the host): wait
        # for its status; a host that closed it and lives on no longer serves: end it
        try:
            code = proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._end(proc.popen, proc.tag)
            code = proc.popen.returncode
        if code != 0:
            sweep_host(proc.pid, proc.tag)  # it was killed before it could end what its steps started
        with self._lock:
            if self._proc is proc:
                self._proc = None
            proc.closed = True
            orphans = [(i, p) for i, p in self._pending.items() if p.proc is proc]
            for request_id, _ in orphans:
                del self._pending[request_id]
        proc.close_channel()
        with contextlib.suppress(OSError):
            if proc.popen.stdin is not None:
                proc.popen.stdin.close()
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        for _, pending in orphans:
            pending.died = True
            pending.error = f"the Node host (pid {proc.pid}) died ({how}){self._stderr_tail()}"
            pending.done.set()

    def _dispatch(self, proc: _Process, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            self._stderr.append(f"(a line on the host channel that is not JSON) {raw[:200]!r}")
            return
        if not secrets.compare_digest(str(message.get("key")), proc.key):
            self._stderr.append(f"(a line on the host channel without the host's key, refused) {raw[:200]!r}")
            return
        if "diag" in message:
            self._stderr.append(str(message["diag"]))
            return
        request_id = message.get("id")
        if not isinstance(request_id, int):
            return
        with self._lock:
            if message.get("accepted"):
                waiting = self._pending.get(request_id)
                if waiting is not None:
                    waiting.accepted = True
                return
            pending = self._pending.pop(request_id, None)
        if pending is not None:
            pending.result = message.get("result")
            pending.error = message.get("error")
            pending.done.set()

    def _read_stderr(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stderr is not None
        for raw in popen.stderr:
            self._stderr.append(raw.decode("utf-8", errors="replace").rstrip())
        popen.stderr.close()

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line]
        return (": " + " | ".join(lines[-5:])) if lines else ""

    def request(self, op: str, payload: dict[str, Any] | None = None, *, wall_timeout: float) -> Any:
        """Send one request and wait for its answer. A host that died before it read the request (killed from
        outside between runs) is replaced and the request sent to the new one; a host that dies after it took
        the request is an error, never retried: the run may have done part of its work already."""
        try:
            return self._request(op, payload, wall_timeout)
        except _HostDied as err:
            if not err.args[1]:
                raise NodeHostError(
                    f"the Node host failed during the {op}: {err.args[0]}; not retried"
                ) from None
        try:
            return self._request(op, payload, wall_timeout)
        except _HostDied as err:
            raise NodeHostError(f"the Node host failed during the {op}: {err.args[0]}; not retried") from None

    def _request(self, op: str, payload: dict[str, Any] | None, wall_timeout: float) -> Any:
        with self._lock:
            if self._proc is None or self._proc.closed or self._proc.popen.poll() is not None:
                self._proc = self._start(wall_timeout)
            proc = self._proc
            pending = _Pending(proc)
            request_id = next(self._ids)
            self._pending[request_id] = pending
            line = json.dumps({"id": request_id, "op": op, **(payload or {})}, separators=(",", ":")) + "\n"
            try:
                proc.send(line.encode("utf-8"))
            except OSError as err:
                self._pending.pop(request_id, None)
                # (message, retry): nothing reached the host
                raise _HostDied(f"cannot talk to the Node host: {err}{self._stderr_tail()}", True) from None
        if not pending.done.wait(wall_timeout):
            with self._lock:
                self._pending.pop(request_id, None)
            self._end(proc.popen, proc.tag)
            raise NodeHostError(
                f"the Node host ({self.node.describe()}) gave no answer within {wall_timeout:.1f} s of wall "
                f"time; it was ended and a new one starts for the next run{self._stderr_tail()}"
            )
        if pending.died:
            # (message, retry): a request the host never read cannot have started anything
            raise _HostDied(pending.error, not pending.accepted)
        if pending.error is not None:
            raise NodeHostError(f"the Node host failed: {pending.error}")
        return pending.result

    def run(self, spec: dict[str, Any], *, wall_timeout: float) -> dict[str, Any]:
        payload = {"run": spec, "spare": _spare_worker.get()}
        result: dict[str, Any] = self.request("run", payload, wall_timeout=wall_timeout)
        return result

    @staticmethod
    def _end(popen: subprocess.Popen[bytes], tag: str) -> None:
        """Kill the host and everything its steps started."""
        if popen.poll() is None:
            popen.kill()
        if popen.stdin is not None and not popen.stdin.closed:
            with contextlib.suppress(OSError):
                popen.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
        sweep_host(popen.pid, tag)

    def close(self) -> None:
        """End the host: close its stdin (it ends what its steps started and exits), kill it if it lingers."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            if proc.popen.stdin is not None:
                proc.popen.stdin.close()
        # the reader ends when the host has exited (and sweeps what a killed host left)
        if proc.reader is not None:
            proc.reader.join(timeout=2)
        if proc.popen.poll() is None:
            self._end(proc.popen, proc.tag)
        proc.close_channel()


#: whether the host keeps a spare worker warm after the runs made in this context (see last_runs)
_spare_worker: contextvars.ContextVar[bool] = contextvars.ContextVar("hallsim_spare_worker", default=True)


@contextlib.contextmanager
def last_runs() -> Iterator[None]:
    """Runs made inside (on this thread) tell the host that no run follows them, so it does not start a spare
    worker beside them (about 0.2 s of CPU that a one-run command such as `hallsim replay` would end unused).
    The next run made outside asks for the spare again."""
    token = _spare_worker.set(False)
    try:
        yield
    finally:
        _spare_worker.reset(token)


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
