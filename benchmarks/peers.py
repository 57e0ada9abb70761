"""Other HTTP mock servers, measured beside the emulator in the same run: WireMock and mountebank, each
answering `POST /api/route` with the same bytes the emulator sends for `allow`, journal on.

Where they come from (looked for in this order; a peer that is not found is skipped, and the benchmark says
so):
- WireMock: the jar named by HALLSIM_BENCH_WIREMOCK_JAR, else the one in benchmarks/.peers (the npm package
  `wiremock` carries wiremock-standalone-<version>.jar); run with `java` from PATH.
- mountebank: HALLSIM_BENCH_MB, else benchmarks/.peers/node_modules/.bin/mb, else `mb` on PATH.

`benchmarks/install_peers.sh` puts both in benchmarks/.peers from the npm registry (not committed).

WireMock answers by a stub mapping (wiremock.org/docs/stubbing: a `request` matcher and a `response` with
`status`, `headers`, `body`); its request journal is on unless `--no-request-journal` is given
(wiremock.org/docs/standalone/java-jar: "--no-request-journal: Disable the request journal"), so it stays
on here. mountebank answers by an imposter with one stub (mbtest.org/docs/api/stubs: `predicates` and an `is`
response), created with `POST /imposters` on its admin port (mbtest.org/docs/api/overview), with
`recordRequests: true` (mbtest.org/docs/api/mocks) so it keeps what it received, as the emulator's journal
does."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PEERS_DIR = Path(__file__).resolve().parent / ".peers"


@dataclass
class Peer:
    """A running peer server: its name, the process to measure and stop, and the port its stub answers on."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    #: the processes whose CPU and memory count (mountebank: the node process itself)
    pid: int
    cleanup: list[Path] = field(default_factory=list)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        for path in self.cleanup:
            shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wiremock_jar() -> Path | None:
    named = os.environ.get("HALLSIM_BENCH_WIREMOCK_JAR")
    if named:
        return Path(named)
    found = sorted((PEERS_DIR / "node_modules" / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    return found[-1] if found else None


def mountebank_command() -> Path | None:
    named = os.environ.get("HALLSIM_BENCH_MB")
    if named:
        return Path(named)
    local = PEERS_DIR / "node_modules" / ".bin" / "mb"
    if local.exists():
        return local
    on_path = shutil.which("mb")
    return Path(on_path) if on_path else None


def available() -> dict[str, str]:
    """name -> why it cannot run ("" when it can)."""
    why: dict[str, str] = {}
    jar = wiremock_jar()
    if jar is None or not jar.is_file():
        why["wiremock"] = "no jar (benchmarks/install_peers.sh, or HALLSIM_BENCH_WIREMOCK_JAR)"
    elif shutil.which("java") is None:
        why["wiremock"] = "no java on PATH"
    else:
        why["wiremock"] = ""
    mb = mountebank_command()
    why["mountebank"] = "" if mb is not None else "no mb (benchmarks/install_peers.sh, or HALLSIM_BENCH_MB)"
    return why


def _wait_for(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited while starting (code {process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{what} did not listen on port {port} within {timeout:g} s")


def start_wiremock(answer: bytes) -> Peer:
    jar = wiremock_jar()
    assert jar is not None
    root = Path(tempfile.mkdtemp(prefix="hallsim-bench-wiremock-"))
    (root / "mappings").mkdir()
    (root / "__files").mkdir()
    mapping = {
        "request": {"method": "POST", "url": "/api/route"},
        "response": {
            "status": 200,
            "headers": {"Content-Type": "application/json"},
            "body": answer.decode("utf-8"),
        },
    }
    (root / "mappings" / "route.json").write_text(json.dumps(mapping))
    port = free_port()
    process = subprocess.Popen(
        ["java", "-jar", str(jar), "--port", str(port), "--root-dir", str(root), "--disable-banner"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(port, process, "WireMock")
    return Peer("wiremock", process, port, process.pid, [root])


def start_mountebank(answer: bytes) -> Peer:
    mb = mountebank_command()
    assert mb is not None
    admin, port = free_port(), free_port()
    process = subprocess.Popen(
        [
            str(mb),
            "start",
            "--port",
            str(admin),
            "--localOnly",
            "--logfile",
            os.devnull,
            "--loglevel",
            "warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for(admin, process, "mountebank")
    imposter = {
        "protocol": "http",
        "port": port,
        "recordRequests": True,
        "stubs": [
            {
                "predicates": [{"equals": {"method": "POST", "path": "/api/route"}}],
                "responses": [
                    {
                        "is": {
                            "statusCode": 200,
                            "headers": {"Content-Type": "application/json"},
                            "body": answer.decode("utf-8"),
                        }
                    }
                ],
            }
        ],
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{admin}/imposters",
        data=json.dumps(imposter).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        if reply.status != 201:
            raise SystemExit(f"mountebank refused the imposter ({reply.status})")
    _wait_for(port, process, "mountebank's imposter")
    return Peer("mountebank", process, port, process.pid)


STARTERS = {"wiremock": start_wiremock, "mountebank": start_mountebank}
