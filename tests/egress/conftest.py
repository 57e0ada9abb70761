"""Break-out tests: a canary listens on loopback ports that are not the Hall (one of them the Hall's own port
on 127.0.0.2) and must receive nothing, whatever client a step or module uses. Targets are loopback and
`*.invalid` names only."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hallsim.emulator import HallEmulator
from hallsim.harness import HallEndpoint
from hallsim.harness.pipedream import PipedreamRun, load_workflow
from hallsim.harness.stubs import Stubs

#: npm packages the client table needs beyond Node's own (installed once into a cache folder)
NPM_PACKAGES = ("got@14", "node-fetch@3", "ws@8", "undici@6", "axios@1")


class Canary:
    """TCP listeners (and a UDP socket) that count whatever reaches them."""

    def __init__(self, tcp: list[tuple[str, int]]) -> None:
        self.hits: list[str] = []
        self._lock = threading.Lock()
        self._servers: list[socket.socket] = []
        for host, port in tcp:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host, port))
            server.listen(16)
            self._servers.append(server)
            threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.05)
        self.addresses = [s.getsockname()[:2] for s in self._servers]

    @property
    def port(self) -> int:
        return int(self.addresses[0][1])

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, peer = server.accept()
            except OSError:
                return
            with self._lock:
                self.hits.append(f"tcp {server.getsockname()} from {peer}")
            conn.close()

    def received(self) -> list[str]:
        with contextlib.suppress(OSError):
            while True:
                _, peer = self.udp.recvfrom(65536)
                self.hits.append(f"udp from {peer}")
        with self._lock:
            return list(self.hits)

    def close(self) -> None:
        for server in self._servers:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        self.udp.close()


@pytest.fixture
def hall(hall_emulator: HallEmulator) -> HallEmulator:
    return hall_emulator


@pytest.fixture
def canary(hall: HallEmulator) -> Iterator[Canary]:
    """127.0.0.1:<free port>, and 127.0.0.2 on the Hall's own port: neither is the Hall."""
    bird = Canary([("127.0.0.1", 0), ("127.0.0.2", hall.port)])
    yield bird
    bird.close()


@pytest.fixture(scope="session")
def npm_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node_modules with got, node-fetch, ws, undici and axios, from npm (skipped without a registry)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the got/node-fetch/ws/undici/axios rows need it")
    folder = tmp_path_factory.mktemp("npm")
    try:
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent", *NPM_PACKAGES],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=240,
        )
    except (subprocess.SubprocessError, OSError) as err:
        pytest.skip(f"npm could not install {', '.join(NPM_PACKAGES)} (no registry?): {err}")
    return folder / "node_modules"


RunStep = Callable[..., PipedreamRun]


@pytest.fixture
def run_step(hall: HallEmulator, tmp_path: Path) -> RunStep:
    """run_step(run_body, stubs=None, node_modules=None) -> the run of a one-step workflow whose step has this
    run() body (CANARY, CANARY_UDP, HALL_PORT are defined in it)."""

    def run(
        run_body: str, *, stubs: Stubs | None = None, node_modules: Path | None = None, **consts: Any
    ) -> PipedreamRun:
        if node_modules is not None and not (tmp_path / "node_modules").exists():
            (tmp_path / "node_modules").symlink_to(node_modules, target_is_directory=True)
        header = "".join(f"const {name} = {value!r};\n" for name, value in consts.items())
        source = (
            "export default defineComponent({\n  async run({ steps, $ }) {\n"
            + header
            + run_body
            + "\n  },\n});\n"
        )
        document = {
            "env": {"PYHALL_HALL_URL": "{{hall.url}}"},
            "steps": [{"name": "call", "source": source}],
        }
        path = tmp_path / "workflow.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return load_workflow(path).run(
            HallEndpoint(hall.url, "t", hall), settings={"time_scale": 0.01, "timeout_s": 750}, stubs=stubs
        )

    return run
